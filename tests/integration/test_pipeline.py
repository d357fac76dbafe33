"""Inbox → engine → store, on SQLite and PostgreSQL: incidents, dedup, resolve, restart, commands."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from alertflow.errors import Conflict
from alertflow.integrations.sources.alertmanager import AlertmanagerSource
from alertflow.models import FlowName, IncidentStatus
from alertflow.pipeline.consumer import Pipeline
from alertflow.rules import parse_rules
from alertflow.store.database import Store
from tests.support import EXAMPLE_RULES, REPO

pytestmark = pytest.mark.anyio
FIRING = json.loads((REPO / "examples" / "alertmanager-firing.json").read_text())
RESOLVED = json.loads((REPO / "examples" / "alertmanager-resolved.json").read_text())
RULES = parse_rules(EXAMPLE_RULES.read_text())


def parse(payload: dict) -> list:  # type: ignore[type-arg]
    return AlertmanagerSource().parse(payload, datetime.now(timezone.utc))


def with_alert(payload: dict, fingerprint: str, **labels: str) -> dict:  # type: ignore[type-arg]
    copy = json.loads(json.dumps(payload))
    copy["alerts"][0]["fingerprint"] = fingerprint
    copy["alerts"][0]["labels"].update(labels)
    return copy


async def ingest(store: Store, pipeline: Pipeline, payload: dict) -> None:  # type: ignore[type-arg]
    await store.append_alerts(parse(payload))
    await pipeline.drain()


async def test_firing_alert_opens_incident_with_timeline_and_four_actions(store: Store) -> None:
    """The example alert opens one incident, records alert and rule entries, and queues the rule's four flows in order."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, FIRING)
    [incident] = await store.list_incidents()
    assert (incident.status, incident.severity.value, incident.service, incident.rule_id) == (
        "open",
        "critical",
        "checkout",
        "service-down",
    )
    kinds = [e.kind.value for e in await store.get_timeline(incident.id)]
    assert kinds == ["alert", "rule"]
    rows = await store.due_outbox(datetime.now(timezone.utc), 10)
    assert [r.flow for r in rows] == ["failover", "recovery", "paging", "timeline"]  # FlowName.priority, then decision order
    rows = [rows[2], rows[3], rows[0], rows[1]]  # decision order
    assert rows[0].parameters["episode"] == uuid.UUID(rows[0].idempotency_key).hex  # the announcement's episode
    assert rows[0].parameters["action"]["retry"] == {"retries": 3, "retry_delay_seconds": [1.0, 5.0, 15.0], "exponential_backoff": None}
    assert rows[2].parameters == {
        "incident_id": incident.id,
        "action": {
            "flow": "failover",
            "params": {"switch": "checkout", "to": "standby", "back_to": "primary", "failback_after_seconds": None, "dry_run": False},
            "retry": {"retries": 2, "retry_delay_seconds": 0.0, "exponential_backoff": 2.0},
            "min_severity": None,
        },
    }
    assert (await store.counts())["inbox_pending"] == 0


async def test_resend_is_deduplicated_and_new_alert_joins(store: Store) -> None:
    """An Alertmanager resend changes nothing; a second alert of the same service joins the open incident."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, FIRING)
    await ingest(store, pipeline, FIRING)
    await ingest(store, pipeline, with_alert(FIRING, "second", instance="checkout-2:8080"))
    [incident] = await store.list_incidents()
    assert (await store.get_incident(incident.id)).fingerprints == ["8a3f1c2d9e4b7a60", "second"]
    assert len(await store.due_outbox(datetime.now(timezone.utc), 10)) == 4
    assert [e.kind.value for e in await store.get_timeline(incident.id)] == ["alert", "rule", "alert"]


async def test_resolved_payload_resolves_and_republishes_timeline(store: Store) -> None:
    """The resolved payload resolves the incident, records who resolved it, and queues a timeline run (the first one
    has taken its last look at the store)."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, FIRING)
    [opened] = [r for r in await store.outbox_for(1) if r["flow"] == "timeline"]
    async with store.write() as tx:
        await tx.close_run(opened["idempotency_key"], datetime.now(timezone.utc))
    await ingest(store, pipeline, RESOLVED)
    [incident] = await store.list_incidents()
    assert incident.status is IncidentStatus.resolved and incident.resolved_by == "alertmanager"
    assert [e.kind.value for e in await store.get_timeline(incident.id)][-2:] == ["alert", "resolve"]
    assert [r["flow"] for r in await store.outbox_for(incident.id)] == ["paging", "timeline", "failover", "recovery", "timeline"]
    await ingest(store, pipeline, FIRING)
    assert len(await store.list_incidents()) == 2, "a new firing after resolution opens a new incident"


async def test_restart_rebuilds_engine_from_store(store: Store) -> None:
    """A new pipeline (a restarted process) still deduplicates resends and resolves the open incident."""
    await ingest(store, Pipeline(store, RULES), FIRING)
    restarted = Pipeline(store, RULES)
    await restarted.restore()
    await ingest(store, restarted, FIRING)
    assert len(await store.list_incidents()) == 1
    await ingest(store, restarted, RESOLVED)
    assert (await store.list_incidents())[0].status is IncidentStatus.resolved


async def test_unmatched_alert_is_stored_but_opens_nothing(store: Store) -> None:
    """An alert no rule accepts stays in the inbox, processed, with no incident."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, with_alert(FIRING, "staging", env="staging", severity="warning"))
    assert await store.list_incidents() == []
    assert (await store.counts()) == {"inbox_total": 1, "inbox_pending": 0, "inbox_failed": 0, "outbox_pending": 0, "incidents_open": 0}


async def test_people_commands_ack_resolve_and_run(store: Store) -> None:
    """Ack and resolve are recorded with their actor and are idempotent; a hand-run queues the rule's action."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, FIRING)
    [incident] = await store.list_incidents()
    acked = await pipeline.acknowledge(incident.id, "alice")
    assert acked.status is IncidentStatus.acknowledged and acked.acknowledged_by == "alice"
    assert (await pipeline.acknowledge(incident.id, "bob")).acknowledged_by == "alice"
    outbox_id = await pipeline.request_run(incident.id, FlowName.failover, "carol")
    row = next(r for r in await store.due_outbox(datetime.now(timezone.utc), 20) if r.id == outbox_id)
    assert row.parameters["action"]["params"] == {
        "switch": "checkout",
        "to": "standby",
        "back_to": "primary",
        "failback_after_seconds": None,
        "dry_run": False,
    }
    resolved = await pipeline.resolve(incident.id, "alice")
    assert resolved.status is IncidentStatus.resolved
    with pytest.raises(Conflict):
        await pipeline.acknowledge(incident.id, "bob")
    summaries = [(e.kind.value, e.actor) for e in await store.get_timeline(incident.id)]
    assert ("ack", "alice") in summaries and ("note", "carol") in summaries and ("resolve", "alice") in summaries
    await ingest(store, pipeline, FIRING)
    assert len(await store.list_incidents()) == 2, "after a manual resolve the still-firing alert opens a new incident"


async def test_a_poison_alert_is_set_aside_and_the_rest_proceed(store: Store) -> None:
    """An alert whose writes the store refuses (here: a second writer already opened its incident) is stored with its error; the others land."""
    async with store.write() as tx:  # a second writer the engine does not know about
        await tx.insert_incident(
            key="service-down|service=checkout",
            title="t",
            service="checkout",
            severity="critical",
            rule_id="service-down",
            at=datetime.now(timezone.utc),
        )
    pipeline = Pipeline(store, RULES)
    await store.append_alerts(parse(FIRING) + parse(with_alert(FIRING, "other", service="payments")))
    await pipeline.drain()
    counts = await store.counts()
    assert counts["inbox_pending"] == 0 and counts["inbox_failed"] == 1
    assert sorted(i.service for i in await store.list_incidents()) == ["checkout", "payments"]
    await ingest(store, pipeline, with_alert(FIRING, "third", service="search"))
    assert len(await store.list_incidents()) == 3, "the pipeline keeps going after setting an alert aside"


@pytest.mark.parametrize("by_hand", [False, True], ids=["alerts-resolve", "person-resolves"])
async def test_resolve_queues_failback_when_the_failover_asks_for_it(store: Store, by_hand: bool) -> None:
    """A rule whose failover sets failback_after_seconds gets a failback queued on resolve, whoever resolves, with that wait."""
    text = EXAMPLE_RULES.read_text().replace(
        "params: {switch: checkout, to: standby}", "params: {switch: checkout, failback_after_seconds: 90}"
    )
    pipeline = Pipeline(store, parse_rules(text))
    await ingest(store, pipeline, FIRING)
    [incident] = await store.list_incidents()
    if by_hand:
        await pipeline.resolve(incident.id, "alice")
    else:
        await ingest(store, pipeline, RESOLVED)
    rows = await store.outbox_for(incident.id)
    assert [row["flow"] for row in rows][-2:] == ["recovery", "failback"]  # the timeline run queued at open shows the resolve
    params = rows[-1]["parameters"]["action"]["params"]
    assert (params["switch"], params["to"], params["healthy_for_seconds"]) == ("checkout", "primary", 90.0)


async def test_a_firing_alert_within_reopen_within_reopens_the_incident_in_the_same_process(store: Store) -> None:
    """Resolved by its alerts, then firing again within the rule's reopen_within: the same incident reopens (it once
    did only after a restart: the running pipeline had forgotten the incident's key at resolve)."""
    rules = parse_rules(
        EXAMPLE_RULES.read_text().replace("    group_by: [service]\n", "    group_by: [service]\n    reopen_within: 10m\n", 1)
    )
    pipeline = Pipeline(store, rules)
    await ingest(store, pipeline, FIRING)
    await ingest(store, pipeline, RESOLVED)
    await pipeline.tick()  # the quiet period (none here) and the engine's other timers
    assert (await store.get_incident(1)).status is IncidentStatus.resolved
    await ingest(store, pipeline, FIRING)
    assert [i.id for i in await store.list_incidents()] == [1]
    assert (await store.get_incident(1)).status is IncidentStatus.open
    assert "reopen" in [e.kind.value for e in await store.get_timeline(1)]
