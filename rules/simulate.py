"""Run alerts through the engine on their own clock and keep the incidents it would have made.

The engine's decisions say everything the pipeline writes, so a simulation
needs no store and no Prefect: ``alertflow rules test`` checks rules against
expected incidents with it, and ``alertflow replay`` backtests a rules change
over recorded alerts. Timers run on a tick every ``tick`` seconds of the
simulated clock, as the pipeline's clock ticks once a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alertflow.models import Alert, Silence
from alertflow.rules.decision import Decision, DecisionKind
from alertflow.rules.engine import Engine
from alertflow.rules.schema import RuleSet

K = DecisionKind


@dataclass
class SimulatedIncident:
    key: str
    rule_id: str
    opened_at: datetime
    severity: str
    status: str = "open"
    actions: list[str] = field(default_factory=list)
    alerts: set[str] = field(default_factory=set)
    flapping: bool = False
    resolved_at: datetime | None = None
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "key": self.key,
            "status": self.status,
            "severity": self.severity,
            "actions": self.actions,
            "alerts": len(self.alerts),
            "flapping": self.flapping,
        }


@dataclass
class SimulatedSuppression:
    alert: Alert
    reason: str


class Simulation:
    def __init__(self, ruleset: RuleSet, silences: Iterable[Silence] = (), tick: timedelta = timedelta(seconds=1)) -> None:
        self.engine = Engine(ruleset)
        self.engine.set_silences(silences)
        self.tick = tick
        self.clock: datetime | None = None
        self.incidents: list[SimulatedIncident] = []
        self.suppressed: list[SimulatedSuppression] = []
        self._current: dict[str, SimulatedIncident] = {}

    def feed(self, alert: Alert, at: datetime | None = None) -> None:
        """Process one alert at ``at`` (default: when it was received), after running timers up to then."""
        at = at or alert.received_at
        self.run_until(at)
        self._apply(self.engine.process(alert, at), at)

    def run_until(self, until: datetime) -> None:
        if self.clock is None:
            self.clock = until
            self._apply(self.engine.tick(until), until)
            return
        while self.clock + self.tick <= until:
            self.clock += self.tick
            self._apply(self.engine.tick(self.clock), self.clock)
        if until > self.clock:
            self.clock = until
            self._apply(self.engine.tick(until), until)

    def _apply(self, decisions: list[Decision], at: datetime) -> None:
        for d in decisions:
            if d.kind is K.suppressed and d.alert is not None:
                self.suppressed.append(SimulatedSuppression(d.alert, d.reason))
            if d.key is None:
                continue
            if d.kind is K.open:
                incident = SimulatedIncident(d.key, d.rule_id or "", at, (d.severity.value if d.severity else "warning"))
                self.incidents.append(incident)
                self._current[d.key] = incident
            incident = self._current.get(d.key)
            if incident is None:
                continue
            incident.reasons.append(f"{at.isoformat()} {d.kind.value}: {d.reason}")
            if d.kind is K.reopen:
                incident.status, incident.resolved_at = "open", None
            if d.alert is not None and d.kind in (K.open, K.reopen, K.attach):
                incident.alerts.add(d.alert.fingerprint)
            incident.alerts.update(fingerprint for fingerprint, _ in d.members)
            incident.actions.extend(action.flow.value for action in d.actions)
            if d.kind is K.severity and d.severity is not None:
                incident.severity = d.severity.value
            elif d.kind is K.flapping:
                incident.flapping = True
            elif d.kind is K.resolve:
                incident.status, incident.resolved_at = "resolved", at
