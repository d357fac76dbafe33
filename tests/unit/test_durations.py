"""alertflow/durations.py: durations as people write them in rules files (30s, 5m, 1h30m, 2d, seconds)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from alertflow.durations import format_duration, parse_duration
from alertflow.errors import ConfigError
from alertflow.rules import parse_rules


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("30s", timedelta(seconds=30), id="seconds"),
        pytest.param("5m", timedelta(minutes=5), id="minutes"),
        pytest.param("1h30m", timedelta(minutes=90), id="hours-and-minutes"),
        pytest.param("2d", timedelta(days=2), id="days"),
        pytest.param("1w", timedelta(weeks=1), id="weeks"),
        pytest.param("500ms", timedelta(milliseconds=500), id="milliseconds"),
        pytest.param("1m500ms", timedelta(seconds=60.5), id="minutes-and-milliseconds"),
        pytest.param("1.5h", timedelta(minutes=90), id="fractional"),
        pytest.param(" 5m ", timedelta(minutes=5), id="surrounding-space"),
        pytest.param("0s", timedelta(0), id="zero"),
        pytest.param(90, timedelta(seconds=90), id="int-seconds"),
        pytest.param(1.5, timedelta(seconds=1.5), id="float-seconds"),
        pytest.param(0, timedelta(0), id="zero-number"),
        pytest.param(timedelta(minutes=3), timedelta(minutes=3), id="timedelta-passes-through"),
    ],
)
def test_parse_duration(text: Any, expected: timedelta) -> None:
    """Units ms s m h d w combine; a number is seconds."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("5x", "not a duration: '5x'", id="unknown-unit"),
        pytest.param("", "not a duration: ''", id="empty"),
        pytest.param("   ", "not a duration", id="blank"),
        pytest.param("m", "not a duration", id="unit-without-number"),
        pytest.param("5m junk", "not a duration", id="trailing-text"),
        pytest.param("1h 30m", "not a duration", id="inner-space"),
        pytest.param("-5s", "not a duration", id="negative-text"),
        pytest.param(-1, "cannot be negative", id="negative-number"),
        pytest.param(-0.5, "cannot be negative", id="negative-float"),
        pytest.param(True, "number of seconds", id="bool"),
        pytest.param(None, "number of seconds", id="none"),
        pytest.param([5], "number of seconds", id="list"),
        pytest.param(float("nan"), None, id="nan"),
        pytest.param(float("inf"), None, id="infinity"),
        pytest.param(1e20, None, id="too-large-number"),
        pytest.param("99999999999d", None, id="too-large-text"),
    ],
)
def test_parse_duration_rejects(value: Any, message: str | None) -> None:
    """Anything that is not a non-negative, representable duration raises ValueError."""
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


@pytest.mark.parametrize("value", ["5x", "-1", ".inf", "99999999999d"])
def test_bad_duration_in_a_rules_file_is_a_located_error(value: str) -> None:
    """A bad duration in a rules file is a ConfigError naming file, line and field, never a crash."""
    with pytest.raises(ConfigError, match=r"rules\.yaml:1:\d+: rules\.0\.group_wait: "):
        parse_rules(f"rules: [{{id: r, description: d, group_wait: {value}}}]", "rules.yaml")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(timedelta(seconds=30), "30s", id="seconds"),
        pytest.param(timedelta(minutes=5), "5m", id="minutes"),
        pytest.param(timedelta(minutes=90), "90m", id="not-whole-hours"),
        pytest.param(timedelta(hours=2), "2h", id="hours"),
        pytest.param(timedelta(days=2), "2d", id="days"),
        pytest.param(timedelta(seconds=90), "90s", id="not-whole-minutes"),
        pytest.param(timedelta(milliseconds=500), "0.5s", id="sub-second"),
        pytest.param(timedelta(0), "0s", id="zero"),
    ],
)
def test_format_duration_round_trips(value: timedelta, text: str) -> None:
    """Durations print in the largest whole unit and parse back to the same value."""
    assert format_duration(value) == text
    assert parse_duration(text) == value
