"""How each engine decision becomes rows: incidents, their alerts, timeline entries, outbox rows.

The engine decides; this writes it down, inside the pipeline's transaction.
Rare changes (an incident opening, resolving, changing severity) are written
at once; the storm path (alerts joining an incident) is collected in ``Rows``
and written with one statement per table at the end of the batch. Every
timeline entry says why, in the engine's words; past the first few alerts a
minute, joining alerts are folded into one entry (alertflow/pipeline/storm.py).

The flow runs an incident gets from its rule are queued here: the rule's due
actions at open and reopen and when one becomes due later (group_wait over, a
severity floor reached); after a change (ack, resolve, a response started
later) the timeline again; failback on resolve when the rule's failover asks
for it (held while another open incident relies on the switch). A response
runs only if the incident's rule has that action, a timeline run is queued
only when no run of it is yet to read the store (alertflow/store/tx.py), and a
failover or recovery joins a run about to do the same (store/shared_runs.py).
The others: a person's ``alertflow run`` (consumer.py) and a handover's page
(flows/handover.py). docs/responses.md counts them.

Each incident transition decided here (opened, reopened, resolved, severity
changed, flapping) also becomes an event for Prefect (alertflow/events.py) in
``Rows.events``: the pipeline hands them to its background emitter after the
commit (alertflow/pipeline/events.py), never before, and never waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alertflow.config.responses import Runbook
from alertflow.events import FLAPPING, OPENED, REOPENED, RESOLVED, SEVERITY_CHANGED, event_for, incident_event
from alertflow.models import Action, Alert, FailoverAction, FlowName, IncidentStatus, TimelineEntry, TimelineKind
from alertflow.pipeline.storm import StormFolds
from alertflow.rules import Engine, RuleSet
from alertflow.rules.decision import Decision, DecisionKind
from alertflow.store.run_queue import RunQueue
from alertflow.store.shared_runs import runbook_sharing, still_relying
from alertflow.store.tx import Tx

K = DecisionKind


@dataclass
class Rows:
    """What a batch writes in bulk at its end (the flow runs it queued are counted by ``Tx.queued``)."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    inbox: list[Alert] = field(default_factory=list)  # alerts the engine raised itself (heartbeats)
    events: list[dict[str, Any]] = field(default_factory=list)  # for Prefect, once the transaction commits


class DecisionWriter:
    def __init__(self, engine: Engine, ruleset: RuleSet, runbooks: Mapping[str, Runbook]) -> None:
        self.engine = engine
        self.ruleset = ruleset
        self.runs = RunQueue({name: sharing for name, runbook in runbooks.items() if (sharing := runbook_sharing(runbook))})
        self.incidents: dict[str, int] = {}  # incident key -> id, for keys with an incident
        self.storm = StormFolds()

    def restore(self) -> None:
        self.incidents = {key: group.ref for key, group in self.engine.groups.items() if group.ref is not None}
        self.storm.reset()

    def forget_dropped(self) -> None:
        """Keys whose group the engine dropped (a resolved incident past ``reopen_within``) leave the map too."""
        self.incidents = {key: ref for key, ref in self.incidents.items() if key in self.engine.groups}

    async def write(self, tx: Tx, decision: Decision, now: datetime, rows: Rows) -> None:
        kind, key, alert = decision.kind, decision.key, decision.alert
        if kind is K.synthetic and alert is not None:
            rows.inbox.append(alert)
            return
        if kind is K.suppressed:
            await self._suppressed(decision, now, rows)
            return
        if key is None or kind in (K.pending, K.unmatched):
            return
        if kind in (K.open, K.reopen):
            await self._start(tx, decision, now, rows)
            return
        incident_id = self.incidents.get(key)
        if incident_id is None:
            return  # a decision about a group that never became an incident
        if kind in (K.attach, K.alert_resolved) and alert is not None:
            self._member(rows, incident_id, alert.fingerprint, alert.name, alert.status.value, now)
            if not self.storm.fold(incident_id, alert):
                rows.timeline.append(_alert_entry(incident_id, alert))
        elif kind is K.severity and decision.severity is not None:
            await tx.update_incident(incident_id, severity=decision.severity.value)
            rows.timeline.append(entry(incident_id, now, TimelineKind.escalation, decision.reason))
            rows.events.append(event_for(SEVERITY_CHANGED, await tx.get_incident(incident_id), at=now, summary=decision.reason))
        elif kind is K.act:
            await self._queue_all(tx, incident_id, decision.actions, now)
            if all(a.flow is not FlowName.timeline for a in decision.actions):  # the timeline follows the responses started
                await self.queue_after_change(tx, incident_id, decision.rule_id or self._rule_of(key), now)
            flows = ", ".join(a.flow.value for a in decision.actions)
            rows.timeline.append(entry(incident_id, now, TimelineKind.rule, f"{flows} started: {decision.reason}"))
        elif kind is K.resolving:
            rows.timeline.append(entry(incident_id, now, TimelineKind.note, decision.reason))
        elif kind is K.flapping:
            await tx.update_incident(incident_id, flapping=True)
            rows.timeline.append(entry(incident_id, now, TimelineKind.flapping, decision.reason))
            rows.events.append(event_for(FLAPPING, await tx.get_incident(incident_id), at=now, summary=decision.reason))
        elif kind is K.resolve:
            actor = alert.source if alert is not None else "alertflow"
            if (resolved := await tx.transition(incident_id, IncidentStatus.resolved, actor, now)) is not None:
                fingerprint = alert.fingerprint if alert is not None else None
                rows.events.append(event_for(RESOLVED, resolved, at=now, by=actor, summary=decision.reason, fingerprint=fingerprint))
            # The resolving alert is already recorded: the engine decided alert_resolved for it just before.
            rows.timeline.append(entry(incident_id, now, TimelineKind.resolve, f"resolved: {decision.reason}", actor=actor))
            await self.queue_after_change(tx, incident_id, decision.rule_id or self._rule_of(key), now, resolved=True)
            if key not in self.engine.groups:  # else it may reopen within the rule's reopen_within (forget_dropped)
                self.incidents.pop(key, None)
            self.storm.forget(incident_id)

    async def _start(self, tx: Tx, decision: Decision, now: datetime, rows: Rows) -> None:
        key, alert = decision.key or "", decision.alert
        assert alert is not None
        severity, rule = (decision.severity or alert.severity).value, decision.rule_id or self._rule_of(key)
        if decision.kind is K.reopen and key in self.incidents:
            incident_id = self.incidents[key]
            await tx.reopen_incident(incident_id)
            rows.timeline.append(entry(incident_id, now, TimelineKind.reopen, f"reopened: {decision.reason}"))
        else:
            incident_id = await tx.insert_incident(
                key=key, title=decision.title or alert.summary, service=decision.service or alert.service,
                severity=severity, rule_id=decision.rule_id or "", at=now,
            )  # fmt: skip
            self.incidents[key] = incident_id
            self.engine.bind(key, incident_id)
        for fingerprint, name in decision.members:
            self._member(rows, incident_id, fingerprint, name, "firing", now)
        self._member(rows, incident_id, alert.fingerprint, alert.name, alert.status.value, now)
        rows.timeline.append(_alert_entry(incident_id, alert))
        if decision.kind is K.open:
            rows.timeline.append(entry(incident_id, now, TimelineKind.rule, decision.reason, rule_id=decision.rule_id))
        await self._queue_all(tx, incident_id, decision.actions, now)
        payload = {"summary": decision.reason, "fingerprint": alert.fingerprint, "alert": alert.name}
        rows.events.append(
            incident_event(
                OPENED if decision.kind is K.open else REOPENED, incident_id, service=decision.service or alert.service,
                severity=severity, rule=rule, status="open", title=decision.title or alert.summary, at=now,
                payload={**payload, "responses": [a.flow.value for a in decision.actions]},
            )
        )  # fmt: skip

    async def _suppressed(self, decision: Decision, now: datetime, rows: Rows) -> None:
        """Silenced and maintenance alerts stay visible through the engine's state; inhibited ones
        also go on the inhibiting incident's timeline, so it shows what it is holding back."""
        incident_id = self.incidents.get(decision.related_key or "")
        if incident_id is not None and decision.alert is not None:
            summary = f"alert {decision.alert.name} inhibited: {decision.alert.summary}"
            rows.timeline.append(entry(incident_id, now, TimelineKind.inhibited, summary, fingerprint=decision.fingerprint))

    async def _queue_all(self, tx: Tx, incident_id: int, actions: tuple[Action, ...], now: datetime) -> None:
        """Queued with the batch's other runs (``flush``), where a failover or recovery may join another's run."""
        for action in actions:
            self.runs.add(tx, incident_id, action)

    async def flush(self, tx: Tx, now: datetime) -> None:
        """Write the runs queued so far (alertflow/store/run_queue.py): at the batch's end, and before the outbox is read."""
        await self.runs.flush(tx, now)

    async def queue_after_change(self, tx: Tx, incident_id: int, rule_id: str, now: datetime, resolved: bool = False) -> None:
        """Re-publish the timeline artifact after a change, if it was published before (the rule has a timeline
        action and it became due), unless a run yet to read the store will show the change anyway (Tx.queue_action);
        on resolve, also fail back if the rule's failover action asks for it and no other open incident relies on
        the switch (alertflow/store/shared_runs.py)."""
        await self.flush(tx, now)  # both read the outbox
        timeline = self.rule_action(rule_id, FlowName.timeline)
        if timeline is not None and await tx.has_timeline_run(incident_id):
            await tx.queue_action(incident_id, timeline, now)
        failover = self.rule_action(rule_id, FlowName.failover)
        if resolved and isinstance(failover, FailoverAction) and failover.params.failback_after_seconds is not None:
            switch = failover.params.switch
            if holding := await still_relying(tx, incident_id, switch):
                summary = f"no failback of switch {switch} yet: {_incidents(holding)} still open on it; the last to resolve fails back"
                await tx.add_timeline([entry(incident_id, now, TimelineKind.failover, summary, switch=switch, held_by=holding)])
            else:
                await tx.queue_action(incident_id, failover.failback(by_hand=False), now)

    def rule_action(self, rule_id: str, flow: FlowName) -> Action | None:
        rule = self.ruleset.get(rule_id)
        if rule and flow is FlowName.failback:  # rules never list failback: it undoes their failover
            failover = next((a for a in rule.actions if isinstance(a, FailoverAction)), None)
            return failover.failback(by_hand=True) if failover else None
        return next((a for a in rule.actions if a.flow is flow), None) if rule else None

    def _rule_of(self, key: str) -> str:
        return key.split("|", 1)[0]

    @staticmethod
    def _member(rows: Rows, incident_id: int, fingerprint: str, name: str, status: str, now: datetime) -> None:
        rows.alerts.append(
            {"incident_id": incident_id, "fingerprint": fingerprint, "name": name, "status": status, "first_seen": now, "last_seen": now}
        )


def _alert_entry(incident_id: int, alert: Alert) -> TimelineEntry:
    summary = f"alert {alert.name} {alert.status.value}: {alert.summary}"
    data = {"fingerprint": alert.fingerprint, "labels": alert.labels, "source": alert.source, "name": alert.name}
    data |= {"status": alert.status.value, "annotations": alert.annotations}  # message templates show them
    links = {"generator_url": alert.generator_url, "runbook_url": alert.annotations.get("runbook_url")}
    data.update({name: url for name, url in links.items() if url})  # the page links to them
    return entry(incident_id, alert.received_at, TimelineKind.alert, summary, **data)


def _incidents(ids: list[int]) -> str:
    shown = ", ".join(f"#{i}" for i in ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    return f"incident{'s' if len(ids) > 1 else ''} {shown}"


def entry(incident_id: int, at: datetime, kind: TimelineKind, summary: str, actor: str = "system", **data: Any) -> TimelineEntry:
    return TimelineEntry(incident_id=incident_id, at=at, kind=kind, summary=summary, data=data, actor=actor)
