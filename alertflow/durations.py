"""Durations and time zones as people write them in rules and settings files: ``30s``, ``1h30m``, ``Europe/Berlin``.

Prometheus and Alertmanager users write ``group_wait: 30s``; a bare number is
seconds. Parsed into ``timedelta`` at load time, so the engine only compares times.
Time zones are IANA names, checked when the file loads (windows and schedules).
Times in the store and in the engine are aware and in UTC: ``utcnow``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_LONGEST = 100 * 365 * 86400.0
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_duration(value: Any) -> timedelta:
    """``"1h30m"`` → 90 minutes; numbers are seconds; raises ValueError naming the text."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("a duration is a number of seconds or text such as 30s, 5m, 1h30m")
    if isinstance(value, (int, float)) or re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        seconds = float(value)
    else:
        text = value.strip()
        if not text or _PART.sub("", text):
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h30m, 2d)")
        seconds = sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in _PART.findall(text))
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if not seconds <= _LONGEST:  # also catches inf and nan
        raise ValueError("a duration must be at most 100 years")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def format_span(seconds: float) -> str:
    """A measured span as people read it in reports: ``45s``, ``4m 10s``, ``2h 05m``, ``3d 4h``."""
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["30s", "5m", "1h"]}),
]


def known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(known_time_zone)]  # an IANA name, checked when loaded (schedules use it too)
