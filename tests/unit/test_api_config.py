"""alertflow/config/api.py: API tokens with scopes, what counts as loopback, and the refusal to serve open beyond it."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertflow.config.api import Scope, check_exposure, is_loopback
from alertflow.config.settings import Settings, load_settings
from alertflow.errors import ConfigError

SECRET = "tok-do-not-print-9876"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    """127.0.0.0/8, ::1 and localhost reach only this machine."""
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "api.example.com", ""])
def test_other_hosts_are_not_loopback(host: str) -> None:
    """Any-address binds, other addresses and host names may be reachable from elsewhere."""
    assert not is_loopback(host)


def test_exposure_needs_an_api_token_beyond_loopback() -> None:
    """0.0.0.0 without an API token is refused naming api_token; a webhook token alone does not count; loopback is fine."""
    with pytest.raises(ConfigError, match="api_token") as refused:
        check_exposure(Settings(api_host="0.0.0.0", webhook_token=SECRET))
    assert SECRET not in str(refused.value)
    check_exposure(Settings(api_host="127.0.0.1"))
    check_exposure(Settings(api_host="0.0.0.0", api_token=SECRET))
    check_exposure(Settings(api_host="0.0.0.0", api_tokens={"ro": {"token": SECRET, "scopes": ["read"]}}))


def test_scoped_tokens_read_env_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """api_tokens entries take ${VAR} like every secret, stay SecretStr, and have the scopes written."""
    monkeypatch.setenv("DASH_TOKEN", SECRET)
    path = tmp_path / "alertflow.yaml"
    path.write_text("api_tokens:\n  dashboards: {token: '${DASH_TOKEN}', scopes: [read]}\n")
    settings = load_settings(path)
    entry = settings.api_tokens["dashboards"]
    assert entry.token.get_secret_value() == SECRET and entry.scopes == [Scope.read]
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"api_token: {SECRET}\nwebhook_token: {SECRET}\n", "webhook_token is the same token as api_token"),
        (
            f"webhook_token: {SECRET}\napi_tokens:\n  ro: {{token: {SECRET}, scopes: [read]}}\n",
            "webhook_token is the same token as api_tokens.ro",
        ),
        (
            f"api_tokens:\n  ro: {{token: {SECRET}, scopes: [read]}}\nsources:\n  grafana: {{auth: {{kind: bearer, token: {SECRET}}}}}\n",
            "sources.grafana",
        ),
        ("api_tokens:\n  ro: {token: x, scopes: []}\n", "at least 1 item"),
        ("api_tokens:\n  ro: {token: x, scopes: [admin]}\n", "read"),
        ("api_token: prefect-secret:api\n", "not prefect-secret"),
        ("api_token: ' '\n", "must not be empty"),
    ],
)
def test_unsafe_token_settings_are_refused(tmp_path: Path, text: str, message: str) -> None:
    """A token shared with a webhook sender, no or unknown scopes, or an unreadable value fail at load, secrets unshown."""
    path = tmp_path / "alertflow.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as refused:
        load_settings(path)
    assert SECRET not in str(refused.value)
