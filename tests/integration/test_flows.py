"""The four response flows against a real Prefect server and real HTTP peers on loopback."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from prefect.client.orchestration import get_client

from alertflow.cli.sandbox import SlackFailure
from alertflow.flows import fail_over, page_oncall, record_timeline, run_recovery
from alertflow.flows.timeline import artifact_key
from alertflow.models import FailoverAction, IncidentStatus, PagingAction, RecoveryAction, RetryPolicy, TimelineAction
from tests.support import summaries

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
NO_WAIT = {"retry_delay_seconds": 0}


async def test_paging_posts_slack_message_and_records_it(sandbox, incident) -> None:  # type: ignore[no-untyped-def]
    """The paging flow posts one Slack message via slack-sdk and records the page and its lifecycle."""
    store, incident_id = incident
    ref = await page_oncall(incident_id, PagingAction(params={"channel": "#checkout"}))
    [message] = sandbox.state.messages()
    assert message["channel"] == "#checkout" and "checkout API down" in message["text"]
    [posted] = sandbox.state.slack.channel("#checkout").messages.values()
    assert ref == {"channel": sandbox.state.slack.channel("#checkout").id, "ts": posted["ts"]}
    timeline = summaries(await store.get_timeline(incident_id))
    assert timeline == ["paging flow started", "paged #checkout on Slack", "paging flow succeeded"]


async def test_paging_retries_slack_5xx_per_policy(sandbox, incident) -> None:  # type: ignore[no-untyped-def]
    """Two Slack 500s then success: the rule's retry policy (2 retries) delivers exactly one page in three attempts."""
    _store, incident_id = incident
    sandbox.state.slack_failures.extend([SlackFailure(500, "internal_error"), SlackFailure(503, "service_unavailable")])
    await page_oncall(incident_id, PagingAction(retry=RetryPolicy(retries=2, **NO_WAIT)))
    assert [c["ok"] for c in sandbox.state.slack_calls] == [False, False, True]
    assert len(sandbox.state.messages()) == 1


async def test_paging_does_not_retry_permanent_slack_errors(sandbox, incident) -> None:  # type: ignore[no-untyped-def]
    """invalid_auth is not retried even with retries left; the failure is recorded in the timeline."""
    store, incident_id = incident
    sandbox.state.slack_failures.append(SlackFailure(200, "invalid_auth"))
    state = await page_oncall(incident_id, PagingAction(retry=RetryPolicy(retries=3, **NO_WAIT)), return_state=True)
    assert state.is_failed()
    assert len(sandbox.state.slack_calls) == 1
    last = (await store.get_timeline(incident_id))[-1]
    assert last.summary.startswith("paging flow failed") and last.actor.startswith("flow-run:")


async def test_paging_is_skipped_after_ack(sandbox, incident) -> None:  # type: ignore[no-untyped-def]
    """A page dispatched after someone acknowledged is not sent, and the timeline says why."""
    store, incident_id = incident
    async with store.write() as tx:
        await tx.transition(incident_id, IncidentStatus.acknowledged, "alice", NOW)
    assert await page_oncall(incident_id) is None
    assert sandbox.state.slack_calls == []
    assert "page skipped: incident already acknowledged" in summaries(await store.get_timeline(incident_id))


async def test_failover_shifts_verifies_and_is_idempotent(sandbox, incident) -> None:  # type: ignore[no-untyped-def]
    """Failover moves the switch to standby and verifies it; running it again changes nothing and says so."""
    store, incident_id = incident
    action = FailoverAction(params={"switch": "checkout"})
    assert await fail_over(incident_id, action) == "standby"
    assert sandbox.state.switches["checkout"] == "standby"
    posts = [c for c in sandbox.state.switch_calls if c["method"] == "POST"]
    await fail_over(incident_id, action)
    assert [c for c in sandbox.state.switch_calls if c["method"] == "POST"] == posts
    timeline = summaries(await store.get_timeline(incident_id))
    assert "switch checkout verified serving standby: 2 of 2 requests through /front/checkout served by 'standby'" in [
        s.replace(sandbox.url, "") for s in timeline
    ]
    assert "switch checkout already serves standby: nothing to do" in timeline


async def test_failover_rolls_back_when_verification_fails(sandbox, incident) -> None:  # type: ignore[no-untyped-def]
    """A switch that accepts the shift but keeps serving primary: the flow restores primary, records the rollback and fails."""
    store, incident_id = incident
    sandbox.state.stuck_switches.add("checkout")
    action = FailoverAction(params={"switch": "checkout"}, retry=RetryPolicy(retries=1, **NO_WAIT))
    state = await fail_over(incident_id, action, return_state=True)
    assert state.is_failed()
    posts = [c["body"]["active"] for c in sandbox.state.switch_calls if c["method"] == "POST"]
    assert posts == ["standby", "primary"]
    timeline = summaries(await store.get_timeline(incident_id))
    assert any(s.startswith("switch checkout restored to primary: failover to standby failed: switch serves primary") for s in timeline)
    assert "escalated: switch checkout rolled back to primary" in timeline
    assert timeline[-1].startswith("failover flow failed")


async def test_failover_retries_a_flaky_switch(sandbox, incident) -> None:  # type: ignore[no-untyped-def]
    """The first two reads of the switch answer 503; with two retries the failover still completes."""
    _store, incident_id = incident
    sandbox.state.switch_failures["checkout"] = [503, 503]
    await fail_over(incident_id, FailoverAction(params={"switch": "checkout"}, retry=RetryPolicy(retries=2, **NO_WAIT)))
    assert sandbox.state.switches["checkout"] == "standby"


async def test_recovery_restarts_and_verifies_health(sandbox, incident) -> None:  # type: ignore[no-untyped-def]
    """With the health endpoint down, the runbook's restart brings it back; health is verified and the incident mitigated."""
    store, incident_id = incident
    sandbox.state.down.add("checkout")
    await run_recovery(incident_id, RecoveryAction(params={"runbook": "restart-checkout"}))
    assert sandbox.state.restarts == ["checkout"]
    assert (await store.get_incident(incident_id)).status is IncidentStatus.mitigated
    assert "runbook restart-checkout: service healthy, incident mitigated" in summaries(await store.get_timeline(incident_id))


async def test_recovery_fails_when_health_never_returns(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """A runbook whose verification keeps failing exhausts its retries and fails the flow; the incident stays open."""
    store, incident_id = incident
    sandbox.state.down.add("checkout")
    make_config(
        sandbox,
        database_url=store.url,
        runbooks={
            "noop": {
                "steps": [{"kind": "http", "name": "poke", "method": "GET", "url": f"{sandbox.url}/switch/other"}],
                "verify": {"url": f"{sandbox.url}/health/checkout", "timeout_seconds": 0.3, "interval_seconds": 0.1},
            }
        },
    )
    state = await run_recovery(
        incident_id, RecoveryAction(params={"runbook": "noop"}, retry=RetryPolicy(retries=1, **NO_WAIT)), return_state=True
    )
    assert state.is_failed() and "not healthy" in state.message
    assert (await store.get_incident(incident_id)).status is IncidentStatus.open


async def test_shell_steps_need_allow_shell(sandbox, incident, make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A shell step is refused unless allow_shell is set; when allowed it runs its argv without a shell."""
    store, incident_id = incident
    marker = tmp_path / "ran"
    runbook = {
        "steps": [{"kind": "shell", "name": "touch", "argv": ["touch", str(marker)]}],
        "verify": {"url": f"{sandbox.url}/health/checkout"},
    }
    make_config(sandbox, database_url=store.url, runbooks={"sh": runbook})
    state = await run_recovery(
        incident_id, RecoveryAction(params={"runbook": "sh"}, retry=RetryPolicy(retries=2, **NO_WAIT)), return_state=True
    )
    assert state.is_failed() and "shell steps are disabled" in state.message and not marker.exists()
    make_config(sandbox, database_url=store.url, runbooks={"sh": runbook}, allow_shell=True)
    await run_recovery(incident_id, RecoveryAction(params={"runbook": "sh"}))
    assert marker.exists()


async def test_timeline_flow_publishes_markdown_artifact(sandbox, incident) -> None:  # type: ignore[no-untyped-def]
    """The timeline flow renders the incident's entries into a markdown artifact keyed by the incident."""
    _store, incident_id = incident
    await page_oncall(incident_id)
    await record_timeline(incident_id, TimelineAction())
    async with get_client() as client:
        artifacts = await client.read_latest_artifacts()
    [artifact] = [a for a in artifacts if a.key == artifact_key(incident_id)]
    assert f"# Incident #{incident_id}: checkout API down" in artifact.data
    assert "paged #oncall on Slack" in artifact.data and "paging flow succeeded" in artifact.data


async def test_secrets_stay_out_of_timeline_and_flow_state(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """A switch token, credentials and a query token in its URL never reach the timeline or the failed state's message."""
    store, incident_id = incident
    leaky_url = sandbox.url.replace("http://", "http://ops:pw-in-url@") + "/switch/checkout?token=query-secret"
    make_config(sandbox, database_url=store.url, switches={"checkout": {"url": leaky_url, "token": "header-secret"}})
    sandbox.state.switch_failures["checkout"] = [401]
    state = await fail_over(
        incident_id, FailoverAction(params={"switch": "checkout"}, retry=RetryPolicy(retries=3, **NO_WAIT)), return_state=True
    )
    assert state.is_failed() and "HTTP 401" in state.message
    assert len(sandbox.state.switch_calls) == 1, "a 401 is permanent: not retried"
    seen = state.message + " ".join(e.summary + str(e.data) for e in await store.get_timeline(incident_id))
    for secret in ("header-secret", "pw-in-url", "query-secret", "xoxb-test-token"):
        assert secret not in seen


async def test_http_switch_sends_configured_method_url_and_templated_body(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """A generic HTTP switch shifts with its configured method, templated URL and body, and a token from a Prefect
    Secret block; the token reaches the switch and nothing else."""
    from prefect.blocks.system import Secret

    from tests.support import sandbox_switch

    store, incident_id = incident
    await Secret(value="block-secret-token").save("checkout-switch-token", overwrite=True)
    switch = sandbox_switch(sandbox.url, "checkout") | {
        "token": "prefect-secret:checkout-switch-token",
        "method": "PUT",
        "shift_url": f"{sandbox.url}/switch/{{switch}}",
        "body": '{"active": "{target}", "service": "{service}", "incident": "{incident_id}"}',
        "expect_status": [200],
    }
    make_config(sandbox, database_url=store.url, switches={"checkout": switch})
    await fail_over(incident_id, FailoverAction(params={"switch": "checkout"}))
    [shift] = [c for c in sandbox.state.switch_calls if c["method"] != "GET"]
    assert shift["method"] == "PUT" and shift["body"] == {"active": "standby", "service": "checkout", "incident": str(incident_id)}
    assert shift["authorization"] == "Bearer block-secret-token"
    seen = " ".join(e.summary + str(e.data) for e in await store.get_timeline(incident_id))
    assert "block-secret-token" not in seen and "verified serving standby" in seen
