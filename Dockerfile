# The project image: Airflow 3.3.2 with the pinned requirements and the Placewise code baked in.
# Every Airflow service in docker-compose.yml and the simulator run this image; a Helm chart or
# KubernetesExecutor deployment can use it unchanged.
FROM apache/airflow:3.3.2-python3.11

ENV AIRFLOW_HOME=/opt/airflow \
    PYTHONPATH=/opt/airflow/plugins:/opt/airflow/simulator \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DBT_PROFILES_DIR=/opt/airflow/dbt_project \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies first, so code changes reuse this layer. requirements.txt is the full lock (it pins
# apache-airflow==3.3.2 too), so the image runs the same versions as every other install.
COPY --chown=airflow:0 requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt

COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 simulator/ /opt/airflow/simulator/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 dbt_project/ /opt/airflow/dbt_project/
COPY --chown=airflow:0 config/ /opt/airflow/config/
COPY --chown=airflow:0 docker/ /opt/airflow/docker/

# Installs the `placewise` and `placewise-simulator` commands; the code stays where Airflow's
# dags/plugins folders expect it (PYTHONPATH above covers tools that bypass the install).
RUN pip install --no-cache-dir --no-deps -e /opt/airflow

# Airflow imports every .py file under the plugins folder as a top-level module named after the
# file (config, client, settings, ...); `placewise` is an ordinary package, imported by name, so
# the plugin loader must skip it. A .airflowignore committed in plugins/ takes precedence.
RUN [ -f /opt/airflow/plugins/.airflowignore ] \
 || printf 'placewise/\n' > /opt/airflow/plugins/.airflowignore

# Cosmos renders the dbt task groups from dbt_project/target/manifest.json, which .dockerignore
# keeps out of the build context: without this step no DAG imports in the image. `dbt parse`
# does not connect to a database. tests/unit/test_image_layout.py runs this line on a copy of
# the image's files.
RUN PLACEWISE_DBT_PROJECT_DIR=/opt/airflow/dbt_project python -m placewise.airflow.dbt

# The landing directory exists in the image so a fresh `landing` volume starts owned by the
# airflow user. Group 0 gets write access because compose may run the containers as any
# AIRFLOW_UID in group 0.
RUN mkdir -p /opt/airflow/landing /opt/airflow/auth \
 && chmod -R g+rwX /opt/airflow/dbt_project /opt/airflow/landing /opt/airflow/auth

WORKDIR /opt/airflow
