"""On-call schedules and escalation policies: the YAML models and "who is on call at T".

Paging must know a person, not a team, and must know it at 3 a.m. without a
network call: this is pure Python over the settings file (no I/O, no clock of
its own), so every hand-off rule is pinned by table-driven unit tests.

A schedule has layers; each layer rotates a list of people in shifts of a day,
a week or a custom length, handing off at a wall-clock time in the schedule's
time zone (so a 09:00 hand-off stays 09:00 across daylight-saving changes). A
layer may be restricted to some hours and days. Later layers win over earlier
ones where they have someone on call (a weekend layer over the weekday one),
and overrides (a temporary swap) win over every layer; the last matching
override wins.

An escalation policy is ordered steps, each notifying one or more targets (a
schedule's current on-call, a person, a Slack channel, PagerDuty, a named
notifier such as an outgoing webhook) and then
waiting for an acknowledgement before the next step; the whole list repeats
``repeat`` times. Names are checked against the people and schedules defined
next to them, so a typo fails ``alertflow rules check``, not an incident.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from itertools import pairwise
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

from alertflow.durations import Duration, TimeZoneName
from alertflow.yamlmodel import LocatedValueError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RotationKind(str, enum.Enum):
    daily = "daily"
    weekly = "weekly"
    custom = "custom"


def _weekday(value: Any) -> Any:
    return value.strip().lower()[:3] if isinstance(value, str) else value


def _clock(value: Any) -> Any:
    """YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080: read it back as the time people wrote."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 24 * 60:
            raise ValueError("a time of day is written HH:MM (quote it if in doubt: '18:00')")
        return time(*divmod(value, 60))
    return value


Clock = Annotated[time, BeforeValidator(_clock)]
Weekday = Annotated[str, BeforeValidator(_weekday), Field(pattern="^(mon|tue|wed|thu|fri|sat|sun)$")]


class Restriction(_Model):
    """On call only inside a daily window, on some days; ``until`` at or before ``from`` crosses midnight."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: Clock = Field(alias="from")
    until: Clock = Field(alias="to")
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)

    def covers(self, local: datetime) -> bool:
        clock = local.time()
        if self.start < self.until:
            return WEEKDAYS[local.weekday()] in self.days and self.start <= clock < self.until
        if clock >= self.start:  # the evening part of an overnight window belongs to this day
            return WEEKDAYS[local.weekday()] in self.days
        return clock < self.until and WEEKDAYS[(local.weekday() - 1) % 7] in self.days

    def edges(self, day: date) -> list[datetime]:
        return [datetime.combine(day, self.start), datetime.combine(day, self.until)]


class Layer(_Model):
    name: str | None = None
    people: list[str] = Field(min_length=1, description="in rotation order")
    rotation: RotationKind = RotationKind.weekly
    shift: Duration | None = Field(None, description="shift length of a custom rotation, e.g. 12h")
    handoff: Clock = Field(time(9, 0), description="wall-clock hand-off time in the schedule's time zone")
    start: date = Field(description="the day the first person's first shift begins (at the hand-off time)")
    end: datetime | None = Field(None, description="the layer stops here (local time)")
    restrict: Restriction | None = None

    @model_validator(mode="after")
    def _shift_fits_rotation(self) -> Layer:
        if self.rotation is RotationKind.custom and self.shift is None:
            raise LocatedValueError(("shift",), "a custom rotation needs a shift length, e.g. shift: 12h")
        if self.rotation is not RotationKind.custom and self.shift is not None:
            raise LocatedValueError(("shift",), f"shift is only for custom rotations ({self.rotation.value} is fixed)")
        if self.shift is not None and self.shift < timedelta(minutes=1):
            raise LocatedValueError(("shift",), "a shift must be at least 1m")
        if self.end is not None and self.end.tzinfo is not None:
            raise LocatedValueError(("end",), "write end as local time in the schedule's zone, without an offset")
        return self

    @property
    def length(self) -> timedelta:
        return self.shift or timedelta(days=1 if self.rotation is RotationKind.daily else 7)

    @property
    def anchor(self) -> datetime:
        return datetime.combine(self.start, self.handoff)

    def person_at(self, local: datetime) -> str | None:
        """Who this layer has on call at a naive local time, if anyone."""
        if local < self.anchor or (self.end and local >= self.end):
            return None
        if self.restrict and not self.restrict.covers(local):
            return None
        return self.people[((local - self.anchor) // self.length) % len(self.people)]

    def edges(self, start: datetime, end: datetime) -> list[datetime]:
        """Naive local instants in [start, end) where this layer's answer may change."""
        found = [self.anchor] + ([self.end] if self.end else [])
        k = max(0, (start - self.anchor) // self.length)  # the shift under way at start
        while (at := self.anchor + k * self.length) < end:
            found.append(at)
            k += 1
        if self.restrict:
            day = start.date() - timedelta(days=1)
            while day <= end.date():
                found += self.restrict.edges(day)
                day += timedelta(days=1)
        return [at for at in found if start <= at < end]


class Override(_Model):
    person: str
    start: datetime = Field(description="local time in the schedule's zone, unless an offset is given")
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.end <= self.start:
            raise LocatedValueError(("end",), "an override must end after it starts")
        return self

    @property
    def source(self) -> str:
        return "override"  # one stored in the database names itself (alertflow/store/overrides.py)


class Schedule(_Model):
    time_zone: TimeZoneName = "UTC"
    layers: list[Layer] = Field(min_length=1)
    overrides: list[Override] = []

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.time_zone)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone).replace(tzinfo=None)

    def aware(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.zone) if local.tzinfo is None else local


@dataclass(frozen=True)
class Shift:
    person: str | None
    start: datetime
    end: datetime
    source: str  # "override" or the layer's name


def on_call(schedule: Schedule, at: datetime) -> tuple[str | None, str]:
    """(person, why) at an aware instant: the last matching override, else the last layer with someone on."""
    for override in reversed(schedule.overrides):
        if schedule.aware(override.start) <= at < schedule.aware(override.end):
            return override.person, override.source
    local = schedule.local(at)
    for index in range(len(schedule.layers) - 1, -1, -1):
        layer = schedule.layers[index]
        person = layer.person_at(local)
        if person is not None:
            return person, layer.name or f"layer {index + 1}"
    return None, "nobody"


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The shifts between two aware instants, adjacent equal ones merged, for ``alertflow oncall show``."""
    local_start, local_end = schedule.local(start), schedule.local(end)
    instants = {start, end}
    for layer in schedule.layers:
        instants.update(schedule.aware(at) for at in layer.edges(local_start, local_end))
    for override in schedule.overrides:
        instants.update(schedule.aware(at) for at in (override.start, override.end))
    points = sorted(at for at in instants if start <= at <= end)
    found: list[Shift] = []
    for begin, finish in pairwise(points):
        person, source = on_call(schedule, begin)
        if found and found[-1].person == person and found[-1].source == source:
            found[-1] = Shift(person, found[-1].start, finish, source)
        else:
            found.append(Shift(person, begin, finish, source))
    return found


class Recipient(_Model):
    """Exactly one of: a schedule's current on-call, a person, a Slack channel, a PagerDuty service, a named notifier."""

    schedule: str | None = None
    person: str | None = None
    slack_channel: str | None = None
    pagerduty: SecretStr | None = Field(None, description='"default" (the configured routing key) or a routing key')
    notifier: str | None = Field(None, description="a notifier under notifiers: (e.g. an outgoing webhook)")

    @model_validator(mode="after")
    def _exactly_one(self) -> Recipient:
        given = [name for name in RECIPIENT_KINDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a target names exactly one of {', '.join(RECIPIENT_KINDS)} (got {given or 'none'})")
        return self

    @property
    def label(self) -> str:
        if self.pagerduty is not None:
            return "pagerduty:default" if self.pagerduty.get_secret_value() == "default" else "pagerduty:routing key"
        name = next(n for n in RECIPIENT_KINDS if getattr(self, n) is not None)
        return f"{name}:{getattr(self, name)}"


RECIPIENT_KINDS = ("schedule", "person", "slack_channel", "pagerduty", "notifier")


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class Step(_Model):
    notify: Annotated[list[Recipient], BeforeValidator(_one_or_many)] = Field(min_length=1)
    wait: Duration = Field(timedelta(minutes=5), description="how long to wait for an acknowledgement before the next step")


class EscalationPolicy(_Model):
    steps: list[Step] = Field(min_length=1)
    repeat: int = Field(1, ge=1, le=20, description="times through the steps (1 = once)")
    fallback: Recipient | None = Field(None, description="notified when the last step reached nobody (e.g. Slack is down)")

    @classmethod
    def single_page(cls, channel: str) -> EscalationPolicy:
        """A rule's paging action without a policy (v1's behaviour): one Slack message to a channel, no wait."""
        return cls(steps=[Step(notify=[Recipient(slack_channel=channel)], wait=timedelta(0))])

    def targets(self) -> list[tuple[tuple[Any, ...], Recipient]]:
        found = [(("steps", i, "notify", j), t) for i, step in enumerate(self.steps) for j, t in enumerate(step.notify)]
        return found + ([(("fallback",), self.fallback)] if self.fallback else [])


def check_references(
    people: dict[str, Any], schedules: dict[str, Schedule], policies: dict[str, EscalationPolicy], notifiers: tuple[str, ...] = ()
) -> None:
    """Every name a schedule, policy or person uses is defined; raises LocatedValueError at the first that is not."""
    for name, person in people.items():
        for i, notifier in enumerate(getattr(person, "notifiers", [])):
            if notifier not in notifiers:
                raise LocatedValueError(("people", name, "notifiers", i), f"no notifier {notifier!r} under notifiers:")
    for name, schedule in schedules.items():
        for i, layer in enumerate(schedule.layers):
            for j, person in enumerate(layer.people):
                if person not in people:
                    raise LocatedValueError(("schedules", name, "layers", i, "people", j), f"no person {person!r} under people:")
        for i, override in enumerate(schedule.overrides):
            if override.person not in people:
                raise LocatedValueError(("schedules", name, "overrides", i, "person"), f"no person {override.person!r} under people:")
    for name, policy in policies.items():
        for loc, target in policy.targets():
            if target.schedule is not None and target.schedule not in schedules:
                raise LocatedValueError(
                    ("escalation_policies", name, *loc, "schedule"), f"no schedule {target.schedule!r} under schedules:"
                )
            if target.person is not None and target.person not in people:
                raise LocatedValueError(("escalation_policies", name, *loc, "person"), f"no person {target.person!r} under people:")
            if target.notifier is not None and target.notifier not in notifiers:
                raise LocatedValueError(
                    ("escalation_policies", name, *loc, "notifier"), f"no notifier {target.notifier!r} under notifiers:"
                )
