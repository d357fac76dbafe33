"""Slack request verification and click parsing, with an injected clock (no I/O).

Signatures here are Slack's documented example, so the check is pinned to
Slack's scheme rather than to our own signing code.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import SecretStr

from alertflow.api.slack import parse_click, verify_signature
from alertflow.errors import MalformedBody, Unauthorized
from tests.fake_slack import block_actions, form_body

# From Slack's "Verifying requests from Slack" guide: secret, timestamp, body and the signature Slack sent.
SECRET = SecretStr("8f742231b10e8888abcd99yyyzzz85a5")
TIMESTAMP = "1531420618"
BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar"
    b"&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com"
    b"%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
NOW = float(TIMESTAMP) + 10


def test_slacks_documented_example_verifies() -> None:
    """The example request from Slack's documentation passes."""
    verify_signature(SECRET, BODY, TIMESTAMP, SIGNATURE, NOW)


@pytest.mark.parametrize(
    ("secret", "body", "timestamp", "signature", "now", "field"),
    [
        pytest.param(SecretStr("another-secret"), BODY, TIMESTAMP, SIGNATURE, NOW, "x-slack-signature", id="wrong-secret"),
        pytest.param(SECRET, BODY + b"&x=1", TIMESTAMP, SIGNATURE, NOW, "x-slack-signature", id="tampered-body"),
        pytest.param(SECRET, BODY, "1531420619", SIGNATURE, NOW, "x-slack-signature", id="timestamp-changed"),
        pytest.param(SECRET, BODY, TIMESTAMP, "v1=" + SIGNATURE[3:], NOW, "x-slack-signature", id="other-version"),
        pytest.param(SECRET, BODY, TIMESTAMP, SIGNATURE, float(TIMESTAMP) + 301, "x-slack-request-timestamp", id="over-5-min-old"),
        pytest.param(SECRET, BODY, TIMESTAMP, SIGNATURE, float(TIMESTAMP) - 301, "x-slack-request-timestamp", id="over-5-min-ahead"),
        pytest.param(SECRET, BODY, None, SIGNATURE, NOW, "x-slack-request-timestamp", id="no-timestamp"),
        pytest.param(SECRET, BODY, TIMESTAMP, None, NOW, "x-slack-signature", id="no-signature"),
        pytest.param(SECRET, BODY, "15314e2618", SIGNATURE, NOW, "x-slack-request-timestamp", id="timestamp-not-seconds"),
        pytest.param(SECRET, BODY, "153142061\u00b2", SIGNATURE, NOW, "x-slack-request-timestamp", id="timestamp-unicode-digit"),
    ],
)
def test_anything_else_is_unauthorized_naming_the_header(secret, body, timestamp, signature, now, field) -> None:  # type: ignore[no-untyped-def]
    """A wrong secret, changed body or timestamp, stale or future timestamp, or a missing header: 401 naming the header."""
    with pytest.raises(Unauthorized) as raised:
        verify_signature(secret, body, timestamp, signature, now)
    assert raised.value.field == field and SECRET.get_secret_value() not in str(raised.value)


def test_exactly_five_minutes_is_still_accepted() -> None:
    """The window is inclusive at 300 s."""
    verify_signature(SECRET, BODY, TIMESTAMP, SIGNATURE, float(TIMESTAMP) + 300)


def v0_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's documented v0 scheme, computed here with hmac and hashlib (not with the code under test)."""
    return "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


def test_a_utf8_body_signed_per_slacks_scheme_verifies() -> None:
    """A body with non-ASCII UTF-8 (a name like Zoë), signed independently per Slack's v0 scheme, verifies."""
    body = "payload=Zoë".encode()
    verify_signature(SECRET, body, TIMESTAMP, v0_signature(SECRET.get_secret_value(), TIMESTAMP, body), NOW)


@pytest.mark.parametrize(
    ("secret", "body", "signature"),
    [
        pytest.param(SECRET, BODY, "v0=" + "é" * 64, id="non-ascii-signature"),
        pytest.param(SECRET, b"payload=\xff\xfe", v0_signature(SECRET.get_secret_value(), TIMESTAMP, b"payload=\xff\xfe"), id="not-utf8"),
        pytest.param(SecretStr(" "), BODY, v0_signature(" ", TIMESTAMP, BODY), id="blank-secret"),
    ],
)
def test_requests_slack_cannot_have_signed_are_refused_not_errors(secret: SecretStr, body: bytes, signature: str) -> None:
    """A non-ASCII signature, a body that is not UTF-8 (even correctly signed) or a blank secret: 401, never a crash."""
    with pytest.raises(Unauthorized) as raised:
        verify_signature(secret, body, TIMESTAMP, signature, NOW)
    assert raised.value.field == "x-slack-signature"


def test_a_button_click_parses_to_user_and_action() -> None:
    """Slack's block_actions form body yields the clicking user and the button's action id and value."""
    click = parse_click(form_body(block_actions("alertflow_ack", "42", user_id="U1", username="alice")))
    assert (click.user.id, click.user.username, click.actions[0].action_id, click.actions[0].value) == (
        "U1",
        "alice",
        "alertflow_ack",
        "42",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "payload"),
        (b"\xff\xfe", "payload"),
        (b"payload=", "payload"),
        (form_body("[1, 2"), "payload"),
        (form_body({"type": "block_actions", "actions": [{"action_id": "a", "value": "1"}]}), "payload.user"),
        (form_body({"type": "block_actions", "user": {"id": "U1"}, "actions": [{"value": "1"}]}), "payload.actions.0.action_id"),
        (form_body({"type": "shortcut", "user": {"id": "U1"}, "actions": [{"action_id": "a", "value": "1"}]}), "payload.type"),
    ],
)
def test_malformed_clicks_name_the_field(body: bytes, field: str) -> None:
    """Anything but a block_actions click with a user and an action is refused naming the field."""
    with pytest.raises(MalformedBody) as raised:
        parse_click(body)
    assert raised.value.field == field
