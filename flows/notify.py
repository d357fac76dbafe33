"""From an escalation step to notifications, and news to the people already paged.

A step's target (a schedule, a person, a channel, PagerDuty, a named notifier)
becomes concrete deliveries at the moment the step runs: the schedule's current
on-call, then that person's Slack id (a direct message), PagerDuty routing key
and named notifiers. A
delivery names where its PagerDuty key is configured, never the key, so the
page log and timeline stay free of secrets and an acknowledgement later finds
the same key again.

After someone answers, every page already sent hears it through its
notifier's ``update`` (Slack in place, PagerDuty acknowledge/resolve by the
same dedup key, a webhook POST of the new status), and major timeline events go
to the threads of the notifiers that keep one. Notifiers are looked up by name
in the one registry (integrations/notifiers/registry.py): nothing here branches on a kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from prefect.context import TaskRunContext

from alertflow.config.oncall import Recipient, on_call
from alertflow.config.secrets import resolve_secrets
from alertflow.config.settings import Settings
from alertflow.errors import ConfigError, PermanentIntegrationError, RetryableIntegrationError
from alertflow.flows.runtime import io_task, settings
from alertflow.integrations.notifiers import Notifier, PageRef
from alertflow.integrations.notifiers.registry import kind_of
from alertflow.integrations.notifiers.slack import PageMessage
from alertflow.models import Incident, IncidentStatus, PagingParams, TimelineEntry, TimelineKind
from alertflow.store.pages import PageRecord

T = TypeVar("T")
MAX_RETRY_AFTER = 60.0  # a receiver asking for longer is not waited for: the attempt fails and the policy decides


@dataclass(frozen=True)
class Delivery:
    key: str  # unique within the step: "<target>.<notifier>"
    notifier: str  # its name: "slack", "pagerduty" or one under notifiers: (the registry knows its kind)
    recipient: str  # as people read it: "alice (on call for primary)", "#ops"
    address: str  # Slack channel or user id; for others who (person:NAME) or where its secret is configured


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
    if target.notifier is not None:
        return [Delivery(f"{index}.{target.notifier}", target.notifier, target.notifier, target.notifier)], ""
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
    found += [Delivery(f"{index}.{notifier}", notifier, name + suffix, f"person:{name}") for notifier in person.notifiers]
    return found, "" if found else f"{name}{suffix} has no slack_user_id, pagerduty_routing_key or notifiers"


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


async def notifier(name: str, address: str) -> Notifier:
    """The page's notifier, built at use time with every secret it needs resolved now (``${VAR}`` was read at load;
    ``prefect-secret:NAME`` is read here, so a rotated block reaches the next page)."""
    config = settings()
    kind = kind_of(name, config)
    try:
        own = await resolve_secrets(config.notifier(name))
        people, policies = await resolve_secrets(config.people), await resolve_secrets(config.escalation_policies)
    except ConfigError as err:  # a missing Secret block fails this page like a bad token: recorded, and escalation goes on
        raise PermanentIntegrationError(f"{name}: {err}") from None
    return kind.build(own, address, config.model_copy(update={"people": people, "escalation_policies": policies}))


async def wait_out_retry_after(call: Awaitable[T]) -> T:
    """A retryable failure that came with Retry-After waits it out before failing the attempt, so the task's next try
    (Prefect's retry, per the action's policy) is no sooner than the receiver asked; a last attempt fails at once."""
    try:
        return await call
    except RetryableIntegrationError as err:
        context = TaskRunContext.get()
        if err.retry_after and context is not None and context.task_run.run_count <= context.task.retries:
            await asyncio.sleep(min(err.retry_after, MAX_RETRY_AFTER))
        raise


def ref(record: PageRecord) -> PageRef:
    return PageRef(channel=record.channel, ts=record.ts)


@io_task
async def send_page(name: str, address: str, message: PageMessage) -> PageRef:
    return await wait_out_retry_after((await notifier(name, address)).send(message, address))


@io_task
async def update_page(record: PageRecord, message: PageMessage) -> None:
    """Bring one sent page up to date with an acknowledgement or a resolve."""
    await wait_out_retry_after((await notifier(record.notifier, record.address)).update(ref(record), message))


@io_task
async def reply_page(record: PageRecord, text: str) -> PageRef | None:
    return await wait_out_retry_after((await notifier(record.notifier, record.address)).reply(ref(record), text))
