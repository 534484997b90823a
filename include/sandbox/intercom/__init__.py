"""A local Intercom workspace that speaks Intercom's REST API (version 2.16) strictly.

Run it with `python -m include.sandbox.intercom serve --state FILE`, or from tests with
`include.sandbox.intercom.server.launcher.run_intercom_sandbox`; README.md beside this file describes the
API, the control endpoints and what Intercom behaviour is reproduced.
"""
