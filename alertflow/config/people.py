"""The people alertflow pages, defined once in the settings file.

Schedules and escalation policies name people; the Slack interactions endpoint
maps a Slack user id back to one of them so an acknowledgement is recorded
with a name the team knows. Kept apart from the schedules so both sides of
paging (who is paged, who answered) share one definition.

A person's ``contact`` list says every way a step reaches them at once (Slack
and email, say), each entry a notifier and, where it needs one, the person's
address on it; without a list, their Slack id, PagerDuty key and ``notifiers``
are used as before. The list is checked against the notifiers at load.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

from alertflow.yamlmodel import LocatedValueError

# The kinds whose address comes from the person: where a contact entry finds it when it gives none.
ADDRESS_FIELD = {"slack": "slack_user_id", "email": "email"}


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notifier: str = Field(description="slack, pagerduty or a name under notifiers:")
    to: str | None = Field(None, max_length=200, description="the address there: a Slack id or channel, an email, a Mattermost @user")


def _contact(value: Any) -> Any:
    """``slack`` or ``{mail: alice@example.com}``: a notifier's name, alone or with the person's address on it."""
    if isinstance(value, str):
        return {"notifier": value}
    if isinstance(value, dict) and len(value) == 1 and "notifier" not in value:
        [(name, to)] = value.items()
        return {"notifier": name, "to": to}
    return value


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slack_user_id: str | None = Field(None, description="Slack member id (U...), to mention and to recognise button clicks")
    email: str | None = None
    pagerduty_routing_key: SecretStr | None = Field(None, description="Events API v2 routing key of the person's own PagerDuty service")
    notifiers: list[str] = Field([], description="named notifiers (notifiers:) that reach this person too, e.g. a webhook")
    contact: list[Annotated[Contact, BeforeValidator(_contact)]] = Field(
        [], description="every way a step reaches this person, at once: [slack, mail] or [{mail: alice@example.com}]"
    )

    @model_validator(mode="after")
    def _one_list(self) -> Person:
        if self.contact and self.notifiers:
            raise LocatedValueError(("notifiers",), "with a contact list, name these notifiers in contact: instead")
        return self


def person_for_slack_user(people: dict[str, Person], slack_user_id: str) -> str | None:
    """The name of the person with this Slack member id, if one is configured."""
    return next((name for name, person in people.items() if person.slack_user_id == slack_user_id), None)


def check_contacts(people: dict[str, Person], kinds: dict[str, str]) -> None:
    """Every contact names a notifier (``kinds``: name -> kind) once, and has an address where its kind needs one."""
    for name, person in people.items():
        seen: set[str] = set()
        for i, contact in enumerate(person.contact):
            where = ("people", name, "contact", i)
            kind = kinds.get(contact.notifier)
            if kind is None:
                raise LocatedValueError(where, f"no notifier {contact.notifier!r} (slack, pagerduty or one under notifiers:)")
            if contact.notifier in seen:
                raise LocatedValueError(where, f"{contact.notifier} is listed twice")
            seen.add(contact.notifier)
            field = ADDRESS_FIELD.get(kind)
            if field and not (contact.to or getattr(person, field)):
                raise LocatedValueError(where, f"{contact.notifier} ({kind}) needs an address: {{{contact.notifier}: ...}} or {field}")
            if kind == "pagerduty" and (contact.to or not person.pagerduty_routing_key):
                raise LocatedValueError(where, "pagerduty reaches the person's own pagerduty_routing_key (set it; no address here)")
            if kind == "email" and contact.to and ("@" not in contact.to or "\n" in contact.to or "\r" in contact.to):
                raise LocatedValueError(where, f"not an email address: {contact.to!r}")
