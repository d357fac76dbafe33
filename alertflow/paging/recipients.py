"""Who a step of an escalation reaches, and with what: shared by the announcer and the paging flow.

A step's recipient (a schedule, a person, a channel, PagerDuty, a named
notifier) becomes concrete deliveries at the moment the step runs: the
schedule's current on-call, then every way in that person's ``contact``
list, or else their Slack id (a direct message), PagerDuty routing key and
named notifiers. The schedule's on-call includes the overrides stored in the
database (the caller passes ``current_schedules``). A delivery names where its
PagerDuty key is configured, never the key, so the page log and timeline stay
free of secrets and an acknowledgement later finds the same key again. The
announcer (first pages, in the API process) and the paging flow (the rest of
the escalation, in a worker) both build deliveries, step keys and messages
here, so the page log sees one step the same way from either side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr
from typing import Any

from alertflow.config.oncall import Recipient, Schedule, on_call
from alertflow.config.people import Person
from alertflow.config.secrets import resolve_secrets
from alertflow.config.settings import Settings
from alertflow.errors import ConfigError, PermanentIntegrationError
from alertflow.integrations.notifiers import Notifier
from alertflow.integrations.notifiers.message import PageMessage
from alertflow.integrations.notifiers.registry import display_name, kind_name, kind_of
from alertflow.models import Incident, IncidentStatus, PagingParams, TimelineEntry, TimelineKind
from alertflow.store.pages import PageContext, PageLog


def step_label(step: int, steps: int, round_: int, rounds: int) -> str:
    """How people read where an escalation is: "step 2/3", "step 1/2, repeat 2/3"."""
    return f"step {step + 1}/{steps}" + (f", repeat {round_ + 1}/{rounds}" if rounds > 1 else "")


def step_where(policy: str | None, step: int, target: int) -> str:
    """Where a step's target is configured (``policy:NAME:STEP.TARGET``): a PagerDuty delivery's address."""
    return f"policy:{policy}:{step}.{target}"


@dataclass(frozen=True)
class Delivery:
    key: str  # unique within the step: "<target>.<notifier>"
    notifier: str  # its name: "slack", "pagerduty" or one under notifiers: (the registry knows its kind)
    recipient: str  # as people read it: "alice (on call for primary)", "#ops"
    address: str  # Slack channel or user id; for others who (person:NAME) or where its secret is configured


def answered(incident: Incident) -> bool:
    """Acknowledged or resolved: escalation stops and no page follows."""
    return incident.acknowledged_at is not None or incident.status is IncidentStatus.resolved


def deliveries(
    target: Recipient, where: str, index: int, config: Settings, now: datetime, schedules: Mapping[str, Schedule]
) -> tuple[list[Delivery], str]:
    """The notifications one target means right now, or none and why. ``schedules``: the config's with the stored
    overrides on top (alertflow/store/overrides.py ``current_schedules``), so an override made from the CLI is paged."""
    if target.slack_channel is not None:
        return [Delivery(f"{index}.slack", "slack", target.slack_channel, target.slack_channel)], ""
    if target.pagerduty is not None:
        default = target.pagerduty.get_secret_value() == "default"
        return [Delivery(f"{index}.pagerduty", "pagerduty", "PagerDuty" + (" (default service)" if default else ""), where)], ""
    if target.notifier is not None:
        return [Delivery(f"{index}.{target.notifier}", target.notifier, target.notifier, target.notifier)], ""
    name, suffix = target.person, ""
    if target.schedule is not None:
        name, _source = on_call(schedules[target.schedule], now)
        if name is None:
            return [], f"nobody is on call for {target.schedule}"
        suffix = f" (on call for {target.schedule})"
    assert name is not None
    person = config.people[name]
    if person.contact:
        return [Delivery(f"{index}.{c.notifier}", c.notifier, name + suffix, contact_address(name, person, c.notifier, c.to, config))
                for c in person.contact], ""  # fmt: skip
    found = []
    if person.slack_user_id:
        found.append(Delivery(f"{index}.slack", "slack", name + suffix, person.slack_user_id))
    if person.pagerduty_routing_key:
        found.append(Delivery(f"{index}.pagerduty", "pagerduty", name + suffix, f"person:{name}"))
    found += [Delivery(f"{index}.{notifier}", notifier, name + suffix, f"person:{name}") for notifier in person.notifiers]
    return found, "" if found else f"{name}{suffix} has no slack_user_id, pagerduty_routing_key or notifiers"


def contact_address(name: str, person: Person, notifier: str, to: str | None, config: Settings) -> str:
    """Where one of a person's contacts is paged: their Slack id, ``name <email>``, or ``to`` / ``person:NAME``."""
    kind = kind_name(notifier, config)
    if kind == "slack":
        return to or person.slack_user_id or ""
    if kind == "email":
        return formataddr((name, to or person.email or ""))
    return to if to and kind != "pagerduty" else f"person:{name}"


def page_message(
    incident: Incident,
    params: PagingParams,
    link: str | None,
    firing: int,
    links: dict[str, str],
    step: str | None = None,
    alerts: list[dict[str, Any]] | None = None,
) -> PageMessage:
    return PageMessage.for_incident(
        incident, link=link, links=links, firing_count=firing, step=step, reason=params.reason, detail=params.detail,
        alert_count=incident.alert_count or 0, alerts=alerts or [],
    )  # fmt: skip


async def current_message(log: PageLog, incident: Incident, params: PagingParams, step: str | None = None) -> PageMessage:
    """The page for the incident as it stands, with its alerts' links and the alerts templates see."""
    shown = [entry for _, entry in await log.timeline_after(incident.id, 0) if entry.kind is TimelineKind.alert]
    return message_for(PageContext(incident, shown, await log.firing_count(incident.id)), params, step)


def message_for(context: PageContext, params: PagingParams, step: str | None = None) -> PageMessage:
    """The page for an incident read with its alerts (``PageLog.contexts``, many at once)."""
    shown = context.alerts
    return page_message(context.incident, params, None, context.firing, alert_links(shown), step, alert_views(shown))


def template_failed(notifier: str, why: str | None, config: Settings) -> str | None:
    """The timeline's line for a template that failed at render time (the default message was sent instead)."""
    return f"template of {display_name(notifier, config)} failed, the default message was sent: {why}" if why else None


def alert_views(entries: list[TimelineEntry]) -> list[dict[str, Any]]:
    """The incident's alerts as templates see them, from their timeline entries: the latest of each, first seen first."""
    found: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry.kind is TimelineKind.alert and entry.data.get("fingerprint"):
            data, labels = entry.data, entry.data.get("labels") or {}
            found[data["fingerprint"]] = {
                "fingerprint": data["fingerprint"], "name": data.get("name") or labels.get("alertname", ""),
                "status": data.get("status") or ("resolved" if " resolved: " in entry.summary else "firing"),
                "labels": labels, "annotations": data.get("annotations") or {}, "source": data.get("source"),
                "generator_url": data.get("generator_url"), "at": entry.at.isoformat(),
            }  # fmt: skip
    return list(found.values())


def alert_links(entries: list[TimelineEntry]) -> dict[str, str]:
    """Generator and runbook URLs of the incident's alerts, from their timeline entries (latest wins)."""
    links: dict[str, str] = {}
    for entry in entries:
        if entry.kind is TimelineKind.alert:
            links.update(
                {label: entry.data[key] for key, label in (("generator_url", "Source"), ("runbook_url", "Runbook")) if entry.data.get(key)}
            )
    return links


async def notifier_for(name: str, address: str, config: Settings) -> Notifier:
    """The page's notifier, built at use time with every secret it needs resolved now (``${VAR}`` was read at load;
    ``prefect-secret:NAME`` is read here, so a rotated block reaches the next page)."""
    kind = kind_of(name, config)
    try:
        own = await resolve_secrets(config.notifier(name))
        people, policies = await resolve_secrets(config.people), await resolve_secrets(config.escalation_policies)
    except ConfigError as err:  # a missing Secret block fails this page like a bad token: recorded, and escalation goes on
        raise PermanentIntegrationError(f"{name}: {err}") from None
    return kind.build(own, address, config.model_copy(update={"people": people, "escalation_policies": policies}))
