"""POST /slack/interactions on the real API: button clicks signed as Slack signs them, and what is refused."""

from __future__ import annotations

import time

import pytest

from alertflow.models import TimelineKind
from tests.conftest import wait_for
from tests.fake_slack import SIGNING_SECRET, block_actions, click, form_body, response_url, slack_headers
from tests.support import ApiThread

pytestmark = pytest.mark.anyio
ALICE = "U024BE7LH"  # in people:, so clicks by this Slack id are recorded as "alice"


def slack_settings(sandbox, signing_secret: str | None = SIGNING_SECRET) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"token": "xoxb-test-token", "channel": "#oncall", "base_url": f"{sandbox.url}/slack/api/", "signing_secret": signing_secret}


@pytest.fixture
def api(sandbox, incident, make_config):  # type: ignore[no-untyped-def]
    """The API with a signing secret and one person, and an open incident in its database."""
    store, incident_id = incident
    config = make_config(sandbox, slack=slack_settings(sandbox), people={"alice": {"slack_user_id": ALICE}})
    with ApiThread(config) as api:
        yield api, store, incident_id


async def test_acknowledge_click_acks_as_the_mapped_person(api) -> None:  # type: ignore[no-untyped-def]
    """A signed Acknowledge click from a known Slack user acks the incident with that person as actor, within 3 s."""
    api, store, incident_id = api
    started = time.monotonic()
    response = click(api.url, block_actions("alertflow_ack", str(incident_id), user_id=ALICE))
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json() == {"action": "alertflow_ack", "incident_id": incident_id, "actor": "alice", "status": "acknowledged"}
    assert elapsed < 3
    incident = await store.get_incident(incident_id)
    assert (incident.status.value, incident.acknowledged_by) == ("acknowledged", "alice")
    [ack] = [e for e in await store.get_timeline(incident_id) if e.kind is TimelineKind.ack]
    assert ack.actor == "alice"


async def test_resolve_click_by_unknown_slack_user_uses_the_slack_username(api) -> None:  # type: ignore[no-untyped-def]
    """A Slack user not in people: is recorded as slack:<username>."""
    api, store, incident_id = api
    response = click(api.url, block_actions("alertflow_resolve", str(incident_id), user_id="U0OTHER", username="bob.jones"))
    assert response.status_code == 200 and response.json()["actor"] == "slack:bob.jones"
    incident = await store.get_incident(incident_id)
    assert (incident.status.value, incident.resolved_by) == ("resolved", "slack:bob.jones")


async def test_escalate_click_records_an_escalation_request(api) -> None:  # type: ignore[no-untyped-def]
    """Escalate now leaves the incident open and adds an escalate_requested entry for the paging flow."""
    api, store, incident_id = api
    response = click(api.url, block_actions("alertflow_escalate", str(incident_id), user_id=ALICE))
    assert response.status_code == 200 and response.json()["status"] == "open"
    [entry] = [e for e in await store.get_timeline(incident_id) if e.kind is TimelineKind.escalate_requested]
    assert (entry.actor, entry.summary, entry.data["slack_user_id"]) == ("alice", "escalation requested by alice", ALICE)


async def test_unsigned_wrongly_signed_and_replayed_clicks_are_refused(api) -> None:  # type: ignore[no-untyped-def]
    """Wrong secret, a stale timestamp, a tampered body, missing headers, a non-ASCII signature: 401 naming the header, nothing changes."""
    api, store, incident_id = api
    ack = block_actions("alertflow_ack", str(incident_id), user_id=ALICE)
    body = form_body(ack)
    tampered = slack_headers(body)
    missing_signature = {k: v for k, v in slack_headers(body).items() if k != "X-Slack-Signature"}
    missing_timestamp = {k: v for k, v in slack_headers(body).items() if k != "X-Slack-Request-Timestamp"}
    non_ascii: dict[str, str | bytes] = {**slack_headers(body), "X-Slack-Signature": ("v0=" + "é" * 64).encode("latin-1")}
    # The header carries whole seconds (truncated), so "now + 301" can arrive only 300.0x s ahead and, after the
    # request's own latency, fall inside the window: ahead is 302 s so it stays over 5 minutes whatever the fraction.
    # The exact 300/301 edges are pinned with an injected clock in tests/unit/test_slack_signature.py.
    cases = [
        (click(api.url, ack, secret="not-the-signing-secret"), "x-slack-signature"),
        (click(api.url, ack, timestamp=time.time() - 301), "x-slack-request-timestamp"),
        (click(api.url, ack, timestamp=time.time() + 302), "x-slack-request-timestamp"),
        (api.post("/slack/interactions", content=body.replace(b"alertflow_ack", b"alertflow_res"), headers=tampered), "x-slack-signature"),
        (api.post("/slack/interactions", content=body, headers=missing_signature), "x-slack-signature"),
        (api.post("/slack/interactions", content=body, headers=missing_timestamp), "x-slack-request-timestamp"),
        (api.post("/slack/interactions", content=body, headers=non_ascii), "x-slack-signature"),
    ]
    for response, field in cases:
        assert (response.status_code, response.json()["field"]) == (401, field), response.text
        assert SIGNING_SECRET not in response.text
    assert (await store.get_incident(incident_id)).status.value == "open"
    assert [e.kind for e in await store.get_timeline(incident_id)] == []


async def test_a_click_five_minutes_old_is_still_accepted(api) -> None:  # type: ignore[no-untyped-def]
    """The window is 5 minutes: a click signed 290 s ago (a slow network, skewed clocks) is accepted."""
    api, _store, incident_id = api
    assert click(api.url, block_actions("alertflow_ack", str(incident_id)), timestamp=time.time() - 290).status_code == 200


async def test_malformed_payloads_are_400_naming_the_field(api) -> None:  # type: ignore[no-untyped-def]
    """Signed but malformed: a clear 400 that names the field, nothing changes."""
    api, store, incident_id = api
    valid = block_actions("alertflow_ack", str(incident_id))
    no_user = {k: v for k, v in valid.items() if k != "user"}
    cases = [
        ("{not json", "payload"),
        (no_user, "payload.user"),
        ({**valid, "actions": []}, "payload.actions"),
        ({**valid, "type": "view_submission"}, "payload.type"),
        (block_actions("alertflow_snooze", str(incident_id)), "payload.actions.0.action_id"),
        (block_actions("alertflow_ack", "forty-two"), "payload.actions.0.value"),
        (block_actions("alertflow_ack", "\u00b2"), "payload.actions.0.value"),
        (block_actions("alertflow_ack", "9" * 30), "payload.actions.0.value"),
    ]
    for payload, field in cases:
        response = click(api.url, payload)
        assert (response.status_code, response.json()["field"]) == (400, field), response.text
    body = b"text=hello"
    response = api.post("/slack/interactions", content=body, headers=slack_headers(body))
    assert (response.status_code, response.json()["field"]) == (400, "payload")
    assert (await store.get_incident(incident_id)).status.value == "open"


async def test_unknown_and_resolved_incidents_get_a_clear_answer(api) -> None:  # type: ignore[no-untyped-def]
    """A click for an incident that does not exist is 404; escalating an acknowledged one, or acking or escalating a
    resolved one, is 409 saying why."""
    api, _store, incident_id = api
    missing = click(api.url, block_actions("alertflow_ack", "999"))
    assert missing.status_code == 404 and missing.json()["error"] == "incident 999 does not exist"
    assert click(api.url, block_actions("alertflow_ack", str(incident_id), user_id=ALICE)).status_code == 200
    acked = click(api.url, block_actions("alertflow_escalate", str(incident_id)))
    assert acked.status_code == 409 and acked.json()["error"] == f"incident {incident_id} was acknowledged by alice; escalation has stopped"
    assert click(api.url, block_actions("alertflow_resolve", str(incident_id))).status_code == 200
    for action in ("alertflow_ack", "alertflow_escalate"):
        late = click(api.url, block_actions(action, str(incident_id)))
        assert late.status_code == 409 and "already resolved" in late.json()["error"]


@pytest.mark.parametrize("secret", [None, "  "])
def test_without_a_signing_secret_clicks_are_refused(sandbox, make_config, secret: str | None) -> None:  # type: ignore[no-untyped-def]
    """No (or a blank) slack.signing_secret: every click is refused with a message saying what to configure."""
    with ApiThread(make_config(sandbox, slack=slack_settings(sandbox, signing_secret=secret))) as api:
        response = click(api.url, block_actions("alertflow_ack", "1"), secret=secret or SIGNING_SECRET)
    assert response.status_code == 401 and "slack.signing_secret is not configured" in response.json()["error"]


async def test_the_clicking_person_is_told_the_outcome_through_response_url(api, sandbox) -> None:  # type: ignore[no-untyped-def]
    """After the HTTP answer, an ephemeral line goes to the click's response_url: done, or why not."""
    api, _store, incident_id = api
    back = response_url(sandbox)
    assert click(api.url, block_actions("alertflow_escalate", str(incident_id), user_id=ALICE, response_url=back)).status_code == 200
    assert click(api.url, block_actions("alertflow_ack", "999", response_url=back)).status_code == 404
    responses = wait_for(lambda: sandbox.state.slack_responses if len(sandbox.state.slack_responses) == 2 else None, 5, "two answers")
    texts = sorted(r["body"]["text"] for r in responses)
    assert texts == [
        f"Escalation of incident #{incident_id} requested: the next escalation step is paged now.",
        "incident 999 does not exist",
    ]
    assert all(r["body"]["response_type"] == "ephemeral" and r["body"]["replace_original"] is False for r in responses)
