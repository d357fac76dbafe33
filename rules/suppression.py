"""Why an alert starts no action: a silence, a maintenance window, or an inhibiting alert.

All three keep the alert stored and visible; none drops it. Inhibition follows
Alertmanager (``source_matchers``, ``target_matchers``, ``equal``): a target
is inhibited while a firing source alert with the same values of the ``equal``
labels exists, and is evaluated again when that source resolves. Maintenance
windows recur (weekdays and a time range in a time zone; a range may cross
midnight). Silences are ad hoc, created by people with a start and an end.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from alertflow.rules.matchers import Matcher, MatcherField, match_all
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alertflow.durations import TimeZoneName
from alertflow.models import Silence


class Weekday(str, enum.Enum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


class InhibitRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source_matchers: list[MatcherField] = Field(min_length=1)
    target_matchers: list[MatcherField] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list, description="labels whose values must be the same in source and target")

    def equal_values(self, labels: dict[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.equal)


class MaintenanceWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    matchers: list[MatcherField] = Field(default_factory=list, description="alerts it covers; empty = every alert")
    weekdays: list[Weekday] = Field(default_factory=lambda: list(Weekday), min_length=1)
    start: time
    end: time = Field(description="may be earlier than start: the window crosses midnight")
    timezone: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _not_empty(self) -> MaintenanceWindow:
        if self.start == self.end:
            raise ValueError("start and end are equal: the window would be empty (for all day, use 00:00 to 23:59)")
        return self

    def active(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        clock, day = local.time().replace(tzinfo=None), local.weekday()
        if self.start <= self.end:
            return self.start <= clock < self.end and self._day(day)
        # Crossing midnight: the part after midnight belongs to the previous day's window.
        return (clock >= self.start and self._day(day)) or (clock < self.end and self._day((day - 1) % 7))

    def _day(self, weekday: int) -> bool:
        return list(Weekday)[weekday] in self.weekdays

    def covers(self, labels: dict[str, str], at: datetime) -> bool:
        return match_all(self.matchers, labels) and self.active(at)


@dataclass(frozen=True)
class ActiveSilence:
    """A silence with its matchers parsed once, as the engine checks it per alert."""

    id: int
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    author: str

    @classmethod
    def of(cls, silence: Silence) -> ActiveSilence:
        return cls(silence.id, tuple(Matcher.parse(m) for m in silence.matchers), silence.starts_at, silence.ends_at, silence.author)

    def covers(self, labels: dict[str, str], at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at and all(m.matches(labels) for m in self.matchers)
