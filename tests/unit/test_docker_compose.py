"""The docker compose deployment, checked by parsing (no Docker engine is needed).

Covers docker-compose.yml, .env.example, the Dockerfile, the init script and the .env generator:
the services of the official Airflow 3 layout, health-gated start order, the separate metadata
and warehouse databases, the shared landing volume, the optional simulator, and that secrets
only ever come from ``${VAR}`` references filled from a git-ignored ``.env``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
# The Compose Specification's own JSON schema (github.com/compose-spec/compose-spec,
# schema/compose-spec.json at 170098ba07d9, Apache-2.0), kept in the repo so validation is offline.
COMPOSE_SCHEMA = REPO / "docker" / "compose-spec.json"

REQUIRED_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
    "redis",
    "airflow-db",
    "warehouse-db",
    "simulator",
}
AIRFLOW_DAEMONS = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
# Services that run once and exit; everything else is long-running and needs a healthcheck.
ONE_SHOT_SERVICES = {"airflow-init", "airflow-cli"}
LANDING_MOUNT = "/opt/airflow/landing"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; "$${...}" is an
# escaped literal for the container's shell and is not interpolated by compose.
VAR_REF = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|PRIVATE_KEY|API_KEY", re.IGNORECASE)
URL_PASSWORD = re.compile(r"://[^:/@\s]+:(?P<password>\$\{[^}]*\}|[^@\s]+)@")


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE.read_text(encoding="utf-8"))


def parse_env_file(text: str) -> dict[str, str]:
    """NAME=value lines of a dotenv file (comments and blank lines skipped)."""
    values = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        assert sep, f"not a NAME=value line in the env file: {line!r}"
        values[name.strip()] = value.strip()
    return values


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping, whichever of the two compose forms it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def with_defaults(value: str) -> str:
    """``value`` as compose would expand it with no .env: defaults filled, others as <NAME>."""

    def replace(match: re.Match[str]) -> str:
        if match["op"] in (":-", "-"):
            return match["arg"]
        return f"<{match['name']}>"

    return VAR_REF.sub(replace, value)


def is_required_reference(value: str) -> bool:
    """True if ``value`` is exactly one ``${NAME}`` / ``${NAME:?msg}`` reference (no default)."""
    match = VAR_REF.fullmatch(value.strip())
    return match is not None and match["op"] in (None, ":?", "?")


def host_of(url: str) -> str:
    match = re.search(r"@([^:/]+)", url)
    assert match is not None, url
    return match[1]


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return deps


def volume_targets(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source of every volume of a service (short or long syntax)."""
    targets = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            targets[rest.split(":")[0]] = source
        else:
            targets[volume["target"]] = volume.get("source", "")
    return targets


def airflow_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every service running an Airflow component (not Airflow's database)."""
    return {
        name: spec
        for name, spec in services.items()
        if (name.startswith("airflow-") and name != "airflow-db") or name == "flower"
    }


def load_generator() -> ModuleType:
    path = REPO / "docker" / "generate_env.py"
    spec = importlib.util.spec_from_file_location("placewise_generate_env", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def required_variables(compose_text: str) -> set[str]:
    """Variables compose needs from .env: referenced at least once without a default."""
    return {
        match["name"] for match in VAR_REF.finditer(compose_text) if match["op"] not in (":-", "-")
    }


def schema_errors(document: dict[str, Any]) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8")))
    return [f"{list(error.path)}: {error.message}" for error in validator.iter_errors(document)]


# --- Origin and layout -------------------------------------------------------------------------


def test_header_names_the_official_airflow_compose_file_it_derives_from(compose_text):
    header = []
    for line in compose_text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    assert "Derived from the official Apache Airflow 3.3.2 docker-compose.yaml" in "\n".join(header)


def test_header_airflow_version_matches_the_pinned_requirement(compose_text):
    pinned = re.search(
        r"^apache-airflow==(\S+)", (REPO / "requirements.txt").read_text(), re.MULTILINE
    )
    assert pinned is not None
    assert f"official Apache Airflow {pinned[1]} docker-compose" in compose_text


@pytest.mark.parametrize("interpolated", [False, True], ids=["as-written", "interpolated"])
def test_compose_file_is_valid_against_the_compose_specification_schema(compose_text, interpolated):
    text = with_defaults(compose_text) if interpolated else compose_text
    assert not schema_errors(yaml.safe_load(text))


def test_development_overlay_mounts_the_code_into_existing_services(services):
    overlay = yaml.safe_load((REPO / "docker" / "compose.dev.yml").read_text(encoding="utf-8"))
    assert not schema_errors(overlay)
    for name, spec in overlay["services"].items():
        assert name in services, name
        for target, source in volume_targets(spec).items():
            assert target == f"/opt/airflow/{source.removeprefix('./')}", (name, source)
    assert set(overlay["services"]) >= AIRFLOW_DAEMONS


def test_compose_file_defines_every_service_of_the_deployment(services):
    assert not REQUIRED_SERVICES - set(services)


def test_airflow_services_share_one_image_built_from_our_dockerfile(services):
    images = set()
    for name, spec in airflow_services(services).items():
        assert spec.get("build") == {"context": ".", "dockerfile": "Dockerfile"}, name
        images.add(spec["image"])
    assert len(images) == 1


def test_simulator_runs_from_the_project_image(services):
    worker = services["airflow-worker"]
    simulator = services["simulator"]
    assert simulator["image"] == worker["image"]
    assert simulator["build"] == worker["build"]
    command = simulator["command"]
    command = command if isinstance(command, str) else " ".join(command)
    assert "placewise_simulator serve" in command
    assert "--port 8765" in command
    assert "--host 0.0.0.0" in command


def test_airflow_daemons_run_their_component_commands(services):
    expected = {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker",
    }
    for name, command in expected.items():
        assert services[name]["command"] == command, name


# --- Executor and databases --------------------------------------------------------------------


def test_executor_is_celery_with_a_redis_broker(services):
    for name, spec in airflow_services(services).items():
        env = environment(spec)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        broker = with_defaults(env["AIRFLOW__CELERY__BROKER_URL"])
        assert broker.startswith("redis://redis:6379/"), name
        assert with_defaults(env["AIRFLOW__CELERY__RESULT_BACKEND"]).startswith("db+postgresql://")
    assert services["redis"]["image"].startswith("redis:")


def test_there_is_more_than_one_worker_slot(services):
    replicas = with_defaults(str(services["airflow-worker"].get("deploy", {}).get("replicas", 1)))
    workers = [name for name in services if name.startswith("airflow-worker")]
    assert int(replicas) * len(workers) >= 2


def test_airflow_metadata_database_is_a_different_server_from_the_warehouse(services):
    env = environment(services["airflow-scheduler"])
    metadata_url = with_defaults(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    warehouse_url = with_defaults(env["AIRFLOW_CONN_PLACEWISE_WAREHOUSE"])
    assert host_of(metadata_url) == "airflow-db"
    assert host_of(warehouse_url) == "warehouse-db"
    assert warehouse_url.endswith("@warehouse-db:5432/warehouse")
    for db in ("airflow-db", "warehouse-db"):
        assert services[db]["image"].startswith("postgres:"), db
    assert volume_targets(services["airflow-db"]) != volume_targets(services["warehouse-db"])
    assert environment(services["warehouse-db"])["POSTGRES_DB"] == "warehouse"


def test_warehouse_is_published_on_the_configurable_host_port(services):
    assert "${WAREHOUSE_PORT:-5433}:5432" in services["warehouse-db"]["ports"]


def test_dbt_profile_variables_point_at_the_same_warehouse_as_the_connection(services):
    env = environment(services["airflow-worker"])
    assert with_defaults(env["PLACEWISE_PG_HOST"]) == "warehouse-db"
    assert env["PLACEWISE_PG_DBNAME"] == "warehouse"
    warehouse_password = environment(services["warehouse-db"])["POSTGRES_PASSWORD"]
    assert env["PLACEWISE_PG_PASSWORD"] == warehouse_password


def test_api_connection_defaults_to_the_simulator_and_is_valid_json(services):
    env = environment(services["airflow-worker"])
    conn = json.loads(with_defaults(env["AIRFLOW_CONN_PLACEWISE_API"]))
    assert conn["conn_type"] == "http"
    assert conn["host"] == "http://simulator:8765"
    assert conn["password"] == "<PLACEWISE_API_TOKEN>"
    assert conn["extra"]["user_agent"] == "placewise-warehouse"


def test_pipeline_settings_reach_every_airflow_service(services):
    for name, spec in airflow_services(services).items():
        env = environment(spec)
        assert env["PLACEWISE_CLUBS_FILE"] == "/opt/airflow/config/clubs.yml", name
        assert env["PLACEWISE_DBT_PROJECT_DIR"] == "/opt/airflow/dbt_project", name
        assert with_defaults(env["PLACEWISE_LANDING_ROOT"]) == LANDING_MOUNT, name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false", name
        assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False", name
        assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false", name
        assert with_defaults(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]) == (
            "http://airflow-apiserver:8080/execution/"
        ), name


# --- Health and start order --------------------------------------------------------------------


def test_every_long_running_service_has_a_healthcheck(services):
    for name, spec in services.items():
        if name in ONE_SHOT_SERVICES:
            continue
        test = spec.get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"


def test_airflow_daemons_start_after_healthy_databases_broker_and_finished_init(services):
    for name in AIRFLOW_DAEMONS:
        deps = depends_on(services[name])
        assert deps["airflow-db"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name


def test_init_waits_for_the_metadata_database_and_broker(services):
    deps = depends_on(services["airflow-init"])
    assert deps["airflow-db"]["condition"] == "service_healthy"
    assert deps["redis"]["condition"] == "service_healthy"


def test_worker_waits_for_the_api_server_and_the_warehouse(services):
    deps = depends_on(services["airflow-worker"])
    assert deps["airflow-apiserver"]["condition"] == "service_healthy"
    assert deps["warehouse-db"]["condition"] == "service_healthy"


def test_every_dependency_is_gated_on_health_or_completion(services):
    for name, spec in services.items():
        for target, rule in depends_on(spec).items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = rule.get("condition")
            if target in ONE_SHOT_SERVICES:
                assert condition == "service_completed_successfully", (name, target)
            else:
                assert condition == "service_healthy", (name, target)
                assert services[target].get("healthcheck"), (name, target)


def test_init_migrates_the_database_and_sets_the_admin_password(services):
    init = services["airflow-init"]
    command = init["command"]
    command = command if isinstance(command, str) else " ".join(command)
    assert "/opt/airflow/docker/airflow-init.sh" in command
    script = (REPO / "docker" / "airflow-init.sh").read_text(encoding="utf-8")
    assert "airflow db migrate" in script
    assert "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script
    env = environment(init)
    assert is_required_reference(env["AIRFLOW_ADMIN_PASSWORD"])


def test_api_server_reads_the_admin_password_written_by_init(services):
    env = environment(services["airflow-apiserver"])
    passwords_file = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    auth_dir = str(Path(passwords_file).parent)
    api_server_source = volume_targets(services["airflow-apiserver"]).get(auth_dir)
    assert api_server_source is not None
    assert api_server_source == volume_targets(services["airflow-init"]).get(auth_dir)
    assert "simple_auth_manager" in env["AIRFLOW__CORE__AUTH_MANAGER"].lower()


# --- Shared landing storage --------------------------------------------------------------------


def test_landing_volume_is_mounted_on_every_airflow_service_including_workers(services):
    for name, spec in airflow_services(services).items():
        assert volume_targets(spec).get(LANDING_MOUNT) == "landing", name
    assert "airflow-worker" in airflow_services(services)


def test_landing_volume_is_declared_at_top_level(compose):
    assert "landing" in compose["volumes"]


def test_named_volumes_in_use_are_all_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, spec in services.items():
        for source in volume_targets(spec).values():
            if source and not source.startswith((".", "/", "$", "~")):
                assert source in declared, (name, source)


# --- Simulator profile -------------------------------------------------------------------------


def test_simulator_only_runs_under_its_profile(services):
    assert services["simulator"].get("profiles") == ["simulator"]


def test_core_services_never_hard_require_a_profile_only_service(services):
    optional = {name for name, spec in services.items() if spec.get("profiles")}
    for name, spec in services.items():
        if spec.get("profiles"):
            continue
        for target, rule in depends_on(spec).items():
            if target in optional:
                assert rule.get("required") is False, (name, target)


def test_simulator_accepts_the_token_the_api_connection_sends(services):
    command = services["simulator"]["command"]
    token = command[command.index("--token") + 1]
    raw = environment(services["airflow-worker"])["AIRFLOW_CONN_PLACEWISE_API"]
    assert token in raw
    assert is_required_reference(token)


def test_env_example_turns_the_simulator_profile_on_by_default(env_example):
    assert "simulator" in env_example["COMPOSE_PROFILES"].split(",")


# --- Secrets -----------------------------------------------------------------------------------


def test_secret_variables_never_have_a_default_in_the_compose_file(compose_text):
    for match in VAR_REF.finditer(compose_text):
        if SECRET_NAME.search(match["name"]):
            assert match["op"] not in (":-", "-"), f"default given for secret {match['name']}"


def test_secret_settings_come_only_from_variable_references(services):
    for name, spec in services.items():
        for key, value in environment(spec).items():
            # A *_FILE setting names where a secret is stored, not the secret itself.
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                assert is_required_reference(value), f"{name}: {key} is not a ${{VAR}} reference"


def test_passwords_inside_urls_come_only_from_variable_references(services):
    for name, spec in services.items():
        for key, value in environment(spec).items():
            for match in URL_PASSWORD.finditer(value):
                assert is_required_reference(match["password"]), f"{name}: {key}"


def test_api_token_in_the_connection_json_is_a_variable_reference(services):
    raw = environment(services["airflow-worker"])["AIRFLOW_CONN_PLACEWISE_API"]
    password = re.search(r'"password":\s*"(?P<value>[^"]*)"', raw)
    assert password is not None
    assert is_required_reference(password["value"])


def test_env_example_lists_every_variable_without_a_default(compose_text, env_example):
    missing = required_variables(compose_text) - set(env_example)
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_env_example_holds_only_placeholders_for_secrets(env_example):
    # The simulator's well-known development token is the one allowed literal.
    for name, value in env_example.items():
        if SECRET_NAME.search(name) and name != "PLACEWISE_API_TOKEN":
            assert value == "CHANGE_ME", name
    assert env_example["PLACEWISE_API_TOKEN"] == "dev-token"


def test_env_example_names_only_variables_the_compose_file_uses(compose_text, env_example):
    used = {match["name"] for match in VAR_REF.finditer(compose_text)}
    unused = {name for name in env_example if not name.startswith("COMPOSE_")} - used
    assert not unused, f".env.example sets unused {sorted(unused)}"


def test_env_file_is_git_ignored_and_kept_out_of_the_image():
    assert ".env" in (REPO / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in (REPO / ".dockerignore").read_text(encoding="utf-8").split()


def test_generated_env_fills_every_required_variable_with_fresh_secrets(compose_text, tmp_path):
    generator = load_generator()
    first, second = tmp_path / "first.env", tmp_path / "second.env"
    for output in (first, second):
        assert generator.main(["--example", str(ENV_EXAMPLE), "--output", str(output)]) == 0
    values = parse_env_file(first.read_text(encoding="utf-8"))
    assert "CHANGE_ME" not in values.values()
    for name in required_variables(compose_text):
        assert values[name], name
    assert len(base64.urlsafe_b64decode(values["AIRFLOW_FERNET_KEY"])) == 32
    again = parse_env_file(second.read_text(encoding="utf-8"))
    assert values["AIRFLOW_JWT_SECRET"] != again["AIRFLOW_JWT_SECRET"]
    for name, value in values.items():
        if "PASSWORD" in name:
            assert re.fullmatch(r"[A-Za-z0-9._~-]+", value), f"{name} is not URL-safe"


def test_generator_never_overwrites_an_existing_env_file(tmp_path):
    generator = load_generator()
    output = tmp_path / ".env"
    output.write_text("AIRFLOW_FERNET_KEY=keep-me\n", encoding="utf-8")
    assert generator.main(["--example", str(ENV_EXAMPLE), "--output", str(output)]) == 1
    assert output.read_text(encoding="utf-8") == "AIRFLOW_FERNET_KEY=keep-me\n"


# --- Dockerfile --------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def test_dockerfile_starts_from_the_pinned_airflow_image():
    instruction, argument = dockerfile_instructions()[0]
    assert instruction == "FROM"
    assert argument.startswith("apache/airflow:3.3.2")
    pinned = re.search(r"^apache-airflow==(\S+)", (REPO / "requirements.txt").read_text(), re.M)
    assert pinned is not None
    assert argument.startswith(f"apache/airflow:{pinned[1]}-python3.11")


def test_dockerfile_installs_the_pinned_requirements_before_copying_code():
    instructions = dockerfile_instructions()
    copies = [arg for ins, arg in instructions if ins == "COPY"]
    runs = [arg for ins, arg in instructions if ins == "RUN"]
    assert any("requirements.txt" in arg for arg in copies)
    install = next(i for i, (ins, arg) in enumerate(instructions) if "-r " in arg and ins == "RUN")
    assert "pip install" in instructions[install][1]
    assert "requirements.txt" in instructions[install][1]
    first_code_copy = next(
        i for i, (ins, arg) in enumerate(instructions) if ins == "COPY" and "plugins/" in arg
    )
    assert install < first_code_copy
    assert any("pip install" in arg and "--no-deps -e" in arg for arg in runs)


def test_dockerfile_places_the_code_where_airflow_and_compose_expect_it():
    copies = " ".join(arg for ins, arg in dockerfile_instructions() if ins == "COPY")
    for folder in ("dags", "plugins", "dbt_project", "config", "simulator", "docker"):
        assert f"{folder}/ /opt/airflow/{folder}/" in copies, folder


def test_image_keeps_the_plugin_loader_out_of_the_placewise_package():
    runs = " ".join(arg for ins, arg in dockerfile_instructions() if ins == "RUN")
    assert "/opt/airflow/plugins/.airflowignore" in runs
    assert "placewise/" in runs
