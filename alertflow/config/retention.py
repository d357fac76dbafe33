"""``retention:`` in the settings file: how long the store keeps what grows with every alert and incident.

Why a section of its own: the inbox keeps every alert ever accepted, and a
storm is 100,000 rows; without limits the database only grows. How long a
team keeps raw alerts, timelines and its page log is its decision (audits,
reports, replays), so each kind has its own setting. The pipeline leader
applies them in small batches off the decision path (alertflow/pipeline/retention.py);
``alertflow db prune`` shows or applies them by hand. What each kind covers,
and what is never deleted (anything of an incident not resolved, or that may
still reopen): alertflow/store/retention.py and docs/deploy.md, "Retention".

The defaults keep raw alerts 30 days and resolved incidents' timelines and
pages 180 days; the incidents themselves (one small row each, what MTTA and
MTTR are computed from) are kept for good. ``null`` keeps a kind forever.
Anything shorter than an hour is refused: a bare number is seconds, so
``inbox: 30`` would otherwise delete alerts after half a minute.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from alertflow.durations import Duration, format_duration

SHORTEST = timedelta(hours=1)


def _at_least_an_hour(value: timedelta) -> timedelta:
    if value < SHORTEST:
        raise ValueError(f"{format_duration(value)} is too short: keep at least 1h (a bare number is seconds; null keeps forever)")
    return value


KeepFor = Annotated[Duration, AfterValidator(_at_least_an_hour)]


class RetentionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inbox: KeepFor | None = Field(
        timedelta(days=30), description="decided raw alerts received longer ago than this go, unless an unresolved incident has them"
    )
    timeline: KeepFor | None = Field(
        timedelta(days=180), description="an incident resolved longer ago than this loses its timeline, alert list and flow-run rows"
    )
    page_log: KeepFor | None = Field(timedelta(days=180), description="pages of incidents resolved longer ago than this go")
    commands: KeepFor | None = Field(timedelta(days=7), description="people's commands applied longer ago than this go")
    incidents: KeepFor | None = Field(None, description="incidents resolved longer ago than this go whole; null: kept for good")
    every: Duration = Field(
        timedelta(minutes=5), description="how often the pipeline leader prunes (the first pass: one `every` after start)"
    )
    batch_size: int = Field(500, ge=1, le=10_000, description="rows deleted per transaction")
    pause: Duration = Field(timedelta(milliseconds=100), description="rest between two batches, so decisions and intake go first")

    @model_validator(mode="after")
    def _incidents_outlive_their_details(self) -> RetentionSettings:
        """An incident's row goes last: deleting it deletes whatever it still has in one transaction, so its timeline and
        pages must have gone before it, a batch at a time."""
        if self.incidents is None:
            return self
        for name in ("timeline", "page_log"):
            detail = getattr(self, name)
            if detail is None or detail > self.incidents:
                kept = "kept forever" if detail is None else format_duration(detail)
                raise ValueError(
                    f"retention.incidents ({format_duration(self.incidents)}) must be at least retention.{name} ({kept}): "
                    f"an incident's {name.replace('_', ' ')} goes before the incident"
                )
        return self
