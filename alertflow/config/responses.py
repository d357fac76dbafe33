"""Settings of the automated responses: traffic switches and runbooks (part of the config file).

Kept apart from alertflow/config/settings.py because they are the biggest sections and
change with the response flows. A switch is one of two kinds, told apart by
``kind`` (``http`` when absent, so older ``url``-only configs keep working):

- ``haproxy``: HAProxy's runtime API (``stats socket ... level admin``), each
  target being one server of one backend;
- ``http``: any load balancer or DNS API with an HTTP endpoint.

Every target has a health URL probed directly (is the standby fit to serve?)
and a ``probe`` checks through the front end that traffic really is served by
the target, not just that the switch says so. Runbooks are ordered steps with
their own retries and timeouts, and a final health check that decides success.
Secrets are ``SecretStr``; any of them may be written ``prefect-secret:NAME``
to be read from a Prefect Secret block when used.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, SecretStr, Tag, field_validator, model_validator

from alertflow.models import RetryPolicy
from alertflow.templates import PLACEHOLDER, RUNBOOK_VARIABLES, SWITCH_VARIABLES, check_placeholders


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrafficTarget(_Section):
    """One place traffic can go (``primary``, ``standby``...)."""

    health_url: str = Field(description="the target's own health endpoint, probed directly before traffic moves to it")
    marker: str | None = Field(None, description="text the front-end probe sees when this target answers (default: server or name)")


class HaproxyTarget(TrafficTarget):
    server: str = Field(description="the server's name in the HAProxy backend")


class Probe(_Section):
    """A request through the front end (the load balancer's public side), to see who really answers."""

    url: str
    header: str | None = Field(None, description="look for the target's marker in this response header (else in the body)")
    samples: int = Field(3, ge=1, le=50, description="requests per check; every one must reach the target")
    timeout_seconds: float = Field(5.0, gt=0)


class _Switch(_Section):
    probe: Probe | None = Field(None, description="verification through the front end; without it only the switch's own answer counts")
    timeout_seconds: float = Field(5.0, gt=0)
    lock_wait_seconds: float = Field(120.0, ge=0, description="how long a second failover of this switch waits for the first")

    def marker(self, target: str) -> str:
        settings = self.targets.get(target)  # type: ignore[attr-defined]
        if settings is None:
            return target
        return settings.marker or getattr(settings, "server", target)


class HttpSwitchSettings(_Switch):
    """A switch behind an HTTP API: ``GET url`` tells the active target; a templated request shifts it."""

    kind: Literal["http"] = "http"
    url: str = Field(description="GET answers JSON with the active target in `status_field`")
    status_field: str = "active"
    token: SecretStr | None = Field(None, description="sent as Authorization: Bearer")
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    shift_url: str | None = Field(None, description="where the shift request goes (default: url); may hold placeholders")
    body: str = Field('{"active": "{target}"}', description="templated: {target}, {service}, {switch}, {incident_id}")
    content_type: str = "application/json"
    expect_status: list[int] = [200, 201, 202, 204]
    targets: dict[str, TrafficTarget] = {}

    @field_validator("body", "shift_url")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        return check_placeholders(value, SWITCH_VARIABLES) if value else value


class HaproxySwitchSettings(_Switch):
    """HAProxy's runtime API: the target's server is set ``ready``, the others ``drain`` (or ``maint``)."""

    kind: Literal["haproxy"]
    admin: str = Field(description="runtime API address: host:port (stats socket ipv4@...) or a unix socket path")
    backend: str
    targets: dict[str, HaproxyTarget] = Field(min_length=2)
    retire: Literal["drain", "maint"] = Field("drain", description="state given to the servers traffic leaves")


def _switch_kind(value: Any) -> str:
    return (value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)) or "http"


SwitchSettings = Annotated[
    Annotated[HttpSwitchSettings, Tag("http")] | Annotated[HaproxySwitchSettings, Tag("haproxy")], Discriminator(_switch_kind)
]


class _Step(_Section):
    name: str
    retry: RetryPolicy | None = Field(None, description="this step's retries (default: the recovery action's)")
    idempotent: bool = Field(
        False, description="safe to run again when its worker died while it ran; otherwise such a step hands over to a person"
    )


class HttpStep(_Step):
    kind: Literal["http"] = "http"
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str
    json_body: dict[str, Any] | None = None
    token: SecretStr | None = Field(None, description="sent as Authorization: Bearer")
    expect_status: list[int] = [200, 201, 202, 204]
    timeout_seconds: float = 10.0


class ShellStep(_Step):
    kind: Literal["shell"] = "shell"
    argv: list[str] = Field(min_length=1, description="program and arguments; never run through a shell")
    timeout_seconds: float = 60.0
    ok_exit_codes: list[int] = [0]

    @field_validator("argv")
    @classmethod
    def _placeholders_are_whole_arguments(cls, argv: list[str]) -> list[str]:
        """A value such as the service (from an alert label) may only ever be one whole argument."""
        if PLACEHOLDER.search(argv[0]):
            raise ValueError("the program (argv[0]) cannot hold a placeholder")
        _check_whole_placeholders(argv[1:], "argument, e.g. [restart, '{service}']")
        return argv


def _check_whole_placeholders(items: list[Any], what: str) -> None:
    """Runbook values hold known placeholders only, each filling the whole value (never spliced into text)."""
    for item in items:
        if isinstance(item, str) and PLACEHOLDER.search(check_placeholders(item, RUNBOOK_VARIABLES)) and not PLACEHOLDER.fullmatch(item):
            raise ValueError(f"{item!r}: a placeholder must be a whole {what}")


class HealthCheck(_Section):
    url: str
    expect_status: int = 200
    timeout_seconds: float = Field(30.0, description="how long to wait for the service to become healthy")
    interval_seconds: float = 1.0


class WaitStep(_Step, HealthCheck):
    kind: Literal["wait_until_healthy"] = "wait_until_healthy"


class RunDeploymentStep(_Step):
    kind: Literal["run_deployment"] = "run_deployment"
    deployment: str = Field(pattern=r"^[^/]+/[^/]+$", description="another Prefect deployment, as flow-name/deployment-name")
    parameters: dict[str, Any] = {}
    timeout_seconds: float = Field(600.0, gt=0, description="how long to wait for that run to finish")

    @field_validator("parameters")
    @classmethod
    def _placeholders_are_whole_values(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        _check_whole_placeholders(list(parameters.values()), "parameter value, e.g. {service: '{service}'}")
        return parameters


RunbookStep = Annotated[HttpStep | ShellStep | WaitStep | RunDeploymentStep, Field(discriminator="kind")]


class Runbook(_Section):
    steps: list[RunbookStep] = Field(min_length=1)
    verify: HealthCheck = Field(description="the final check that decides success")

    @model_validator(mode="after")
    def _unique_step_names(self) -> Runbook:
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique within a runbook (they name the steps in timelines)")
        return self
