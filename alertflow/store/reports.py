"""MTTA, MTTR and the paging load over a window, read from the store: the numbers behind ``alertflow report``.

Why here: one computation serves ``GET /reports`` (which the CLI calls) and the
weekly ``alertflow-report`` flow, so the terminal and the Prefect artifact never
disagree. Why split between SQL and Python: SQL (SQLAlchemy Core, the same
statements on SQLite and PostgreSQL) selects the window's incidents and pages
and groups alerts per incident; date arithmetic, percentiles and time zones are
spelled differently by the two databases, or not at all (SQLite has no
percentile), so durations, p50/p90 and after-hours are computed here, over rows
the window bounds. No index serves the window: incidents and pages grow by
incidents, not by alerts, so a scan of them costs little next to the inbox
(which the report never reads). The fields and their definitions:
alertflow/store/report_fields.py, docs/reports.md.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select

from alertflow.store import tables as t
from alertflow.store.database import Store
from alertflow.store.report_fields import AfterHours, Durations, NoisyAlert, PersonPages, Report, ReportRow, page_kind, person_of

INCIDENT = t.incidents.c
PAGE = t.pages.c


class _Tally:
    """One row's counts while rows are read."""

    def __init__(self, service: str, rule_id: str) -> None:
        self.row = ReportRow(service=service, rule_id=rule_id)
        self.mtta: list[float] = []
        self.mttr: list[float] = []
        self.people: dict[str, PersonPages] = {}

    def incident(self, r: Any, escalated: bool, auto: bool) -> None:
        row = self.row
        row.incidents += 1
        row.flapping += bool(r.flapping)
        row.escalated_past_step_1 += escalated
        row.auto_resolved_without_ack += auto
        if r.acknowledged_at is not None:
            row.acknowledged += 1
            self.mtta.append(max((r.acknowledged_at - r.opened_at).total_seconds(), 0.0))
        if r.resolved_at is not None:
            row.resolved += 1
            self.mttr.append(max((r.resolved_at - r.opened_at).total_seconds(), 0.0))

    def page(self, person: str, after_hours: bool) -> None:
        entry = self.people.setdefault(person, PersonPages(person=person))
        entry.pages += 1
        entry.after_hours += after_hours
        self.row.pages += 1
        self.row.after_hours_pages += after_hours

    def done(self) -> ReportRow:
        people = sorted(self.people.values(), key=lambda p: (-p.pages, p.person))
        return self.row.model_copy(update={"mtta": Durations.of(self.mtta), "mttr": Durations.of(self.mttr), "pages_by_person": people})


async def build_report(store: Store, since: datetime, until: datetime, service: str | None, hours: AfterHours, noisy: int = 10) -> Report:
    """The report over incidents opened, and pages sent, in [since, until); one service or all."""
    in_window = [INCIDENT.opened_at >= since, INCIDENT.opened_at < until] + ([INCIDENT.service == service] if service else [])
    resolved_by_person = exists().where(  # a person's resolve writes "resolved by NAME"; the alerts' own, "resolved: why"
        t.timeline.c.incident_id == INCIDENT.id, t.timeline.c.kind == "resolve", t.timeline.c.summary.like("resolved by %")
    )
    columns = [INCIDENT.id, INCIDENT.service, INCIDENT.rule_id, INCIDENT.opened_at, INCIDENT.acknowledged_at, INCIDENT.resolved_at]
    incidents = select(*columns, INCIDENT.flapping, resolved_by_person.label("resolved_by_person")).where(*in_window)
    of_incident = t.incidents.join(t.pages, PAGE.incident_id == INCIDENT.id)
    sent = select(PAGE.incident_id, PAGE.episode, PAGE.step, PAGE.recipient, PAGE.claimed_at, INCIDENT.service, INCIDENT.rule_id)
    sent = sent.select_from(of_incident).where(PAGE.status == "sent", PAGE.claimed_at >= since, PAGE.claimed_at < until)
    steps = select(PAGE.incident_id, PAGE.step).distinct().select_from(of_incident).where(*in_window)
    members = (
        select(t.incident_alerts.c.incident_id, t.incident_alerts.c.name, func.count().label("alerts"))
        .join(t.incidents, INCIDENT.id == t.incident_alerts.c.incident_id)
        .where(*in_window)
        .group_by(t.incident_alerts.c.incident_id, t.incident_alerts.c.name)
    )
    async with store.read() as conn:
        incident_rows = (await conn.execute(incidents)).all()
        page_rows = (await conn.execute(sent.where(INCIDENT.service == service) if service else sent)).all()
        escalated = {r.incident_id for r in await conn.execute(steps) if page_kind(r.step) == "escalation"}
        member_rows = (await conn.execute(members)).all()

    tallies: dict[tuple[str, str], _Tally] = {}
    total = _Tally("*", "*")
    auto: set[int] = set()
    where: dict[int, tuple[str, str]] = {}
    for r in incident_rows:
        where[r.id] = (r.service, r.rule_id)
        if r.resolved_at is not None and r.acknowledged_at is None and not r.resolved_by_person:
            auto.add(r.id)
        for tally in (tallies.setdefault(where[r.id], _Tally(*where[r.id])), total):
            tally.incident(r, r.id in escalated, r.id in auto)

    seen: set[tuple[Any, ...]] = set()
    for r in sorted(page_rows, key=lambda r: r.claimed_at):
        person = person_of(r.recipient)
        identity = (r.incident_id, r.episode, r.step.rsplit(".", 1)[0], person)  # one page per step and person, however many notifiers
        if page_kind(r.step) is None or identity in seen:
            continue
        seen.add(identity)
        after_hours = hours(r.recipient, r.claimed_at)
        for tally in (tallies.setdefault((r.service, r.rule_id), _Tally(r.service, r.rule_id)), total):
            tally.page(person, after_hours)

    rows = sorted((tally.done() for tally in tallies.values()), key=lambda row: (-row.incidents, -row.pages, row.service, row.rule_id))
    totals = total.done()
    return Report(
        since=since, until=until, service=service, after_hours=hours.describe(), totals=totals.model_copy(update={"pages_by_person": []}),
        rows=rows, pages_by_person=totals.pages_by_person, noisy_alerts=_noisy(member_rows, where, auto)[:noisy],
    )  # fmt: skip


def _noisy(member_rows: list[Any], where: dict[int, tuple[str, str]], auto: set[int]) -> list[NoisyAlert]:
    """Alerts by the incidents they were part of, most first: candidates for silencing or tuning."""
    grouped: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in member_rows:
        if r.incident_id not in where:  # opened after the incidents were read
            continue
        counts = grouped[(r.name, *where[r.incident_id])]
        counts[0] += 1
        counts[1] += r.alerts
        counts[2] += r.incident_id in auto
    ordered = sorted(grouped.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
    return [
        NoisyAlert(alert=name, service=service, rule_id=rule, incidents=n, alerts=alerts, auto_resolved_without_ack=quiet)
        for (name, service, rule), (n, alerts, quiet) in ordered
    ]
