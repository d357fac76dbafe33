"""What the engine concludes: the one type that leaves the pure engine for the pipeline.

A decision names its kind, the alert and incident key it is about, and why, in
words the timeline shows people.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from alertflow.models import Action, Alert, Severity


class DecisionKind(str, enum.Enum):
    open = "open"  # a new incident; ``actions`` are due now (none while group_wait holds them)
    reopen = "reopen"  # a firing alert within reopen_within brought a resolved incident back
    attach = "attach"  # an alert joins (or fires again in) an open incident
    pending = "pending"  # held by the rule's pattern (threshold, sequence) until it completes
    severity = "severity"  # the incident's severity changed (highest of its firing alerts)
    act = "act"  # actions now due: group_wait passed, or a higher severity was reached
    alert_resolved = "alert_resolved"  # one alert of an incident resolved
    resolving = "resolving"  # every alert resolved; the incident resolves after a quiet period
    resolve = "resolve"  # the incident resolved (all alerts, quiet period, or nothing heard)
    flapping = "flapping"  # the incident's alerts keep changing state: one incident, marked
    suppressed = "suppressed"  # silenced, in a maintenance window, or inhibited: stored, no action
    synthetic = "synthetic"  # the engine raised (or cleared) an alert itself: a missed heartbeat
    unmatched = "unmatched"  # no rule matched: stored, nothing else


@dataclass(slots=True)
class Decision:
    """What the engine concluded, and why, so the timeline can explain itself.

    A plain dataclass, neither a pydantic model nor frozen: the engine makes one
    per alert on its hot path (a frozen dataclass's __init__ costs six times as
    much), and it never crosses a process or user boundary. Nothing changes a
    decision once made.
    """

    kind: DecisionKind
    fingerprint: str
    reason: str
    key: str | None = None
    rule_id: str | None = None
    title: str | None = None
    service: str | None = None
    severity: Severity | None = None
    actions: tuple[Action, ...] = ()
    alert: Alert | None = None  # the alert decided on (None for timer decisions: act, resolve)
    related_key: str | None = None  # suppressed by inhibition: the inhibiting incident's key
    members: tuple[tuple[str, str], ...] = ()  # open/reopen: the other alerts (fingerprint, name) it opens with
