"""Airflow loads this file from the plugins folder; the plugin itself lives in the package."""

from asapp_intercom.plugin import AsappIntercomPlugin

__all__ = ["AsappIntercomPlugin"]
