"""Alertmanager API v2's JSON shapes and matcher rules, so its clients read alertflow as one of theirs.

Why apart from the routes: the shapes (api/v2/openapi.yaml: gettableAlert,
alertGroup, gettableSilence, postableSilence, matcher) are a contract of their
own, checked by tests against what the real amtool parses. Times are RFC 3339
in UTC with milliseconds, as Alertmanager writes them; silence ids are strings
there (alertflow's numbers, written as text). Matchers convert both ways with
alertflow's own syntax (rules/matchers.py: ``=``, ``!=``, ``=~``, ``!~``), and
``filter`` follows Alertmanager: on alerts, every matcher must match the
labels; on silences, each must equal one of the silence's matchers.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alertflow.errors import InputError
from alertflow.integrations.sources.prometheus import LABEL_NAME
from alertflow.models import Silence
from alertflow.rules.matchers import Matcher, Op
from alertflow.store.firing import Firing

ZERO_TIME = "0001-01-01T00:00:00.000Z"  # Go's zero time: Alertmanager's "no end"
NO_RULE = "alertflow"  # the receiver of alerts no rule holds yet (held back, or not decided)


def am_time(value: datetime | None) -> str:
    if value is None:
        return ZERO_TIME
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def gettable_alert(firing: Firing, silenced_by: list[str]) -> dict[str, Any]:
    alert = firing.alert
    shown: dict[str, Any] = {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": am_time(alert.starts_at),
        "endsAt": am_time(alert.ends_at),
        "updatedAt": am_time(firing.updated_at),
        "fingerprint": alert.fingerprint,
        "receivers": [{"name": firing.rule_id or NO_RULE}],
        "status": {
            "state": firing.state,
            "silencedBy": silenced_by,
            "inhibitedBy": [firing.inhibited_by] if firing.held == "inhibited" and firing.inhibited_by else [],
        },
    }
    if alert.generator_url:
        shown["generatorURL"] = alert.generator_url
    return shown


def parse_filter(filters: list[str], field: str = "filter") -> list[Matcher]:
    """``filter`` query values (``alertname=Foo``, ``env!~"stag.*"``) as matchers, or a 422 naming the value."""
    matchers = []
    for text in filters:
        try:
            matchers.append(Matcher.parse(text.strip().removeprefix("{").removesuffix("}")))
        except ValueError as err:
            raise InputError(f"{field}: {err}", field=field) from None
    return matchers


# -- silences ------------------------------------------------------------------


class PostableMatcher(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    value: str
    isRegex: bool
    isEqual: bool = True


class PostableSilence(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None  # set: replace that silence (amtool silence update)
    matchers: list[PostableMatcher] = Field(min_length=1)
    startsAt: AwareDatetime
    endsAt: AwareDatetime
    createdBy: str = Field(min_length=1, max_length=256)
    comment: str = Field(max_length=2000)


def matcher_text(index: int, matcher: PostableMatcher) -> str:
    """An Alertmanager matcher object in alertflow's syntax (``service="db"``), checked as the engine will parse it."""
    if not LABEL_NAME.match(matcher.name):
        raise InputError(f"matchers.{index}.name: {matcher.name!r} is not a label name", field=f"matchers.{index}.name")
    op = {(False, True): Op.eq, (False, False): Op.ne, (True, True): Op.re, (True, False): Op.nre}[(matcher.isRegex, matcher.isEqual)]
    text = str(Matcher(matcher.name, op, matcher.value))
    try:
        Matcher.parse(text)
    except ValueError as err:
        raise InputError(f"matchers.{index}.value: {err}", field=f"matchers.{index}.value") from None
    return text


def matcher_json(text: str) -> dict[str, Any]:
    matcher = Matcher.parse(text)
    return {"name": matcher.name, "value": matcher.value, "isRegex": matcher.op in (Op.re, Op.nre), "isEqual": matcher.op in (Op.eq, Op.re)}


def silence_state(silence: Silence, now: datetime) -> str:
    return "expired" if silence.ends_at <= now else "pending" if silence.starts_at > now else "active"


def gettable_silence(silence: Silence, now: datetime) -> dict[str, Any]:
    state = silence_state(silence, now)
    updated = silence.ends_at if state == "expired" else silence.created_at or silence.starts_at
    return {
        "id": str(silence.id),
        "status": {"state": state},
        "updatedAt": am_time(updated),
        "matchers": [matcher_json(text) for text in silence.matchers],
        "startsAt": am_time(silence.starts_at),
        "endsAt": am_time(silence.ends_at),
        "createdBy": silence.author,
        "comment": silence.comment,
    }


def silence_in_filter(silence: Silence, filters: list[Matcher]) -> bool:
    """Alertmanager's rule: every filter matcher equals (name, operator, value) one of the silence's matchers."""
    own = {(m.name, m.op, m.value) for m in map(Matcher.parse, silence.matchers)}
    return all((f.name, f.op, f.value) in own for f in filters)


STATE_ORDER = {"active": 0, "pending": 1, "expired": 2}


def silence_order(silence: Silence, now: datetime) -> tuple[int, float]:
    """Alertmanager's order: active (next to end first), pending (next to start first), expired (latest first)."""
    state = silence_state(silence, now)
    at = {"active": silence.ends_at.timestamp(), "pending": silence.starts_at.timestamp(), "expired": -silence.ends_at.timestamp()}
    return STATE_ORDER[state], at[state]
