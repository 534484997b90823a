"""Migrate a customer-support operation from ASAPP to Intercom with Apache Airflow.

Layout: `domain/` is the migration's vocabulary and rules, free of Airflow (config, run form,
feeds, field map, payloads, Intercom bodies, manifests, report); `ledger/` its durable memory;
`hooks/` every call to ASAPP and Intercom; `pipeline/` the phases, in order (discover, extract,
realtime, profile, transform, plan, schema, load, validate); `operators/`, `sensors/`,
`triggers/`, `dag_factory.py` and `plugin.py` are what Airflow sees.
"""
