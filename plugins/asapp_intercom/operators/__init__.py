"""Thin operators: each phase's task reads its inputs from XCom manifests and calls the package's
functions."""
