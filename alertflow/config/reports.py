"""``reports:`` in the settings file: when the weekly report runs, what counts as after hours, how fresh the console is.

Why a section of its own: the report (``alertflow report``, ``GET /reports``,
the ``alertflow-report`` deployment) must say what "after hours" means before
it can count after-hours pages, and that is a team's decision, not ours. A
page is judged in the time zone of the schedule it reached the person through
(``alice (on call for primary)``: ``primary``'s zone), else in ``time_zone``
here; it is after hours when that local time falls outside
``business_hours`` (the same ``from``/``to``/``days`` shape as a schedule
layer's ``restrict``). The defaults: Monday to Friday, 09:00 to 18:00, UTC.
"""

from __future__ import annotations

import re
from datetime import time, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alertflow.config.oncall import WEEKDAYS, Restriction
from alertflow.durations import Duration, TimeZoneName

_CRON_FIELD = r"[\d*/,\-A-Za-z?]+"


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule: str = Field("0 8 * * 1", description="cron of the weekly report deployment (alertflow-report), in time_zone")
    window: Duration = Field(timedelta(days=7), description="how far back the scheduled report looks")
    time_zone: TimeZoneName = Field("UTC", description="the schedule's zone, and after-hours for pages not sent through a schedule")
    business_hours: Restriction = Field(
        Restriction.model_validate({"from": time(9), "to": time(18), "days": list(WEEKDAYS[:5])}),
        description="pages outside these hours and days count as after hours",
    )
    noisy_alerts: int = Field(10, ge=1, le=1000, description="how many of the noisiest alerts the report lists")
    open_incidents_seconds: float = Field(5.0, ge=0.1, description="the open-incidents artifact is published at most this often")

    @field_validator("schedule")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if not re.fullmatch(rf"\s*{_CRON_FIELD}(\s+{_CRON_FIELD}){{4}}\s*", value):
            raise ValueError(f"not a cron expression of five fields: {value!r} (e.g. '0 8 * * 1': Mondays at 08:00)")
        return value.strip()
