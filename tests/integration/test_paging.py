"""Escalation policies end to end: the paging flow on the real Prefect server, Slack and PagerDuty on loopback.

Waits are a second or less (the policy's own ``wait: 1s``), and every ack or
resolve goes through the real API, as a person's would.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from alertflow.flows import page_oncall
from alertflow.models import IncidentStatus, PagingAction, TimelineEntry, TimelineKind
from tests.fake_pagerduty import ROUTING_KEY
from tests.fake_slack import SIGNING_SECRET, block_actions, click, fail_next
from tests.support import ApiThread

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]
PEOPLE = {"alice": {"slack_user_id": "UALICE"}, "bob": {"slack_user_id": "UBOB"}, "carol": {"slack_user_id": "UCAROL"}}
SCHEDULES = {"primary": {"layers": [{"people": ["alice"], "rotation": "daily", "start": "2026-01-01"}]}}


async def until(check, timeout: float = 10, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll without blocking the event loop the flow runs in."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
    return result


def posts(sandbox) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Page messages (not thread replies) Slack accepted, with the time each arrived."""
    return [
        c["body"] | {"at": c["at"]}
        for c in sandbox.state.slack_calls
        if c["method"] == "chat.postMessage" and c["ok"] and "thread_ts" not in c["body"]
    ]


def configure(sandbox, make_config, store, policies: dict[str, Any], **extra: Any) -> Any:  # type: ignore[no-untyped-def]
    return make_config(sandbox, database_url=store.url, people=PEOPLE, schedules=SCHEDULES, escalation_policies=policies, **extra)


async def timeline_summaries(store, incident_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.summary for e in await store.get_timeline(incident_id)]


async def test_policy_escalates_step_by_step_and_an_ack_stops_it(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """Step 1 pages the schedule's on-call, 1 s later step 2 pages bob; an API ack during the wait stops
    the escalation (no further page), updates both messages in place, and the resolve updates them again
    and is posted in each thread, as is a major event in between."""
    store, incident_id = incident
    policy = {"steps": [{"notify": {"schedule": "primary"}, "wait": "1s"}, {"notify": {"person": "bob"}, "wait": "1s"}], "repeat": 2}
    with ApiThread(configure(sandbox, make_config, store, {"default": policy})) as api:
        run = asyncio.create_task(page_oncall(incident_id, PagingAction(params={"policy": "default"})))
        await until(lambda: len(posts(sandbox)) == 2, what="the second step's page")
        first, second = posts(sandbox)
        assert (first["channel"], second["channel"]) == ("UALICE", "UBOB")
        assert 0.8 <= second["at"] - first["at"] < 5.0, "step 2 follows step 1's wait of 1 s (counted from when step 1 began)"
        assert "step 1/2, repeat 1/2" in str(first["blocks"]) and "alertflow_ack" in str(first["blocks"])
        acked = await asyncio.to_thread(api.post, f"/incidents/{incident_id}/ack", json={"actor": "carol"})
        assert acked.status_code == 200
        await until(lambda: len(sandbox.state.messages("chat.update")) == 2, what="both pages updated")
        updates = sandbox.state.messages("chat.update")
        paged = {
            (c.id, ts) for c in map(sandbox.state.slack.channel, ("UALICE", "UBOB")) for ts, m in c.messages.items() if "thread_ts" not in m
        }
        assert {(u["channel"], u["ts"]) for u in updates} == paged and len(paged) == 2, "each page is updated in place"
        assert all("Acknowledged by carol" in str(u["blocks"]) and "alertflow_ack" not in str(u["blocks"]) for u in updates)
        await store.add_timeline(
            TimelineEntry(
                incident_id=incident_id,
                at=utcnow(),
                kind=TimelineKind.failover,
                summary="switch checkout verified serving standby",
                data={"major": True},
            )
        )
        await until(lambda: len(replies(sandbox)) == 2, what="the failover news in both threads")
        await asyncio.sleep(2.5)  # repeat 2/2 would have paged alice again by now
        assert len(posts(sandbox)) == 2, "no page after the ack"
        assert (await asyncio.to_thread(api.post, f"/incidents/{incident_id}/resolve", json={"actor": "carol"})).status_code == 200
        assert await asyncio.wait_for(run, 15) is not None
    assert len(sandbox.state.messages("chat.update")) == 4 and "Resolved by carol" in str(
        sandbox.state.messages("chat.update")[-1]["blocks"]
    )
    assert [r["text"] for r in replies(sandbox)][2:] == [":large_green_circle: resolved by carol"] * 2
    timeline = await timeline_summaries(store, incident_id)
    for expected in (
        "step 1/2, repeat 1/2: paged alice (on call for primary) on Slack",
        "step 1/2, repeat 1/2: no acknowledgement within 1s, next step",
        "step 2/2, repeat 1/2: paged bob on Slack",
        "pages updated: acknowledged by carol",
        "pages updated: resolved by carol",
    ):
        assert expected in timeline, timeline
    assert not any("repeat 2/2" in s for s in timeline)
    assert timeline.count("paging flow started") == 1, "pausing for the UI and resuming is not a new start"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


async def resolve(store, incident_id: int, to: IncidentStatus = IncidentStatus.resolved) -> None:  # type: ignore[no-untyped-def]
    """Answer directly in the store (the API test above goes through the API)."""
    async with store.write() as tx:
        await tx.transition(incident_id, to, "alice", utcnow())


def replies(sandbox) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [c["body"] for c in sandbox.state.slack_calls if c["method"] == "chat.postMessage" and c["ok"] and "thread_ts" in c["body"]]


async def test_an_ack_while_a_step_is_still_sending_pages_none_of_its_later_targets(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """A step for alice and bob: an ack that lands while alice's page waits out a Slack 429 means bob is never paged."""
    store, incident_id = incident
    policy = {"steps": [{"notify": [{"person": "alice"}, {"person": "bob"}], "wait": "1s"}]}
    fail_next(sandbox, 429, "ratelimited", retry_after=2)
    with ApiThread(configure(sandbox, make_config, store, {"default": policy})) as api:
        run = asyncio.create_task(page_oncall(incident_id, PagingAction(params={"policy": "default"})))
        await until(lambda: sandbox.state.slack_calls, what="alice's first, rate-limited attempt")
        assert (await asyncio.to_thread(api.post, f"/incidents/{incident_id}/ack", json={"actor": "carol"})).status_code == 200
        await until(lambda: sandbox.state.messages("chat.update"), what="alice's page updated with the ack")
        assert (await asyncio.to_thread(api.post, f"/incidents/{incident_id}/resolve", json={"actor": "carol"})).status_code == 200
        await asyncio.wait_for(run, 15)
    assert [p["channel"] for p in posts(sandbox)] == ["UALICE"]


async def test_escalate_now_skips_the_wait_and_a_policy_runs_out(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """A signed Escalate-now click on the Slack endpoint ends a 60 s wait at once; after the last step the run records that nobody
    acknowledged, and keeps following the incident until it resolves."""
    store, incident_id = incident
    policy = {"steps": [{"notify": {"slack_channel": "#first"}, "wait": "60s"}, {"notify": {"slack_channel": "#second"}, "wait": "1s"}]}
    slack = {"token": "xoxb-test-token", "base_url": f"{sandbox.url}/slack/api/", "signing_secret": SIGNING_SECRET}
    with ApiThread(configure(sandbox, make_config, store, {"two": policy}, slack=slack)) as api:
        run = asyncio.create_task(page_oncall(incident_id, PagingAction(params={"policy": "two"})))
        await until(lambda: len(posts(sandbox)) == 1, what="the first page")
        clicked = time.time()
        answer = await asyncio.to_thread(click, api.url, block_actions("alertflow_escalate", str(incident_id), user_id="UBOB"))
        assert answer.status_code == 200, answer.text
        await until(lambda: len(posts(sandbox)) == 2, 60, what="the second step")
    # When Slack received step 2 (the stand-in's clock), not when this loop got round to looking.
    assert posts(sandbox)[1]["at"] - clicked < 10, "the request ended the 60 s wait"
    assert posts(sandbox)[1]["channel"] == "#second"
    ran_out = "escalation policy two ran out after 1 pass: nobody acknowledged"
    for _ in range(600):  # step 2's 1 s wait, then the record: polled, not slept (a loaded machine takes longer)
        if ran_out in (timeline := await timeline_summaries(store, incident_id)):
            break
        await asyncio.sleep(0.1)
    assert "step 1/2: escalation requested by bob, next step now" in timeline
    assert "step 2/2: no acknowledgement within 1s" in timeline
    assert ran_out in timeline
    assert not run.done(), "it follows the incident until it resolves"
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    assert len(sandbox.state.messages("chat.update")) == 2


async def test_a_restarted_run_does_not_page_a_step_twice(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """A run cut off during step 1's wait (its worker died) is run again, as Prefect's Retry does: step 1 is not
    sent again, the run waits only what was left of the wait, then pages step 2 once."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow_async
    from prefect.states import AwaitingRetry

    store, incident_id = incident
    policy = {"steps": [{"notify": {"slack_channel": "#first"}, "wait": "3s"}, {"notify": {"slack_channel": "#second"}, "wait": "0s"}]}
    configure(sandbox, make_config, store, {"p": policy})
    action = PagingAction(params={"policy": "p"})
    first_run = asyncio.create_task(page_oncall(incident_id, action, return_state=True))
    await until(lambda: len(posts(sandbox)) == 1, what="step 1")
    await asyncio.sleep(0.5)
    first_run.cancel()
    await asyncio.gather(first_run, return_exceptions=True)
    [started] = [e for e in await store.get_timeline(incident_id) if e.summary == "paging flow started"]
    async with get_client() as client:
        await client.set_flow_run_state(started.data["flow_run_id"], AwaitingRetry(), force=True)
        flow_run = await client.read_flow_run(started.data["flow_run_id"])
    restarted = time.monotonic()
    parameters = {"incident_id": incident_id, "action": action}
    second_run = asyncio.create_task(run_flow_async(page_oncall, flow_run=flow_run, parameters=parameters))
    await until(lambda: len(posts(sandbox)) == 2, what="step 2 from the restarted run")
    assert time.monotonic() - restarted < 2.9, "only the rest of step 1's wait"
    assert [p["channel"] for p in posts(sandbox)] == ["#first", "#second"]
    await resolve(store, incident_id)
    await asyncio.wait_for(second_run, 15)
    assert [p["channel"] for p in posts(sandbox)] == ["#first", "#second"]


async def test_permanent_slack_error_falls_through_to_pagerduty(sandbox, incident, make_config, pagerduty) -> None:  # type: ignore[no-untyped-def]
    """invalid_auth on step 1 is recorded, not retried, and step 2 (PagerDuty) is paged at once instead of after
    step 1's 60 s wait; the ack and the resolve reach PagerDuty by the incident key."""
    store, incident_id = incident
    policy = {"steps": [{"notify": {"slack_channel": "#first"}, "wait": "60s"}, {"notify": {"pagerduty": "default"}, "wait": "60s"}]}
    configure(sandbox, make_config, store, {"p": policy}, pagerduty={"events_url": pagerduty.events_url, "routing_key": ROUTING_KEY})
    fail_next(sandbox, 200, "invalid_auth")
    started = time.monotonic()
    run = asyncio.create_task(
        page_oncall(incident_id, PagingAction(params={"policy": "p"}, retry={"retries": 3, "retry_delay_seconds": 0}))
    )
    await until(lambda: pagerduty.state.accepted, what="the PagerDuty trigger")
    assert time.monotonic() - started < 10 and len(sandbox.state.slack_calls) == 1, "not retried, no 60 s wait"
    [trigger] = pagerduty.state.accepted
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == "service-down|service=checkout"
    await resolve(store, incident_id, IncidentStatus.acknowledged)
    await until(lambda: len(pagerduty.state.accepted) == 2, what="the PagerDuty acknowledge")
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    assert [e["event_action"] for e in pagerduty.state.accepted] == ["trigger", "acknowledge", "resolve"]
    timeline = await timeline_summaries(store, incident_id)
    assert "step 1/2: page to #first on Slack failed: slack chat.postMessage: HTTP 200 invalid_auth" in timeline
    assert "step 1/2 reached nobody: on to the next step now" in timeline
    assert "step 2/2: paged PagerDuty (default service) on PagerDuty" in timeline
    assert ROUTING_KEY not in str([(e.summary, e.data) for e in await store.get_timeline(incident_id)])


async def test_fallback_when_the_last_step_reaches_nobody_and_failure_when_nobody_at_all(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """channel_not_found on the only step pages the policy's fallback; with nobody on call and no fallback
    the flow fails, saying nobody could be paged."""
    store, incident_id = incident
    policies = {
        "fb": {"steps": [{"notify": {"slack_channel": "#gone"}}], "fallback": {"slack_channel": "#fallback"}},
        "empty": {"steps": [{"notify": {"schedule": "later"}}]},
    }
    schedules = SCHEDULES | {"later": {"layers": [{"people": ["bob"], "start": "2099-01-01"}]}}
    make_config(sandbox, database_url=store.url, people=PEOPLE, schedules=schedules, escalation_policies=policies)
    fail_next(sandbox, 200, "channel_not_found")
    run = asyncio.create_task(page_oncall(incident_id, PagingAction(params={"policy": "fb"})))
    await until(lambda: posts(sandbox), what="the fallback page")
    assert posts(sandbox)[0]["channel"] == "#fallback"
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    async with store.write() as tx:
        incident_two = await tx.insert_incident(key="k2", title="t", service="s", severity="critical", rule_id="r", at=utcnow())
    state = await page_oncall(incident_two, PagingAction(params={"policy": "empty"}), return_state=True)
    assert state.is_failed() and "nobody could be paged" in state.message
    assert "step 1/1: schedule:later: nobody is on call for later" in await timeline_summaries(store, incident_two)


async def test_resuming_the_paused_run_in_the_prefect_ui_acknowledges(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """While a step waits the run is Paused with an answer form; resuming it with an ack (what the UI's Resume
    button sends) acknowledges the incident through the API as that person, and nothing more is paged."""
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import aresume_flow_run

    store, incident_id = incident
    policy = {"steps": [{"notify": {"slack_channel": "#first"}, "wait": "30s"}, {"notify": {"slack_channel": "#second"}}]}
    with ApiThread(configure(sandbox, make_config, store, {"p": policy})) as api:
        run = asyncio.create_task(page_oncall(incident_id, PagingAction(params={"policy": "p"})))
        await until(lambda: posts(sandbox), what="the first page")
        [started] = [e for e in await store.get_timeline(incident_id) if e.summary == "paging flow started"]
        run_id = started.data["flow_run_id"]
        async with get_client() as client:
            for _ in range(100):
                if (await client.read_flow_run(run_id)).state.is_paused():
                    break
                await asyncio.sleep(0.1)
            assert (await client.read_flow_run(run_id)).state.is_paused()
        await aresume_flow_run(run_id, run_input={"acknowledge": True, "by": "dave"})
        await until(lambda: sandbox.state.messages("chat.update"), what="the page updated")
        incident_now = await store.get_incident(incident_id)
        assert (incident_now.status.value, incident_now.acknowledged_by) == ("acknowledged", "dave")
        assert "Acknowledged by dave" in str(sandbox.state.messages("chat.update")[0]["blocks"])
        assert (await asyncio.to_thread(api.post, f"/incidents/{incident_id}/resolve", json={"actor": "dave"})).status_code == 200
        await asyncio.wait_for(run, 15)
    assert [p["channel"] for p in posts(sandbox)] == ["#first"]
    timeline = await timeline_summaries(store, incident_id)
    assert "step 1/2: ack by dave from the Prefect UI" in timeline and "acknowledged by dave" in timeline


async def test_pagerduty_400_is_recorded_not_retried_and_falls_back(sandbox, incident, make_config, pagerduty) -> None:  # type: ignore[no-untyped-def]
    """A person's PagerDuty service answering 400 (invalid event) is tried once, recorded with PagerDuty's reason,
    and the policy's fallback channel is paged instead."""
    store, incident_id = incident
    people = PEOPLE | {"erin": {"pagerduty_routing_key": "too-short-to-be-a-key"}}
    policy = {"steps": [{"notify": {"person": "erin"}, "wait": "60s"}], "fallback": {"slack_channel": "#fallback"}}
    make_config(
        sandbox, database_url=store.url, people=people, escalation_policies={"p": policy}, pagerduty={"events_url": pagerduty.events_url}
    )
    action = PagingAction(params={"policy": "p"}, retry={"retries": 2, "retry_delay_seconds": 0})
    run = asyncio.create_task(page_oncall(incident_id, action))
    await until(lambda: posts(sandbox), what="the fallback page")
    assert len(pagerduty.state.events) == 1 and not pagerduty.state.accepted
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    [failed] = [s for s in await timeline_summaries(store, incident_id) if "failed" in s and "erin" in s]
    assert failed.startswith("step 1/1: page to erin on PagerDuty failed:") and "routing_key" in failed, failed
    assert "too-short-to-be-a-key" not in failed
