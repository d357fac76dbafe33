"""Settings: one YAML file plus environment variables, built once at an entry point.

Precedence is environment over file, so a container can inject secrets
(``ALERTFLOW_SLACK__TOKEN``) without touching the file. In the file, a value
written as ``${NAME}`` is read from the environment, so secrets need not be
committed. Relative paths in the file are relative to the file. Every secret is
a ``SecretStr``: it prints as ``**********`` in logs, reprs and errors.

The integrations' settings models live here too (switches and runbooks in
alertflow/config/responses.py), so one load validates everything before anything starts.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

import certifi
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alertflow.config.api import ApiToken, CalendarLinks, RequestLimits, check_api_token, check_distinct
from alertflow.config.notifiers import BUILT_IN, AckLinkSettings, Notifiers, PagerDutySettings, SlackSettings
from alertflow.config.oncall import EscalationPolicy, Schedule, check_references
from alertflow.config.people import Person, check_contacts
from alertflow.config.reports import ReportSettings
from alertflow.config.responses import Runbook, SwitchSettings
from alertflow.config.retention import RetentionSettings
from alertflow.config.sources import Sources
from alertflow.errors import ConfigError
from alertflow.yamlmodel import describe_problem, parse_yaml


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALERTFLOW_", env_nested_delimiter="__", extra="forbid")

    home: Path = Field(Path("~/.alertflow"), description="data directory: database, Prefect server home, logs")
    database_url: str | None = Field(None, description="SQLAlchemy async URL; default SQLite in home")
    rules_file: Path = Path("rules.yaml")
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_url: str | None = Field(None, description="where the CLI reaches the API; default from host/port")
    webhook_token: SecretStr | None = Field(None, description="bearer token required on /webhooks/*")
    api_token: SecretStr | None = Field(None, description="bearer token with every scope; the CLI sends it")
    api_tokens: dict[str, ApiToken] = Field({}, description="more bearer tokens by name, each with its scopes (read, respond, operate)")
    api_limits: RequestLimits = Field(RequestLimits(), description="header size and count, request time, idle connections")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest webhook body accepted (413 above)")
    prefect_api_url: str = Field(default_factory=lambda: os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api"))
    deployment_name: str = "alertflow"
    dispatch_concurrency: int = Field(
        1, ge=1, le=64, description="flow runs each API process creates in Prefect at once (Prefect on PostgreSQL: 8; on SQLite: 1)"
    )
    worker_limit: int = Field(50, ge=1, description="flow runs one worker executes at once, pages and other responses each")
    worker_poll_seconds: float = Field(0.25, gt=0, description="how often the worker asks Prefect for new runs")
    worker_metrics_port: int | None = Field(None, ge=1, le=65535, description="serve the worker's /metrics here (off when unset)")
    worker_metrics_host: str = Field("127.0.0.1", description="address the worker's /metrics listens on")
    allow_shell: bool = Field(False, description="runbook shell steps are refused unless true")
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people; json: one JSON object per line (alertflow api, alertflow worker; alertflow/logs.py)"
    )
    slack: SlackSettings = SlackSettings()
    pagerduty: PagerDutySettings | None = None
    notifiers: Notifiers = Field({}, description="named notifiers by kind, e.g. outgoing webhooks (docs/oncall.md)")
    ack_links: AckLinkSettings | None = Field(None, description="signed acknowledge links in emails (docs/oncall.md)")
    calendar_links: CalendarLinks | None = Field(None, description="signed links to the on-call calendar feeds (docs/oncall.md)")
    people: dict[str, Person] = Field({}, description="who can be paged, by name")
    schedules: dict[str, Schedule] = Field({}, description="on-call rotations (docs/oncall.md)")
    escalation_policies: dict[str, EscalationPolicy] = Field({}, description="who is paged, in which order (docs/oncall.md)")
    switches: dict[str, SwitchSettings] = {}
    runbooks: dict[str, Runbook] = {}
    sources: Sources = Field({}, description="senders: auth and settings per source (docs/sources.md)")
    reports: ReportSettings = Field(
        ReportSettings(), description="the weekly report, after hours, the open-incidents artifact (docs/reports.md)"
    )
    retention: RetentionSettings = Field(
        RetentionSettings(), description="how long alerts, timelines, pages and commands are kept (docs/deploy.md, Retention)"
    )

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):  # type: ignore[no-untyped-def,override]
        return (env_settings, init_settings)  # the file's values arrive as init kwargs

    @model_validator(mode="after")
    def _oncall_names_exist(self) -> Settings:
        check_references(self.people, self.schedules, self.escalation_policies, (*BUILT_IN, *self.notifiers))
        check_contacts(self.people, {name: name for name in BUILT_IN} | {name: n.kind for name, n in self.notifiers.items()})
        return self

    def notifier(self, name: str) -> BaseModel:
        """The settings of the notifier called ``name``: a built-in section or a named entry (its ``kind`` picks the module)."""
        built_in = {"slack": self.slack, "pagerduty": self.pagerduty or PagerDutySettings()}
        if name in built_in:
            return built_in[name]
        if name not in self.notifiers:
            raise ConfigError(f"no notifier {name!r} in the config (notifiers:)")
        return self.notifiers[name]

    @field_validator("api_token")
    @classmethod
    def _api_token_usable(cls, token: SecretStr | None) -> SecretStr | None:
        return check_api_token(token)

    @model_validator(mode="after")
    def _tokens_distinct(self) -> Settings:
        check_distinct(self)
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.home.expanduser() / 'alertflow.db'}"

    @property
    def resolved_api_url(self) -> str:
        return (self.api_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def prefect_ui_url(self) -> str:
        return self.prefect_api_url.removesuffix("/").removesuffix("/api")


_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_PATH_FIELDS = ("home", "rules_file")


def load_settings(config_file: str | Path | None = None) -> Settings:
    """Build settings from ``config_file`` (or ``$ALERTFLOW_CONFIG``) and the environment."""
    path = config_file or os.environ.get("ALERTFLOW_CONFIG")
    data: dict[str, Any] = {}
    node = None
    if path:
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise ConfigError(f"{path}: cannot read config file: {err.strerror}") from None
        loaded, node = parse_yaml(text, str(path))
        if not isinstance(loaded, (dict, type(None))):
            raise ConfigError(f"{path}: the config file must be a mapping")
        data = _expand_env(loaded or {}, str(path))
        base = Path(path).resolve().parent
        for name in _PATH_FIELDS:
            if isinstance(data.get(name), str) and not data[name].startswith("~"):
                data[name] = str(base / data[name])
    try:
        return Settings(**data)
    except ValidationError as err:
        lines = []
        for problem in err.errors(include_url=False):
            variable = _env_variable(problem["loc"])
            if variable:  # the environment overrides the file, so the file's line is not to blame
                lines.append(f"environment variable {variable}: {problem['msg']}")
            else:
                lines.append(describe_problem(problem, node, str(path or "settings")))
        raise ConfigError("\n".join(lines)) from None


def prefect_environment(settings: Settings) -> dict[str, str]:
    """Environment for Prefect in this process and its children; apply before Prefect is imported.

    Besides the API URL: Prefect builds a TLS context for every client it creates,
    parsing the whole CA bundle (~40 ms), and each flow run creates two. Measured in
    the worker: 210 ms of CPU per flow run, 95 ms with a one-certificate file. Over
    plain http:// no TLS happens, so which certificates that unused context trusts
    changes nothing. An explicit PREFECT_API_SSL_CERT_FILE is left alone.
    """
    env = {"PREFECT_API_URL": settings.prefect_api_url}
    if settings.prefect_api_url.startswith("http://") and not os.environ.get("PREFECT_API_SSL_CERT_FILE"):
        bundle = Path(certifi.where()).read_text()
        end = bundle.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
        path = settings.home.expanduser() / "unused-tls-ca.pem"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(bundle[bundle.index("-----BEGIN CERTIFICATE-----") : end] + "\n")
        env["PREFECT_API_SSL_CERT_FILE"] = str(path)
    return env


@cache
def current() -> Settings:
    """The process's settings, for code that runs where no entry point can pass them (flow runs)."""
    return load_settings()


def _env_variable(loc: tuple[Any, ...]) -> str | None:
    """The ALERTFLOW_* variable that set the value at ``loc``, if one did."""
    names = {name.upper() for name in os.environ}
    parts = [str(part).upper() for part in loc]
    for depth in range(len(parts), 0, -1):
        candidate = "ALERTFLOW_" + "__".join(parts[:depth])
        if candidate in names:
            return candidate
    return None


def _expand_env(value: Any, filename: str) -> Any:
    if isinstance(value, dict):
        return {key: _expand_env(item, filename) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_env(item, filename) for item in value]
    if isinstance(value, str) and (found := _ENV_REF.match(value)):
        if found[1] not in os.environ:
            raise ConfigError(f"{filename}: environment variable {found[1]} is referenced but not set")
        return os.environ[found[1]]
    return value
