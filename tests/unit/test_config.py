"""alertflow/config/settings.py: settings from one YAML file plus the environment."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import SecretStr

from alertflow.config.responses import HttpStep
from alertflow.config.settings import Settings, load_settings, prefect_environment
from alertflow.errors import ConfigError

SLACK_TOKEN = "xoxb-do-not-print-1234"
SWITCH_TOKEN = "switch-secret-5678"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALERTFLOW_CONFIG", "ALERTFLOW_API_PORT", "ALERTFLOW_SLACK__CHANNEL", "ALERTFLOW_RULES_FILE"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str, name: str = "alertflow.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text))
    return path


FULL = f"""\
    api_port: 9000
    rules_file: rules/main.yaml
    slack:
      token: {SLACK_TOKEN}
      channel: "#file"
    switches:
      checkout:
        url: http://127.0.0.1:1/switch
        token: {SWITCH_TOKEN}
    runbooks:
      restart:
        steps:
          - kind: http
            name: restart
            url: http://127.0.0.1:1/restart
        verify:
          url: http://127.0.0.1:1/health
    """


def test_values_come_from_the_file(tmp_path: Path) -> None:
    """Top-level, nested and keyed sections are read from the YAML file, with defaults elsewhere."""
    settings = load_settings(write(tmp_path, FULL))
    assert settings.api_port == 9000
    assert settings.slack.channel == "#file"
    assert settings.slack.token is not None and settings.slack.token.get_secret_value() == SLACK_TOKEN
    assert settings.switches["checkout"].url == "http://127.0.0.1:1/switch"
    [step] = settings.runbooks["restart"].steps
    assert isinstance(step, HttpStep) and step.method == "POST"
    assert settings.api_host == "127.0.0.1"


def test_no_config_file_gives_defaults() -> None:
    """Without a file (and no ALERTFLOW_CONFIG), settings are the documented defaults."""
    settings = load_settings()
    assert (settings.api_port, settings.slack.channel, settings.switches) == (8080, "#oncall", {})


def test_alertflow_config_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ALERTFLOW_CONFIG is the config file when none is passed."""
    monkeypatch.setenv("ALERTFLOW_CONFIG", str(write(tmp_path, "api_port: 9001\n")))
    assert load_settings().api_port == 9001


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ALERTFLOW_* variables win over the file; nested ones (__) override one key and keep its siblings."""
    monkeypatch.setenv("ALERTFLOW_API_PORT", "9100")
    monkeypatch.setenv("ALERTFLOW_SLACK__CHANNEL", "#env")
    settings = load_settings(write(tmp_path, FULL))
    assert settings.api_port == 9100
    assert settings.slack.channel == "#env"
    assert settings.slack.token is not None and settings.slack.token.get_secret_value() == SLACK_TOKEN


def test_env_reference_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value written as ${NAME} is read from the environment, in sections and lists too."""
    monkeypatch.setenv("AF_TEST_SLACK_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("AF_TEST_PROGRAM", "systemctl")
    path = write(
        tmp_path,
        """\
        slack: {token: "${AF_TEST_SLACK_TOKEN}"}
        runbooks:
          r:
            steps: [{kind: shell, name: s, argv: ["${AF_TEST_PROGRAM}", restart]}]
            verify: {url: "http://x"}
        """,
    )
    settings = load_settings(path)
    assert settings.slack.token is not None and settings.slack.token.get_secret_value() == SLACK_TOKEN
    assert settings.runbooks["r"].steps[0].argv == ["systemctl", "restart"]  # type: ignore[union-attr]


def test_unset_env_reference_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ${NAME} whose variable is unset raises ConfigError naming the file and the variable."""
    monkeypatch.delenv("AF_TEST_UNSET", raising=False)
    path = write(tmp_path, 'slack:\n  token: "${AF_TEST_UNSET}"\n')
    with pytest.raises(ConfigError, match="environment variable AF_TEST_UNSET is referenced but not set") as excinfo:
        load_settings(path)
    assert str(path) in str(excinfo.value)


def test_partial_env_reference_is_left_alone(tmp_path: Path) -> None:
    """Only a whole value of the form ${NAME} is expanded; other dollar signs are literal."""
    settings = load_settings(write(tmp_path, 'slack:\n  channel: "#cost-${team}"\n'))
    assert settings.slack.channel == "#cost-${team}"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        pytest.param("rules.yaml", "conf/rules.yaml", id="beside-the-file"),
        pytest.param("rules/main.yaml", "conf/rules/main.yaml", id="subdirectory"),
        pytest.param("../shared/rules.yaml", "shared/rules.yaml", id="parent-directory"),
    ],
)
def test_relative_rules_file_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, expected: str
) -> None:
    """A relative rules_file resolves against the config file's directory, not the working directory."""
    write(tmp_path, f"rules_file: {written}\n", name="conf/alertflow.yaml")
    monkeypatch.chdir(tmp_path)
    settings = load_settings("conf/alertflow.yaml")
    assert settings.rules_file.resolve() == (tmp_path / expected).resolve()


def test_absolute_and_home_paths_are_kept(tmp_path: Path) -> None:
    """Absolute paths and ~ paths in the file are not rebased onto the config directory."""
    settings = load_settings(write(tmp_path, "rules_file: /etc/alertflow/rules.yaml\n"))
    assert settings.rules_file == Path("/etc/alertflow/rules.yaml")
    settings = load_settings(write(tmp_path, "rules_file: ~/rules.yaml\n"))
    assert settings.rules_file == Path("~/rules.yaml")


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        pytest.param("api_port: 9000\nworker_limit: lots\n", "2:15: worker_limit", "valid integer", id="top-level-type"),
        pytest.param("slack:\n  channel: '#x'\n  timeout_seconds: soon\n", "3:20: slack.timeout_seconds", "valid number", id="nested-type"),
        pytest.param("api_port: 9000\nslak:\n  channel: '#x'\n", "3:3: slak", "Extra inputs", id="unknown-section"),
        pytest.param("switches:\n  lb:\n    token: t\n", "3:5: switches.lb.url", "Field required", id="missing-required"),
        pytest.param("max_body_bytes: 10\n", "1:17: max_body_bytes", "greater than or equal to 1024", id="out-of-range"),
    ],
)
def test_validation_error_names_file_and_line(tmp_path: Path, text: str, where: str, fragment: str) -> None:
    """An invalid value raises ConfigError as file:line:col: dotted.path: message."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path)
    assert str(excinfo.value).startswith(f"{path}:{where}: ")
    assert fragment in str(excinfo.value)


def test_invalid_environment_value_is_not_blamed_on_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad ALERTFLOW_* value is reported against that variable, not against the file's valid line."""
    path = write(tmp_path, "api_host: 0.0.0.0\napi_port: 9000\n")
    monkeypatch.setenv("ALERTFLOW_API_PORT", "abc")
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path)
    message = str(excinfo.value)
    assert "valid integer" in message
    assert f"{path}:2:" not in message, message
    assert "ALERTFLOW_API_PORT" in message, message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("- a\n- b\n", "must be a mapping", id="not-a-mapping"),
        pytest.param("api_port: [1\n", "invalid YAML", id="yaml-syntax"),
    ],
)
def test_malformed_file_is_a_config_error(tmp_path: Path, text: str, fragment: str) -> None:
    """A file that is not a YAML mapping raises ConfigError naming the file."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=fragment) as excinfo:
        load_settings(path)
    assert str(excinfo.value).startswith(str(path))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that cannot be read raises ConfigError naming it."""
    with pytest.raises(ConfigError, match="cannot read config file") as excinfo:
        load_settings(tmp_path / "absent.yaml")
    assert str(tmp_path / "absent.yaml") in str(excinfo.value)


def test_secrets_never_print(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens are SecretStr: repr and str of settings and sections never show their values."""
    monkeypatch.setenv("ALERTFLOW_WEBHOOK_TOKEN", "hook-secret-9")
    settings = load_settings(write(tmp_path, FULL))
    assert isinstance(settings.slack.token, SecretStr)
    assert isinstance(settings.webhook_token, SecretStr) and settings.webhook_token.get_secret_value() == "hook-secret-9"
    printed = [repr(settings), str(settings), str(settings.slack), repr(settings.slack), str(settings.switches), settings.model_dump_json()]
    for text in printed:
        for secret in (SLACK_TOKEN, SWITCH_TOKEN, "hook-secret-9"):
            assert secret not in text


def test_validation_errors_never_echo_secrets(tmp_path: Path) -> None:
    """A ConfigError about a section holding a token does not include the token."""
    path = write(tmp_path, f"slack:\n  token: {SLACK_TOKEN}\n  timeout_seconds: soon\n  colour: red\n")
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path)
    assert SLACK_TOKEN not in str(excinfo.value)


def test_prefect_environment_avoids_parsing_the_ca_bundle_only_for_plain_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For an http:// Prefect API the client gets a one-certificate CA file; https:// and an explicit choice are left alone."""
    monkeypatch.delenv("PREFECT_API_SSL_CERT_FILE", raising=False)
    plain = prefect_environment(Settings(home=tmp_path, prefect_api_url="http://127.0.0.1:4200/api"))
    assert plain["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    assert Path(plain["PREFECT_API_SSL_CERT_FILE"]).read_text().count("BEGIN CERTIFICATE") == 1
    assert "PREFECT_API_SSL_CERT_FILE" not in prefect_environment(
        Settings(home=tmp_path, prefect_api_url="https://prefect.example.com/api")
    )
    monkeypatch.setenv("PREFECT_API_SSL_CERT_FILE", "/etc/ssl/mine.pem")
    assert "PREFECT_API_SSL_CERT_FILE" not in prefect_environment(Settings(home=tmp_path, prefect_api_url="http://127.0.0.1:4200/api"))


def test_slack_signing_secret_and_pagerduty_key_are_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Slack signing secret and the PagerDuty routing key come from the environment and never print."""
    monkeypatch.setenv("ALERTFLOW_SLACK__SIGNING_SECRET", "sign-secret-7")
    monkeypatch.setenv("AF_TEST_PD_KEY", "e93facc04764012d7bfb002500d5d1a6")
    settings = load_settings(write(tmp_path, 'pagerduty:\n  routing_key: "${AF_TEST_PD_KEY}"\n  retries: 1\n'))
    assert settings.slack.signing_secret is not None and settings.slack.signing_secret.get_secret_value() == "sign-secret-7"
    assert settings.pagerduty is not None and settings.pagerduty.events_url == "https://events.pagerduty.com/v2/enqueue"
    assert settings.pagerduty.routing_key is not None and settings.pagerduty.retries == 1
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "sign-secret-7" not in text and "e93facc04764012d7bfb002500d5d1a6" not in text
    assert Settings().pagerduty is None
