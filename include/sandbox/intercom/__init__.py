"""A local Intercom workspace that speaks Intercom's REST API (version 2.16) strictly."""
