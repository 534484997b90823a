"""The domain: the migration's vocabulary and rules, with no Airflow in it."""
