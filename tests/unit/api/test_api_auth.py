"""The credential header: scheme from the settings, else the API's ``auth`` variant; redacted."""

import httpx
import pytest
from placewise.api import contract
from placewise.api.client import ApiCall, PlacewiseClient
from placewise.api.contract import Endpoint
from placewise.api.customer import CustomerSelector
from placewise.api.errors import AuthenticationError
from placewise.api.settings import ApiSettings, SettingsError
from placewise.api.variants import ApiVariants

TOKEN = "tok-SECRET-0042"
USER_TOKEN = ApiVariants(auth="user_token")


def credential(settings: ApiSettings, variants: ApiVariants | None = None) -> dict[str, str]:
    headers = contract.request_headers(settings, CustomerSelector.club(1), variants)
    return {k: v for k, v in headers.items() if v.endswith(TOKEN)}


def test_client_token_is_the_default_scheme():
    settings = ApiSettings("https://x.test", TOKEN)
    assert credential(settings) == {"X-Client-Authorization": TOKEN}
    assert credential(settings, ApiVariants()) == {"X-Client-Authorization": TOKEN}


def test_the_auth_variant_picks_the_user_token_scheme_when_the_settings_do_not_say():
    settings = ApiSettings("https://x.test", TOKEN)
    assert credential(settings, USER_TOKEN) == {"Authorization": f"Bearer {TOKEN}"}


def test_a_scheme_in_the_settings_wins_over_the_variant():
    settings = ApiSettings("https://x.test", TOKEN, auth_scheme="client_token")
    assert credential(settings, USER_TOKEN) == {"X-Client-Authorization": TOKEN}


def test_header_name_and_value_format_are_configurable():
    settings = ApiSettings(
        "https://x.test",
        TOKEN,
        auth_scheme="user_token",
        auth_header="X-Api-Key",
        auth_format="Token {token}",
    )
    assert credential(settings) == {"X-Api-Key": f"Token {TOKEN}"}
    assert "x-api-key" in contract.secret_headers(settings)
    assert {"x-client-authorization", "authorization"} <= contract.secret_headers(settings)


def test_auth_settings_come_from_the_environment():
    settings = ApiSettings.from_env(
        {
            "PLACEWISE_API_URL": "https://x.test",
            "PLACEWISE_API_TOKEN": TOKEN,
            "PLACEWISE_AUTH_SCHEME": "user_token",
            "PLACEWISE_AUTH_HEADER": "Authorization",
            "PLACEWISE_AUTH_FORMAT": "JWT {token}",
        }
    )
    assert credential(settings) == {"Authorization": f"JWT {TOKEN}"}


def test_auth_settings_come_from_the_connection_extras():
    settings = ApiSettings.from_connection(
        host="https://x.test",
        password=TOKEN,
        extra={"auth_scheme": "user_token", "auth_format": "Bearer {token}"},
    )
    assert credential(settings) == {"Authorization": f"Bearer {TOKEN}"}
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"auth_scheme": "oauth"}, "auth_scheme must be one of client_token, user_token"),
        ({"auth_header": "Bad Header:"}, "auth_header must be a header name"),
        ({"auth_format": "Bearer"}, "auth_format must contain {token} exactly once"),
    ],
)
def test_bad_auth_settings_are_refused_naming_the_setting(kwargs, message):
    with pytest.raises(SettingsError, match=message):
        ApiSettings("https://x.test", TOKEN, **kwargs)


def test_a_refused_user_token_never_appears_in_the_error():
    def reject(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert "x-client-authorization" not in request.headers
        return httpx.Response(401, json={"error": f"token {TOKEN} is not valid"})

    settings = ApiSettings("https://x.test", TOKEN)
    client = PlacewiseClient(settings, transport=httpx.MockTransport(reject), variants=USER_TOKEN)
    call = ApiCall.build(Endpoint.QUERY, CustomerSelector.club(1), {"report": "sendings"})
    with client, pytest.raises(AuthenticationError) as info:
        client.query_json(call)
    assert TOKEN not in str(info.value)
    assert "***" in str(info.value)
