"""`make demo`: a whole migration from the ASAPP sandbox to the Intercom sandbox on a local Airflow."""
