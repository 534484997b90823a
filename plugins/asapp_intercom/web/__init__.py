"""The plugin's web apps, served by the Airflow API server."""
