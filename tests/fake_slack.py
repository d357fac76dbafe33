"""Slack's side of the conversation, for tests: scripted Web API answers and signed button clicks.

The Web API half is the sandbox's Slack-compatible server (alertflow/cli/sandbox.py,
the ``sandbox`` fixture), which records every call; ``fail_next`` scripts its
next answers (429 with Retry-After, 500, ``invalid_auth``, a slow answer).
The interactivity half plays Slack delivering a button click to the app's
request URL: a form-encoded ``payload=`` holding a ``block_actions`` JSON,
signed as Slack signs it (``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``
with the app's signing secret). The signing here is written out by hand, not
borrowed from the code under test, so a mistake on either side shows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from alertflow.cli.sandbox import SandboxServer, SlackFailure

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the example secret from Slack's documentation


def fail_next(sandbox: SandboxServer, status: int, error: str, times: int = 1, retry_after: float = 1, delay: float = 0.0) -> None:
    """The sandbox's next ``times`` Slack calls answer ``status`` / ``error`` (a 429 with Retry-After)."""
    sandbox.state.slack_failures.extend([SlackFailure(status, error, retry_after, delay)] * times)


def slack_calls(sandbox: SandboxServer, method: str) -> list[dict[str, Any]]:
    """Bodies of the calls to ``method`` the sandbox answered ok."""
    return sandbox.state.messages(method)


def thread_replies(sandbox: SandboxServer, ts: str) -> list[str]:
    """Texts of the replies posted in the thread of the message ``ts``, in order."""
    return [body["text"] for body in slack_calls(sandbox, "chat.postMessage") if body.get("thread_ts") == ts]


def response_url(sandbox: SandboxServer) -> str:
    """A click's response_url on the sandbox (Slack's would be https://hooks.slack.com/actions/...)."""
    return f"{sandbox.url}/slack/actions/T9TK3CUKW/1/abc"


def block_actions(
    action_id: str, value: str, user_id: str = "U024BE7LH", username: str = "alice.smith", response_url: str | None = None
) -> dict[str, Any]:
    """A button click as Slack describes it, with the fields Slack sends for a message button; ``response_url`` only when
    given, so tests never reach the real hooks.slack.com."""
    return {
        "type": "block_actions",
        "team": {"id": "T9TK3CUKW", "domain": "example"},
        "user": {"id": user_id, "username": username, "name": username, "team_id": "T9TK3CUKW"},
        "api_app_id": "A0KRD7HC3",
        "token": "verification-token-deprecated",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0SANDBOX", "is_ephemeral": False},
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "channel": {"id": "C0SANDBOX", "name": "oncall"},
        "message": {"type": "message", "ts": "1700000000.000100", "text": "page"},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": f"alertflow_incident_{value}",
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    } | ({"response_url": response_url} if response_url else {})


def form_body(payload: dict[str, Any] | str) -> bytes:
    """The request body Slack sends: ``payload=<url-encoded JSON>``."""
    return urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)}).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_headers(body: bytes, secret: str = SIGNING_SECRET, timestamp: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if timestamp is None else timestamp))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature(secret, stamp, body),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


def click(api_url: str, payload: dict[str, Any] | str, secret: str = SIGNING_SECRET, timestamp: float | None = None) -> httpx.Response:
    """Deliver one interaction to ``{api_url}/slack/interactions`` as Slack would."""
    body = form_body(payload)
    return httpx.post(f"{api_url}/slack/interactions", content=body, headers=slack_headers(body, secret, timestamp), timeout=10)
