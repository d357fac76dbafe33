"""Who a step of an escalation reaches, and with what: shared by the announcer and the paging flow.

A step's recipient (a schedule, a person, a channel, PagerDuty, a named
notifier) becomes concrete deliveries at the moment the step runs: the
schedule's current on-call, then that person's Slack id (a direct message),
PagerDuty routing key and named notifiers. A delivery names where its
PagerDuty key is configured, never the key, so the page log and timeline stay
free of secrets and an acknowledgement later finds the same key again. The
announcer (first pages, in the API process) and the paging flow (the rest of
the escalation, in a worker) both build deliveries, step keys and messages
here, so the page log sees one step the same way from either side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alertflow.config.oncall import Recipient, on_call
from alertflow.config.secrets import resolve_secrets
from alertflow.config.settings import Settings
from alertflow.errors import ConfigError, PermanentIntegrationError
from alertflow.integrations.notifiers import Notifier
from alertflow.integrations.notifiers.message import PageMessage
from alertflow.integrations.notifiers.registry import kind_of
from alertflow.models import Incident, IncidentStatus, PagingParams, TimelineEntry, TimelineKind


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
