"""rules/engine.py + rules/suppression.py: silences and maintenance windows hold alerts back, then release them.

Steps are ("process", seconds, alert, expected), ("tick", seconds, expected)
or ("silences", seconds, [Silence], expected); the clock starts on Monday
2026-03-02 at 02:00 in Berlin (01:00 UTC), inside the nightly window.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from alertflow.models import Alert, AlertStatus, Severity, Silence
from alertflow.rules import Engine, parse_rules
from alertflow.rules.decision import Decision, DecisionKind
from alertflow.rules.suppression import MaintenanceWindow
from tests.unit.engine_steps import run_steps

K = DecisionKind
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # Monday 02:00 Europe/Berlin (CET)

RULES = parse_rules(
    """\
rules:
  - id: svc
    description: A service is slow
    matchers: ['alertname="ServiceSlow"']
    group_by: [service]
    actions: [{flow: paging}]
maintenance_windows:
  - name: nightly-backup
    matchers: ['service="batch"']
    weekdays: [mon, tue, wed, thu, fri]
    start: "02:00"
    end: "03:30"
    timezone: Europe/Berlin
""",
    "rules.yaml",
)
DB, API, BATCH = "svc|service=db", "svc|service=api", "svc|service=batch"


def alert(fp: str, service: str = "db", status: str = "firing") -> Alert:
    """A ServiceSlow alert of ``service``; received_at is set when a step processes it."""
    labels = {"alertname": "ServiceSlow", "service": service, "severity": "warning"}
    return Alert(source="test", fingerprint=fp, name="ServiceSlow", service=service, severity=Severity.warning,
                 status=AlertStatus(status), labels=labels, starts_at=T0, received_at=T0)  # fmt: skip


def silence(start: int = 0, end: int = 3600, matcher: str = 'service="db"') -> Silence:
    """Silence 1 by alice, from ``start`` to ``end`` seconds after T0."""
    return Silence(id=1, matchers=[matcher], starts_at=T0 + timedelta(seconds=start), ends_at=T0 + timedelta(seconds=end), author="alice")


def run(engine: Engine, steps: list[tuple[Any, ...]]) -> list[list[Decision]]:
    return run_steps(engine, steps, T0)


SCENARIOS = {
    "silenced-alert-opens-when-silence-ends": [
        ("silences", 0, [silence()], []),
        ("process", 10, alert("a1"), [(K.suppressed, None)]),
        ("process", 20, alert("a1"), []),
        ("tick", 3599, []),
        ("tick", 3600, [(K.open, DB, "paging")]),
        ("tick", 3700, []),
    ],
    "silence-covers-only-matching-alerts": [
        ("silences", 0, [silence()], []),
        ("process", 10, alert("a1", "api"), [(K.open, API, "paging")]),
    ],
    "resolved-while-silenced-stays-quiet": [
        ("silences", 0, [silence()], []),
        ("process", 10, alert("a1"), [(K.suppressed, None)]),
        ("process", 20, alert("a1", status="resolved"), []),
        ("tick", 3600, []),
    ],
    "silence-expired-by-a-person-releases-on-tick": [
        ("silences", 0, [silence()], []),
        ("process", 10, alert("a1"), [(K.suppressed, None)]),
        ("silences", 20, [], []),
        ("tick", 21, [(K.open, DB, "paging")]),
    ],
    "silence-not-yet-started-does-not-hold": [
        ("silences", 0, [silence(start=100)], []),
        ("process", 10, alert("a1"), [(K.open, DB, "paging")]),
    ],
    "new-silence-leaves-an-open-incident-alone": [
        ("process", 0, alert("a1"), [(K.open, DB, "paging")]),
        ("silences", 10, [silence()], []),
        ("process", 20, alert("a1"), []),
        ("process", 30, alert("a1", status="resolved"), [(K.alert_resolved, DB), (K.resolve, DB)]),
    ],
    "alert-refiring-in-an-open-incident-ignores-a-silence": [
        ("process", 0, alert("a1"), [(K.open, DB, "paging")]),
        ("process", 5, alert("a2"), [(K.attach, DB)]),
        ("silences", 10, [silence()], []),
        ("process", 20, alert("a1", status="resolved"), [(K.alert_resolved, DB)]),
        ("process", 30, alert("a1"), [(K.attach, DB)]),
        ("process", 40, alert("a3"), [(K.suppressed, None)]),
    ],
    "maintenance-window-holds-until-it-closes": [
        ("process", 60, alert("b1", "batch"), [(K.suppressed, None)]),
        ("tick", 5399, []),
        ("tick", 5400, [(K.open, BATCH, "paging")]),
    ],
    "maintenance-window-resolved-inside-stays-quiet": [
        ("process", 60, alert("b1", "batch"), [(K.suppressed, None)]),
        ("process", 120, alert("b1", "batch", "resolved"), []),
        ("tick", 5400, []),
    ],
    "after-maintenance-window-alerts-open": [
        ("process", 5400, alert("b1", "batch"), [(K.open, BATCH, "paging")]),
    ],
}


@pytest.mark.parametrize("steps", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_suppression_scenario(steps: list[tuple[Any, ...]]) -> None:
    """Each timed step of a silence or maintenance scenario produces exactly the listed decisions."""
    run(Engine(RULES), steps)


def test_suppressed_reason_names_the_silence_and_the_window() -> None:
    """A suppressed decision's reason names the silence (id, author) or the maintenance window."""
    engine = Engine(RULES)
    engine.set_silences([silence()])
    (silenced,) = engine.process(alert("a1"), T0)
    (windowed,) = engine.process(alert("b1", "batch"), T0)
    assert "silence 1 (alice)" in silenced.reason and "nightly-backup" in windowed.reason


def window(start: str, end: str, weekdays: str = "[mon, tue, wed, thu, fri, sat, sun]", tz: str = "UTC") -> MaintenanceWindow:
    return parse_rules(
        f'maintenance_windows: [{{name: w, weekdays: {weekdays}, start: "{start}", end: "{end}", timezone: {tz}}}]', "r.yaml"
    ).maintenance_windows[0]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


NIGHTLY = RULES.maintenance_windows[0]
FRIDAY_NIGHT = window("22:00", "02:00", "[fri]")
SPRING = window("01:00", "04:00", tz="Europe/Berlin")
AUTUMN = window("02:00", "03:00", tz="Europe/Berlin")
SATURDAY_NY = window("00:00", "06:00", "[sat]", "America/New_York")
WORKDAY = window("09:00", "17:00", tz="Europe/Berlin")


@pytest.mark.parametrize(
    ("win", "at", "active"),
    [
        pytest.param(NIGHTLY, "2026-03-02T01:30", True, id="inside-in-local-time"),
        pytest.param(NIGHTLY, "2026-03-02T00:59", False, id="before-start"),
        pytest.param(NIGHTLY, "2026-03-02T02:30", False, id="end-is-exclusive"),
        pytest.param(NIGHTLY, "2026-03-07T01:30", False, id="saturday-not-a-weekday-listed"),
        pytest.param(NIGHTLY, "2026-07-06T00:30", True, id="summer-time-same-local-window"),
        pytest.param(NIGHTLY, "2026-07-06T01:30", False, id="summer-time-end"),
        pytest.param(WORKDAY, "2026-01-05T07:30", False, id="winter-0830-local-before-window"),
        pytest.param(WORKDAY, "2026-07-06T07:30", True, id="summer-0930-local-inside-window"),
        pytest.param(FRIDAY_NIGHT, "2026-03-06T23:00", True, id="midnight-crossing-before-midnight"),
        pytest.param(FRIDAY_NIGHT, "2026-03-07T01:00", True, id="midnight-crossing-after-midnight-belongs-to-friday"),
        pytest.param(FRIDAY_NIGHT, "2026-03-07T02:00", False, id="midnight-crossing-end"),
        pytest.param(FRIDAY_NIGHT, "2026-03-06T01:00", False, id="friday-early-hours-belong-to-thursday"),
        pytest.param(FRIDAY_NIGHT, "2026-03-07T22:30", False, id="saturday-evening-not-listed"),
        pytest.param(SPRING, "2026-03-29T00:30", True, id="dst-spring-before-jump"),
        pytest.param(SPRING, "2026-03-29T01:30", True, id="dst-spring-after-jump"),
        pytest.param(SPRING, "2026-03-29T02:00", False, id="dst-spring-end-local-0400"),
        pytest.param(AUTUMN, "2026-10-25T00:30", True, id="dst-autumn-first-0230"),
        pytest.param(AUTUMN, "2026-10-25T01:30", True, id="dst-autumn-repeated-0230"),
        pytest.param(AUTUMN, "2026-10-25T02:00", False, id="dst-autumn-end"),
        pytest.param(SATURDAY_NY, "2026-03-07T03:00", False, id="zone-decides-weekday-friday-evening-in-ny"),
        pytest.param(SATURDAY_NY, "2026-03-07T08:00", True, id="zone-decides-weekday-saturday-in-ny"),
    ],
)
def test_maintenance_window_active(win: MaintenanceWindow, at: str, active: bool) -> None:
    """A window is active on its weekdays between start and end in its own time zone, across midnight and DST."""
    assert win.active(utc(at)) is active


def test_maintenance_window_matchers_select_alerts() -> None:
    """A window covers only alerts its matchers accept; an empty matcher list covers every alert."""
    at = utc("2026-03-02T01:30")
    assert NIGHTLY.covers({"service": "batch"}, at) and not NIGHTLY.covers({"service": "db"}, at)
    assert window("00:00", "23:59").covers({"anything": "x"}, at)
