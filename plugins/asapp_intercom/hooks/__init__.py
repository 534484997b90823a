"""Hooks own every connection and all I/O with ASAPP and Intercom."""
