"""Prometheus' postableAlerts into Alerts, and the Alertmanager API's shapes: fingerprints, resolution by endsAt, matchers, refusals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alertflow.api.alertmanager_shapes import (
    PostableMatcher,
    am_time,
    gettable_silence,
    matcher_json,
    matcher_text,
    parse_filter,
    silence_in_filter,
    silence_order,
)
from alertflow.errors import InputError
from alertflow.integrations.sources.prometheus import PrometheusSource, alertmanager_fingerprint
from alertflow.models import AlertStatus, Silence
from alertflow.rules.schema import Rule, key_labels

NOW = datetime(2026, 11, 27, 10, 0, 1, tzinfo=timezone.utc)
LABELS = {"alertname": "ServiceDown", "service": "checkout", "instance": "checkout-1:8080"}


def body(**fields: object) -> list[dict[str, object]]:
    return [{"labels": LABELS, **fields}]


def test_fingerprint_is_alertmanagers_own() -> None:
    """The fingerprint is Alertmanager 0.25's for the same labels (read from a real one), whatever their order."""
    assert alertmanager_fingerprint(LABELS) == "73ca54f40e976101"
    assert alertmanager_fingerprint(dict(reversed(LABELS.items()))) == "73ca54f40e976101"
    assert alertmanager_fingerprint({}) == "cbf29ce484222325"  # FNV-1a's offset basis: Alertmanager's empty label set


def test_endsat_decides_firing_or_resolved_and_empty_labels_are_no_labels() -> None:
    """endsAt ahead (or absent) fires, endsAt not after arrival resolves; an empty label value is dropped before the fingerprint."""
    source = PrometheusSource()
    [ahead] = source.parse(body(endsAt=(NOW + timedelta(minutes=4)).isoformat()), NOW)
    [absent] = source.parse(body(), NOW)
    [past] = source.parse(body(endsAt=NOW.isoformat(), startsAt="0001-01-01T00:00:00Z"), NOW)
    [empty] = source.parse([{"labels": {**LABELS, "team": ""}}], NOW)
    assert (ahead.status, absent.status, past.status) == (AlertStatus.firing, AlertStatus.firing, AlertStatus.resolved)
    assert ahead.ends_at == NOW + timedelta(minutes=4) and absent.ends_at is None and absent.starts_at == NOW
    assert past.starts_at == NOW  # no start given: it started when it ended, as in Alertmanager
    assert empty.labels == LABELS and empty.fingerprint == ahead.fingerprint == "73ca54f40e976101"
    assert ahead.service == "checkout" and ahead.severity.value == "warning" and ahead.raw == body(endsAt=ahead.raw["endsAt"])[0]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"alertname": "x"}, "body"),
        ([{"labels": {}}], "0.labels"),
        ([{"labels": {"service": "db"}}], "0.labels"),
        ([{"labels": {**LABELS, "9bad": "x"}}], "0.labels"),
        ([{"labels": LABELS, "annotations": {"a-b": "x"}}], "0.annotations"),
        ([{"labels": LABELS, "startsAt": "2026-11-27T10:00:00Z", "endsAt": "2026-11-27T09:00:00Z"}], "0.endsAt"),
        ([{"labels": LABELS}, {"labels": LABELS, "startsAt": "yesterday"}], "1.startsAt"),
        ([{"labels": {"alertname": 5}}], "0.labels.alertname"),
    ],
)
def test_refusals_name_the_field(payload: object, field: str) -> None:
    """A wrong body is refused whole, naming the first bad field (the index of the alert first)."""
    with pytest.raises(InputError) as refused:
        PrometheusSource().parse(payload, NOW)
    assert refused.value.field == field, refused.value


def test_matchers_convert_both_ways() -> None:
    """Alertmanager's matcher objects (isRegex, isEqual) become alertflow's syntax and back, escapes kept."""
    cases = [(False, True, "="), (False, False, "!="), (True, True, "=~"), (True, False, "!~")]
    for index, (regex, equal, op) in enumerate(cases):
        text = matcher_text(index, PostableMatcher(name="service", value='a"b\\c', isRegex=False, isEqual=equal) if not regex else
                            PostableMatcher(name="service", value="api|web", isRegex=True, isEqual=equal))  # fmt: skip
        assert text.startswith(f"service{op}")
        assert matcher_json(text) == {"name": "service", "value": 'a"b\\c' if not regex else "api|web", "isRegex": regex, "isEqual": equal}
    with pytest.raises(InputError) as bad_name:
        matcher_text(2, PostableMatcher(name="bad-name", value="x", isRegex=False))
    with pytest.raises(InputError) as bad_regex:
        matcher_text(0, PostableMatcher(name="a", value="(", isRegex=True))
    assert (bad_name.value.field, bad_regex.value.field) == ("matchers.2.name", "matchers.0.value")
    assert [str(m) for m in parse_filter(["alertname=Foo", '{env!~"stag.*"}'])] == ['alertname="Foo"', 'env!~"stag.*"']
    with pytest.raises(InputError, match="filter"):
        parse_filter(["not a matcher"])


def test_silences_in_alertmanagers_shape_filter_and_order() -> None:
    """State from the times, string ids, RFC 3339 with milliseconds; a filter must equal one of the silence's matchers."""
    hour = timedelta(hours=1)
    active = Silence(
        id=7, matchers=['service="db"', 'env=~"prod.*"'], starts_at=NOW - hour, ends_at=NOW + hour, author="a", created_at=NOW - hour
    )
    pending = Silence(id=8, matchers=['service="db"'], starts_at=NOW + hour, ends_at=NOW + 2 * hour, author="b")
    expired = Silence(id=9, matchers=['service="web"'], starts_at=NOW - 2 * hour, ends_at=NOW - hour, author="c", comment="done")
    shown = gettable_silence(active, NOW)
    assert shown["id"] == "7" and shown["status"] == {"state": "active"} and shown["endsAt"] == "2026-11-27T11:00:01.000Z"
    assert shown["matchers"][1] == {"name": "env", "value": "prod.*", "isRegex": True, "isEqual": True}
    assert (
        gettable_silence(expired, NOW)["updatedAt"] == am_time(expired.ends_at)
        and gettable_silence(pending, NOW)["status"]["state"] == "pending"
    )
    assert [s.id for s in sorted([expired, pending, active], key=lambda s: silence_order(s, NOW))] == [7, 8, 9]
    assert silence_in_filter(active, parse_filter(['service="db"'])) and not silence_in_filter(active, parse_filter(['service=~"db"']))
    assert not silence_in_filter(expired, parse_filter(["service=db"])) and silence_in_filter(expired, [])


def test_incident_keys_read_back_as_group_labels() -> None:
    """An incident key gives back its rule and the group_by labels that have a value, escapes undone."""
    rule = Rule(id="svc", description="d", group_by=["service", "zone", "team"])
    assert key_labels(rule.incident_key({"service": "a|b\\c", "team": "x=y"})) == ("svc", {"service": "a|b\\c", "team": "x=y"})
    assert key_labels(Rule(id="all", description="d").incident_key({"a": "1"})) == ("all", {})
