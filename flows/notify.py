"""From an escalation step to notifications, and news to the people already paged.

A step's target (a schedule, a person, a channel, PagerDuty) becomes concrete
deliveries at the moment the step runs: the schedule's current on-call, then
that person's Slack id (a direct message) and PagerDuty routing key. A
delivery names where its PagerDuty key is configured, never the key, so the
page log and timeline stay free of secrets and an acknowledgement later finds
the same key again.

After someone answers, every page already sent hears it: Slack messages are
updated in place (who, when; the buttons go), PagerDuty alerts are
acknowledged or resolved by the same dedup key, and major timeline events go
to the page's thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from alertflow.config.oncall import Recipient, on_call
from alertflow.config.settings import PagerDutySettings, Settings
from alertflow.errors import PermanentIntegrationError
from alertflow.flows.runtime import io_task, settings
from alertflow.integrations.notifiers.pagerduty import PagerDutyNotifier, PagerDutyResult
from alertflow.integrations.notifiers.slack import MessageRef, PageMessage, SlackNotifier
from alertflow.models import Incident, IncidentStatus, PagingParams, TimelineEntry, TimelineKind
from alertflow.store.pages import PageRecord

Notifier = Literal["slack", "pagerduty"]


@dataclass(frozen=True)
class Delivery:
    key: str  # unique within the step: "<target>.<notifier>"
    notifier: Notifier
    recipient: str  # as people read it: "alice (on call for primary)", "#ops"
    address: str  # Slack channel or user id; for PagerDuty where its routing key is configured


def answered(incident: Incident) -> bool:
    """Acknowledged or resolved: escalation stops and no page follows."""
    return incident.acknowledged_at is not None or incident.status is IncidentStatus.resolved


def deliveries(target: Recipient, where: str, index: int, config: Settings, now: datetime) -> tuple[list[Delivery], str]:
    """The notifications one target means right now, or none and why."""
    if target.slack_channel is not None:
        return [Delivery(f"{index}.slack", "slack", target.slack_channel, target.slack_channel)], ""
    if target.pagerduty is not None:
        default = target.pagerduty.get_secret_value() == "default"
        return [Delivery(f"{index}.pagerduty", "pagerduty", "PagerDuty" + (" (default service)" if default else ""), where)], ""
    name, suffix = target.person, ""
    if target.schedule is not None:
        name, _source = on_call(config.schedules[target.schedule], now)
        if name is None:
            return [], f"nobody is on call for {target.schedule}"
        suffix = f" (on call for {target.schedule})"
    assert name is not None
    person = config.people[name]
    found = []
    if person.slack_user_id:
        found.append(Delivery(f"{index}.slack", "slack", name + suffix, person.slack_user_id))
    if person.pagerduty_routing_key:
        found.append(Delivery(f"{index}.pagerduty", "pagerduty", name + suffix, f"person:{name}"))
    return found, "" if found else f"{name}{suffix} has no slack_user_id or pagerduty_routing_key"


def routing_key(address: str, config: Settings) -> str | None:
    """The routing key a PagerDuty delivery's address points at (None: the configured default)."""
    try:
        return _routing_key(address, config)
    except (KeyError, IndexError, ValueError):  # the config changed since the page went out
        raise PermanentIntegrationError(f"pagerduty: {address} is no longer in the config; its routing key is unknown") from None


def _routing_key(address: str, config: Settings) -> str | None:
    kind, _, rest = address.partition(":")
    if kind == "person":
        return config.people[rest].pagerduty_routing_key
    if kind == "policy":
        policy, _, loc = rest.partition(":")
        step, _, target = loc.partition(".")
        targets = config.escalation_policies[policy]
        chosen = targets.fallback if step == "fallback" else targets.steps[int(step)].notify[int(target)]
        secret = chosen.pagerduty if chosen else None
        value = secret.get_secret_value() if secret else "default"
        return None if value == "default" else value
    return None


def page_message(
    incident: Incident, params: PagingParams, link: str | None, firing: int, links: dict[str, str], step: str | None = None
) -> PageMessage:
    return PageMessage.for_incident(
        incident, link=link, links=links, firing_count=firing, step=step, reason=params.reason, detail=params.detail
    )


def alert_links(entries: list[TimelineEntry]) -> dict[str, str]:
    """Generator and runbook URLs of the incident's alerts, from their timeline entries (latest wins)."""
    links: dict[str, str] = {}
    for entry in entries:
        if entry.kind is TimelineKind.alert:
            links.update(
                {label: entry.data[key] for key, label in (("generator_url", "Source"), ("runbook_url", "Runbook")) if entry.data.get(key)}
            )
    return links


def news(entry: TimelineEntry) -> str | None:
    """What a major timeline event says in the page's thread (failover done, recovery failed, resolved...)."""
    if entry.kind is TimelineKind.resolve:
        return f":large_green_circle: {entry.summary}"
    if entry.kind is TimelineKind.rollback or entry.data.get("major"):
        return entry.summary
    return None


def pagerduty() -> PagerDutyNotifier:
    return PagerDutyNotifier(settings().pagerduty or PagerDutySettings())


def slack() -> SlackNotifier:
    return SlackNotifier(settings().slack)


@io_task
async def send_slack(message: PageMessage, channel: str | None) -> MessageRef:
    return await slack().send(message, channel)


@io_task
async def trigger_pagerduty(incident: Incident, message: PageMessage, address: str, links: dict[str, str]) -> PagerDutyResult:
    details = {"incident": incident.id, "service": incident.service, "status": incident.status.value} | (
        {"reason": message.reason} if message.reason else {}
    )
    source = f"alertflow:{incident.service}"
    key = routing_key(address, settings())
    return await pagerduty().trigger(incident.key, message.text(), incident.severity, source, details, key, links)


@io_task
async def tell_answer(record: PageRecord, incident: Incident, message: PageMessage) -> None:
    """Bring one sent page up to date with an acknowledgement or a resolve."""
    if record.notifier == "slack" and record.channel and record.ts:
        await slack().update(MessageRef(channel=record.channel, ts=record.ts), message)
    elif record.notifier == "pagerduty":
        key = routing_key(record.address, settings())
        if incident.status is IncidentStatus.resolved:
            await pagerduty().resolve(incident.key, key)
        else:
            await pagerduty().acknowledge(incident.key, key)


@io_task
async def reply_slack(record: PageRecord, text: str) -> MessageRef:
    assert record.channel and record.ts
    return await slack().reply(MessageRef(channel=record.channel, ts=record.ts), text)
