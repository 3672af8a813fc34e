from pathlib import Path

import pytest
from placewise.config import REPO_ROOT, PipelineSettings, PipelineSettingsError


def test_defaults_work_from_a_checkout():
    settings = PipelineSettings.from_env({})
    assert settings == PipelineSettings(
        landing_root=str(REPO_ROOT / ".demo" / "landing"),
        clubs_file=REPO_ROOT / "config" / "clubs.yml",
        dbt_project_dir=REPO_ROOT / "dbt_project",
        restatement_days=7,
        use_export=False,  # the documented query endpoint
        backfill_token_reserve=20,
        rate_capacity=60,
        rate_refill_per_s=6.0,
    )
    assert settings.clubs_file.exists()
    assert (REPO_ROOT / "pyproject.toml").exists()
    assert (settings.task_retries, settings.nightly_cron) == (2, "30 2 * * *")
    assert settings.progress_every == 25
    assert (settings.dbt_project_dir / "dbt_project.yml").exists()
    assert settings.api_contract_file == REPO_ROOT / "config" / "api-contract.yml"


def test_every_setting_is_read_from_the_environment():
    settings = PipelineSettings.from_env(
        {
            "PLACEWISE_LANDING_ROOT": "s3://bucket/landing",
            "PLACEWISE_CLUBS_FILE": "/etc/placewise/clubs.yml",
            "PLACEWISE_DBT_PROJECT_DIR": "/opt/dbt",
            "PLACEWISE_RESTATEMENT_DAYS": "3",
            "PLACEWISE_EXTRACT_MODE": "query",
            "PLACEWISE_BACKFILL_TOKEN_RESERVE": "0",
            "PLACEWISE_RATE_CAPACITY": "600",
            "PLACEWISE_RATE_REFILL_PER_S": "2.5",
            "PLACEWISE_TASK_RETRIES": "0",
            "PLACEWISE_NIGHTLY_CRON": " 15  4 * * * ",
            "PLACEWISE_API_CONTRACT_FILE": "/etc/placewise/api-contract.yml",
            "PLACEWISE_PROGRESS_EVERY": "100",
        }
    )
    assert settings.api_contract_file == Path("/etc/placewise/api-contract.yml")
    assert settings.landing_root == "s3://bucket/landing"
    assert settings.clubs_file == Path("/etc/placewise/clubs.yml")
    assert settings.dbt_project_dir == Path("/opt/dbt")
    assert settings.restatement_days == 3
    assert settings.use_export is False
    assert settings.backfill_token_reserve == 0
    assert settings.rate_capacity == 600
    assert settings.rate_refill_per_s == 2.5
    assert settings.task_retries == 0
    assert settings.nightly_cron == "15 4 * * *"
    assert settings.progress_every == 100


def test_export_mode_is_explicitly_accepted():
    assert PipelineSettings.from_env({"PLACEWISE_EXTRACT_MODE": "export"}).use_export is True


def test_empty_numeric_values_fall_back_to_the_defaults():
    settings = PipelineSettings.from_env(
        {
            "PLACEWISE_RESTATEMENT_DAYS": "",
            "PLACEWISE_RATE_CAPACITY": "",
            "PLACEWISE_RATE_REFILL_PER_S": "",
        }
    )
    assert (settings.restatement_days, settings.rate_capacity, settings.rate_refill_per_s) == (
        7,
        60,
        6.0,
    )


def test_reads_os_environ_when_no_mapping_is_given(monkeypatch):
    monkeypatch.setenv("PLACEWISE_RESTATEMENT_DAYS", "11")
    assert PipelineSettings.from_env().restatement_days == 11


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PLACEWISE_EXTRACT_MODE", "stream", "PLACEWISE_EXTRACT_MODE must be 'export' or 'query'"),
        ("PLACEWISE_EXTRACT_MODE", "EXPORT", "got 'EXPORT'"),
        ("PLACEWISE_RESTATEMENT_DAYS", "seven", "PLACEWISE_RESTATEMENT_DAYS must be an integer"),
        ("PLACEWISE_RESTATEMENT_DAYS", "1.5", "PLACEWISE_RESTATEMENT_DAYS must be an integer"),
        ("PLACEWISE_RESTATEMENT_DAYS", "-1", "PLACEWISE_RESTATEMENT_DAYS must not be negative"),
        (
            "PLACEWISE_BACKFILL_TOKEN_RESERVE",
            "-5",
            "PLACEWISE_BACKFILL_TOKEN_RESERVE must not be negative",
        ),
        ("PLACEWISE_RATE_CAPACITY", "lots", "PLACEWISE_RATE_CAPACITY must be an integer"),
        ("PLACEWISE_RATE_CAPACITY", "0", "PLACEWISE_RATE_CAPACITY must be positive"),
        ("PLACEWISE_RATE_REFILL_PER_S", "fast", "PLACEWISE_RATE_REFILL_PER_S must be a number"),
        ("PLACEWISE_RATE_REFILL_PER_S", "0", "PLACEWISE_RATE_REFILL_PER_S must be positive"),
        ("PLACEWISE_RATE_REFILL_PER_S", "-2", "PLACEWISE_RATE_REFILL_PER_S must be positive"),
        ("PLACEWISE_RATE_REFILL_PER_S", "nan", "PLACEWISE_RATE_REFILL_PER_S must be positive"),
        ("PLACEWISE_RATE_REFILL_PER_S", "inf", "PLACEWISE_RATE_REFILL_PER_S must be positive"),
        ("PLACEWISE_TASK_RETRIES", "two", "PLACEWISE_TASK_RETRIES must be an integer"),
        ("PLACEWISE_TASK_RETRIES", "-1", "PLACEWISE_TASK_RETRIES must not be negative"),
        ("PLACEWISE_NIGHTLY_CRON", "30 2 * *", "PLACEWISE_NIGHTLY_CRON must be a cron expression"),
        ("PLACEWISE_PROGRESS_EVERY", "0", "PLACEWISE_PROGRESS_EVERY must be positive"),
        ("PLACEWISE_PROGRESS_EVERY", "often", "PLACEWISE_PROGRESS_EVERY must be an integer"),
        ("PLACEWISE_NIGHTLY_CRON", "@daily x", "PLACEWISE_NIGHTLY_CRON must be a cron expression"),
        ("PLACEWISE_DBT_EXECUTION", "kubernetes", "PLACEWISE_DBT_EXECUTION must be 'watcher' or"),
        ("PLACEWISE_DBT_EXECUTION", "Watcher", "got 'Watcher'"),
    ],
)
def test_bad_values_raise_errors_that_name_the_variable_and_the_value(name, value, message):
    with pytest.raises(PipelineSettingsError) as info:
        PipelineSettings.from_env({name: value})
    assert message in str(info.value)
    assert repr(value) in str(info.value) or value in str(info.value)


def test_dbt_runs_as_one_watched_build_unless_local_is_chosen():
    assert PipelineSettings.from_env({}).dbt_execution == "watcher"
    assert PipelineSettings.from_env({"PLACEWISE_DBT_EXECUTION": ""}).dbt_execution == "watcher"
    assert PipelineSettings.from_env({"PLACEWISE_DBT_EXECUTION": "local"}).dbt_execution == "local"


def test_settings_are_immutable():
    settings = PipelineSettings.from_env({})
    with pytest.raises(AttributeError):
        settings.restatement_days = 1  # type: ignore[misc]


def test_a_cron_preset_is_accepted_as_the_nightly_schedule():
    assert PipelineSettings.from_env({"PLACEWISE_NIGHTLY_CRON": "@daily"}).nightly_cron == "@daily"


def test_empty_text_values_fall_back_to_the_defaults():
    settings = PipelineSettings.from_env(
        {
            "PLACEWISE_LANDING_ROOT": "",
            "PLACEWISE_CLUBS_FILE": " ",
            "PLACEWISE_DBT_PROJECT_DIR": "",
            "PLACEWISE_NIGHTLY_CRON": "",
        }
    )
    assert settings == PipelineSettings.from_env({})


def test_settings_errors_are_value_errors_for_callers_that_catch_those():
    assert issubclass(PipelineSettingsError, ValueError)


def test_the_api_variants_come_from_the_api_contract_file(tmp_path):
    from placewise.api.variants import ApiVariants, dump_variants

    path = tmp_path / "api-contract.yml"
    settings = PipelineSettings.from_env({"PLACEWISE_API_CONTRACT_FILE": str(path)})
    assert settings.api_variants() == ApiVariants()  # no file yet: the assumed readings
    dump_variants(ApiVariants(window_end="exclusive", auth="user_token"), path)
    assert settings.api_variants() == ApiVariants(window_end="exclusive", auth="user_token")
