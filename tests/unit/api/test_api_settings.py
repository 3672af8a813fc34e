import pytest
from placewise.api.settings import ApiSettings, SettingsError

TOKEN = "tok-very-secret-123"


def test_from_env_reads_every_variable():
    settings = ApiSettings.from_env(
        {
            "PLACEWISE_API_URL": "http://127.0.0.1:8765/",
            "PLACEWISE_API_TOKEN": TOKEN,
            "PLACEWISE_USER_AGENT": "agent/1",
            "PLACEWISE_PRODUCT_NAME": "prod",
            "PLACEWISE_ORGANIZATION": "org1",
            "PLACEWISE_API_TIMEOUT_S": "12.5",
        }
    )
    assert settings.base_url == "http://127.0.0.1:8765"
    assert settings.token == TOKEN
    assert (settings.user_agent, settings.product_name, settings.organization) == (
        "agent/1",
        "prod",
        "org1",
    )
    assert settings.timeout_s == 12.5
    assert settings.verify_tls is True


def test_from_env_uses_defaults_for_optional_variables():
    settings = ApiSettings.from_env(
        {"PLACEWISE_API_URL": "https://x.test", "PLACEWISE_API_TOKEN": "t"}
    )
    assert settings.user_agent == "placewise-warehouse/0.1"
    assert settings.product_name == "placewise-warehouse"
    assert settings.organization == "default"
    assert settings.timeout_s == 60.0


def test_from_env_without_url_names_the_variable():
    with pytest.raises(SettingsError, match="PLACEWISE_API_URL"):
        ApiSettings.from_env({"PLACEWISE_API_TOKEN": TOKEN})


def test_from_env_without_token_names_the_variable():
    with pytest.raises(SettingsError, match="PLACEWISE_API_TOKEN"):
        ApiSettings.from_env({"PLACEWISE_API_URL": "https://x.test"})


def test_from_env_rejects_a_bad_timeout():
    with pytest.raises(SettingsError, match="PLACEWISE_API_TIMEOUT_S"):
        ApiSettings.from_env(
            {
                "PLACEWISE_API_URL": "https://x.test",
                "PLACEWISE_API_TOKEN": "t",
                "PLACEWISE_API_TIMEOUT_S": "soon",
            }
        )


def test_token_is_hidden_from_repr_and_str():
    settings = ApiSettings(base_url="https://x.test", token=TOKEN)
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings)


def test_from_connection_with_full_url_host_and_extras():
    settings = ApiSettings.from_connection(
        host="http://127.0.0.1:8765",
        password=TOKEN,
        extra={
            "user_agent": "ua",
            "product_name": "pn",
            "organization": "acme",
            "timeout_s": "30",
            "verify_tls": "false",
        },
    )
    assert settings.base_url == "http://127.0.0.1:8765"
    assert settings.token == TOKEN
    assert settings.organization == "acme"
    assert settings.timeout_s == 30.0
    assert settings.verify_tls is False
    assert TOKEN not in repr(settings)


def test_from_connection_with_bare_host_uses_schema_and_port():
    settings = ApiSettings.from_connection(
        host="127.0.0.1", password="t", extra={}, schema="http", port=8765
    )
    assert settings.base_url == "http://127.0.0.1:8765"


def test_from_connection_with_bare_host_defaults_to_https():
    settings = ApiSettings.from_connection(host="api.mpc.placewise.com", password="t", extra={})
    assert settings.base_url == "https://api.mpc.placewise.com"


def test_from_connection_adds_port_to_a_full_url_without_one():
    settings = ApiSettings.from_connection(
        host="https://api.mpc.placewise.com", password="t", extra={}, port=8443
    )
    assert settings.base_url == "https://api.mpc.placewise.com:8443"


def test_from_connection_without_password_fails_clearly():
    with pytest.raises(SettingsError, match="password"):
        ApiSettings.from_connection(host="https://x.test", password="", extra={})


def test_from_connection_rejects_a_non_boolean_verify_tls():
    with pytest.raises(SettingsError, match="verify_tls"):
        ApiSettings.from_connection(
            host="https://x.test", password="t", extra={"verify_tls": "maybe"}
        )
