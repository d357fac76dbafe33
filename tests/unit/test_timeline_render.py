"""flows/timeline.py: the incident timeline rendered as one markdown artifact."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from alertflow.flows.timeline import artifact_key, render_markdown
from alertflow.models import Incident, IncidentStatus, Severity, TimelineEntry, TimelineKind

OPENED = datetime(2026, 11, 27, 9, 58, 31, 512000, tzinfo=timezone.utc)
HEADER_LINES = 6  # title, blank, summary line, blank, table head, table rule


def incident(**overrides: object) -> Incident:
    fields: dict[str, object] = {
        "id": 12,
        "key": "service-down|service=checkout",
        "title": "checkout API is not answering",
        "service": "checkout",
        "severity": Severity.critical,
        "status": IncidentStatus.acknowledged,
        "rule_id": "service-down",
        "opened_at": OPENED,
    }
    return Incident.model_validate({**fields, **overrides})


def entry(minutes: int, kind: TimelineKind, summary: str, actor: str = "system") -> TimelineEntry:
    return TimelineEntry(incident_id=12, at=OPENED + timedelta(minutes=minutes), kind=kind, summary=summary, actor=actor)


def markdown_lines(text: str) -> list[str]:
    """Split as CommonMark does: LF, CR LF and a lone CR each end a line."""
    return re.split(r"\r\n|\r|\n", text)


def cells(row: str) -> list[str]:
    """The cells of a GFM table row, splitting on pipes not escaped with a backslash."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_header_names_status_severity_service_and_rule() -> None:
    """The header shows the incident number, title, status, severity, service, rule and opening time."""
    lines = render_markdown(incident(), []).split("\n")
    assert lines[0] == "# Incident #12: checkout API is not answering"
    for part in ("**Status:** acknowledged", "**Severity:** critical", "**Service:** checkout", "**Rule:** service-down"):
        assert part in lines[2]
    assert "**Opened:** 2026-11-27T09:58:31.512+00:00" in lines[2]
    assert lines[4:6] == ["| Time (UTC) | Kind | Event | Actor |", "|---|---|---|---|"]


def test_one_row_per_entry_in_the_given_order() -> None:
    """Each entry becomes one table row, in the order given, with UTC millisecond times."""
    entries = [
        entry(0, TimelineKind.alert, "ServiceDown fired"),
        entry(1, TimelineKind.page, "paged #oncall", actor="paging-run-1"),
        entry(3, TimelineKind.ack, "acknowledged", actor="alice"),
    ]
    lines = render_markdown(incident(), entries).split("\n")
    assert lines[HEADER_LINES:] == [
        "| 2026-11-27T09:58:31.512+00:00 | alert | ServiceDown fired | system |",
        "| 2026-11-27T09:59:31.512+00:00 | page | paged #oncall | paging-run-1 |",
        "| 2026-11-27T10:01:31.512+00:00 | ack | acknowledged | alice |",
        "",
    ]


def test_no_entries_renders_an_empty_table() -> None:
    """An incident without entries still renders its header and an empty table, ending in a newline."""
    text = render_markdown(incident(), [])
    assert text.endswith("|---|---|---|---|\n")


@pytest.mark.parametrize(
    ("summary", "actor"),
    [
        pytest.param("latency | errors", "system", id="pipe"),
        pytest.param("first line\nsecond line", "system", id="newline"),
        pytest.param("first line\r\nsecond line", "system", id="crlf"),
        pytest.param("first line\rsecond line", "system", id="lone-cr"),
        pytest.param("a || b\n| c", "alice|bob", id="pipes-and-newlines-everywhere"),
    ],
)
def test_summary_cannot_break_the_table(summary: str, actor: str) -> None:
    """Pipes and line endings in summaries and actors are escaped: every entry stays one row of four cells."""
    entries = [entry(0, TimelineKind.note, summary, actor=actor), entry(1, TimelineKind.note, "after")]
    lines = markdown_lines(render_markdown(incident(), entries))
    rows = lines[HEADER_LINES:-1]
    assert len(rows) == 2, rows
    assert [len(cells(row)) for row in rows] == [4, 4]
    assert cells(rows[1])[2] == "after"


def test_escaped_pipe_reads_back_as_the_original_text() -> None:
    """A pipe in a summary is written as \\| so the cell shows the original text."""
    [row] = render_markdown(incident(), [entry(0, TimelineKind.note, "p99 | p50")]).split("\n")[HEADER_LINES:-1]
    assert cells(row)[2] == r"p99 \| p50"


def test_title_and_service_cannot_break_the_header() -> None:
    """A multi-line title or a service with a pipe stays on the header's own lines."""
    text = render_markdown(incident(title="down\nhard", service="a|b"), [])
    lines = markdown_lines(text)
    assert lines[0] == "# Incident #12: down hard"
    assert r"**Service:** a\|b" in lines[2]
    assert len(lines) == HEADER_LINES + 1


@pytest.mark.parametrize(("incident_id", "key"), [(12, "incident-12-timeline"), (1, "incident-1-timeline")])
def test_artifact_key(incident_id: int, key: str) -> None:
    """Each incident's timeline artifact has a stable key, so re-publishing replaces it."""
    assert artifact_key(incident_id) == key


def test_a_long_timeline_shows_its_start_and_end_and_counts_what_lies_between() -> None:
    """With ``omitted``, one row between the first and last entries says how many are left out and how to list them."""
    head = [entry(0, TimelineKind.alert, "ServiceDown fired")]
    tail = [entry(90, TimelineKind.resolve, "resolved")]
    lines = markdown_lines(render_markdown(incident(), head, tail, omitted=12_345))
    rows = [cells(line) for line in lines[HEADER_LINES:] if line]
    assert [row[2] for row in rows] == [
        "ServiceDown fired",
        "12,345 more entries; `alertflow incidents show 12 --all` lists them",
        "resolved",
    ]
