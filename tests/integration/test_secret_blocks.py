"""``prefect-secret:NAME`` works for the notifiers' secrets as for the switches' and runbooks': one resolver.

Each secret is a real Prefect Secret block on the test server, and the peer it
authenticates to (the sandbox's Slack, the fake PagerDuty, our own API checking
a Slack click) only accepts the block's value, so a secret passed through
unresolved would fail the test.
"""

from __future__ import annotations

import asyncio

import pytest
from prefect.blocks.system import Secret

from alertflow.flows import page_oncall
from alertflow.models import IncidentStatus, PagingAction
from tests.fake_pagerduty import ROUTING_KEY
from tests.fake_slack import SIGNING_SECRET, block_actions, click
from tests.integration.test_paging import posts, resolve, until
from tests.support import ApiThread

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]
ERIN_KEY = "0123456789abcdef0123456789abcdef"  # the fake PagerDuty wants 32 characters


async def test_slack_token_and_pagerduty_routing_keys_are_read_from_secret_blocks(sandbox, incident, make_config, pagerduty) -> None:  # type: ignore[no-untyped-def]
    """The Slack bot token, PagerDuty's default routing key and a person's own key, each ``prefect-secret:NAME``, reach
    Slack and PagerDuty as the blocks' values, for the page and for its acknowledgement; the timeline holds none of them."""
    store, incident_id = incident
    for name, value in (("slack-bot", "xoxb-test-token"), ("pd-default", ROUTING_KEY), ("pd-erin", ERIN_KEY)):
        await Secret(value=value).save(name, overwrite=True)
    slack = {"token": "prefect-secret:slack-bot", "base_url": f"{sandbox.url}/slack/api/"}
    targets = [{"slack_channel": "#ops"}, {"person": "erin"}, {"pagerduty": "default"}]
    make_config(
        sandbox,
        database_url=store.url,
        slack=slack,
        pagerduty={"events_url": pagerduty.events_url, "routing_key": "prefect-secret:pd-default"},
        people={"erin": {"pagerduty_routing_key": "prefect-secret:pd-erin"}},
        escalation_policies={"p": {"steps": [{"notify": targets, "wait": "60s"}]}},
    )
    run = asyncio.create_task(page_oncall(incident_id, PagingAction(params={"policy": "p"})))
    await until(lambda: len(pagerduty.state.accepted) == 2 and posts(sandbox), what="the Slack page and both PagerDuty triggers")
    await resolve(store, incident_id, IncidentStatus.acknowledged)
    await until(lambda: len(pagerduty.state.accepted) == 4, what="both PagerDuty acknowledgements")
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    assert [p["channel"] for p in posts(sandbox)] == ["#ops"], "the sandbox answers invalid_auth to any other token"
    sent = [(e["event_action"], e["routing_key"]) for e in pagerduty.state.accepted]
    assert sorted(sent[:2]) == sorted([("trigger", ERIN_KEY), ("trigger", ROUTING_KEY)])
    assert sorted(sent[2:4]) == sorted([("acknowledge", ERIN_KEY), ("acknowledge", ROUTING_KEY)])
    timeline = str([(e.summary, e.data) for e in await store.get_timeline(incident_id)])
    assert not any(secret in timeline for secret in ("xoxb-test-token", ROUTING_KEY, ERIN_KEY))


async def test_slack_signing_secret_is_read_from_a_secret_block(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """A click signed with the block's value is accepted when ``slack.signing_secret`` is ``prefect-secret:NAME``."""
    store, incident_id = incident
    await Secret(value=SIGNING_SECRET).save("slack-signing", overwrite=True)
    slack = {"token": "xoxb-test-token", "base_url": f"{sandbox.url}/slack/api/", "signing_secret": "prefect-secret:slack-signing"}
    with ApiThread(make_config(sandbox, database_url=store.url, slack=slack)) as api:
        response = await asyncio.to_thread(click, api.url, block_actions("alertflow_ack", str(incident_id)))
        forged = await asyncio.to_thread(click, api.url, block_actions("alertflow_ack", str(incident_id)), "prefect-secret:slack-signing")
    assert response.status_code == 200, response.text
    assert forged.status_code == 401, "the block's name is not the secret"
    assert (await store.get_incident(incident_id)).status is IncidentStatus.acknowledged


async def test_a_missing_secret_block_fails_that_page_and_escalation_goes_on(sandbox, incident, make_config, pagerduty) -> None:  # type: ignore[no-untyped-def]
    """A Slack token naming a Secret block that does not exist fails the Slack page as permanent (recorded, naming the
    block) and the policy's fallback, PagerDuty, is paged: a missing block never means nobody is paged."""
    store, incident_id = incident
    make_config(
        sandbox,
        database_url=store.url,
        slack={"token": "prefect-secret:no-such-block", "base_url": f"{sandbox.url}/slack/api/"},
        pagerduty={"events_url": pagerduty.events_url, "routing_key": ROUTING_KEY},
        escalation_policies={"p": {"steps": [{"notify": {"slack_channel": "#ops"}, "wait": "60s"}], "fallback": {"pagerduty": "default"}}},
    )
    run = asyncio.create_task(page_oncall(incident_id, PagingAction(params={"policy": "p"}, retry={"retries": 2})))
    await until(lambda: pagerduty.state.accepted, what="the fallback PagerDuty trigger")
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    assert not sandbox.state.slack_calls
    failed = [e.summary for e in await store.get_timeline(incident_id) if "failed" in e.summary]
    assert failed == ["step 1/1: page to #ops on Slack failed: slack: Prefect Secret block 'no-such-block' does not exist"], failed
