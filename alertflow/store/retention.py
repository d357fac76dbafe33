"""Which rows retention may delete, and how they are found and deleted a batch at a time.

Why one module: ``alertflow db prune --dry-run`` counts, and the pipeline
leader and ``alertflow db prune`` delete, the rows of one condition per table
(``selection``), so what a dry run shows is what goes.

What may go, by setting (``retention:``, alertflow/config/retention.py):

- ``inbox``: decided alerts received before the cut-off. Never an alert not
  yet decided, nor one whose fingerprint belongs to an incident that is not
  resolved or that the engine may still reopen (its state names it).
- ``timeline``: of an incident resolved before the cut-off, its timeline, its
  alert list (``incident_alerts``) and its dispatched flow-run rows (``outbox``,
  with their announcements); the incident's row stays.
- ``page_log``: of the same incidents, their pages.
- ``commands``: people's commands applied before the cut-off.
- ``incidents``: the rows of incidents resolved before the cut-off (whatever
  they still had goes with them); off unless set.

Never touched: anything of an incident that is open, acknowledged or
mitigated, or that an engine group still refers to (resolved, waiting out
``reopen_within``), and the engine's state and silences, which are all the
engine restores from (``Pipeline.restore``). The engine never reads the inbox
back once an alert is decided; the Alertmanager API's list of firing alerts
shows an alert whose rows are gone as its state remembers it (firing.py).

How: rows are read outside any write transaction (a page of keys), then
deleted by key inside one, with the condition checked again, so a batch holds
the store's write lock for a few milliseconds. Tables that grow by alert are
walked in id order up to the first row young enough to stay (no index on
their times is needed, none slows intake), a page of ids at a time, the
condition applied to that page by key (a planner given the whole table chose
a hash of every incident's alerts); tables of an incident's details are
reached through their incident (each has an index on ``incident_id``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, and_, delete, exists, func, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from alertflow.store import tables as t
from alertflow.store.tx import Tx

INCIDENT = t.incidents.c
NOT_RESOLVED = ("open", "acknowledged", "mitigated")
CHUNK = 100  # incidents whose details are deleted together


def _engine_refs() -> Any:
    """Incident ids the engine's groups still refer to (a resolved one may reopen within ``reopen_within``)."""
    ref = t.engine_state.c.state["ref"].as_integer()
    return select(ref).where(t.engine_state.c.kind == "group", ref.is_not(None))


def _gone(cut: datetime) -> ColumnElement[bool]:
    """Of incidents: resolved before ``cut``, and no engine group refers to them any more."""
    return and_(INCIDENT.status == "resolved", INCIDENT.resolved_at < cut, INCIDENT.id.not_in(_engine_refs()))


def gone_incidents(cut: datetime) -> Any:
    """The ids of incidents whose details may go at ``cut``."""
    return select(INCIDENT.id).where(_gone(cut))


def _inbox(cut: datetime) -> ColumnElement[bool]:
    # From the row's fingerprint (ix_incident_alerts_fingerprint) to the incidents the alert was in, each by its key:
    # the cost is the alert's few incidents, however many are open (a join on status made PostgreSQL scan incidents).
    members = t.incident_alerts.c
    not_resolved = exists().where(INCIDENT.id == members.incident_id, INCIDENT.status.in_(NOT_RESOLVED))
    needed = exists().where(members.fingerprint == t.inbox.c.fingerprint, or_(not_resolved, members.incident_id.in_(_engine_refs())))
    return and_(t.inbox.c.processed_at.is_not(None), t.inbox.c.received_at < cut, ~needed)


@dataclass(frozen=True)
class Target:
    """One table retention prunes: which rows may go at a cut-off, and how they are reached."""

    table: Table
    setting: str  # its key under retention:
    age: Column[Any]  # the time shown as oldest and newest of what goes
    where: Callable[[datetime], ColumnElement[bool]]  # of its own rows (incident-scoped: besides the incident being gone)
    by_incident: bool = False  # reached through gone incidents; else walked in id order up to ``bound``'s row
    bound: Column[Any] | None = None  # rising with id: the first row with this at or past the cut-off ends the walk

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def keys(self) -> Sequence[Column[Any]]:
        return list(self.table.primary_key.columns)

    def selection(self, cut: datetime) -> ColumnElement[bool]:
        """The rows that may go at ``cut``: what a dry run counts and every delete checks again."""
        if self.by_incident:  # EXISTS, not IN: planners then look up the row's incident rather than every gone one's rows
            return and_(exists().where(INCIDENT.id == self.table.c.incident_id, _gone(cut)), self.where(cut))
        return self.where(cut)


def _incident_detail(table: Table, setting: str, age: Column[Any], where: Callable[[datetime], Any] = lambda cut: true()) -> Target:
    return Target(table, setting, age, where, by_incident=True)


# In the order a pass deletes them: an incident's details before the incident.
TARGETS = (
    Target(t.inbox, "inbox", t.inbox.c.received_at, _inbox, bound=t.inbox.c.received_at),
    Target(t.commands, "commands", t.commands.c.created_at, lambda cut: t.commands.c.done_at < cut, bound=t.commands.c.created_at),
    _incident_detail(t.timeline, "timeline", t.timeline.c.at),
    _incident_detail(t.incident_alerts, "timeline", t.incident_alerts.c.last_seen),
    _incident_detail(t.outbox, "timeline", t.outbox.c.created_at, lambda cut: t.outbox.c.dispatched_at.is_not(None)),
    _incident_detail(t.pages, "page_log", t.pages.c.claimed_at),
    Target(t.incidents, "incidents", INCIDENT.resolved_at, _gone, bound=INCIDENT.opened_at),
)


@dataclass
class Tally:
    rows: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None


async def tally(conn: AsyncConnection, target: Target, cut: datetime) -> Tally:
    """How many rows would go at ``cut``, and the oldest and newest of their times (a dry run)."""
    query = select(func.count(), func.min(target.age), func.max(target.age)).where(target.selection(cut))
    rows, oldest, newest = (await conn.execute(query)).one()
    return Tally(rows, oldest, newest)


@dataclass
class Walk:
    """Where a pass is in one table: deletes read their next batch from here."""

    target: Target
    cut: datetime
    after: Any = 0  # the last id read (walked tables) or the last incident taken (incident-scoped ones)
    bound: int | None = None  # walked tables: the first id young enough to stay (None: read to the end)
    incidents: list[int] | None = None  # incident-scoped: the chunk of incidents being emptied

    async def start(self, conn: AsyncConnection) -> None:
        if self.target.bound is not None:
            key = self.target.table.c.id
            first = select(key).where(self.target.bound >= self.cut).order_by(key).limit(1)
            self.bound = (await conn.execute(first)).scalar_one_or_none()

    async def next_batch(self, conn: AsyncConnection, limit: int) -> list[tuple[Any, ...]] | None:
        """The keys of up to ``limit`` more rows that may go (maybe none in this stretch); None when the table is done."""
        target = self.target
        if not target.by_incident:  # a page of ids first, then which of them may go: by key, each check stays a lookup
            key = target.table.c.id
            page = select(key).where(key > self.after)
            if self.bound is not None:
                page = page.where(key < self.bound)
            ids = list((await conn.execute(page.order_by(key).limit(limit))).scalars())
            if not ids:
                return None
            self.after = ids[-1]
            return [(i,) for i in (await conn.execute(select(key).where(key.in_(ids), target.selection(self.cut)))).scalars()]
        while True:
            if not self.incidents:
                self.incidents = await self._next_incidents(conn)
                if not self.incidents:
                    return None
            # The chunk's incidents were found gone just now; the delete checks again, within the chunk.
            query = select(*target.keys).where(target.table.c.incident_id.in_(self.incidents), target.where(self.cut))
            keys = [tuple(row) for row in await conn.execute(query.limit(limit))]
            if keys:
                return keys
            self.incidents = None

    def deleted(self, read: int, deleted: int) -> None:
        """After a delete: rows read but kept (they became needed meanwhile) move an incident-scoped walk on."""
        if self.target.by_incident and deleted < read:
            self.incidents = None

    async def _next_incidents(self, conn: AsyncConnection) -> list[int]:
        table = self.target.table
        has_rows = exists().where(table.c.incident_id == INCIDENT.id, self.target.where(self.cut))
        query = gone_incidents(self.cut).where(INCIDENT.id > self.after, has_rows).order_by(INCIDENT.id).limit(CHUNK)
        ids = list((await conn.execute(query)).scalars())
        if ids:
            self.after = ids[-1]
        return ids


async def delete_batch(tx: Tx, target: Target, cut: datetime, keys: list[tuple[Any, ...]], incidents: list[int] | None = None) -> int:
    """Delete these rows if they may still go (the condition is checked again; for an incident's details, within
    ``incidents``, the walk's chunk, so planners look up those few incidents rather than every gone one); how many went."""
    if not keys:
        return 0
    columns = target.keys
    match = columns[0].in_([k[0] for k in keys]) if len(columns) == 1 else tuple_(*columns).in_(keys)
    still = target.selection(cut)
    if target.by_incident and incidents is not None:
        chunk = select(INCIDENT.id).where(INCIDENT.id.in_(incidents), _gone(cut))
        still = and_(target.table.c.incident_id.in_(chunk), target.where(cut))
    return (await tx.conn.execute(delete(target.table).where(match, still))).rowcount
