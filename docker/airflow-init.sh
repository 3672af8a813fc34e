#!/usr/bin/env bash
# One-shot preparation before any Airflow component starts (the `airflow-init` service):
# hands the shared volumes to AIRFLOW_UID, migrates the metadata database and writes the UI
# admin's password for the simple auth manager. Safe to run again: every step is idempotent, and
# a changed AIRFLOW_ADMIN_PASSWORD in .env takes effect on the next `docker compose up`.
set -euo pipefail

: "${AIRFLOW_UID:?AIRFLOW_UID must be set}"
: "${AIRFLOW_ADMIN_USERNAME:?AIRFLOW_ADMIN_USERNAME must be set}"
: "${AIRFLOW_ADMIN_PASSWORD:?AIRFLOW_ADMIN_PASSWORD must be set}"
: "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?the passwords file path must be set}"

if [[ "${AIRFLOW_UID}" == "0" ]]; then
  echo "WARNING: AIRFLOW_UID is 0; files on the shared volumes will belong to root." >&2
fi

mkdir -p /opt/airflow/logs /opt/airflow/landing "$(dirname "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE}")"

echo "Airflow version: $(airflow version)"
echo "Migrating the metadata database"
airflow db migrate

echo "Writing the password of UI user '${AIRFLOW_ADMIN_USERNAME}'"
python - <<'PY'
import json
import os

path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
users = {os.environ["AIRFLOW_ADMIN_USERNAME"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}
with open(path, "w", encoding="utf-8") as handle:
    json.dump(users, handle)
    handle.write("\n")
os.chmod(path, 0o600)
PY

# Top directories only: files below were written by AIRFLOW_UID already, and a recursive chown
# of a large landing volume would slow every start. Files this script created as root follow.
chown "${AIRFLOW_UID}:0" /opt/airflow/logs /opt/airflow/landing \
  "$(dirname "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE}")" \
  "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE}"
chmod g+rwX /opt/airflow/logs /opt/airflow/landing
find /opt/airflow/logs -user 0 -exec chown "${AIRFLOW_UID}:0" {} +
echo "Airflow init done"
