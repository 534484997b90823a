"""Provider metadata: registers the `asapp` and `intercom` connection types with Airflow.

Airflow discovers it through the `apache_airflow_provider` entry point in pyproject.toml, which is
how the Amazon and HTTP providers register theirs; the connection form fields come from the hooks.
"""


def get_provider_info() -> dict:
    return {
        "package-name": "asapp-intercom-migration",
        "name": "ASAPP to Intercom migration",
        "description": "Hooks and connection types for migrating ASAPP data into Intercom.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "connection-type": "asapp",
                "hook-class-name": "asapp_intercom.hooks.asapp.AsappHook",
                "hook-name": "ASAPP",
            },
            {
                "connection-type": "intercom",
                "hook-class-name": "asapp_intercom.hooks.intercom.IntercomHook",
                "hook-name": "Intercom",
            },
        ],
    }
