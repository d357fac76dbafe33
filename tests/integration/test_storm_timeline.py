"""An incident's timeline as the pipeline writes it, on SQLite and PostgreSQL: one entry per event,
and a storm of joining alerts folded into one entry per minute instead of one per alert."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alertflow.models import TimelineKind
from alertflow.pipeline.consumer import Pipeline
from alertflow.store.database import Store
from tests.integration.test_pipeline import FIRING, RESOLVED, RULES, ingest, parse, with_alert

pytestmark = pytest.mark.anyio


async def test_a_resolve_records_the_resolving_alert_once(store: Store) -> None:
    """The alert whose resolve resolves the incident appears once in the timeline, then the resolve entry."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, FIRING)
    await ingest(store, pipeline, RESOLVED)
    [incident] = await store.list_incidents()
    entries = await store.get_timeline(incident.id)
    resolved_alert = [e for e in entries if e.kind is TimelineKind.alert and "resolved" in e.summary]
    assert len(resolved_alert) == 1, [e.summary for e in entries]
    assert [e.kind.value for e in entries] == ["alert", "rule", "alert", "resolve"]
