"""The page log: what the paging flow sent, so it never sends it twice.

A Prefect flow retry re-runs the flow from the top, and a worker that died
mid-escalation has its run started again: without a record, step 1 would page
again. Before each notification the flow *claims* its row (unique per incident,
escalation episode, and step/target/notifier); a claim that finds a row already
there means the notification was sent, failed for good, or is being sent by
someone else (a crash cut off: see the lease below), and it is not sent again
by this claimant. The rows also
tell the flow which Slack messages to update and which PagerDuty alerts to
acknowledge when someone answers, and the claim time is when that step's wait
began, so a restarted run waits only what is left.

A page left ``sending`` by a process that died is taken over after a lease
(``take_over``): the notifier is asked whether it went out (Slack keeps our
metadata) before it is sent again. A live sender renews its claims while it
waits on its notifier (``holding``: Slack's rate limit may hold a send for a
minute), so only a dead one's are taken over. Announcements are the queue of
first pages that leave at decision time, before any flow run exists.

It also reads what the waiting flow watches: the incident's new timeline entries
(an escalate-now click, a failover done) by id, and its firing alert count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import bindparam, delete, func, select, update

from alertflow.durations import utcnow
from alertflow.models import Incident, TimelineEntry, TimelineKind
from alertflow.store import tables as t
from alertflow.store.database import Store
from alertflow.store.tx import dialect_insert

Status = Literal["sending", "sent", "failed"]
RESENDING = "resending since "  # detail of a ``sending`` page taken over or renewed: its lease counts from then
log = logging.getLogger(__name__)


def _resending_since(detail: str | None) -> datetime | None:
    return datetime.fromisoformat(detail.removeprefix(RESENDING)) if detail and detail.startswith(RESENDING) else None


def _unchanged(ids: list[int], detail: str | None) -> Any:
    """An update of these claims, still ``sending`` with this detail (a compare-and-set on the holder's mark)."""
    query = update(t.pages).where(t.pages.c.id.in_(ids), t.pages.c.status == "sending")
    return query.where(t.pages.c.detail.is_(None) if detail is None else t.pages.c.detail == detail)


class PageRecord(BaseModel):
    id: int
    incident_id: int
    episode: str
    step: str
    notifier: str
    recipient: str
    address: str
    status: Status
    channel: str | None = None
    ts: str | None = None
    detail: str | None = None
    claimed_at: datetime

    def held(self, at: datetime, lease_seconds: float) -> bool:
        """Being sent by someone, as far as anyone can tell: ``sending``, claimed (or taken over) within the lease."""
        since = _resending_since(self.detail) or self.claimed_at
        return self.status == "sending" and since > at - timedelta(seconds=lease_seconds)


@dataclass(frozen=True)
class Announcement:
    """A paging decision waiting for its first notification (alertflow/paging/announcer.py)."""

    id: int
    incident_id: int
    episode: str
    action: dict[str, Any]
    created_at: datetime
    run_created: bool = False  # its paging flow run exists: from then on the run owns the escalation


@dataclass(frozen=True)
class PageContext:
    """What a first page shows of its incident: the incident, its alerts' timeline entries, and how many still fire."""

    incident: Incident
    alerts: list[TimelineEntry]
    firing: int


class PageLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def pending_announcements(self, limit: int = 500) -> list[Announcement]:
        query = (
            select(t.announcements, t.outbox.c.parameters, t.outbox.c.flow_run_id)
            .join(t.outbox, t.outbox.c.id == t.announcements.c.outbox_id)
            .where(t.announcements.c.done_at.is_(None))
            .order_by(t.announcements.c.id)
            .limit(limit)
        )
        async with self.store.read() as conn:
            found = []
            for r in await conn.execute(query):
                action = r.parameters.get("action", {})
                found.append(Announcement(r.id, r.incident_id, r.episode, action, r.created_at, bool(r.flow_run_id)))
            return found

    async def announced(self, ids: list[int], at: datetime) -> None:
        if ids:
            async with self.store.write() as tx:
                await tx.conn.execute(update(t.announcements).where(t.announcements.c.id.in_(ids)).values(done_at=at))

    async def take_over(self, record: PageRecord, at: datetime, lease_seconds: float) -> bool:
        """Take a page left ``sending`` longer than the lease (its sender died between claiming and recording)
        for sending again; only one caller wins. The claim time stays: it is when the step began."""
        if record.status != "sending" or record.held(at, lease_seconds):
            return False
        mark = f"{RESENDING}{at.isoformat()}"
        async with self.store.write() as tx:
            taken = (await tx.conn.execute(_unchanged([record.id], record.detail).values(detail=mark))).rowcount == 1
        if taken:
            record.detail = mark  # what ``holding`` renews
        return taken

    @contextlib.asynccontextmanager
    async def holding(self, records: list[PageRecord], every: float) -> AsyncIterator[None]:
        """Renew these claims every ``every`` seconds while the body sends them, so a sender waiting on its notifier
        is not taken for dead when the lease runs out. Each renewal changes a claim only if it is as this holder
        left it: one taken over meanwhile (this holder was presumed dead) stays with whoever took it."""

        async def renew() -> None:
            marks = {record.id: record.detail for record in records}
            while marks:
                await asyncio.sleep(every)
                mark, kept = f"{RESENDING}{utcnow().isoformat()}", set()
                try:
                    async with self.store.write() as tx:
                        for old in set(marks.values()):
                            query = _unchanged([i for i, m in marks.items() if m == old], old).values(detail=mark)
                            kept |= set((await tx.conn.execute(query.returning(t.pages.c.id))).scalars())
                except Exception as err:  # the store away for a moment: the next renewal tries again
                    log.warning("page claims not renewed: %s: %s", type(err).__name__, err)
                    continue
                marks = dict.fromkeys(kept, mark)

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def release(self, record_id: int) -> None:
        """Give up a claim before anything was sent (a retryable failure): the paging run sends it, with its retries."""
        async with self.store.write() as tx:
            await tx.conn.execute(delete(t.pages).where(t.pages.c.id == record_id, t.pages.c.status == "sending"))

    async def shared(self, notifier: str, channel: str, ts: str) -> list[PageRecord]:
        """The pages one message carries (a digest's incidents), in the order they joined it."""
        query = select(t.pages).where(t.pages.c.notifier == notifier, t.pages.c.channel == channel, t.pages.c.ts == ts)
        async with self.store.read() as conn:
            return [PageRecord.model_validate(row._mapping) for row in await conn.execute(query.order_by(t.pages.c.id))]

    async def claim(
        self, incident_id: int, episode: str, step: str, notifier: str, recipient: str, address: str, at: datetime
    ) -> tuple[PageRecord, bool]:
        """The step's row, and whether this call created it (only then may the caller send)."""
        claim = {"incident_id": incident_id, "episode": episode, "step": step, "notifier": notifier}
        [claimed] = await self.claim_many([claim | {"recipient": recipient, "address": address, "at": at}])
        return claimed

    async def claim_many(self, claims: list[dict[str, Any]]) -> list[tuple[PageRecord, bool]]:
        """``claim`` for many pages in one transaction (the announcer's pass over a burst: one commit, not one each).
        Each claim is a dict of claim's arguments; returns (row, created) in the same order."""
        if not claims:
            return []
        rows = [
            {**c, "recipient": c["recipient"][:256], "address": c["address"][:256], "status": "sending", "claimed_at": c["at"]}
            for c in claims
        ]
        for row in rows:
            del row["at"]
        async with self.store.write() as tx:
            statement = dialect_insert(tx.conn, t.pages).on_conflict_do_nothing(index_elements=["incident_id", "episode", "step"])
            statement = statement.returning(t.pages.c.id)  # only the rows this call inserted: a racing claimer's are not
            created = {row.id for row in await tx.conn.execute(statement, rows)}
            query = select(t.pages).where(t.pages.c.episode.in_({c["episode"] for c in claims}))
            found = {(r.incident_id, r.episode, r.step): r for r in await tx.conn.execute(query)}
        keys = [(c["incident_id"], c["episode"], c["step"]) for c in claims]
        return [(PageRecord.model_validate(found[key]._mapping), found[key].id in created) for key in keys]

    async def finish_many(
        self, finished: list[tuple[int, Status, str | None, str | None, str | None]], entries: list[TimelineEntry]
    ) -> None:
        """Close many pages (id, status, channel, ts, detail) and write their timeline entries, in one transaction."""
        rows = [
            {"record": record_id, "status": status, "channel": channel, "ts": ts, "detail": detail[:2000] if detail else None}
            for record_id, status, channel, ts, detail in finished
        ]
        values = {name: bindparam(name) for name in ("status", "channel", "ts", "detail")}
        async with self.store.write() as tx:
            if rows:  # one executemany: a digest closes a hundred pages at once
                await tx.conn.execute(update(t.pages).where(t.pages.c.id == bindparam("record")).values(**values), rows)
            await tx.add_timeline(entries)

    async def finish(
        self, record_id: int, status: Status, channel: str | None = None, ts: str | None = None, detail: str | None = None
    ) -> None:
        await self.finish_many([(record_id, status, channel, ts, detail)], [])

    async def records(self, incident_id: int, episode: str | None = None) -> list[PageRecord]:
        query = select(t.pages).where(t.pages.c.incident_id == incident_id)
        if episode is not None:
            query = query.where(t.pages.c.episode == episode)
        async with self.store.read() as conn:
            return [PageRecord.model_validate(row._mapping) for row in await conn.execute(query.order_by(t.pages.c.id))]

    async def timeline_after(self, incident_id: int, after_id: int) -> list[tuple[int, TimelineEntry]]:
        """The incident's timeline entries with an id above ``after_id``, in the order written."""
        query = select(t.timeline).where(t.timeline.c.incident_id == incident_id, t.timeline.c.id > after_id).order_by(t.timeline.c.id)
        async with self.store.read() as conn:
            return [(row.id, TimelineEntry.model_validate(row._mapping)) for row in await conn.execute(query)]

    async def contexts(self, incident_ids: list[int]) -> dict[int, PageContext]:
        """``PageContext`` of many incidents in four queries on one connection (an announcer pass over a burst:
        per-incident reads took most of its time); ids that do not exist are left out."""
        ids = sorted(set(incident_ids))
        a, tl = t.incident_alerts.c, t.timeline.c
        members = select(a.incident_id, a.fingerprint, a.status).where(a.incident_id.in_(ids)).order_by(a.first_seen, a.fingerprint)
        alerts = select(t.timeline).where(tl.incident_id.in_(ids), tl.kind == TimelineKind.alert.value).order_by(tl.id)
        async with self.store.read() as conn:
            incidents = list(await conn.execute(select(t.incidents).where(t.incidents.c.id.in_(ids))))
            fingerprints: dict[int, list[str]] = {i: [] for i in ids}
            firing = dict.fromkeys(ids, 0)
            for row in await conn.execute(members):
                fingerprints[row.incident_id].append(row.fingerprint)
                firing[row.incident_id] += row.status == "firing"
            entries: dict[int, list[TimelineEntry]] = {i: [] for i in ids}
            for row in await conn.execute(alerts):
                entries[row.incident_id].append(TimelineEntry.model_validate(row._mapping))
        found = {}
        for row in incidents:
            shown = fingerprints[row.id]
            incident = Incident.model_validate({**row._mapping, "fingerprints": shown, "alert_count": len(shown)})
            found[row.id] = PageContext(incident, entries[row.id], firing[row.id])
        return found

    async def firing_count(self, incident_id: int) -> int:
        query = select(func.count()).select_from(t.incident_alerts)
        query = query.where(t.incident_alerts.c.incident_id == incident_id, t.incident_alerts.c.status == "firing")
        async with self.store.read() as conn:
            return (await conn.execute(query)).scalar_one()
