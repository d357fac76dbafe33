"""Amazon CloudWatch alarms, delivered by SNS, into ``Alert``s.

An alarm's state change is an SNS ``Notification`` whose ``Message`` is the
alarm as JSON text. ``ALARM`` fires (severity error), ``INSUFFICIENT_DATA``
fires as a warning (the metric stopped arriving: often the fault itself),
``OK`` resolves. The alarm's ARN is the fingerprint, so each alarm is one alert
through all its state changes. The metric's dimensions become labels. Every
message is verified first (integrations/sources/sns.py); a subscription confirmation
is confirmed and yields no alerts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alertflow.config.sources import SnsSettings
from alertflow.errors import InputError
from alertflow.integrations.sources.payloads import label_fingerprint, scalar_text, validate
from alertflow.integrations.sources.sns import SnsVerifier
from alertflow.models import Alert, AlertStatus, Severity

_SEVERITY = {"ALARM": Severity.error, "INSUFFICIENT_DATA": Severity.warning, "OK": Severity.info}


class Dimension(BaseModel):
    name: str
    value: str | int | float


class AlarmTrigger(BaseModel):
    model_config = ConfigDict(extra="ignore")

    MetricName: str = ""
    Namespace: str = ""
    Statistic: str | None = None
    Dimensions: list[Dimension] = []
    Threshold: float | None = None
    ComparisonOperator: str = ""


class Alarm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    AlarmName: str = Field(min_length=1, max_length=255)
    AlarmDescription: str | None = None
    AWSAccountId: str = ""
    Region: str = ""
    AlarmArn: str = ""
    NewStateValue: Literal["ALARM", "OK", "INSUFFICIENT_DATA"]
    OldStateValue: str = ""
    NewStateReason: str = ""
    StateChangeTime: AwareDatetime
    Trigger: AlarmTrigger | None = None


class CloudWatchSource:
    name = "cloudwatch"
    content_types = ("text/plain",)  # SNS posts JSON as text/plain; charset=UTF-8

    def __init__(self, settings: SnsSettings | None = None) -> None:
        self.verifier = SnsVerifier(settings or SnsSettings())

    async def verify(self, payload: Any) -> str | None:
        """Verify the signature; confirm a subscription and say so, or None for a notification to parse."""
        message = await self.verifier.verify(payload)
        if message.Type == "SubscriptionConfirmation":
            await self.verifier.confirm(message)
            return f"subscription to {message.TopicArn} confirmed"
        if message.Type == "UnsubscribeConfirmation":
            return f"unsubscribed from {message.TopicArn}; nothing to do"
        return None

    def parse(self, payload: Any, received_at: datetime) -> list[Alert]:
        text = payload.get("Message") if isinstance(payload, dict) else None
        try:
            inner = orjson.loads(text) if isinstance(text, str) else None
        except orjson.JSONDecodeError:
            inner = None
        if not isinstance(inner, dict):
            raise InputError("Message: expected a CloudWatch alarm as JSON text", field="Message")
        alarm = validate(Alarm, inner, prefix="Message")
        trigger = alarm.Trigger or AlarmTrigger()
        labels = {"alertname": alarm.AlarmName, "state": alarm.NewStateValue}
        arn = alarm.AlarmArn.split(":")
        region = arn[3] if len(arn) > 3 and arn[0] == "arn" and arn[3] else alarm.Region  # us-east-1, not "US East (N. Virginia)"
        extra = {"region": region, "account": alarm.AWSAccountId, "namespace": trigger.Namespace, "metric": trigger.MetricName}
        labels.update({key: value for key, value in extra.items() if value})
        for dimension in trigger.Dimensions:
            labels.setdefault(dimension.name, scalar_text(dimension.value))
        resolved = alarm.NewStateValue == "OK"
        annotations = {"summary": alarm.AlarmDescription or alarm.AlarmName, "description": alarm.NewStateReason}
        raw = {key: value for key, value in payload.items() if key != "UnsubscribeURL"}  # whoever GETs it unsubscribes us
        return [
            Alert(
                source=self.name,
                fingerprint=label_fingerprint({"arn": alarm.AlarmArn or f"{alarm.AWSAccountId}/{alarm.Region}/{alarm.AlarmName}"}),
                name=alarm.AlarmName,
                service=labels.get("service") or labels.get("ServiceName") or trigger.Namespace or "unknown",
                severity=_SEVERITY[alarm.NewStateValue],
                status=AlertStatus.resolved if resolved else AlertStatus.firing,
                labels=labels,
                annotations={key: value for key, value in annotations.items() if value},
                starts_at=alarm.StateChangeTime,
                ends_at=alarm.StateChangeTime if resolved else None,
                received_at=received_at,
                raw={**raw, "Message": inner},
            )
        ]
