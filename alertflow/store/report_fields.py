"""The report's fields, how each is counted, and the tables people read it as.

Why apart from the queries (alertflow/store/reports.py): the API, the CLI and
the report flow all speak these models, and the CLI's terminal tables and the
flow's markdown artifact are the same tables (``report_tables``) in two media,
so the two can never show different columns. The definitions here are the ones
docs/reports.md spells out: what a page is (``page_kind``), which percentile
(``percentile``), what is after hours (``AfterHours``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel

from alertflow.config.oncall import Restriction
from alertflow.config.settings import Settings
from alertflow.durations import format_span, parse_duration

_ON_CALL = re.compile(r"^(?P<person>.*) \(on call for (?P<schedule>[^()]+)\)$")


def report_window(text: str) -> timedelta:
    """``--since 30d``: how far back a report looks; ValueError saying what is accepted."""
    try:
        window = parse_duration(text)
    except ValueError:
        window = timedelta(0)
    if window <= timedelta(0):
        raise ValueError(f"unknown report window {text!r}: use a duration such as 12h, 7d, 30d or 2w")
    return window


def page_kind(step: str) -> str | None:
    """What a page log row is: ``first`` (step 1 of the first pass), ``escalation`` (a later step, a repeat pass of the
    policy, its fallback), ``repeat`` (a fresh page repeating an unanswered one), or None (a thread reply: not a page)."""
    if step.startswith("reply.") or (step.startswith("repeat.") and not step.endswith(".page")):
        return None
    if step.startswith("repeat."):
        return "repeat"
    if step.startswith("fallback."):
        return "escalation"
    return "first" if step.startswith("0.0.") else "escalation"


def person_of(recipient: str) -> str:
    """The page log's recipient without its "(on call for SCHEDULE)"."""
    found = _ON_CALL.match(recipient)
    return found["person"] if found else recipient


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (PostgreSQL's ``percentile_cont``); ``values`` sorted, not empty."""
    rank = q * (len(values) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


@dataclass(frozen=True)
class AfterHours:
    """Outside ``business_hours``, in the zone of the schedule the page came through, else in ``time_zone``."""

    business_hours: Restriction
    time_zone: str = "UTC"
    schedule_zones: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings) -> AfterHours:
        zones = {name: schedule.time_zone for name, schedule in settings.schedules.items()}
        return cls(settings.reports.business_hours, settings.reports.time_zone, zones)

    def __call__(self, recipient: str, at: datetime) -> bool:
        found = _ON_CALL.match(recipient)
        zone = self.schedule_zones.get(found["schedule"], self.time_zone) if found else self.time_zone
        return not self.business_hours.covers(at.astimezone(ZoneInfo(zone)).replace(tzinfo=None))

    def describe(self) -> str:
        hours = self.business_hours
        return f"outside {','.join(hours.days)} {hours.start:%H:%M}-{hours.until:%H:%M} in the schedule's zone, else {self.time_zone}"


class Durations(BaseModel):
    """Seconds from opening to acknowledgement (MTTA) or resolution (MTTR), over the incidents that got there."""

    count: int = 0
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, seconds: list[float]) -> Durations:
        if not seconds:
            return cls()
        ordered = sorted(seconds)
        mean, p50, p90 = (round(v, 3) for v in (sum(ordered) / len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.9)))
        return cls(count=len(ordered), mean=mean, p50=p50, p90=p90)  # seconds, to the millisecond

    def __str__(self) -> str:
        return "-" if self.p50 is None or self.p90 is None else f"{format_span(self.p50)} / {format_span(self.p90)}"


class PersonPages(BaseModel):
    person: str  # as the page log names the recipient, without "(on call for ...)": a person, a channel, a service
    pages: int = 0
    after_hours: int = 0


class ReportRow(BaseModel):
    service: str
    rule_id: str
    incidents: int = 0
    acknowledged: int = 0
    resolved: int = 0
    mtta: Durations = Durations()
    mttr: Durations = Durations()
    pages: int = 0
    after_hours_pages: int = 0
    escalated_past_step_1: int = 0
    flapping: int = 0
    auto_resolved_without_ack: int = 0
    pages_by_person: list[PersonPages] = []


class NoisyAlert(BaseModel):
    alert: str
    service: str
    rule_id: str
    incidents: int  # incidents opened in the window that this alert was part of
    alerts: int  # alert series (fingerprints) recorded with those incidents, counted once per incident
    auto_resolved_without_ack: int  # of those incidents


class Report(BaseModel):
    since: AwareDatetime
    until: AwareDatetime
    service: str | None = None
    after_hours: str  # what counted as after hours, in words
    totals: ReportRow
    rows: list[ReportRow]
    pages_by_person: list[PersonPages]
    noisy_alerts: list[NoisyAlert]


Table = tuple[str, list[str], list[list[str]]]  # title, column headers, rows of cells


def report_tables(report: Report) -> list[Table]:
    """The report as people read it, in the terminal (alertflow/cli/render.py) and in the weekly artifact (flows/report.py)."""
    header = ["service", "rule", "incidents", "acked", "MTTA p50 / p90", "resolved", "MTTR p50 / p90", "pages (after hours)",
              "escalated past step 1", "flapping", "auto-resolved, no ack"]  # fmt: skip
    everything = report.totals.model_copy(update={"service": "all", "rule_id": "all"})
    rows = [
        [r.service, r.rule_id, str(r.incidents), str(r.acknowledged), str(r.mtta), str(r.resolved), str(r.mttr),
         f"{r.pages} ({r.after_hours_pages})", str(r.escalated_past_step_1), str(r.flapping), str(r.auto_resolved_without_ack)]
        for r in [*report.rows, everything]
    ]  # fmt: skip
    people = [[p.person, str(p.pages), str(p.after_hours)] for p in report.pages_by_person]
    noisy = [
        [a.alert, a.service, a.rule_id, str(a.incidents), str(a.alerts), str(a.auto_resolved_without_ack)] for a in report.noisy_alerts
    ]
    return [
        ("Incidents per service and rule", header, rows),
        ("Pages per person", ["person", "pages", "after hours"], people),
        ("Noisiest alerts", ["alert", "service", "rule", "incidents", "alerts", "auto-resolved, no ack"], noisy),
    ]
