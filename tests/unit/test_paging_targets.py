"""How an escalation step's targets become deliveries, where PagerDuty keys are found, and what goes to a thread."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from alertflow.config.oncall import Recipient
from alertflow.config.settings import Settings
from alertflow.errors import PermanentIntegrationError
from alertflow.flows.notify import news
from alertflow.integrations.notifiers.pagerduty import routing_key
from alertflow.models import TimelineEntry, TimelineKind
from alertflow.paging.recipients import Delivery, alert_links, deliveries

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
SETTINGS = Settings(
    people={"alice": {"slack_user_id": "UALICE", "pagerduty_routing_key": "alice-key"}, "bob": {"slack_user_id": "UBOB"}, "dora": {}}
    | {"erin": {"notifiers": ["ops-hook"]}},
    notifiers={"ops-hook": {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret"}},
    schedules={
        "primary": {"layers": [{"people": ["alice"], "start": "2026-01-01"}]},
        "future": {"layers": [{"people": ["bob"], "start": "2099-01-01"}]},
    },
    escalation_policies={
        "p": {"steps": [{"notify": [{"person": "bob"}, {"pagerduty": "literal-key"}]}], "fallback": {"pagerduty": "default"}}
    },
)


@pytest.mark.parametrize(
    ("target", "expected", "why"),
    [
        ({"slack_channel": "#ops"}, [Delivery("0.slack", "slack", "#ops", "#ops")], ""),
        ({"person": "bob"}, [Delivery("0.slack", "slack", "bob", "UBOB")], ""),
        (
            {"schedule": "primary"},
            [
                Delivery("0.slack", "slack", "alice (on call for primary)", "UALICE"),
                Delivery("0.pagerduty", "pagerduty", "alice (on call for primary)", "person:alice"),
            ],
            "",
        ),
        ({"schedule": "future"}, [], "nobody is on call for future"),
        ({"person": "dora"}, [], "dora has no slack_user_id, pagerduty_routing_key or notifiers"),
        ({"notifier": "ops-hook"}, [Delivery("0.ops-hook", "ops-hook", "ops-hook", "ops-hook")], ""),
        ({"person": "erin"}, [Delivery("0.ops-hook", "ops-hook", "erin", "person:erin")], ""),
        ({"pagerduty": "default"}, [Delivery("0.pagerduty", "pagerduty", "PagerDuty (default service)", "policy:p:0.1")], ""),
    ],
)
def test_targets_become_deliveries(target: dict[str, str], expected: list[Delivery], why: str) -> None:
    """A schedule resolves to its on-call person now; a person to Slack DM and/or PagerDuty; nobody says why."""
    assert deliveries(Recipient.model_validate(target), "policy:p:0.1", 0, SETTINGS, NOW, SETTINGS.schedules) == (expected, why)


def test_routing_keys_are_found_where_configured_never_stored() -> None:
    """Addresses name where a key lives: a person's, a policy target's literal key, or the default (None)."""
    assert routing_key("person:alice", SETTINGS) == "alice-key"
    assert routing_key("policy:p:0.1", SETTINGS) == "literal-key"
    assert routing_key("policy:p:fallback", SETTINGS) is None
    assert "literal-key" not in str(Recipient(pagerduty="literal-key").label)


@pytest.mark.parametrize("address", ["person:carol", "policy:gone:0.0", "policy:p:9.0", "policy:p:x.y"])
def test_a_page_whose_target_left_the_config_is_a_permanent_error(address: str) -> None:
    """The config changed between the page and the ack: the page cannot be updated, and the flow records why."""
    with pytest.raises(PermanentIntegrationError, match="no longer in the config"):
        routing_key(address, SETTINGS)


def entry(kind: TimelineKind, summary: str, **data: object) -> TimelineEntry:
    return TimelineEntry(incident_id=1, at=NOW, kind=kind, summary=summary, data=data)


def test_major_events_go_to_the_thread_others_do_not() -> None:
    """Resolves, rollbacks and entries flagged major are threaded; routine steps are not."""
    assert news(entry(TimelineKind.resolve, "resolved by alice")) == ":large_green_circle: resolved by alice"
    assert news(entry(TimelineKind.rollback, "switch restored")) == "switch restored"
    assert news(entry(TimelineKind.failover, "switch verified serving standby", major=True)) == "switch verified serving standby"
    assert news(entry(TimelineKind.failover, "switch checkout: standby is healthy")) is None
    assert news(entry(TimelineKind.page, "paged bob on Slack")) is None


def test_alert_links_come_from_the_alert_entries() -> None:
    """The page links to the alerts' generator and runbook URLs, the latest alert's winning."""
    entries = [
        entry(TimelineKind.alert, "a", generator_url="http://prom/graph?1"),
        entry(TimelineKind.rule, "r", generator_url="http://ignored"),
        entry(TimelineKind.alert, "b", generator_url="http://prom/graph?2", runbook_url="http://wiki/runbook"),
    ]
    assert alert_links(entries) == {"Source": "http://prom/graph?2", "Runbook": "http://wiki/runbook"}
