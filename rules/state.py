"""What the engine remembers between alerts, and how it is written down.

The store keeps each piece as one small JSON row (group, member, suppressed
alert, heartbeat), written in the same transaction as the decisions that
changed it, so a restart resumes exactly where the last commit left off:
windows half full, timers pending, silenced alerts waiting. Members are rows
of their own so a storm of alerts into one incident writes one small row per
new alert, not the whole incident again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alertflow.models import Alert, Severity


class Phase(str, enum.Enum):
    pending = "pending"  # the rule's pattern has not completed: no incident yet
    open = "open"
    resolving = "resolving"  # every alert resolved; waiting out the quiet period
    resolved = "resolved"  # kept only while a new firing alert would reopen it


@dataclass(slots=True)
class Member:
    name: str
    severity: Severity
    firing: bool
    seen: datetime  # last received firing: windows count alerts seen within them
    step: int = -1  # sequence patterns: the step this alert completed
    sources: list[tuple[int, tuple[str, ...], bool]] = field(default_factory=list)  # where it is filed as an inhibition source

    def to_state(self) -> dict[str, Any]:
        return {"name": self.name, "severity": self.severity.value, "firing": self.firing, "seen": self.seen.isoformat(),
                "step": self.step, "sources": [[i, list(v), t] for i, v, t in self.sources]}  # fmt: skip

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Member:
        sources = [(i, tuple(v), t) for i, v, t in s["sources"]]
        return cls(s["name"], Severity(s["severity"]), s["firing"], datetime.fromisoformat(s["seen"]), s["step"], sources)


@dataclass(slots=True)
class Group:
    """One incident key of one rule: its alerts, its timers, and the incident it became."""

    key: str
    rule_id: str
    phase: Phase
    title: str
    service: str
    severity: Severity
    last_heard: datetime
    members: dict[str, Member] = field(default_factory=dict)
    actions_due_at: datetime | None = None  # group_wait
    resolve_due_at: datetime | None = None  # resolve_after / flapping quiet period
    resolved_at: datetime | None = None  # reopen_within counts from here
    sequence_started: datetime | None = None
    sequence_step: int = 0
    actions_done: set[str] = field(default_factory=set)
    transitions: list[datetime] = field(default_factory=list)
    flapping: bool = False
    ref: int | None = None  # the store's incident id; the engine never reads it
    expires_at: datetime | None = None  # the latest endsAt its firing alerts promised (Prometheus): resolved then, unless resent
    never_expires: bool = False  # a firing alert came without an endsAt (most sources): only a resolve ends it

    def firing(self) -> list[str]:
        return [fp for fp, m in self.members.items() if m.firing]

    def highest_firing(self) -> Severity | None:
        """The incident's severity: the highest of its firing alerts (None when none fires)."""
        highest = None
        for member in self.members.values():
            if member.firing and (highest is None or member.severity.rank > highest.rank):
                highest = member.severity
        return highest

    def to_state(self) -> dict[str, Any]:
        times = {
            name: _iso(getattr(self, name))
            for name in ("last_heard", "actions_due_at", "resolve_due_at", "resolved_at", "sequence_started")
        }
        return {"rule_id": self.rule_id, "phase": self.phase.value, "title": self.title, "service": self.service,
                "severity": self.severity.value, **times, "sequence_step": self.sequence_step,
                "actions_done": sorted(self.actions_done), "transitions": [t.isoformat() for t in self.transitions],
                "flapping": self.flapping, "ref": self.ref, "expires_at": _iso(self.expires_at),
                "never_expires": self.never_expires}  # fmt: skip

    @classmethod
    def from_state(cls, key: str, s: dict[str, Any]) -> Group:
        return cls(
            key=key, rule_id=s["rule_id"], phase=Phase(s["phase"]), title=s["title"], service=s["service"],
            severity=Severity(s["severity"]), last_heard=datetime.fromisoformat(s["last_heard"]),
            actions_due_at=_time(s["actions_due_at"]), resolve_due_at=_time(s["resolve_due_at"]), resolved_at=_time(s["resolved_at"]),
            sequence_started=_time(s["sequence_started"]), sequence_step=s["sequence_step"], actions_done=set(s["actions_done"]),
            transitions=[datetime.fromisoformat(t) for t in s["transitions"]], flapping=s["flapping"], ref=s["ref"],
            expires_at=_time(s.get("expires_at")), never_expires=s.get("never_expires", False),
        )  # fmt: skip


@dataclass(slots=True)
class Suppressed:
    """A firing alert that starts no action, and why; kept whole to be evaluated again later."""

    alert: Alert
    kind: str  # silence | maintenance | inhibited
    reason: str
    source: str | None = None  # inhibited: the source alert's fingerprint

    def to_state(self) -> dict[str, Any]:
        return {"alert": self.alert.model_dump(mode="json"), "kind": self.kind, "reason": self.reason, "source": self.source}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Suppressed:
        return cls(Alert.model_validate(s["alert"]), s["kind"], s["reason"], s["source"])


@dataclass(slots=True)
class HeartbeatState:
    heartbeat_id: str
    labels: dict[str, str]
    last_seen: datetime
    raised: bool = False

    def to_state(self) -> dict[str, Any]:
        return {"heartbeat_id": self.heartbeat_id, "labels": self.labels, "last_seen": self.last_seen.isoformat(), "raised": self.raised}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> HeartbeatState:
        return cls(s["heartbeat_id"], s["labels"], datetime.fromisoformat(s["last_seen"]), s["raised"])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
