"""The report's numbers from a store with incidents and pages of known timings, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alertflow.config.oncall import Restriction
from alertflow.models import IncidentStatus, TimelineEntry, TimelineKind
from alertflow.store.pages import PageLog
from alertflow.store.report_fields import AfterHours, report_window
from alertflow.store.reports import build_report

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)  # a Friday
HOURS = AfterHours(Restriction.model_validate({"from": "09:00", "to": "18:00", "days": ["mon", "tue", "wed", "thu", "fri"]}),
                   "UTC", {"primary": "Europe/Berlin"})  # fmt: skip
S = timedelta(seconds=1)


async def incident(store, service: str, rule: str, opened: datetime, acked: float | None = None, resolved: float | None = None,
                   by: str | None = None, flapping: bool = False, alerts: dict[str, int] | None = None) -> int:  # fmt: skip
    """An incident opened at ``opened``, acknowledged and resolved so many seconds later (resolved by ``by``, a person, or by its
    alerts), with ``alerts`` (name: how many series) recorded."""
    async with store.write() as tx:
        incident_id = await tx.insert_incident(
            key=f"{rule}|{opened}", title=rule, service=service, severity="critical", rule_id=rule, at=opened
        )
        if acked is not None:
            await tx.transition(incident_id, IncidentStatus.acknowledged, "alice", opened + acked * S)
        if resolved is not None:
            await tx.transition(incident_id, IncidentStatus.resolved, by or "alertmanager", opened + resolved * S)
            summary = f"resolved by {by}" if by else "resolved: every alert of the incident resolved"
            entry = TimelineEntry(
                incident_id=incident_id, at=opened + resolved * S, kind=TimelineKind.resolve, summary=summary, actor=by or "alertmanager"
            )
            await tx.add_timeline([entry])
        if flapping:
            await tx.update_incident(incident_id, flapping=True)
        rows = [
            {"incident_id": incident_id, "fingerprint": f"{name}-{i}", "name": name, "status": "firing", "first_seen": opened, "last_seen": opened}
            for name, count in (alerts or {}).items() for i in range(count)
        ]  # fmt: skip
        await tx.upsert_incident_alerts(rows)
    return incident_id


async def page(store, incident_id: int, step: str, recipient: str, at: datetime, status: str = "sent") -> None:
    log = PageLog(store)
    record, _ = await log.claim(incident_id, "episode", step, step.rsplit(".", 1)[-1], recipient, "address", at)
    await log.finish(record.id, status)  # type: ignore[arg-type]


@pytest.fixture
async def seeded(store):  # type: ignore[no-untyped-def]
    """Five incidents in the week before NOW (one more before it), their pages and alerts."""
    day = timedelta(days=1)
    one = await incident(store, "checkout", "service-down", NOW - 2 * day, acked=60, resolved=600, by="alice", alerts={"ServiceDown": 2})
    two = await incident(store, "checkout", "service-down", NOW - day, acked=120, resolved=1200, alerts={"ServiceDown": 1})
    three = await incident(
        store, "checkout", "service-down", NOW - timedelta(hours=3), acked=300, alerts={"ServiceDown": 1, "HighLatency": 1}
    )
    four = await incident(
        store, "checkout", "service-down", NOW - timedelta(hours=5), resolved=180, flapping=True, alerts={"ServiceDown": 3}
    )
    five = await incident(store, "db", "disk-full", NOW - 6 * day, resolved=3600, by="bob", alerts={"DiskFull": 1})
    old = await incident(store, "checkout", "service-down", NOW - 8 * day, acked=10, resolved=20, alerts={"ServiceDown": 1})
    on_call = "alice (on call for primary)"
    await page(store, one, "0.0.0.slack", on_call, NOW - 2 * day + 5 * S)  # Wednesday 11:00 in Berlin
    await page(store, one, "0.0.0.pagerduty", on_call, NOW - 2 * day + 5 * S)  # the same page, another notifier
    await page(store, two, "0.0.0.slack", on_call, NOW - day + 5 * S)
    await page(store, two, "0.1.0.slack", "bob", NOW - day + 65 * S)  # step 2: an escalation, 10:01 UTC
    await page(store, four, "0.0.0.slack", on_call, NOW - timedelta(hours=5) + 5 * S)  # 06:00 in Berlin: after hours
    await page(store, four, "0.0.1.slack", "#ops", NOW - timedelta(hours=5) + 5 * S)  # 05:00 UTC: after hours
    await page(store, four, "reply.7.1", on_call, NOW - timedelta(hours=4))  # a thread reply: no page
    await page(store, three, "0.0.0.slack", on_call, NOW - timedelta(hours=3) + 5 * S)  # 08:00 in Berlin: after hours
    await page(store, three, "1.0.0.slack", "carol", NOW - timedelta(hours=2), status="failed")  # a repeat pass: escalated, not sent
    await page(store, five, "0.0.0.slack", "bob", NOW - 6 * day + 10 * S)  # a Saturday
    await page(store, five, "fallback.0.slack", "#ops", NOW - 6 * day + 20 * S)
    await page(store, old, "0.0.0.slack", "bob", NOW - 8 * day + 5 * S)  # before the window
    return store


async def test_report_counts_incidents_durations_pages_and_noise(seeded) -> None:  # type: ignore[no-untyped-def]
    """MTTA/MTTR means and p50/p90 (linear between ranks), pages once per step and person, after hours in the schedule's zone,
    escalations past step 1, flapping, auto-resolved without ack and the noisiest alerts, exactly."""
    report = await build_report(seeded, NOW - timedelta(days=7), NOW, None, HOURS)
    checkout, db = report.rows
    assert (checkout.service, checkout.rule_id, db.service, db.rule_id) == ("checkout", "service-down", "db", "disk-full")
    assert (checkout.incidents, checkout.acknowledged, checkout.resolved) == (4, 3, 3)
    assert checkout.mtta.model_dump() == {"count": 3, "mean": 160.0, "p50": 120.0, "p90": 264.0}
    assert checkout.mttr.model_dump() == {"count": 3, "mean": 660.0, "p50": 600.0, "p90": 1080.0}
    assert (checkout.pages, checkout.after_hours_pages, checkout.escalated_past_step_1) == (6, 3, 2)
    assert (checkout.flapping, checkout.auto_resolved_without_ack) == (1, 1)
    assert [(p.person, p.pages, p.after_hours) for p in checkout.pages_by_person] == [("alice", 4, 2), ("#ops", 1, 1), ("bob", 1, 0)]
    assert db.mtta.count == 0 and db.mtta.p50 is None and db.mttr.model_dump() == {"count": 1, "mean": 3600.0, "p50": 3600.0, "p90": 3600.0}
    assert (db.pages, db.after_hours_pages, db.escalated_past_step_1, db.auto_resolved_without_ack) == (2, 2, 1, 0)
    totals = report.totals
    assert (totals.incidents, totals.pages, totals.after_hours_pages, totals.escalated_past_step_1) == (5, 8, 5, 3)
    assert totals.mttr.model_dump() == {"count": 4, "mean": 1395.0, "p50": 900.0, "p90": 2880.0}
    assert [(p.person, p.pages, p.after_hours) for p in report.pages_by_person] == [("alice", 4, 2), ("#ops", 2, 2), ("bob", 2, 1)]
    assert [(a.alert, a.service, a.incidents, a.alerts, a.auto_resolved_without_ack) for a in report.noisy_alerts] == [
        ("ServiceDown", "checkout", 4, 7, 1),
        ("DiskFull", "db", 1, 1, 0),
        ("HighLatency", "checkout", 1, 1, 0),
    ]


async def test_report_of_one_service(seeded) -> None:  # type: ignore[no-untyped-def]
    """--service keeps that service's incidents, pages and alerts only."""
    report = await build_report(seeded, NOW - timedelta(days=7), NOW, "db", HOURS, noisy=5)
    assert [r.service for r in report.rows] == ["db"] and report.totals.incidents == 1 and report.totals.pages == 2
    assert [(p.person, p.pages) for p in report.pages_by_person] == [("#ops", 1), ("bob", 1)]
    assert [a.alert for a in report.noisy_alerts] == ["DiskFull"]


def test_report_window_refuses_what_it_cannot_read() -> None:
    """30d and 12h are windows; 30x, 0s and -1d are not, and the message says what is."""
    assert report_window("30d") == timedelta(days=30) and report_window("2w") == timedelta(days=14)
    for bad in ("30x", "0s", "-1d", ""):
        with pytest.raises(ValueError, match=r"unknown report window .*such as 12h, 7d"):
            report_window(bad)
