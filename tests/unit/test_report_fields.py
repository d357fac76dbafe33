"""The report's definitions, without a database: what a page is, the percentile, after hours, spans as people read them,
and the summary heading a timeline artifact."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from alertflow.config.oncall import Restriction
from alertflow.durations import format_span
from alertflow.flows.summary import summary_markdown
from alertflow.models import Incident
from alertflow.store.report_fields import AfterHours, Durations, page_kind, percentile, person_of
from alertflow.store.summary import Deed, IncidentSummary

WEEKDAYS = Restriction.model_validate({"from": "09:00", "to": "18:00", "days": ["mon", "tue", "wed", "thu", "fri"]})


@pytest.mark.parametrize(
    ("step", "kind"),
    [
        ("0.0.0.slack", "first"),
        ("0.1.0.slack", "escalation"),
        ("1.0.0.pagerduty", "escalation"),  # the policy's second pass
        ("fallback.0.slack", "escalation"),
        ("reply.12.3", None),
        ("repeat.1.7", None),  # a reminder in the page's thread
        ("repeat.1.7.page", "repeat"),
    ],
)
def test_page_kind(step: str, kind: str | None) -> None:
    """Step 1 of the first pass is the first page; later steps, passes and the fallback escalate; replies are no pages."""
    assert page_kind(step) == kind


def test_percentile_interpolates_between_ranks() -> None:
    """p50 and p90 as PostgreSQL's percentile_cont: linear between the closest ranks; one value is every percentile."""
    assert percentile([60.0, 120.0, 300.0], 0.5) == 120.0 and percentile([60.0, 120.0, 300.0], 0.9) == pytest.approx(264.0)
    assert percentile([42.0], 0.9) == 42.0
    assert Durations.of([300.0, 60.0, 120.0]).model_dump() == {"count": 3, "mean": 160.0, "p50": 120.0, "p90": 264.0}
    assert str(Durations.of([])) == "-" and str(Durations.of([90.0, 3600.0])) == "30m 45s / 54m 09s"


def test_after_hours_in_the_schedules_zone_else_the_default() -> None:
    """08:30 UTC is 09:30 in Berlin (business hours) but after hours in UTC; a Saturday is after hours all day."""
    hours = AfterHours(WEEKDAYS, "UTC", {"primary": "Europe/Berlin"})
    friday = datetime(2026, 11, 27, 8, 30, tzinfo=timezone.utc)
    assert not hours("alice (on call for primary)", friday) and hours("alice", friday)
    assert hours("alice (on call for primary)", datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc))
    assert person_of("alice (on call for primary)") == "alice" and person_of("#ops") == "#ops"


def test_spans_read_like_people_write_them() -> None:
    """Seconds, minutes with seconds, hours with minutes, days with hours."""
    assert [format_span(s) for s in (0.4, 45, 250, 7500, 273600)] == ["0s", "45s", "4m 10s", "2h 05m", "3d 4h"]


def test_summary_markdown_says_how_long_how_soon_and_who() -> None:
    """The summary's rows, and each person's deed with its time."""
    opened = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
    incident = Incident.model_validate(
        {"id": 7, "key": "k", "title": "t", "service": "checkout", "severity": "critical", "status": "acknowledged",
         "rule_id": "service-down", "opened_at": opened, "acknowledged_at": opened.replace(minute=2), "acknowledged_by": "alice"}
    )  # fmt: skip
    summary = IncidentSummary(
        incident=incident, as_of=opened.replace(minute=30), duration_seconds=1800, time_to_ack_seconds=120,
        runs={"paging": {"Completed": 1}, "failover": {"Failed": 1, "Completed": 1}}, pages=2, paged=["alice", "#ops"],
        escalated_past_step_1=True, deeds=[Deed(at=opened.replace(minute=2), actor="alice", what="acknowledged by alice")],
    )  # fmt: skip
    text = summary_markdown(summary)
    assert "| Duration | 30m 00s so far |" in text and "| Time to acknowledge | 2m 00s, by alice |" in text
    assert "| Responses | failover ×2: 1 Completed, 1 Failed; paging ×1: 1 Completed |" in text
    assert "| Pages | 2 to alice, #ops; escalated past step 1 |" in text
    assert "- 2026-11-27T10:02:00.000+00:00 **alice**: acknowledged by alice" in text
