"""Inbox → rule engine → store: the one ordered consumer that turns alerts and time into incidents.

Alerts are read from the inbox in arrival order and decided by the pure engine;
the clock ticks once a second for its timers. Each batch's results (incidents,
timeline entries, outbox rows, the engine's changed state and the inbox
progress mark) are written in one transaction; if that fails, the engine is
rebuilt from the store before the next try, so memory never runs ahead of
disk, and a restart resumes windows and timers where the last commit left
them. People's commands (ack, resolve, run, silences) take the same lock;
they reach this process through the command queue (alertflow/pipeline/commands.py).

Alerts this process committed are handed over in memory (``Handover``,
alertflow/pipeline/inbox.py) and decided without reading them back; the inbox
stays the record, so alerts from other replicas or from before a restart are
read from it.

Only the leader runs (alertflow/pipeline/leadership.py): each write
transaction starts by renewing this process's lease for its term, so a
pipeline that lost its lease cannot commit; it stands by, and restores the
engine from the store when it leads again.

Events for Prefect (incident opened, acknowledged, resolved, ...) are handed to
``emit`` (the background emitter, alertflow/pipeline/events.py) after each
commit, so a decision never waits on Prefect and a rolled-back one emits nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any

from alertflow.config.responses import Runbook
from alertflow.doorbell import Doorbell
from alertflow.durations import utcnow
from alertflow.errors import Conflict, InputError, NotFound, NotLeader, StoreUnavailable
from alertflow.events import ACKNOWLEDGED, RESOLVED, event_for
from alertflow.metrics import Metrics
from alertflow.models import ACTION_BY_FLOW, Action, FlowName, Incident, IncidentStatus, Silence, TimelineKind
from alertflow.pipeline.commands import apply_pending, check_matchers
from alertflow.pipeline.decisions import DecisionWriter, Rows, entry
from alertflow.pipeline.inbox import Handover
from alertflow.pipeline.leadership import STANDBY_POLL_SECONDS, Leadership, Unfenced
from alertflow.rules import Engine, RuleSet
from alertflow.rules.decision import Decision
from alertflow.store.commands import CommandQueue, Withdrawn, finish_command
from alertflow.store.database import Store, StoredAlert
from alertflow.store.tx import Tx

log = logging.getLogger("alertflow.pipeline.consumer")
GATHER_SECONDS = 0.05


class Pipeline:
    def __init__(
        self, store: Store, ruleset: RuleSet, *, on_outbox: Callable[[], None] = lambda: None, batch_size: int = 1000,
        clock: Callable[[], datetime] = utcnow, metrics: Metrics | None = None, leadership: Leadership | Unfenced | None = None,
        emit: Callable[[list[dict[str, Any]]], None] = lambda events: None, runbooks: Mapping[str, Runbook] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.leadership = leadership or Unfenced()
        self.commands = CommandQueue(store)
        self.engine = Engine(ruleset)
        self.writer = DecisionWriter(self.engine, ruleset, runbooks or {})
        self.on_outbox = on_outbox
        self.emit = emit
        self.batch_size = batch_size
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.lock = asyncio.Lock()  # one change at a time: decisions, commands, retention's deletes (retention.py)
        self.doorbell = Doorbell()
        self.handed = Handover(lambda: self.leadership.is_leader, self.doorbell.ring, store.undecided)  # alerts it committed
        self._restored_term: int | None = None  # the lease term the engine's memory was last rebuilt for

    async def restore(self) -> None:
        """Rebuild the engine from the store (start-up, or after a failed write)."""
        self.handed.clear()  # what another leader may have decided meanwhile is read from the store
        self.engine.restore(await self.store.engine_state())
        self.engine.set_silences(await self.store.silences(active_at=self.clock()))
        self.writer.restore()

    def nudge(self) -> None:
        self.doorbell.ring()

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                if not self.leadership.is_leader and not await self.leadership.try_acquire():
                    with contextlib.suppress(TimeoutError):  # stand by; a stop ends the wait
                        await asyncio.wait_for(stop.wait(), STANDBY_POLL_SECONDS)
                    continue
                if self._restored_term != self.leadership.term:  # a new term: whatever the last leader committed
                    await self.restore()
                    self._restored_term = self.leadership.term
                await apply_pending(self, self.commands)
                if done := await self.drain():
                    await self.tick()
                    # In a storm, let alerts gather for a moment: fewer, larger batches hold the store's write
                    # lock less often (intake commits wait for it on SQLite). After a quiet spell the first
                    # alert is still decided at once, and a pipeline behind (a full batch) does not wait.
                    if done < self.batch_size:
                        await asyncio.sleep(GATHER_SECONDS)
                    continue
                await self.tick()
            except NotLeader as err:
                log.warning("pipeline stands by: %s", err)
                continue
            except StoreUnavailable as err:
                log.error("store unavailable, will retry: %s", err)
                await asyncio.sleep(1)
            except Exception:  # the consumer must outlive any bug: log it and keep going
                log.exception("pipeline pass failed, will retry")
                await asyncio.sleep(1)
            await self.doorbell.wait(idle_seconds)
        with contextlib.suppress(Exception):  # a clean stop hands over at once; a failed release just runs out
            await self.leadership.release()

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[Tx]:
        """A write transaction that lands only while this process leads; memory follows disk if it fails."""
        try:
            async with self.store.write() as tx:
                await self.leadership.fence(tx)
                yield tx
        except (NotLeader, NotFound, InputError):
            raise  # refused before memory changed; or, not leading, restored when this process leads again
        except Exception:
            await self.restore()  # memory must not run ahead of disk
            raise

    async def drain(self) -> int:
        """Decide every pending inbox alert; returns how many were processed."""
        done = 0
        while batch := await self.store.pending_alerts(self.batch_size, self.handed.alerts):
            self.handed.taken(batch[-1].id)
            await self._apply(batch)
            done += len(batch)
        return done

    async def tick(self) -> None:
        """Run the engine's timers (group waits, quiet periods, windows, silences, heartbeats)."""
        queued = await self._transaction(lambda now: self.engine.tick(now), [])
        self.writer.forget_dropped()
        if queued:
            self.on_outbox()

    async def _apply(self, batch: list[StoredAlert]) -> None:
        """Persist a batch's decisions in one transaction. A batch that fails for any reason but an
        unavailable store is retried alert by alert, so one poison alert is set aside (stored, with
        its error) instead of blocking everything behind it."""
        try:
            queued = await self._transaction(lambda now: [d for s in batch for d in self.engine.process(s.alert, now)], batch)
        except (StoreUnavailable, NotLeader):
            raise
        except Exception as err:
            if len(batch) > 1:
                log.warning("batch of %d alerts failed (%s); retrying one by one", len(batch), err)
                for stored in batch:
                    await self._apply([stored])
                return
            log.error("inbox alert %s set aside: %s: %s", batch[0].id, type(err).__name__, err)
            async with self._write() as tx:
                await tx.mark_processed([batch[0].id], utcnow(), error=f"{type(err).__name__}: {err}"[:2000])
            return
        if queued:
            self.on_outbox()

    async def _transaction(self, decide: Callable[[datetime], list[Decision]], batch: list[StoredAlert]) -> int:
        """Decide at ``now`` and write everything it changed together; returns flow runs queued."""
        async with self.lock:
            now = self.clock()
            rows = Rows()
            try:  # decided before the transaction, so the store's write lock is held only for writing
                decisions = decide(now)
            except Exception:
                await self.restore()  # memory must not run ahead of disk
                raise
            if not (decisions or batch or self.engine.dirty or self.writer.storm.pending()):
                return 0  # a tick that changed nothing writes nothing (keep_alive renews the lease)
            async with self._write() as tx:
                for decision in decisions:
                    await self.writer.write(tx, decision, now, rows)
                await self._flush(tx, rows, batch, now)
            self.emit(rows.events)  # committed: now, and only now, Prefect may hear of it
        self.metrics.observe_decided((s.alert.received_at for s in batch), utcnow())  # wall time, whatever the engine's clock
        return tx.queued

    async def _flush(self, tx: Tx, rows: Rows, batch: list[StoredAlert], now: datetime) -> None:
        # The storm path (many alerts joining few incidents) is these few statements, a burst of new incidents the first.
        await self.writer.flush(tx, now)
        await tx.upsert_incident_alerts(rows.alerts)
        await tx.add_timeline(rows.timeline)
        await self.writer.storm.write(tx)
        await tx.write_engine_state(self.engine.changes())
        if rows.inbox:
            await tx.mark_processed(await tx.append_alerts(rows.inbox), now)
        await tx.mark_processed([s.id for s in batch], now)

    # -- people's commands --------------------------------------------------

    async def acknowledge(self, incident_id: int, actor: str, command: int | None = None) -> Incident:
        return await self._transition(incident_id, IncidentStatus.acknowledged, actor, TimelineKind.ack, command)

    async def resolve(self, incident_id: int, actor: str, command: int | None = None) -> Incident:
        return await self._transition(incident_id, IncidentStatus.resolved, actor, TimelineKind.resolve, command)

    async def _transition(self, incident_id: int, to: IncidentStatus, actor: str, kind: TimelineKind, command: int | None) -> Incident:
        async with self.lock:
            now, rows = self.clock(), Rows()
            async with self._write() as tx:
                changed = await tx.transition(incident_id, to, actor, now)
                if changed is None:
                    current = await tx.get_incident(incident_id)
                    await finish_command(tx, command, now, _value(current))
                    return current
                await tx.add_timeline([entry(incident_id, now, kind, f"{to.value} by {actor}", actor=actor)])
                await self.writer.queue_after_change(tx, incident_id, changed.rule_id, now, resolved=to is IncidentStatus.resolved)
                rows.events.append(event_for(ACKNOWLEDGED if to is IncidentStatus.acknowledged else RESOLVED, changed, at=now, by=actor))
                if to is IncidentStatus.resolved:
                    self.writer.incidents.pop(changed.key, None)
                    self.writer.storm.forget(incident_id)
                    for decision in self.engine.forget(changed.key, now):  # alerts it inhibited, evaluated again
                        await self.writer.write(tx, decision, now, rows)
                    await self._flush(tx, rows, [], now)
                await finish_command(tx, command, now, _value(changed))
            self.emit(rows.events)
            queued = tx.queued
        if queued:
            self.on_outbox()
        return changed

    async def request_run(self, incident_id: int, flow: FlowName, actor: str, dry_run: bool = False, command: int | None = None) -> int:
        """Queue a response flow by hand, with the action its rule defines (or the flow's defaults)."""
        async with self.lock:
            now = self.clock()
            async with self._write() as tx:
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
                outbox_id = await tx.queue_action(incident_id, action, now)  # asked for: it runs, never joins another's run
                what = f"{flow.value} flow{' dry run' if dry_run else ''} requested by {actor}"
                await tx.add_timeline([entry(incident_id, now, TimelineKind.note, what, actor=actor)])
                await finish_command(tx, command, now, {"value": outbox_id})
        self.on_outbox()
        return outbox_id

    async def add_silence(
        self, matchers: list[str], starts_at: datetime, ends_at: datetime, author: str, comment: str, command: int | None = None
    ) -> Silence:  # fmt: skip
        check_matchers(matchers)
        values = {"matchers": matchers, "starts_at": starts_at, "ends_at": ends_at, "author": author, "comment": comment}
        async with self.lock:
            async with self._write() as tx:
                created = {**values, "created_at": self.clock()}
                silence = Silence(id=await tx.add_silence(created), **created)
                await finish_command(tx, command, self.clock(), _value(silence))
            self.engine.set_silences(await self.store.silences(active_at=self.clock()))
        return silence

    async def expire_silence(self, silence_id: int, command: int | None = None) -> None:
        async with self.lock:
            async with self._write() as tx:
                if not await tx.expire_silence(silence_id, self.clock()):
                    raise NotFound(f"silence {silence_id} does not exist or has already ended")
                await finish_command(tx, command, self.clock(), {"value": None})
            self.engine.set_silences(await self.store.silences(active_at=self.clock()))
        self.nudge()  # alerts it held are evaluated again at the next tick

    async def finish_command(self, command: int, result: dict[str, Any]) -> None:
        """Record a refused command's answer (nothing else changed)."""
        try:
            async with self._write() as tx:
                await finish_command(tx, command, self.clock(), result)
        except Withdrawn:
            pass


def _value(model: Incident | Silence) -> dict[str, Any]:
    return {"value": model.model_dump(mode="json")}


def _as_dry_run(action: Action) -> Action:
    params = getattr(action, "params", None)
    if params is None or "dry_run" not in type(params).model_fields:
        raise InputError(f"{action.flow.value} has no dry run (failover, failback and recovery have)", field="dry_run")
    return action.model_copy(update={"params": params.model_copy(update={"dry_run": True})})
