# The Airflow image for docker-compose.yaml: Airflow's official image with this project's locked
# dependencies and its package (which registers the asapp and intercom connection types).
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.lock /opt/airflow/project/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /opt/airflow/project/requirements.lock

COPY --chown=airflow:root pyproject.toml README.md /opt/airflow/project/
COPY --chown=airflow:root plugins /opt/airflow/project/plugins
RUN pip install --no-cache-dir --no-deps /opt/airflow/project
