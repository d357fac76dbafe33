"""Inbox → rule engine → store: the one ordered consumer that turns alerts and time into incidents.

Alerts are read from the inbox in arrival order and decided by the pure engine;
the clock ticks once a second for its timers. Each batch's results (incidents,
timeline entries, outbox rows, the engine's changed state and the inbox
progress mark) are written in one transaction; if that fails, the engine is
rebuilt from the store before the next try, so memory never runs ahead of
disk, and a restart resumes windows and timers where the last commit left
them. People's commands (ack, resolve, run, silences) take the same lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from alertflow.doorbell import Doorbell
from alertflow.errors import Conflict, InputError, NotFound, StoreUnavailable
from alertflow.metrics import Metrics
from alertflow.models import ACTION_BY_FLOW, Action, FlowName, Incident, IncidentStatus, Silence, TimelineKind
from alertflow.pipeline.decisions import DecisionWriter, Rows, entry
from alertflow.rules import Engine, Matcher, RuleSet
from alertflow.rules.decision import Decision
from alertflow.store.database import Store, StoredAlert
from alertflow.store.tx import Tx

log = logging.getLogger("alertflow.pipeline.consumer")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Pipeline:
    def __init__(
        self, store: Store, ruleset: RuleSet, *, on_outbox: Callable[[], None] = lambda: None, batch_size: int = 500,
        clock: Callable[[], datetime] = utcnow, metrics: Metrics | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.engine = Engine(ruleset)
        self.writer = DecisionWriter(self.engine, ruleset)
        self.on_outbox = on_outbox
        self.batch_size = batch_size
        self.clock = clock
        self.metrics = metrics or Metrics()
        self._lock = asyncio.Lock()
        self.doorbell = Doorbell()

    async def restore(self) -> None:
        """Rebuild the engine from the store (start-up, or after a failed write)."""
        self.engine.restore(await self.store.engine_state())
        self.engine.set_silences(await self.store.silences(active_at=self.clock()))
        self.writer.restore()

    def nudge(self) -> None:
        self.doorbell.ring()

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.drain()
                await self.tick()
            except StoreUnavailable as err:
                log.error("store unavailable, will retry: %s", err)
                await asyncio.sleep(1)
            except Exception:  # the consumer must outlive any bug: log it and keep going
                log.exception("pipeline pass failed, will retry")
                await asyncio.sleep(1)
            await self.doorbell.wait(idle_seconds)

    async def drain(self) -> int:
        """Decide every pending inbox alert; returns how many were processed."""
        done = 0
        while batch := await self.store.pending_alerts(self.batch_size):
            await self._apply(batch)
            done += len(batch)
        return done

    async def tick(self) -> None:
        """Run the engine's timers (group waits, quiet periods, windows, silences, heartbeats)."""
        queued = await self._transaction(lambda now: self.engine.tick(now), [])
        if queued:
            self.on_outbox()

    async def _apply(self, batch: list[StoredAlert]) -> None:
        """Persist a batch's decisions in one transaction. A batch that fails for any reason but an
        unavailable store is retried alert by alert, so one poison alert is set aside (stored, with
        its error) instead of blocking everything behind it."""
        try:
            queued = await self._transaction(lambda now: [d for s in batch for d in self.engine.process(s.alert, now)], batch)
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

    async def _transaction(self, decide: Callable[[datetime], list[Decision]], batch: list[StoredAlert]) -> int:
        """Decide at ``now`` and write everything it changed together; returns flow runs queued."""
        async with self._lock:
            now = self.clock()
            rows = Rows()
            try:
                async with self.store.write() as tx:
                    for decision in decide(now):
                        await self.writer.write(tx, decision, now, rows)
                    await self._flush(tx, rows, batch, now)
            except Exception:
                await self.restore()  # memory must not run ahead of disk
                raise
        self.metrics.observe_decided((s.alert.received_at for s in batch), utcnow())  # wall time, whatever the engine's clock
        return tx.queued

    async def _flush(self, tx: Tx, rows: Rows, batch: list[StoredAlert], now: datetime) -> None:
        # The storm path (many alerts joining few incidents) is these few statements.
        await tx.upsert_incident_alerts(rows.alerts)
        await tx.add_timeline(rows.timeline)
        await self.writer.storm.write(tx)
        await tx.write_engine_state(self.engine.changes())
        if rows.inbox:
            await tx.mark_processed(await tx.append_alerts(rows.inbox), now)
        await tx.mark_processed([s.id for s in batch], now)

    # -- people's commands --------------------------------------------------

    async def acknowledge(self, incident_id: int, actor: str) -> Incident:
        return await self._transition(incident_id, IncidentStatus.acknowledged, actor, TimelineKind.ack)

    async def resolve(self, incident_id: int, actor: str) -> Incident:
        return await self._transition(incident_id, IncidentStatus.resolved, actor, TimelineKind.resolve)

    async def _transition(self, incident_id: int, to: IncidentStatus, actor: str, kind: TimelineKind) -> Incident:
        async with self._lock:
            now = self.clock()
            async with self.store.write() as tx:
                changed = await tx.transition(incident_id, to, actor, now)
                if changed is None:
                    return await tx.get_incident(incident_id)
                await tx.add_timeline([entry(incident_id, now, kind, f"{to.value} by {actor}", actor=actor)])
                await self.writer.queue_after_change(tx, incident_id, changed.rule_id, now, resolved=to is IncidentStatus.resolved)
                if to is IncidentStatus.resolved:
                    self.writer.incidents.pop(changed.key, None)
                    self.writer.storm.forget(incident_id)
                    rows = Rows()
                    for decision in self.engine.forget(changed.key, now):  # alerts it inhibited, evaluated again
                        await self.writer.write(tx, decision, now, rows)
                    await self._flush(tx, rows, [], now)
            queued = tx.queued
        if queued:
            self.on_outbox()
        return changed

    async def request_run(self, incident_id: int, flow: FlowName, actor: str, dry_run: bool = False) -> int:
        """Queue a response flow by hand, with the action its rule defines (or the flow's defaults)."""
        async with self._lock:
            now = self.clock()
            async with self.store.write() as tx:
                incident = await tx.get_incident(incident_id)
                action = self.writer.rule_action(incident.rule_id, flow)
                if action is None:
                    try:
                        action = ACTION_BY_FLOW[flow]()
                    except ValueError:
                        raise Conflict(
                            f"rule {incident.rule_id} defines no {flow.value} action, and {flow.value} needs parameters"
                        ) from None
                if dry_run:
                    action = _as_dry_run(action)
                outbox_id = await tx.queue_action(incident_id, action, now)
                what = f"{flow.value} flow{' dry run' if dry_run else ''} requested by {actor}"
                await tx.add_timeline([entry(incident_id, now, TimelineKind.note, what, actor=actor)])
        self.on_outbox()
        return outbox_id

    async def add_silence(self, matchers: list[str], starts_at: datetime, ends_at: datetime, author: str, comment: str) -> Silence:
        for text in matchers:
            try:
                Matcher.parse(text)
            except ValueError as err:
                raise InputError(str(err), field="matchers") from None
        values = {"matchers": matchers, "starts_at": starts_at, "ends_at": ends_at, "author": author, "comment": comment}
        async with self._lock:
            async with self.store.write() as tx:
                silence_id = await tx.add_silence({**values, "created_at": self.clock()})
            self.engine.set_silences(await self.store.silences(active_at=self.clock()))
        return Silence(id=silence_id, **values)

    async def expire_silence(self, silence_id: int) -> None:
        async with self._lock:
            async with self.store.write() as tx:
                if not await tx.expire_silence(silence_id, self.clock()):
                    raise NotFound(f"silence {silence_id} does not exist or has already ended")
            self.engine.set_silences(await self.store.silences(active_at=self.clock()))
        self.nudge()  # alerts it held are evaluated again at the next tick


def _as_dry_run(action: Action) -> Action:
    params = getattr(action, "params", None)
    if params is None or "dry_run" not in type(params).model_fields:
        raise InputError(f"{action.flow.value} has no dry run (failover, failback and recovery have)", field="dry_run")
    return action.model_copy(update={"params": params.model_copy(update={"dry_run": True})})
