# The Airflow image for docker-compose.yaml: Airflow's official image with this package and its run-time
# dependencies, locked (requirements.lock; the tests' and sandboxes' tools are not installed).
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.lock /opt/airflow/project/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /opt/airflow/project/requirements.lock

# requirements-dev.txt is read for the package's metadata (its `dev` extra), not installed.
COPY --chown=airflow:root pyproject.toml README.md requirements.txt requirements-dev.txt /opt/airflow/project/
COPY --chown=airflow:root plugins /opt/airflow/project/plugins
RUN pip install --no-cache-dir --no-deps /opt/airflow/project
