"""The Slack notifier through slack-sdk against the sandbox's Slack-compatible server on loopback."""

from __future__ import annotations

import time

import httpx
import pytest

from alertflow.config.settings import SlackSettings
from alertflow.errors import PermanentIntegrationError, RetryableIntegrationError
from alertflow.integrations.notifiers.message import PageMessage
from alertflow.integrations.notifiers.slack import MessageRef, SlackNotifier
from alertflow.models import Severity
from tests.fake_slack import fail_next, response_url, slack_calls, thread_replies

pytestmark = pytest.mark.anyio
PAGE = PageMessage(incident_id=7, title="checkout API down", severity=Severity.critical, service="checkout", status="open", firing_count=3)


def notifier(sandbox, timeout: float = 10) -> SlackNotifier:  # type: ignore[no-untyped-def]
    return SlackNotifier(SlackSettings(token="xoxb-test-token", base_url=f"{sandbox.url}/slack/api/", timeout_seconds=timeout))


async def test_send_posts_block_kit_with_buttons(sandbox) -> None:  # type: ignore[no-untyped-def]
    """send posts one chat.postMessage with the fallback text and the three buttons, and returns channel and ts."""
    ref = await notifier(sandbox).send(PAGE, "#checkout")
    [body] = slack_calls(sandbox, "chat.postMessage")
    assert body["channel"] == "#checkout" and body["text"].startswith("[CRITICAL] Incident #7: checkout API down")
    actions = [e["action_id"] for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert actions == ["alertflow_ack", "alertflow_resolve", "alertflow_escalate"]
    channel = sandbox.state.slack.channel("#checkout")
    assert ref.channel == channel.id and ref.ts in channel.messages  # the id and ts Slack gave, not what was asked for


async def test_alert_text_cannot_mention_everyone(sandbox) -> None:  # type: ignore[no-untyped-def]
    """A title with <!channel> is sent escaped in the notification text too, so nobody is notified by it."""
    await notifier(sandbox).send(PAGE.model_copy(update={"title": "db <!channel> down"}))
    [body] = slack_calls(sandbox, "chat.postMessage")
    assert "<!channel>" not in body["text"] and "db &lt;!channel&gt; down" in body["text"]


async def test_update_after_ack_edits_the_same_message_without_buttons(sandbox) -> None:  # type: ignore[no-untyped-def]
    """update sends chat.update for the original ts; the acknowledged message has no buttons and names the actor."""
    slack = notifier(sandbox)
    ref = await slack.send(PAGE)
    await slack.update(ref, PAGE.model_copy(update={"status": "acknowledged", "acked_by": "alice"}))
    [body] = slack_calls(sandbox, "chat.update")
    assert (body["channel"], body["ts"]) == (ref.channel, ref.ts)
    assert all(block["type"] != "actions" for block in body["blocks"]) and "Acknowledged by alice" in str(body["blocks"])


async def test_reply_posts_in_the_page_thread(sandbox) -> None:  # type: ignore[no-untyped-def]
    """reply posts a thread reply (thread_ts = the page's ts) and returns the reply's own ts."""
    slack = notifier(sandbox)
    ref = await slack.send(PAGE)
    reply = await slack.reply(ref, "failover done: checkout serves standby")
    await slack.reply(ref, "resolved by alice")
    assert thread_replies(sandbox, ref.ts) == ["failover done: checkout serves standby", "resolved by alice"]
    assert reply.channel == ref.channel and reply.ts != ref.ts


async def test_rate_limit_waits_retry_after_then_succeeds(sandbox) -> None:  # type: ignore[no-untyped-def]
    """A 429 with Retry-After: 1 is waited out inside the notifier: the second call succeeds, one message exists."""
    fail_next(sandbox, 429, "ratelimited", retry_after=1)
    started = time.monotonic()
    await notifier(sandbox).send(PAGE)
    calls = sandbox.state.slack_calls
    assert [c["ok"] for c in calls] == [False, True]
    assert calls[1]["at"] - calls[0]["at"] >= 0.95 and time.monotonic() - started < 5


async def test_rate_limit_gives_up_after_bounded_retries_with_retry_after(sandbox) -> None:  # type: ignore[no-untyped-def]
    """Still limited after the bounded retries: a retryable error carrying Slack's Retry-After for the caller."""
    fail_next(sandbox, 429, "ratelimited", times=5, retry_after=0)
    slack = SlackNotifier(notifier(sandbox).settings, rate_limit_retries=2)
    with pytest.raises(RetryableIntegrationError, match="HTTP 429 ratelimited") as raised:
        await slack.send(PAGE)
    assert raised.value.retry_after == 0 and len(sandbox.state.slack_calls) == 3


async def test_long_retry_after_is_left_to_the_caller(sandbox) -> None:  # type: ignore[no-untyped-def]
    """A Retry-After longer than the notifier will wait is not slept through: raised at once with its value."""
    fail_next(sandbox, 429, "ratelimited", retry_after=120)
    with pytest.raises(RetryableIntegrationError) as raised:
        await notifier(sandbox).send(PAGE)
    assert raised.value.retry_after == 120 and len(sandbox.state.slack_calls) == 1


async def test_a_retry_after_slack_sdk_cannot_read_is_left_to_the_caller(sandbox) -> None:  # type: ignore[no-untyped-def]
    """A fractional Retry-After (Slack sends whole seconds; slack-sdk reads only those) is raised at once, retryable, with its value."""
    fail_next(sandbox, 429, "ratelimited", retry_after=0.5)
    with pytest.raises(RetryableIntegrationError, match="HTTP 429 ratelimited") as raised:
        await notifier(sandbox).send(PAGE)
    assert raised.value.retry_after == 0.5 and len(sandbox.state.slack_calls) == 1


@pytest.mark.parametrize(("status", "error"), [(500, "internal_error"), (503, "service_unavailable")])
async def test_server_errors_are_retryable_and_not_retried_here(sandbox, status: int, error: str) -> None:  # type: ignore[no-untyped-def]
    """5xx raises a retryable error after one call: the action's retry policy decides about more."""
    fail_next(sandbox, status, error)
    with pytest.raises(RetryableIntegrationError, match=f"HTTP {status} {error}") as raised:
        await notifier(sandbox).send(PAGE)
    assert raised.value.retry_after is None and len(sandbox.state.slack_calls) == 1


async def test_timeout_is_retryable(sandbox) -> None:  # type: ignore[no-untyped-def]
    """A Slack that answers later than the client timeout is a retryable error, not a hang."""
    fail_next(sandbox, 500, "internal_error", delay=1.5)
    with pytest.raises(RetryableIntegrationError, match=r"slack chat\.postMessage: .*timed out"):
        await notifier(sandbox, timeout=1).send(PAGE)


@pytest.mark.parametrize("error", ["invalid_auth", "channel_not_found", "not_in_channel", "account_inactive"])
async def test_permanent_errors_are_not_retried_and_leak_no_token(sandbox, error: str) -> None:  # type: ignore[no-untyped-def]
    """invalid_auth, channel_not_found, not_in_channel...: permanent, one call, the message names the error, not the token."""
    fail_next(sandbox, 200, error)
    with pytest.raises(PermanentIntegrationError, match=f"HTTP 200 {error}") as raised:
        await notifier(sandbox).send(PAGE)
    assert len(sandbox.state.slack_calls) == 1 and "xoxb" not in str(raised.value)


async def test_wrong_token_is_invalid_auth(sandbox) -> None:  # type: ignore[no-untyped-def]
    """A token the workspace does not know is refused by the server and raised as permanent."""
    slack = SlackNotifier(SlackSettings(token="xoxb-wrong", base_url=f"{sandbox.url}/slack/api/"))
    with pytest.raises(PermanentIntegrationError, match="invalid_auth"):
        await slack.update(MessageRef(channel="C0SANDBOX", ts="1.000001"), PAGE)


async def test_respond_answers_only_slacks_own_response_urls(sandbox) -> None:  # type: ignore[no-untyped-def]
    """respond posts an ephemeral line to a response_url on the Slack server base_url names; any other host is refused."""
    slack = notifier(sandbox)
    await slack.respond(response_url(sandbox), "Incident #7 is acknowledged (by alice).")
    [answer] = sandbox.state.slack_responses
    assert answer["body"] == {"response_type": "ephemeral", "replace_original": False, "text": "Incident #7 is acknowledged (by alice)."}
    for url in (
        "http://hooks.slack.com/actions/T/1/a",
        "https://hooks.slack.com.evil.example/actions/T/1/a",
        "http://127.0.0.2:9/x?token=s",
    ):
        with pytest.raises(PermanentIntegrationError, match="is not Slack's") as raised:
            await slack.respond(url, "hello")
        assert "token=s" not in str(raised.value) and "actions" not in str(raised.value)
    with pytest.raises(PermanentIntegrationError, match=r"slack response_url on 127\.0\.0\.1: HTTP 404") as raised:
        await slack.respond(f"{sandbox.url}/slack/gone/T9/1/SECRETPART", "hello")
    assert "SECRETPART" not in str(raised.value)
    assert len(sandbox.state.slack_responses) == 1


async def test_failures_can_be_scripted_over_http(sandbox) -> None:  # type: ignore[no-untyped-def]
    """POST /_sandbox/slack-fail scripts the same answers for demos and other processes: here a 429 with Retry-After: 0."""
    script = {"status": 429, "error": "ratelimited", "retry_after": 0, "times": 1}
    assert httpx.post(f"{sandbox.url}/_sandbox/slack-fail", json=script).status_code == 200
    await notifier(sandbox).send(PAGE)
    assert [c["ok"] for c in sandbox.state.slack_calls] == [False, True]


async def test_updating_a_message_slack_never_had_is_permanent(sandbox) -> None:  # type: ignore[no-untyped-def]
    """chat.update of a ts the channel does not hold is message_not_found (as Slack answers), a permanent error."""
    slack = notifier(sandbox)
    ref = await slack.send(PAGE, "#checkout")
    await slack.update(ref, PAGE)
    with pytest.raises(PermanentIntegrationError, match="message_not_found"):
        await slack.update(MessageRef(channel=ref.channel, ts="1.000001"), PAGE)
    with pytest.raises(PermanentIntegrationError, match="channel_not_found"):
        await slack.update(MessageRef(channel="C0NOWHERE", ts=ref.ts), PAGE)


async def test_a_burst_beyond_slacks_channel_limit_is_waited_out(sandbox) -> None:  # type: ignore[no-untyped-def]
    """Past a short burst a channel takes about one message a second: the stand-in answers 429 with Retry-After
    like Slack, and the notifier waits it out, so every message arrives once."""
    slack, burst = notifier(sandbox), sandbox.state.slack.burst
    refs = [await slack.send(PAGE, "#storm") for _ in range(burst + 1)]
    limited = [call for call in sandbox.state.slack_calls if call["answer"].get("error") == "ratelimited"]
    assert len(limited) == 1 and len({ref.ts for ref in refs}) == burst + 1
    assert len(sandbox.state.slack.channel("#storm").messages) == burst + 1
