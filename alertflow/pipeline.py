"""Inbox → rule engine → store: the one ordered consumer that turns alerts into incidents.

Alerts are read from the inbox in arrival order, decided by the pure engine,
and the results (incident rows, timeline entries, outbox rows, the inbox
progress mark) are written in one transaction per batch. If that write fails,
the engine's state is rebuilt from the store before the next try, so memory
never runs ahead of disk. People's commands (ack, resolve, run) go through the
same lock, so they interleave cleanly with alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from alertflow.errors import Conflict, StoreUnavailable
from alertflow.models import (
    ACTION_BY_FLOW,
    Action,
    Alert,
    Decision,
    DecisionKind,
    FlowName,
    Incident,
    IncidentStatus,
    TimelineEntry,
    TimelineKind,
)
from alertflow.store import Store, StoredAlert
from alertflow.tx import Tx
from rules import Engine, OpenIncident, RuleSet

log = logging.getLogger("alertflow.pipeline")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Known:
    id: int
    rule_id: str


@dataclass
class _Rows:
    """What a batch writes in bulk at its end, and how many flow runs it queued."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    queued: int = 0


class Pipeline:
    def __init__(self, store: Store, ruleset: RuleSet, *, on_outbox: Callable[[], None] = lambda: None, batch_size: int = 500) -> None:
        self.store = store
        self.ruleset = ruleset
        self.engine = Engine(ruleset)
        self.on_outbox = on_outbox
        self.batch_size = batch_size
        self._incidents: dict[str, _Known] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    async def restore(self) -> None:
        """Rebuild the engine from the store's open incidents (start-up, or after a failed write)."""
        rows = await self.store.open_incidents()
        self.engine.restore(
            OpenIncident(
                key=row.key,
                rule_id=row.rule_id,
                severity=row.severity,
                firing={fp for fp, status in row.alerts.items() if status == "firing"},
                resolved={fp for fp, status in row.alerts.items() if status != "firing"},
            )
            for row in rows
        )
        self._incidents = {row.key: _Known(row.id, row.rule_id) for row in rows}

    def nudge(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.drain()
            except StoreUnavailable as err:
                log.error("store unavailable, will retry: %s", err)
                await asyncio.sleep(1)
            except Exception:  # the consumer must outlive any bug: log it and keep going
                log.exception("pipeline pass failed, will retry")
                await asyncio.sleep(1)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), idle_seconds)
            self._wake.clear()

    async def drain(self) -> int:
        """Decide every pending inbox alert; returns how many were processed."""
        done = 0
        while batch := await self.store.pending_alerts(self.batch_size):
            await self._apply(batch)
            done += len(batch)
        return done

    async def _apply(self, batch: list[StoredAlert]) -> None:
        """Persist a batch's decisions in one transaction. A batch that fails for any reason but an
        unavailable store is retried alert by alert, so one poison alert is set aside (stored, with
        its error) instead of blocking everything behind it."""
        try:
            queued = await self._decide_and_write(batch)
        except StoreUnavailable:
            raise
        except Exception as err:
            if len(batch) > 1:
                log.warning("batch of %d alerts failed (%s); retrying one by one", len(batch), err)
                for stored in batch:
                    await self._apply([stored])
                return
            log.error("inbox alert %s set aside: %s: %s", batch[0].id, type(err).__name__, err)
            async with self.store.write() as tx:
                await tx.mark_processed([batch[0].id], utcnow(), error=f"{type(err).__name__}: {err}"[:2000])
            return
        if queued:
            self.on_outbox()

    async def _decide_and_write(self, batch: list[StoredAlert]) -> int:
        async with self._lock:
            now = utcnow()
            rows = _Rows()
            try:
                async with self.store.write() as tx:
                    for stored in batch:
                        for decision in self.engine.process(stored.alert, now):
                            await self._write(tx, stored.alert, decision, now, rows)
                    # The storm path (many alerts joining few incidents) is these two statements.
                    await tx.upsert_incident_alerts(rows.alerts)
                    await tx.add_timeline(rows.timeline)
                    await tx.mark_processed([s.id for s in batch], now)
            except Exception:
                await self.restore()  # memory must not run ahead of disk
                raise
        return rows.queued

    async def _write(self, tx: Tx, alert: Alert, decision: Decision, now: datetime, rows: _Rows) -> None:
        """Persist one decision: rare changes at once, alert and timeline rows into ``rows``."""
        kind, key = decision.kind, decision.key
        if kind in (DecisionKind.duplicate, DecisionKind.unmatched) or key is None:
            return
        if kind is DecisionKind.open:
            rule_id = decision.rule_id or ""
            severity = (decision.severity or alert.severity).value
            title, service = decision.title or alert.name, decision.service or alert.service
            incident_id = await tx.insert_incident(key=key, title=title, service=service, severity=severity, rule_id=rule_id, at=now)
            self._incidents[key] = _Known(incident_id, rule_id)
        known = self._incidents[key]
        if kind in (DecisionKind.open, DecisionKind.attach, DecisionKind.alert_resolved):
            rows.alerts.append(
                {
                    "incident_id": known.id,
                    "fingerprint": alert.fingerprint,
                    "name": alert.name,
                    "status": alert.status.value,
                    "first_seen": now,
                    "last_seen": now,
                }
            )
            summary = f"alert {alert.name} {alert.status.value}: {alert.summary}"
            data = {"fingerprint": alert.fingerprint, "labels": alert.labels, "source": alert.source}
            rows.timeline.append(_entry(known.id, alert.received_at, TimelineKind.alert, summary, **data))
        if kind is DecisionKind.open:
            rows.timeline.append(_entry(known.id, now, TimelineKind.rule, decision.reason, rule_id=decision.rule_id))
            for action in decision.actions:
                await _queue(tx, known.id, action, now)
            rows.queued += len(decision.actions)
        elif kind is DecisionKind.escalate and decision.severity:
            await tx.update_incident(known.id, severity=decision.severity.value)
            rows.timeline.append(_entry(known.id, now, TimelineKind.escalation, decision.reason))
        elif kind is DecisionKind.resolve:
            await tx.transition(known.id, IncidentStatus.resolved, alert.source, now)
            rows.timeline.append(_entry(known.id, now, TimelineKind.resolve, f"resolved: {decision.reason}", actor=alert.source))
            rows.queued += await self._queue_timeline(tx, known.id, known.rule_id, now)
            del self._incidents[key]

    async def _queue_timeline(self, tx: Tx, incident_id: int, rule_id: str, now: datetime) -> int:
        """Re-publish the timeline artifact after a change, if the incident's rule has a timeline action."""
        action = self._rule_action(rule_id, FlowName.timeline)
        if action is None:
            return 0
        await _queue(tx, incident_id, action, now)
        return 1

    def _rule_action(self, rule_id: str, flow: FlowName) -> Action | None:
        rule = self.ruleset.get(rule_id)
        return next((a for a in rule.actions if a.flow is flow), None) if rule else None

    # -- people's commands --------------------------------------------------

    async def acknowledge(self, incident_id: int, actor: str) -> Incident:
        return await self._transition(incident_id, IncidentStatus.acknowledged, actor, TimelineKind.ack)

    async def resolve(self, incident_id: int, actor: str) -> Incident:
        return await self._transition(incident_id, IncidentStatus.resolved, actor, TimelineKind.resolve)

    async def _transition(self, incident_id: int, to: IncidentStatus, actor: str, kind: TimelineKind) -> Incident:
        async with self._lock:
            now = utcnow()
            queued = 0
            async with self.store.write() as tx:
                changed = await tx.transition(incident_id, to, actor, now)
                if changed is None:
                    return await tx.get_incident(incident_id)
                await tx.add_timeline([_entry(incident_id, now, kind, f"{to.value} by {actor}", actor=actor)])
                queued = await self._queue_timeline(tx, incident_id, changed.rule_id, now)
            if to is IncidentStatus.resolved:
                self.engine.forget(changed.key)
                self._incidents.pop(changed.key, None)
        if queued:
            self.on_outbox()
        return changed

    async def request_run(self, incident_id: int, flow: FlowName, actor: str) -> int:
        """Queue a response flow by hand, with the action its rule defines (or the flow's defaults)."""
        async with self._lock:
            now = utcnow()
            async with self.store.write() as tx:
                incident = await tx.get_incident(incident_id)
                action = self._rule_action(incident.rule_id, flow)
                if action is None:
                    try:
                        action = ACTION_BY_FLOW[flow]()
                    except ValueError:
                        raise Conflict(
                            f"rule {incident.rule_id} defines no {flow.value} action, and {flow.value} needs parameters"
                        ) from None
                outbox_id = await _queue(tx, incident_id, action, now)
                await tx.add_timeline([_entry(incident_id, now, TimelineKind.note, f"{flow.value} flow requested by {actor}", actor=actor)])
        self.on_outbox()
        return outbox_id


async def _queue(tx: Tx, incident_id: int, action: Action, now: datetime) -> int:
    parameters = {"incident_id": incident_id, "action": action.model_dump(mode="json")}
    return await tx.add_outbox(incident_id, action.flow, parameters, now)


def _entry(incident_id: int, at: datetime, kind: TimelineKind, summary: str, actor: str = "system", **data: Any) -> TimelineEntry:
    return TimelineEntry(incident_id=incident_id, at=at, kind=kind, summary=summary, data=data, actor=actor)
