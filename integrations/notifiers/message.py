"""The page message every notifier sends: the incident as it stands, in plain text and in Slack's Block Kit.

One model, so a page says the same on every channel: PagerDuty's summary and a
webhook's ``text`` are ``text()``; Slack shows ``blocks()`` (title, severity,
service, firing count, links, and Acknowledge / Resolve / Escalate-now
buttons, value = the incident id, that ``POST /slack/interactions`` receives).
Once someone acknowledges or resolves, the buttons give way to who did it and
when. A storm's digest (``Digest``) lists many incidents in one message, each
with its own Acknowledge button, within Slack's 50-block limit. Alert text is
plain in our models and escaped on the way out, so an alert titled
``<!channel>`` cannot notify a whole channel. A notifier's template
(rendering.py) sets ``template_title`` / ``template_text``; unset, the
headline and text are the defaults below, unchanged.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel

from alertflow.models import Incident, Severity

SEVERITY_EMOJI = {
    Severity.critical: ":red_circle:",
    Severity.error: ":large_orange_circle:",
    Severity.warning: ":large_yellow_circle:",
    Severity.info: ":large_blue_circle:",
}
ACK, RESOLVE, ESCALATE = "alertflow_ack", "alertflow_resolve", "alertflow_escalate"
MAX_DETAIL = 2500  # a section's text holds 3000 characters
DIGEST_SIZE = 200  # incidents in one digest message: 10 groups of 20, two blocks each, well within Slack's 50 blocks
DIGEST_GROUP = 20  # incidents per section (its text holds 3,000 characters) and per actions block (25 elements)
BUTTONS = ((ACK, "Acknowledge", "primary"), (RESOLVE, "Resolve", None), (ESCALATE, "Escalate now", "danger"))


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: an alert title with ``<`` must not become a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_time(at: datetime) -> str:
    """A time each reader sees in their own time zone, with a UTC fallback for old clients."""
    fallback = at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


class PageMessage(BaseModel):
    incident_id: int
    key: str | None = None  # the incident key: PagerDuty's dedup key, a webhook's correlation key
    page_id: int | None = None  # the page log row this message is, so a notifier can find it again after a crash
    title: str
    severity: Severity
    service: str
    status: str
    link: str | None = None  # the Prefect flow run; shown first among the links
    links: dict[str, str] = {}  # label -> URL: generator URL, runbook, ...
    firing_count: int = 0
    step: str | None = None  # where escalation is, e.g. "step 2/3, repeat 1/2"
    reason: str | None = None  # an escalation: why automation handed over to a person
    detail: str | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    alert_count: int = 0
    alerts: list[dict[str, Any]] = []  # the incident's alerts as templates see them (name, status, labels, annotations...)
    template_title: str | None = None  # what the notifier's template rendered; None: the default
    template_text: str | None = None

    @classmethod
    def for_incident(cls, incident: Incident, **extra: Any) -> PageMessage:
        """The page for the incident as it stands: status, and who acknowledged or resolved it and when
        (what ``update`` shows after an ack from anywhere). ``extra`` sets links, firing_count, step..."""
        state = {
            "incident_id": incident.id,
            "key": incident.key,
            "title": incident.title,
            "severity": incident.severity,
            "service": incident.service,
            "status": incident.status.value,
            "acked_by": incident.acknowledged_by,
            "acked_at": incident.acknowledged_at,
            "resolved_by": incident.resolved_by,
            "resolved_at": incident.resolved_at,
        }
        return cls(**(state | extra))

    def headline(self) -> str:
        """One line: Slack's heading, an email's subject line, a card's title."""
        return self.template_title if self.template_title is not None else f"Incident #{self.incident_id}: {self.title}"

    def text(self) -> str:
        """Plain text: Slack's notification and fallback (escaped when sent), PagerDuty's summary."""
        if self.template_text is not None:
            return self.template_text
        return self.default_text()

    def default_text(self) -> str:
        escalation = f" ESCALATION: {self.reason}" if self.reason else ""
        done = f" (resolved by {self.resolved_by})" if self.resolved_by else f" (acknowledged by {self.acked_by})" if self.acked_by else ""
        return f"[{self.severity.value.upper()}] Incident #{self.incident_id}: {self.title} ({self.service}){escalation}{done}"

    def blocks(self) -> list[dict[str, Any]]:
        heading = f"{SEVERITY_EMOJI[self.severity]} *{escape(self.headline())}*"
        fields = [f"*Severity*\n{self.severity.value}", f"*Service*\n{escape(self.service)}", f"*Status*\n{self.status}"]
        if self.firing_count:
            fields.append(f"*Firing alerts*\n{self.firing_count}")
        if self.step:
            fields.append(f"*Escalation*\n{escape(self.step)}")
        blocks: list[dict[str, Any]] = [section(heading), {"type": "section", "fields": [mrkdwn(f) for f in fields]}]
        if self.reason:
            text = f"*Escalation:* {escape(self.reason)}" + (f"\n```{escape(self.detail[:MAX_DETAIL])}```" if self.detail else "")
            blocks.append(section(text))
        links = self.all_links()
        if links:
            text = " · ".join(f"<{escape(url)}|{escape(label)}>" for label, url in links.items())
            blocks.append({"type": "context", "elements": [mrkdwn(text)]})
        done = self._done()
        blocks.append({"type": "context", "elements": [mrkdwn(line) for line in done]} if done else self._buttons())
        return blocks

    def all_links(self) -> dict[str, str]:
        """The Prefect flow run first, then the alerts' links (generator URL, runbook)."""
        return ({"Prefect flow run": self.link} if self.link else {}) | self.links

    def facts(self) -> list[tuple[str, str]]:
        """What a card or an email lists under the text: severity, service, status, firing alerts, escalation."""
        found = [("Severity", self.severity.value), ("Service", self.service), ("Status", self.status)]
        found += [("Firing alerts", str(self.firing_count))] if self.firing_count else []
        found += [("Escalation", self.step)] if self.step else []
        found += [("Escalation reason", self.reason)] if self.reason else []
        return found

    def _done(self) -> list[str]:
        lines = []
        if self.acked_by:
            lines.append(
                f":white_check_mark: Acknowledged by {escape(self.acked_by)}"
                + (f" at {slack_time(self.acked_at)}" if self.acked_at else "")
            )
        if self.resolved_by:
            lines.append(
                f":large_green_circle: Resolved by {escape(self.resolved_by)}"
                + (f" at {slack_time(self.resolved_at)}" if self.resolved_at else "")
            )
        return lines

    def _buttons(self) -> dict[str, Any]:
        elements = []
        for action_id, label, style in BUTTONS:
            button = {
                "type": "button",
                "action_id": action_id,
                "text": {"type": "plain_text", "text": label},
                "value": str(self.incident_id),
            }
            elements.append(button | ({"style": style} if style else {}))
        return {"type": "actions", "block_id": f"alertflow_incident_{self.incident_id}", "elements": elements}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


class Digest(BaseModel):
    """Many incidents' first pages for one target in one message, when a storm opens more incidents than the
    target's rate limit lets through one by one: how many, which services and severities, and each incident
    with its status and its own Ack button (``alertflow_ack:<id>``). Kept up to date as they are answered."""

    pages: list[PageMessage]

    def text(self) -> str:
        services = Counter(page.service for page in self.pages)
        top = ", ".join(f"{name} ({n})" if n > 1 else name for name, n in services.most_common(5))
        more = f" and {len(services) - 5} more services" if len(services) > 5 else ""
        return f"{len(self.pages)} incidents opened: {top}{more}"

    def blocks(self) -> list[dict[str, Any]]:
        severities = Counter(page.severity for page in self.pages)
        open_now = sum(1 for page in self.pages if not (page.acked_by or page.resolved_by))
        summary = " · ".join(f"{SEVERITY_EMOJI[s]} {n} {s.value}" for s, n in sorted(severities.items(), key=lambda i: i[0].rank))
        blocks: list[dict[str, Any]] = [
            section(f"*{escape(self.text())}*"),
            {"type": "context", "elements": [mrkdwn(f"{summary} · {open_now} not acknowledged")]},
        ]
        shown = self.pages[:DIGEST_SIZE]
        for group in (shown[i : i + DIGEST_GROUP] for i in range(0, len(shown), DIGEST_GROUP)):
            blocks.append(section("\n".join(_digest_line(page) for page in group)))
            buttons = [
                {"type": "button", "action_id": f"{ACK}:{p.incident_id}", "text": {"type": "plain_text", "text": f"Ack #{p.incident_id}"},
                 "value": str(p.incident_id)}
                for p in group if not (p.acked_by or p.resolved_by)
            ]  # fmt: skip
            if buttons:  # action ids are unique within a block: the incident id rides along (POST /slack/interactions)
                blocks.append({"type": "actions", "elements": buttons})
        return blocks


def _digest_line(page: PageMessage) -> str:
    """One incident in a digest, short enough for twenty in a section: severity, id, title, service, who answered."""
    done = f" · :large_green_circle: resolved by {escape(page.resolved_by)}" if page.resolved_by else ""
    done = done or (f" · :white_check_mark: acknowledged by {escape(page.acked_by)}" if page.acked_by else "")
    return f"{SEVERITY_EMOJI[page.severity]} *#{page.incident_id}* {escape(page.title[:60])} ({escape(page.service[:30])}){done}"
