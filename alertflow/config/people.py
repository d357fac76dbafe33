"""The people alertflow pages, defined once in the settings file.

Schedules and escalation policies name people; the Slack interactions endpoint
maps a Slack user id back to one of them so an acknowledgement is recorded
with a name the team knows. Kept apart from the schedules so both sides of
paging (who is paged, who answered) share one definition.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slack_user_id: str | None = Field(None, description="Slack member id (U...), to mention and to recognise button clicks")
    email: str | None = None
    pagerduty_routing_key: SecretStr | None = Field(None, description="Events API v2 routing key of the person's own PagerDuty service")
    notifiers: list[str] = Field([], description="named notifiers (notifiers:) that reach this person too, e.g. a webhook")


def person_for_slack_user(people: dict[str, Person], slack_user_id: str) -> str | None:
    """The name of the person with this Slack member id, if one is configured."""
    return next((name for name, person in people.items() if person.slack_user_id == slack_user_id), None)
