"""The page message's Block Kit: what on-call people see and the buttons they press."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from alertflow.integrations.notifiers.message import PageMessage
from alertflow.models import Incident, IncidentStatus, Severity

AT = datetime(2026, 11, 27, 10, 5, tzinfo=timezone.utc)


def message(**changes: Any) -> PageMessage:
    fields: dict[str, Any] = {"incident_id": 42, "title": "checkout API down", "severity": Severity.critical, "service": "checkout"}
    return PageMessage(**({"status": "open"} | fields | changes))


def texts(blocks: list[dict[str, Any]]) -> str:
    """Every piece of text in the blocks, one per line, to assert on what a reader sees."""
    found: list[str] = []
    for block in blocks:
        found += [block["text"]["text"]] if "text" in block else []
        found += [part["text"] for part in block.get("fields", []) + block.get("elements", []) if part.get("type") == "mrkdwn"]
    return "\n".join(found)


def actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [element for block in blocks if block["type"] == "actions" for element in block["elements"]]


def test_open_page_has_three_buttons_carrying_the_incident_id() -> None:
    """An open page offers Acknowledge, Resolve and Escalate now, each valued with the incident id."""
    buttons = actions(message().blocks())
    assert [(b["action_id"], b["value"], b["text"]["text"]) for b in buttons] == [
        ("alertflow_ack", "42", "Acknowledge"),
        ("alertflow_resolve", "42", "Resolve"),
        ("alertflow_escalate", "42", "Escalate now"),
    ]


def test_page_shows_title_severity_service_firing_count_step_and_links() -> None:
    """Title, severity, service, firing count, escalation step and every link (flow run first) are shown."""
    shown = texts(
        message(
            firing_count=7,
            step="step 2/3, repeat 1/2",
            link="http://prefect/runs/flow-run/1",
            links={"Generator": "http://prom/graph?g0.expr=up", "Runbook": "https://wiki/checkout"},
        ).blocks()
    )
    assert "*Incident #42: checkout API down*" in shown
    assert "*Severity*\ncritical" in shown and "*Service*\ncheckout" in shown
    assert "*Firing alerts*\n7" in shown and "*Escalation*\nstep 2/3, repeat 1/2" in shown
    assert (
        "<http://prefect/runs/flow-run/1|Prefect flow run> · <http://prom/graph?g0.expr=up|Generator> · <https://wiki/checkout|Runbook>"
        in shown
    )


def test_firing_count_and_links_are_left_out_when_unknown() -> None:
    """No firing count, no step, no links: no empty fields or context line."""
    shown = texts(message().blocks())
    assert "Firing alerts" not in shown and "Escalation" not in shown and "<http" not in shown


def test_acknowledged_page_replaces_buttons_with_who_and_when() -> None:
    """Once acknowledged the buttons are gone and the message says who acknowledged, and when."""
    acked = message(status="acknowledged", acked_by="alice", acked_at=AT)
    blocks = acked.blocks()
    assert actions(blocks) == []
    assert "Acknowledged by alice at <!date^1795773900^{date_short_pretty} {time}|2026-11-27 10:05 UTC>" in texts(blocks)
    assert acked.text().endswith("(acknowledged by alice)")


def test_resolved_page_says_who_resolved_after_who_acknowledged() -> None:
    """A resolved page keeps the acknowledgement line and adds the resolution; no buttons."""
    blocks = message(acked_by="alice", acked_at=AT, resolved_by="bob", resolved_at=AT).blocks()
    shown = texts(blocks)
    assert actions(blocks) == [] and shown.index("Acknowledged by alice") < shown.index("Resolved by bob")


def test_resolved_without_ack_has_no_buttons() -> None:
    """Resolving straight away (no ack) also removes the buttons."""
    blocks = message(resolved_by="carol").blocks()
    assert actions(blocks) == [] and "Resolved by carol" in texts(blocks)


def test_alert_text_cannot_inject_links_or_mentions() -> None:
    """Title, service and actor are escaped: ``<!channel>`` in an alert title does not notify everyone."""
    shown = texts(message(title="disk <!channel> & <http://evil|click>", acked_by="<@U1>").blocks())
    assert "<!channel>" not in shown and "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in shown
    assert "Acknowledged by &lt;@U1&gt;" in shown


def test_message_for_an_acknowledged_incident_shows_who_and_when() -> None:
    """for_incident carries the incident's state, so an update after an ack from the CLI shows that ack too."""
    incident = Incident(
        id=42,
        key="service-down|service=checkout",
        title="checkout API down",
        service="checkout",
        severity=Severity.critical,
        status=IncidentStatus.acknowledged,
        rule_id="service-down",
        opened_at=AT,
        acknowledged_at=AT,
        acknowledged_by="alice",
    )
    page = PageMessage.for_incident(incident, firing_count=2)
    assert (page.status, page.acked_by, page.acked_at, page.resolved_by, page.firing_count) == ("acknowledged", "alice", AT, None, 2)
    assert actions(page.blocks()) == [] and "Acknowledged by alice" in texts(page.blocks())


def test_link_urls_are_escaped_and_long_detail_is_cut() -> None:
    """A generator URL with & stays one link (Slack wants &amp;); an escalation detail fits Slack's 3000-character limit."""
    page = message(links={"Generator": "http://prom/graph?g0.expr=up&g0.tab=1"}, reason="recovery failed", detail="x" * 5000)
    shown = texts(page.blocks())
    assert "<http://prom/graph?g0.expr=up&amp;g0.tab=1|Generator>" in shown
    assert all(len(block["text"]["text"]) <= 3000 for block in page.blocks() if "text" in block)
    assert "<!here> db down" in message(title="<!here> db down").text()  # plain: PagerDuty's summary too; Slack escapes on send
