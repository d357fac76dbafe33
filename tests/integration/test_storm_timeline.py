"""An incident's timeline as the pipeline writes it, on SQLite and PostgreSQL: one entry per event,
and a storm of joining alerts folded into one entry per minute instead of one per alert."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alertflow.integrations.sources.alertmanager import AlertmanagerSource
from alertflow.models import TimelineKind
from alertflow.pipeline.consumer import Pipeline
from alertflow.store.database import Store
from tests.integration.test_pipeline import FIRING, RESOLVED, RULES, ingest

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 11, 27, 10, 2, 0, tzinfo=timezone.utc)


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


def storm(count: int, prefix: str, status: str = "firing") -> dict:  # type: ignore[type-arg]
    """An Alertmanager payload of ``count`` alerts of the example's fault, one per instance."""
    alerts = [
        {**FIRING["alerts"][0], "status": status, "fingerprint": f"{prefix}{i:05d}",
         "labels": {**FIRING["alerts"][0]["labels"], "instance": f"{prefix}-{i}:8080"}}
        for i in range(count)
    ]  # fmt: skip
    return {**FIRING, "status": status, "alerts": alerts}


class Clock:
    """The pipeline's clock, set to when the last alerts arrived, so entries sort as they would live."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def arrive(store: Store, pipeline: Pipeline, payload: dict, at: datetime) -> None:  # type: ignore[type-arg]
    pipeline.clock.now = at  # type: ignore[attr-defined]
    await store.append_alerts(AlertmanagerSource().parse(payload, at))
    await pipeline.drain()


async def test_a_storm_folds_into_one_entry_per_minute_and_keeps_every_alert(store: Store) -> None:
    """Past the first 10 alerts a minute, joining alerts fold into one entry per minute, updated in place; all stay incident alerts."""
    pipeline = Pipeline(store, RULES, clock=Clock())
    await arrive(store, pipeline, FIRING, T0)
    await arrive(store, pipeline, storm(300, "a"), T0 + timedelta(seconds=5))
    await arrive(store, pipeline, storm(200, "b"), T0 + timedelta(seconds=40))
    [incident] = await store.list_incidents()
    entries = await store.get_timeline(incident.id)
    alerts = [e for e in entries if e.kind is TimelineKind.alert]
    assert [e.kind.value for e in entries[:2]] == ["alert", "rule"] and len(alerts) == 1 + 10 + 1
    folded = alerts[-1]
    assert folded.data["folded"] == 490 and folded.data["distinct"] == {"instance": 490}
    assert folded.data["first"] == ["a00010", "a00011", "a00012", "a00013", "a00014"]
    assert folded.summary.startswith(
        "490 more alerts joined between 10:02:05 and 10:02:40 (490 distinct instance); first: ServiceDown a-10:8080"
    )
    await arrive(store, pipeline, storm(50, "c"), T0 + timedelta(seconds=70))
    later = [e for e in await store.get_timeline(incident.id) if e.kind is TimelineKind.alert][12:]
    assert len(later) == 11 and later[-1].data["folded"] == 40, "a new minute shows its first 10 alerts again, then folds"
    assert (await store.get_incident(incident.id)).alert_count == 551


async def test_a_storm_resolving_folds_too_and_the_incident_resolves_once(store: Store) -> None:
    """A storm of resolves folds like a storm of firing alerts; the incident resolves once, after its last alert."""
    pipeline = Pipeline(store, RULES, clock=Clock())
    await arrive(store, pipeline, storm(100, "a"), T0)
    await arrive(store, pipeline, storm(100, "a", status="resolved"), T0 + timedelta(seconds=30))
    [incident] = await store.list_incidents()
    entries = await store.get_timeline(incident.id)
    resolved = [e for e in entries if e.kind is TimelineKind.alert and (e.data.get("status") == "resolved" or "resolved:" in e.summary)]
    assert len(resolved) == 11 and resolved[-1].data["folded"] == 90
    assert [e.kind.value for e in entries].count("resolve") == 1 and incident.status.value == "resolved"
