"""Email, Teams and Mattermost notifiers, people's contact lists and ack links: checked at load, with their line."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from alertflow.auth import ack_link_signature, check_ack_link
from alertflow.config.settings import load_settings
from alertflow.errors import ConfigError, Expired, Forbidden
from alertflow.integrations.notifiers.email import recipients
from alertflow.integrations.notifiers.mattermost import defuse
from alertflow.integrations.notifiers.teams import card
from alertflow.models import PagingAction
from alertflow.paging.recipients import Recipient, deliveries
from tests.unit.test_message_templates import message

MAIL = "notifiers:\n  mail: {kind: email, host: smtp.example, from_address: alertflow@example.com, username: u, password: p}\n"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_settings(path)


def test_a_contact_list_reaches_a_person_by_slack_and_email_at_once(tmp_path: Path) -> None:
    """alice's step target becomes a Slack DM and an email (name <address>) in one step; without a list, the old rules."""
    people = "people:\n  alice: {slack_user_id: UALICE, email: alice@example.com, contact: [slack, mail]}\n  bob: {contact: [{mail: bob@b.example}]}\n"
    settings = load(tmp_path, MAIL + people)
    found, _ = deliveries(Recipient(person="alice"), "w", 0, settings, NOW, settings.schedules)
    assert [(d.key, d.notifier, d.address) for d in found] == [
        ("0.slack", "slack", "UALICE"),
        ("0.mail", "mail", "alice <alice@example.com>"),
    ]
    [bob], _ = deliveries(Recipient(person="bob"), "w", 1, settings, NOW, settings.schedules)
    assert recipients(settings.notifiers["mail"], bob.address, settings) == (["bob <bob@b.example>"], "bob")  # type: ignore[arg-type]
    assert recipients(settings.notifiers["mail"], "mail", settings) == ([], None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (MAIL + "people:\n  a: {contact: [mail]}\n", r"c.yaml:4:\d+: people.a.contact.0: mail \(email\) needs an address"),
        (MAIL + "people:\n  a: {contact: [slack]}\n", r"people.a.contact.0: slack \(slack\) needs an address"),
        (MAIL + "people:\n  a: {contact: [nope]}\n", r"people.a.contact.0: no notifier 'nope'"),
        (MAIL + "people:\n  a: {email: a@x, contact: [mail, mail]}\n", r"people.a.contact.1: mail is listed twice"),
        (MAIL + "people:\n  a: {contact: [{pagerduty: key}]}\n", r"people.a.contact.0: pagerduty reaches the person's own"),
        (MAIL + "people:\n  a: {email: a@x, contact: [mail], notifiers: [mail]}\n", r"people.a.notifiers: with a contact list"),
        (
            "notifiers:\n  m: {kind: email, host: h, from_address: a@x, password: p}\n",
            r"c.yaml:2:\d+: notifiers.m(.email)?: username and password",
        ),
        ("notifiers:\n  m: {kind: email, host: h, from_address: a@x, security: none, username: u, password: p}\n", r"in the clear"),
        ("notifiers:\n  t: {kind: teams, url: 'ftp://x'}\n", r"notifiers.t.url: .*https://"),
        ("ack_links: {secret: short}\n", r"c.yaml:1:\d+: ack_links.secret: .*at least 16"),
    ],
)
def test_reach_mistakes_fail_at_load_with_their_line(tmp_path: Path, text: str, match: str) -> None:
    """Contacts without an address or notifier, AUTH settings that do not fit, a bad webhook URL or a short secret fail at load."""
    with pytest.raises(ConfigError, match=match):
        load(tmp_path, text)


def test_secrets_stay_secret_in_the_settings(tmp_path: Path) -> None:
    """The SMTP password, the webhook URLs and the ack-link secret print as stars."""
    text = (
        MAIL
        + "  t: {kind: teams, url: 'https://teams.example/webhook/KEY1'}\n  mm: {kind: mattermost, url: 'https://mm.example/hooks/KEY2'}\n"
    )
    settings = load(tmp_path, text + "ack_links: {secret: a-long-signing-secret}\n")
    shown = repr(settings) + str(settings.model_dump())
    assert not any(secret in shown for secret in ("KEY1", "KEY2", "a-long-signing-secret")) and "SecretStr('**********')" in shown


def test_ack_links_are_signed_over_incident_person_and_expiry() -> None:
    """The signature checks; a changed incident, person or expiry is 403 (sig), a late click 410 (expires)."""
    secret, expires = SecretStr("a-long-signing-secret"), int((NOW + timedelta(hours=1)).timestamp())
    sig = ack_link_signature(secret, 42, "alice", expires)
    check_ack_link(secret, 42, "alice", str(expires), sig, NOW)
    for incident, by, when in ((43, "alice", expires), (42, "mallory", expires), (42, "alice", expires + 3600)):
        with pytest.raises(Forbidden) as refused:
            check_ack_link(secret, incident, by, str(when), sig, NOW)
        assert refused.value.field == "sig"
    with pytest.raises(Expired) as late:
        check_ack_link(secret, 42, "alice", str(expires), sig, NOW + timedelta(hours=2))
    assert (late.value.status_code, late.value.field) == (410, "expires")
    with pytest.raises(Forbidden, match="expires must be"):
        check_ack_link(secret, 42, "alice", "soon", sig, NOW)


def test_chat_payloads_follow_their_documented_shapes() -> None:
    """Teams gets a message with one Adaptive Card attachment; Mattermost's mentions of everyone are defused."""
    body = card(message())
    [attachment] = body["attachments"]
    assert body["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content = attachment["content"]
    assert (content["type"], content["version"]) == ("AdaptiveCard", "1.4")
    assert content["body"][0]["text"] == "Incident #42: checkout API down"
    assert {"title": "Service", "value": "checkout"} in content["body"][2]["facts"]
    assert {a["title"] for a in content["actions"]} == {"Prefect flow run", "Runbook"}
    assert defuse("@channel and @here, not @alice") == "@\u200bchannel and @\u200bhere, not @alice"
    assert PagingAction(params={"repeat_interval": "90s"}).params.repeat_interval == timedelta(seconds=90)
    with pytest.raises(ValueError, match="at least 1s"):
        PagingAction(params={"repeat_interval": "0s"})
