"""The rule engine: a pure function of (state, alert, time) returning decisions.

No I/O and no Prefect here: the pipeline stores what the engine decides and
the dispatcher acts on it. That keeps the engine testable without servers,
replayable over recorded alerts, and rebuildable after a restart from the open
incidents in the store (``restore``).

v1 semantics:
- the first rule whose matchers and severity threshold accept a firing alert
  decides; its ``group_by`` labels form the incident key;
- a firing alert whose fingerprint already fires in an open incident is a
  duplicate (Alertmanager resends, HA pairs) and changes nothing;
- the incident resolves when every alert in it has resolved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from alertflow.models import Alert, AlertStatus, Decision, DecisionKind, Severity
from rules.schema import Rule, RuleSet


@dataclass
class OpenIncident:
    """What the engine remembers of an open incident; the store holds the rest."""

    key: str
    rule_id: str
    severity: Severity
    firing: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)


class Engine:
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self._open: dict[str, OpenIncident] = {}
        self._key_by_fingerprint: dict[str, str] = {}

    def restore(self, incidents: Iterable[OpenIncident]) -> None:
        """Rebuild state from the store's open incidents (start-up, or after a failed write)."""
        self._open.clear()
        self._key_by_fingerprint.clear()
        for incident in incidents:
            self._open[incident.key] = incident
            for fingerprint in incident.firing | incident.resolved:
                self._key_by_fingerprint[fingerprint] = incident.key

    def forget(self, key: str) -> None:
        """An incident was closed from outside (a person resolved it)."""
        incident = self._open.pop(key, None)
        if incident:
            for fingerprint in incident.firing | incident.resolved:
                self._key_by_fingerprint.pop(fingerprint, None)

    def open_incident(self, key: str) -> OpenIncident | None:
        return self._open.get(key)

    def match(self, alert: Alert) -> Rule | None:
        return next((rule for rule in self.ruleset.rules if rule.matches(alert.labels, alert.severity)), None)

    def process(self, alert: Alert, now: datetime) -> list[Decision]:
        """Decide what one alert means. ``now`` drives timers (group waits, windows) as they arrive."""
        if alert.status is AlertStatus.resolved:
            return self._resolve_alert(alert)
        known_key = self._key_by_fingerprint.get(alert.fingerprint)
        if known_key is not None:
            return self._refire(self._open[known_key], alert)
        rule = self.match(alert)
        if rule is None:
            return [Decision(kind=DecisionKind.unmatched, fingerprint=alert.fingerprint, reason="no rule matched")]
        key = rule.incident_key(alert.labels)
        incident = self._open.get(key)
        if incident is None:
            return [self._open_incident(rule, key, alert)]
        return self._attach(incident, alert, f"joins incident {key} (rule {incident.rule_id})")

    def _open_incident(self, rule: Rule, key: str, alert: Alert) -> Decision:
        self._open[key] = OpenIncident(key, rule.id, alert.severity, firing={alert.fingerprint})
        self._key_by_fingerprint[alert.fingerprint] = key
        matched = ", ".join(str(m) for m in rule.matchers) or "every alert"
        return Decision(
            kind=DecisionKind.open,
            fingerprint=alert.fingerprint,
            key=key,
            rule_id=rule.id,
            title=alert.summary,
            service=alert.service,
            severity=alert.severity,
            actions=list(rule.actions),
            reason=f"rule {rule.id} ({rule.description}) matched: {matched}",
        )

    def _refire(self, incident: OpenIncident, alert: Alert) -> list[Decision]:
        if alert.fingerprint in incident.firing:
            return [Decision(kind=DecisionKind.duplicate, fingerprint=alert.fingerprint, key=incident.key, reason="already firing")]
        incident.resolved.discard(alert.fingerprint)
        return self._attach(incident, alert, f"fires again in incident {incident.key}")

    def _attach(self, incident: OpenIncident, alert: Alert, reason: str) -> list[Decision]:
        incident.firing.add(alert.fingerprint)
        self._key_by_fingerprint[alert.fingerprint] = incident.key
        decisions = [Decision(kind=DecisionKind.attach, fingerprint=alert.fingerprint, key=incident.key, reason=reason)]
        if alert.severity.rank > incident.severity.rank:
            reason = f"severity raised from {incident.severity.value} to {alert.severity.value} by {alert.name}"
            incident.severity = alert.severity
            decisions.append(
                Decision(
                    kind=DecisionKind.escalate, fingerprint=alert.fingerprint, key=incident.key, severity=alert.severity, reason=reason
                )
            )
        return decisions

    def _resolve_alert(self, alert: Alert) -> list[Decision]:
        key = self._key_by_fingerprint.get(alert.fingerprint)
        incident = self._open.get(key) if key is not None else None
        if incident is None:
            return [Decision(kind=DecisionKind.unmatched, fingerprint=alert.fingerprint, reason="resolved alert of no open incident")]
        if alert.fingerprint not in incident.firing:
            return [Decision(kind=DecisionKind.duplicate, fingerprint=alert.fingerprint, key=incident.key, reason="already resolved")]
        incident.firing.discard(alert.fingerprint)
        incident.resolved.add(alert.fingerprint)
        decisions = [
            Decision(kind=DecisionKind.alert_resolved, fingerprint=alert.fingerprint, key=incident.key, reason=f"{alert.name} resolved")
        ]
        if not incident.firing:
            self.forget(incident.key)
            decisions.append(
                Decision(
                    kind=DecisionKind.resolve,
                    fingerprint=alert.fingerprint,
                    key=incident.key,
                    reason="every alert of the incident resolved",
                )
            )
        return decisions
