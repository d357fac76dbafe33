"""The page log on both databases: a step is claimed once, whoever asks again finds the first claim."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from alertflow.models import TimelineEntry, TimelineKind
from alertflow.store.pages import PageLog

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


async def new_incident(store) -> int:  # type: ignore[no-untyped-def]
    async with store.write() as tx:
        return await tx.insert_incident(key="k", title="t", service="s", severity="critical", rule_id="r", at=NOW)


async def test_a_step_is_claimed_once_and_keeps_its_first_claim(store) -> None:  # type: ignore[no-untyped-def]
    """The first claim creates the row; a second (a retried run) gets the same row, created=False, with its
    first claim time (where the wait resumes from) and, once finished, what was sent."""
    log, incident_id = PageLog(store), await new_incident(store)
    row, created = await log.claim(incident_id, "run1", "0.0.0.slack", "slack", "alice", "UALICE", NOW)
    assert created and row.status == "sending"
    await log.finish(row.id, "sent", "C1", "171.000001")
    again, created_again = await log.claim(incident_id, "run1", "0.0.0.slack", "slack", "alice", "UALICE", NOW + timedelta(minutes=3))
    assert not created_again and (again.id, again.status, again.ts, again.claimed_at) == (row.id, "sent", "171.000001", NOW)
    other, created_other = await log.claim(incident_id, "run2", "0.0.0.slack", "slack", "alice", "UALICE", NOW)
    assert created_other and other.id != row.id, "another run is another episode"
    assert [r.episode for r in await log.records(incident_id)] == ["run1", "run2"]
    assert [r.id for r in await log.records(incident_id, "run1")] == [row.id]


async def test_racing_claims_create_one_row(store) -> None:  # type: ignore[no-untyped-def]
    """Ten concurrent claims of one step: exactly one is told to send."""
    log, incident_id = PageLog(store), await new_incident(store)
    results = await asyncio.gather(*(log.claim(incident_id, "run", "0.1.0.pagerduty", "pagerduty", "x", "default", NOW) for _ in range(10)))
    assert sum(created for _, created in results) == 1 and len({row.id for row, _ in results}) == 1


async def test_timeline_after_and_firing_count(store) -> None:  # type: ignore[no-untyped-def]
    """New timeline entries come by id, in order; the firing count counts the incident's firing alerts."""
    log, incident_id = PageLog(store), await new_incident(store)
    for summary in ("a", "b", "c"):
        await store.add_timeline(TimelineEntry(incident_id=incident_id, at=NOW, kind=TimelineKind.note, summary=summary))
    entries = await log.timeline_after(incident_id, 0)
    assert [e.summary for _, e in entries] == ["a", "b", "c"]
    assert [e.summary for _, e in await log.timeline_after(incident_id, entries[0][0])] == ["b", "c"]
    assert await log.firing_count(incident_id) == 0
    member = {"incident_id": incident_id, "name": "ServiceDown", "first_seen": NOW, "last_seen": NOW}
    async with store.write() as tx:
        await tx.upsert_incident_alerts(
            [
                member | {"fingerprint": "f1", "status": "firing"},
                member | {"fingerprint": "f2", "status": "firing"},
                member | {"fingerprint": "f3", "status": "resolved"},
            ]
        )
    assert await log.firing_count(incident_id) == 2
