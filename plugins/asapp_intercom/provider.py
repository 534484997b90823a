"""Provider metadata: registers the `asapp` and `intercom` connection types with Airflow.

Airflow discovers it through the `apache_airflow_provider` entry point in pyproject.toml, which is
how the Amazon and HTTP providers register theirs. Airflow 3 reads each connection form from here
(`ui-field-behaviour`) without importing the hooks; the hooks answer the same forms.
"""

from importlib.metadata import version

DISTRIBUTION = "asapp-intercom-migration"

ASAPP_FORM = {
    "hidden_fields": ["schema", "port", "extra"],
    "relabeling": {"host": "API base URL", "login": "API Id", "password": "API Secret"},
    "placeholders": {"host": "https://api.asapp.com (production) or https://api.sandbox.asapp.com"},
}
INTERCOM_FORM = {
    "hidden_fields": ["schema", "login", "port", "extra"],
    "relabeling": {"host": "API URL", "password": "Access token"},
    "placeholders": {"host": "https://api.intercom.io (or api.eu.intercom.io, api.au.intercom.io)"},
}


def _provider_form(form: dict) -> dict:
    return {
        "hidden-fields": form["hidden_fields"],
        "relabeling": form["relabeling"],
        "placeholders": form["placeholders"],
    }


def get_provider_info() -> dict:
    return {
        "package-name": DISTRIBUTION,
        "name": "ASAPP to Intercom migration",
        "description": "Hooks and connection types for migrating ASAPP data into Intercom.",
        "versions": [version(DISTRIBUTION)],
        "connection-types": [
            {
                "connection-type": "asapp",
                "hook-class-name": "asapp_intercom.hooks.asapp.AsappHook",
                "hook-name": "ASAPP",
                "ui-field-behaviour": _provider_form(ASAPP_FORM),
            },
            {
                "connection-type": "intercom",
                "hook-class-name": "asapp_intercom.hooks.intercom.IntercomHook",
                "hook-name": "Intercom",
                "ui-field-behaviour": _provider_form(INTERCOM_FORM),
            },
        ],
    }
