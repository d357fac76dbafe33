"""On-call overrides people add at short notice, stored in the database, and the schedules as paging sees them.

Why: "bob covers for alice tonight" cannot wait for a config change and a
restart. ``alertflow oncall override add`` (through the API) writes a row
here; every reader of "who is on call" (the announcer's first page, the
paging flow's later steps, ``oncall who|show``, the calendar feed) asks
``current_schedules``, the one function that lays these rows over the
config's schedules, so what the CLI and the calendar say is who gets paged.

Precedence follows the config's own rule, "the last matching override wins":
stored overrides come after the config's, in creation order, so the newest
stored override covering an instant wins over older ones, over the config's
overrides and over every layer.

These rows are not the rule engine's state, so any API replica writes them
in a plain transaction (no trip through the pipeline leader). Nothing is
deleted: a removal stamps ``removed_*`` and the row stays, so ``audit`` can
say who added and removed what, when, and with which credential.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel
from sqlalchemy import insert, select, update

from alertflow.config.oncall import Override, Schedule
from alertflow.config.settings import Settings
from alertflow.errors import Conflict, NotFound
from alertflow.store import tables as t
from alertflow.store.database import Store

OVERRIDES = t.oncall_overrides


class StoredOverride(Override):
    """A config override's fields (person, start, end) and where it came from; times are aware (UTC)."""

    id: int
    schedule: str
    reason: str = ""
    created_at: AwareDatetime
    created_by: str
    created_via: str
    removed_at: AwareDatetime | None = None
    removed_by: str | None = None
    removed_via: str | None = None

    @property
    def source(self) -> str:
        return f"override #{self.id}"


class AuditEntry(BaseModel):
    """One line of the record: an override added or removed, by whom (and which credential), when."""

    at: AwareDatetime
    action: str  # added | removed
    override_id: int
    schedule: str
    person: str
    start: AwareDatetime
    end: AwareDatetime
    reason: str
    by: str
    via: str


def _override(row: Any) -> StoredOverride:
    values = dict(row._mapping)
    values["start"], values["end"] = values.pop("starts_at"), values.pop("ends_at")
    return StoredOverride.model_validate(values)


class OverrideStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(
        self, schedule: str, person: str, start: datetime, end: datetime, reason: str, by: str, via: str, at: datetime
    ) -> StoredOverride:
        """Store an override (names and times checked by the caller); the row as stored."""
        values = {"schedule": schedule, "person": person, "starts_at": start, "ends_at": end, "reason": reason}
        values |= {"created_at": at, "created_by": by, "created_via": via}
        async with self.store.write() as tx:
            row = (await tx.conn.execute(insert(OVERRIDES).values(**values).returning(*OVERRIDES.c))).one()
        return _override(row)

    async def remove(self, override_id: int, by: str, via: str, at: datetime) -> StoredOverride:
        """End an override's effect now and keep it on the record; NotFound (404), or Conflict (409) when already removed."""
        query = update(OVERRIDES).where(OVERRIDES.c.id == override_id, OVERRIDES.c.removed_at.is_(None))
        async with self.store.write() as tx:
            row = (await tx.conn.execute(query.values(removed_at=at, removed_by=by, removed_via=via).returning(*OVERRIDES.c))).first()
            if row is None:
                found = (await tx.conn.execute(select(OVERRIDES).where(OVERRIDES.c.id == override_id))).first()
                if found is None:
                    raise NotFound(f"no on-call override {override_id}")
                raise Conflict(f"override {override_id} was already removed by {found.removed_by} at {found.removed_at:%Y-%m-%d %H:%M} UTC")
        return _override(row)

    async def live(self, since: datetime, schedule: str | None = None) -> list[StoredOverride]:
        """Overrides not removed that end after ``since``, oldest first (the order precedence needs)."""
        query = select(OVERRIDES).where(OVERRIDES.c.removed_at.is_(None), OVERRIDES.c.ends_at > since)
        return await self._read(query if schedule is None else query.where(OVERRIDES.c.schedule == schedule))

    async def audit(self, schedule: str | None = None) -> list[AuditEntry]:
        """Every addition and removal, oldest first."""
        rows = await self._read(select(OVERRIDES) if schedule is None else select(OVERRIDES).where(OVERRIDES.c.schedule == schedule))
        found = []
        for o in rows:
            what = {"override_id": o.id, "schedule": o.schedule, "person": o.person, "start": o.start, "end": o.end, "reason": o.reason}
            found.append(AuditEntry(at=o.created_at, action="added", by=o.created_by, via=o.created_via, **what))
            if o.removed_at is not None:
                found.append(AuditEntry(at=o.removed_at, action="removed", by=o.removed_by or "", via=o.removed_via or "", **what))
        return sorted(found, key=lambda entry: (entry.at, entry.override_id))

    async def _read(self, query: Any) -> list[StoredOverride]:
        async with self.store.read() as conn:
            return [_override(row) for row in await conn.execute(query.order_by(OVERRIDES.c.id))]


async def current_schedules(store: Store, settings: Settings, since: datetime) -> dict[str, Schedule]:
    """The config's schedules with the stored overrides that end after ``since`` on top (after the config's own).

    An override whose schedule or person has since left the config is skipped: it cannot be paged."""
    extra: dict[str, list[Override]] = {}
    for override in await OverrideStore(store).live(since):
        if override.schedule in settings.schedules and override.person in settings.people:
            extra.setdefault(override.schedule, []).append(override)
    return {
        name: schedule.model_copy(update={"overrides": [*schedule.overrides, *extra[name]]}) if name in extra else schedule
        for name, schedule in settings.schedules.items()
    }
