"""Reading an incident's timeline a page at a time, so no reader loads a storm whole.

Why: the API, the CLI and the timeline artifact used to read every entry of an
incident on every call. Folding (alertflow/pipeline/storm.py) keeps a storm's
timeline short, but an incident open for days still grows; these reads are
bounded by their caller. Pages are in timeline order (``at``, then ``id``)
and a cursor is the id of the last entry of the previous page, so a page
never repeats or skips an entry even while new ones are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alertflow.models import TimelineEntry, TimelineKind
from alertflow.store import tables as t


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    total: int  # entries of the incident, on every page
    next_cursor: int | None  # pass as ``after`` for the next page; None on the last


class TimelineReads:
    """The timeline reads of ``Store`` (alertflow/store/database.py), which provides ``read()``."""

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        raise NotImplementedError

    async def get_timeline(self, incident_id: int, kinds: Sequence[TimelineKind] = ()) -> list[TimelineEntry]:
        """Every entry, or every entry of ``kinds``: for small incidents and tests; people read pages."""
        query = select(t.timeline).where(t.timeline.c.incident_id == incident_id)
        if kinds:
            query = query.where(t.timeline.c.kind.in_([kind.value for kind in kinds]))
        async with self.read() as conn:
            return [
                TimelineEntry.model_validate(row._mapping) for row in await conn.execute(query.order_by(t.timeline.c.at, t.timeline.c.id))
            ]

    async def timeline_page(self, incident_id: int, limit: int, after: int | None = None) -> TimelinePage:
        """Up to ``limit`` entries following the entry with id ``after`` (from the start when None)."""
        query = select(t.timeline).where(t.timeline.c.incident_id == incident_id)
        async with self.read() as conn:
            if after is not None:
                at = select(t.timeline.c.at).where(t.timeline.c.id == after, t.timeline.c.incident_id == incident_id).scalar_subquery()
                query = query.where(or_(t.timeline.c.at > at, and_(t.timeline.c.at == at, t.timeline.c.id > after)))
            rows = (await conn.execute(query.order_by(t.timeline.c.at, t.timeline.c.id).limit(limit + 1))).all()
            total = await self._count(conn, incident_id)
        more = len(rows) > limit
        entries = [TimelineEntry.model_validate(row._mapping) for row in rows[:limit]]
        return TimelinePage(entries, total, rows[limit - 1].id if more and limit > 0 else None)

    async def timeline_tail(self, incident_id: int, limit: int) -> list[TimelineEntry]:
        """The newest ``limit`` entries, oldest first."""
        query = select(t.timeline).where(t.timeline.c.incident_id == incident_id)
        async with self.read() as conn:
            rows = (await conn.execute(query.order_by(t.timeline.c.at.desc(), t.timeline.c.id.desc()).limit(limit))).all()
        return [TimelineEntry.model_validate(row._mapping) for row in reversed(rows)]

    async def timeline_count(self, incident_id: int) -> int:
        async with self.read() as conn:
            return await self._count(conn, incident_id)

    @staticmethod
    async def _count(conn: AsyncConnection, incident_id: int) -> int:
        query = select(func.count()).select_from(t.timeline).where(t.timeline.c.incident_id == incident_id)
        return (await conn.execute(query)).scalar_one()
