"""Who is on call: rotations, hand-offs, time zones, layers, restrictions, overrides; policy validation."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from alertflow.config.oncall import EscalationPolicy, Schedule, on_call, shifts
from alertflow.errors import ConfigError
from alertflow.yamlmodel import validate_yaml

BERLIN = ZoneInfo("Europe/Berlin")
PEOPLE = {name: {} for name in ("alice", "bob", "carol", "dave")}

WEEKLY = Schedule.model_validate(
    {
        "time_zone": "Europe/Berlin",
        "layers": [
            {"name": "weekly", "people": ["alice", "bob", "carol"], "rotation": "weekly", "start": "2026-11-02", "handoff": "09:00"}
        ],
    }
)
DAILY = Schedule.model_validate(
    {
        "time_zone": "America/New_York",
        "layers": [{"people": ["alice", "bob"], "rotation": "daily", "start": "2026-10-30", "handoff": "18:00"}],
    }
)
CUSTOM = Schedule.model_validate(
    {"layers": [{"people": ["alice", "bob", "carol"], "rotation": "custom", "shift": "12h", "start": "2026-11-27"}]}
)
LAYERED = Schedule.model_validate(
    {
        "time_zone": "Europe/Berlin",
        "layers": [
            {"name": "base", "people": ["alice", "bob"], "rotation": "weekly", "start": "2026-11-02"},
            {
                "name": "nights",
                "people": ["carol"],
                "rotation": "daily",
                "start": "2026-11-01",
                "restrict": {"from": "22:00", "to": "06:00"},
            },
            {
                "name": "weekend",
                "people": ["dave"],
                "start": "2026-11-01",
                "restrict": {"from": "00:00", "to": "00:00", "days": ["sat", "sun"]},
            },
        ],
        "overrides": [{"person": "bob", "start": "2026-11-27T12:00", "end": "2026-11-27T14:00"}],
    }
)


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("schedule", "at", "expected"),
    [
        (WEEKLY, berlin("2026-11-01T12:00"), (None, "nobody")),  # before the rotation starts
        (WEEKLY, berlin("2026-11-02T08:59"), (None, "nobody")),
        (WEEKLY, berlin("2026-11-02T09:00"), ("alice", "weekly")),
        (WEEKLY, berlin("2026-11-09T08:59"), ("alice", "weekly")),
        (WEEKLY, berlin("2026-11-09T09:00"), ("bob", "weekly")),
        (WEEKLY, berlin("2026-11-23T09:00"), ("alice", "weekly")),  # wraps around after three weeks
        (WEEKLY, datetime(2026, 11, 9, 8, 0, tzinfo=timezone.utc), ("bob", "weekly")),  # 09:00 Berlin is 08:00 UTC in winter
        # 18:00 New York hand-off stays 18:00 local across the DST change on 2026-11-01
        (DAILY, datetime(2026, 10, 31, 22, 0, tzinfo=timezone.utc), ("bob", "layer 1")),  # 18:00 EDT
        (DAILY, datetime(2026, 11, 1, 22, 59, tzinfo=timezone.utc), ("bob", "layer 1")),  # 17:59 EST
        (DAILY, datetime(2026, 11, 1, 23, 0, tzinfo=timezone.utc), ("alice", "layer 1")),  # 18:00 EST
        (CUSTOM, datetime(2026, 11, 27, 20, 59, tzinfo=timezone.utc), ("alice", "layer 1")),
        (CUSTOM, datetime(2026, 11, 27, 21, 0, tzinfo=timezone.utc), ("bob", "layer 1")),
        (CUSTOM, datetime(2026, 11, 28, 21, 0, tzinfo=timezone.utc), ("alice", "layer 1")),
        (LAYERED, berlin("2026-11-26T10:00"), ("bob", "base")),  # Thursday, week 4: bob
        (LAYERED, berlin("2026-11-26T23:00"), ("carol", "nights")),  # a higher layer wins where it is on
        (LAYERED, berlin("2026-11-27T05:59"), ("carol", "nights")),  # overnight window, morning part
        (LAYERED, berlin("2026-11-27T06:00"), ("bob", "base")),
        (LAYERED, berlin("2026-11-27T12:30"), ("bob", "override")),
        (LAYERED, berlin("2026-11-28T12:00"), ("dave", "weekend")),  # Saturday
        (LAYERED, berlin("2026-11-28T23:00"), ("dave", "weekend")),  # weekend is above nights
        (LAYERED, berlin("2026-11-30T01:00"), ("carol", "nights")),  # Monday early: Sunday's night shift
    ],
)
def test_who_is_on_call(schedule: Schedule, at: datetime, expected: tuple[str | None, str]) -> None:
    """on_call picks the override, else the highest layer with someone on, by wall-clock hand-offs in the zone."""
    assert on_call(schedule, at) == expected


def test_a_layer_ends_where_it_says() -> None:
    """After its end a layer has nobody on, and the earlier layer answers again; end must be local time."""
    schedule = Schedule.model_validate(
        {
            "layers": [
                {"people": ["alice"], "start": "2026-11-01"},
                {"name": "temp", "people": ["bob"], "start": "2026-11-20", "end": "2026-11-25T09:00"},
            ]
        }
    )
    assert on_call(schedule, datetime(2026, 11, 25, 8, 59, tzinfo=timezone.utc)) == ("bob", "temp")
    assert on_call(schedule, datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)) == ("alice", "layer 1")
    assert [
        s.person for s in shifts(schedule, datetime(2026, 11, 24, tzinfo=timezone.utc), datetime(2026, 11, 26, tzinfo=timezone.utc))
    ] == ["bob", "alice"]
    with pytest.raises(ConfigError, match=r"layers\.0\.end: write end as local time"):
        validate_yaml(Schedule, "layers: [{people: [a], start: 2026-11-01, end: '2026-11-25T09:00+01:00'}]", "s")


def test_override_wins_over_every_layer_and_last_override_wins() -> None:
    """Overrides beat layers; of two overlapping overrides the later-listed one wins."""
    extra = {"person": "alice", "start": "2026-11-27T13:00", "end": "2026-11-27T13:30"}
    schedule = Schedule.model_validate({**LAYERED.model_dump(by_alias=True), "overrides": [*LAYERED.model_dump()["overrides"], extra]})
    assert on_call(schedule, berlin("2026-11-27T13:10")) == ("alice", "override")
    assert on_call(schedule, berlin("2026-11-27T13:40")) == ("bob", "override")


def test_shifts_lists_coming_hand_offs_merged() -> None:
    """shifts() lists each hand-off in the window once, merging equal neighbours."""
    found = shifts(WEEKLY, berlin("2026-11-08T00:00"), berlin("2026-11-20T00:00"))
    assert [(s.person, s.start.astimezone(BERLIN).isoformat()[:16], s.end.astimezone(BERLIN).isoformat()[:16]) for s in found] == [
        ("alice", "2026-11-08T00:00", "2026-11-09T09:00"),
        ("bob", "2026-11-09T09:00", "2026-11-16T09:00"),
        ("carol", "2026-11-16T09:00", "2026-11-20T00:00"),
    ]


def test_shifts_include_layers_restrictions_and_overrides() -> None:
    """A day of the layered schedule: night shift, base, the override, base again, night shift."""
    found = shifts(LAYERED, berlin("2026-11-27T00:00"), berlin("2026-11-28T00:00"))
    assert [(s.person, s.source, s.start.astimezone(BERLIN).strftime("%H:%M")) for s in found] == [
        ("carol", "nights", "00:00"),
        ("bob", "base", "06:00"),
        ("bob", "override", "12:00"),
        ("bob", "base", "14:00"),
        ("carol", "nights", "22:00"),
    ]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "layers: [{people: [alice], rotation: custom, start: 2026-11-01}]",
            "x.yaml:1:10: layers.0.shift: a custom rotation needs a shift length",
        ),
        ("time_zone: Mars/Olympus\nlayers: [{people: [a], start: 2026-11-01}]", "x.yaml:1:12: time_zone: Value error, unknown time zone"),
        ("layers: []", "x.yaml:1:9: layers: List should have at least 1 item"),
        ("layers:\n- people: [a]\n  start: 2026-11-01\n  handoff: 25:00", "x.yaml:4:12: layers.0.handoff: a time of day is written HH:MM"),
        (
            "layers:\n- people: [a]\n  start: 2026-11-01\n  handoff: 9am",
            "x.yaml:4:12: layers.0.handoff: Input should be in a valid time format",
        ),
        (
            "layers: [{people: [a], start: 2026-11-01}]\noverrides:\n- {person: a, start: 2026-11-02T10:00, end: 2026-11-02T09:00}",
            "x.yaml:3:45: overrides.0.end: an override must end after it starts",
        ),
    ],
)
def test_invalid_schedules_name_the_line(yaml_text: str, expected: str) -> None:
    """Schedule mistakes are reported as file:line:col: path: message."""
    with pytest.raises(ConfigError) as err:
        validate_yaml(Schedule, yaml_text, "x.yaml")
    assert str(err.value).startswith(expected.replace("Value error, ", ""))


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("steps: [{notify: {schedule: s, person: p}}]", "steps.0.notify.0: a target names exactly one of"),
        ("steps: [{notify: {}}]", "steps.0.notify.0: a target names exactly one of"),
        ("steps: []", "steps: List should have at least 1 item"),
        ("steps: [{notify: {person: a}, wait: soon}]", "steps.0.wait: not a duration"),
        ("repeat: 0\nsteps: [{notify: {person: a}}]", "repeat: Input should be greater than or equal to 1"),
    ],
)
def test_invalid_policies_name_the_field(yaml_text: str, expected: str) -> None:
    """Policy mistakes name the step and target that is wrong."""
    with pytest.raises(ConfigError) as err:
        validate_yaml(EscalationPolicy, yaml_text, "p.yaml")
    assert expected in str(err.value)


def test_unquoted_yaml_times_read_as_written() -> None:
    """YAML 1.1 turns an unquoted 18:00 into 1080; the schedule still hands off at 18:00."""
    schedule = validate_yaml(
        Schedule, "layers: [{people: [a], start: 2026-11-01, handoff: 18:30, restrict: {from: 22:00, to: 06:00}}]", "s"
    )
    layer = schedule.layers[0]
    assert (layer.handoff.isoformat(), layer.restrict.start.isoformat(), layer.restrict.until.isoformat()) == (
        "18:30:00",
        "22:00:00",
        "06:00:00",
    )


def test_single_target_and_durations() -> None:
    """notify takes one target or a list; wait takes 30s/5m; repeat defaults to once."""
    policy = validate_yaml(
        EscalationPolicy, "steps: [{notify: {person: a}, wait: 90s}, {notify: [{schedule: s}, {slack_channel: '#ops'}]}]", "p"
    )
    assert [len(s.notify) for s in policy.steps] == [1, 2] and policy.steps[0].wait.total_seconds() == 90 and policy.repeat == 1
    assert policy.steps[1].wait.total_seconds() == 300


def test_settings_reject_unknown_names_with_their_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A schedule naming an unknown person, or a policy an unknown schedule, fails loading at that line."""
    from alertflow.config.settings import load_settings

    path = tmp_path / "c.yaml"
    path.write_text(
        "people: {alice: {}}\n"
        "schedules:\n  primary:\n    layers: [{people: [alice], start: 2026-11-01}]\n"
        "escalation_policies:\n  default:\n    steps:\n    - notify: {schedule: secondary}\n"
    )
    with pytest.raises(ConfigError, match=r"c.yaml:8:26: escalation_policies.default.steps.0.notify.schedule: no schedule 'secondary'"):
        load_settings(path)
    path.write_text("people: {alice: {}}\nschedules:\n  primary:\n    layers:\n    - people: [alice, bob]\n      start: 2026-11-01\n")
    with pytest.raises(ConfigError, match=r"c.yaml:5:23: schedules.primary.layers.0.people.1: no person 'bob'"):
        load_settings(path)
