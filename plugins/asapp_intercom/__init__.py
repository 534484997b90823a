"""Migrate a customer-support operation from ASAPP to Intercom with Apache Airflow."""
