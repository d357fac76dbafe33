"""The typed vocabulary every part of alertflow speaks; no I/O here.

Sources produce ``Alert``s, the rule engine turns them into ``Decision``s, the
store keeps ``Incident``s and ``TimelineEntry``s, and response flows receive an
``ActionSpec``. Keeping these in one dependency-free module lets rules,
integrations, flows and the API agree without importing one another.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from alertflow.durations import Duration


class Severity(str, enum.Enum):
    """Ordered severities; unknown labels map to ``warning`` so nothing is silently low."""

    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, label: str | None) -> Severity:
        return _SEVERITY_ALIASES.get((label or "").strip().lower(), cls.warning)


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}
_SEVERITY_ALIASES = {
    **{k: Severity.critical for k in ("critical", "crit", "fatal", "page", "p1", "emergency", "alert")},
    **{k: Severity.error for k in ("error", "err", "major", "high", "p2")},
    **{k: Severity.warning for k in ("warning", "warn", "minor", "medium", "p3")},
    **{k: Severity.info for k in ("info", "informational", "low", "none", "ok", "p4", "p5")},
}


class AlertStatus(str, enum.Enum):
    firing = "firing"
    resolved = "resolved"


class Alert(BaseModel):
    """One normalized alert. ``raw`` is kept for people and replays; rules never read it."""

    model_config = ConfigDict(frozen=True)

    source: str
    fingerprint: str = Field(min_length=1)
    name: str
    service: str
    severity: Severity
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    received_at: AwareDatetime
    generator_url: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("description") or self.name

    @classmethod
    def from_checked(cls, **values: Any) -> Alert:
        """An alert from values a source has already validated (every field given, of its type), without
        validating them again: on the hot path of intake, once per alert, validating twice cost a third of a
        source's parse (bench/README.md). pydantic's own ``model_construct``, not a copy of its internals."""
        return cls.model_construct(**values)


class IncidentStatus(str, enum.Enum):
    open = "open"
    acknowledged = "acknowledged"
    mitigated = "mitigated"
    resolved = "resolved"


class Incident(BaseModel):
    id: int
    key: str
    title: str
    service: str
    severity: Severity
    status: IncidentStatus
    rule_id: str
    opened_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    acknowledged_by: str | None = None
    resolved_at: AwareDatetime | None = None
    resolved_by: str | None = None
    flapping: bool = False
    fingerprints: list[str] = []  # of its alerts, first seen first; the API sends only the first few
    alert_count: int | None = None  # of its alerts, however many fingerprints are listed (None: not counted, in lists)


class TimelineKind(str, enum.Enum):
    alert = "alert"
    rule = "rule"
    flow = "flow"
    page = "page"
    ack = "ack"
    escalation = "escalation"
    escalate_requested = "escalate_requested"  # someone asked to skip to the next escalation step now
    failover = "failover"
    rollback = "rollback"
    recovery = "recovery"
    note = "note"
    resolve = "resolve"
    reopen = "reopen"
    flapping = "flapping"
    inhibited = "inhibited"


class TimelineEntry(BaseModel):
    incident_id: int
    at: AwareDatetime
    kind: TimelineKind
    summary: str
    data: dict[str, Any] = {}
    actor: str = "system"


class FlowName(str, enum.Enum):
    """The response flows; each is one Prefect deployment."""

    timeline = "timeline"
    failover = "failover"
    paging = "paging"
    recovery = "recovery"
    failback = "failback"

    @property
    def priority(self) -> int:
        """Lower is created first when runs queue up. A new incident's first page does not wait for any run
        (it is announced at decision time), so the runs that move traffic go first, then recovery, then the
        paging runs that own the rest of each escalation, then the timelines nobody waits on."""
        return {FlowName.failover: 0, FlowName.failback: 0, FlowName.recovery: 1, FlowName.paging: 2}.get(self, 3)


class RetryPolicy(BaseModel):
    """Retries of one action's I/O steps, as written in the rules file.

    ``retry_delay_seconds`` is one delay or one per attempt; ``exponential_backoff``
    is a factor f giving delays f, 2f, 4f, ...: Prefect's own ``exponential_backoff``
    computes them where the policy is applied (flows/runtime.py ``retry_delays``).
    """

    model_config = ConfigDict(extra="forbid")

    retries: int = Field(0, ge=0, le=20)
    retry_delay_seconds: float | list[float] = Field(0.0, description="seconds, or one per retry")
    exponential_backoff: float | None = Field(None, gt=0, description="backoff factor in seconds")

    @model_validator(mode="after")
    def _one_delay_style(self) -> RetryPolicy:
        if self.exponential_backoff is not None and self.retry_delay_seconds not in (0, []):
            raise ValueError("use either retry_delay_seconds or exponential_backoff, not both")
        delays = self.retry_delay_seconds if isinstance(self.retry_delay_seconds, list) else [self.retry_delay_seconds]
        if any(d < 0 for d in delays):
            raise ValueError("retry delays must be >= 0")
        return self


class PagingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(None, description="Slack channel; the configured default when empty")
    policy: str | None = Field(None, description="escalation policy (config escalation_policies:); none pages the channel once")
    reason: str | None = Field(None, max_length=500, description="why this page escalates (set by response flows that gave up)")
    detail: str | None = Field(None, max_length=2000, description="what failed, trimmed")
    repeat_interval: Duration | None = Field(None, description="page again this often while unacknowledged and firing, e.g. 4h")
    repeat_as: Literal["thread", "page"] = Field("thread", description="a repeat is a reply in the page's thread, or a fresh page")

    @field_validator("repeat_interval")
    @classmethod
    def _at_least_a_second(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value.total_seconds() < 1:
            raise ValueError("repeat_interval must be at least 1s")
        return value


class FailoverParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    switch: str = Field(description="name of a traffic switch in the config file")
    to: str = Field("standby", description="the target the switch should serve from")
    back_to: str = Field("primary", description="where failback returns traffic")
    failback_after_seconds: float | None = Field(
        None, ge=0, description="fail back automatically once the incident resolved and back_to stayed healthy this long"
    )
    dry_run: bool = Field(False, description="record the plan and the current state; change nothing")


class FailbackParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    switch: str = Field(description="name of a traffic switch in the config file")
    to: str = Field("primary", description="the target traffic returns to")
    healthy_for_seconds: float = Field(0.0, ge=0, description="the target must stay healthy this long first (hysteresis)")
    max_wait_seconds: float = Field(1800.0, ge=0, description="give up (and stay put) if it has not by then")
    dry_run: bool = False


class RecoveryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runbook: str = Field(description="name of a runbook in the config file")
    dry_run: bool = Field(False, description="record the plan and the current health; run nothing")


class Action(BaseModel):
    """One response a rule fans out: which flow, its parameters, its retries.

    Each flow has its own subclass so a typo in a rule's ``params`` fails
    ``alertflow rules check`` (with its line) rather than a 3 a.m. flow run,
    and the Prefect UI shows each flow's exact parameter form.
    """

    model_config = ConfigDict(extra="forbid")

    flow: FlowName
    retry: RetryPolicy = RetryPolicy()
    min_severity: Severity | None = Field(None, description="run only once the incident reaches this severity")


class TimelineAction(Action):
    flow: Literal[FlowName.timeline] = FlowName.timeline


class PagingAction(Action):
    flow: Literal[FlowName.paging] = FlowName.paging
    params: PagingParams = PagingParams()


class FailoverAction(Action):
    flow: Literal[FlowName.failover] = FlowName.failover
    params: FailoverParams

    def failback(self, *, by_hand: bool) -> FailbackAction:
        """The failback that undoes this failover: after the hysteresis period, or at once by hand."""
        healthy_for = 0.0 if by_hand else self.params.failback_after_seconds or 0.0
        params = FailbackParams(switch=self.params.switch, to=self.params.back_to, healthy_for_seconds=healthy_for)
        return FailbackAction(params=params, retry=self.retry)


class FailbackAction(Action):
    """Not written in rules: derived from the rule's failover action when the incident resolves, or by hand."""

    flow: Literal[FlowName.failback] = FlowName.failback
    params: FailbackParams


class RecoveryAction(Action):
    flow: Literal[FlowName.recovery] = FlowName.recovery
    params: RecoveryParams


ActionSpec = Annotated[TimelineAction | PagingAction | FailoverAction | RecoveryAction, Field(discriminator="flow")]
ACTION_BY_FLOW: dict[FlowName, type[Action]] = {
    FlowName.timeline: TimelineAction,
    FlowName.paging: PagingAction,
    FlowName.failover: FailoverAction,
    FlowName.recovery: RecoveryAction,
    FlowName.failback: FailbackAction,
}


class Silence(BaseModel):
    """An ad-hoc silence, as people create it from the CLI or API (Alertmanager's shape)."""

    id: int
    matchers: list[str] = Field(min_length=1)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    author: str
    comment: str = ""
    created_at: AwareDatetime | None = None  # when it was added (the Alertmanager API's updatedAt)


def timestamp(value: datetime) -> str:
    """ISO-8601 in UTC with milliseconds: the one format people read in timelines."""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")
