"""Grafana-managed alerting's webhook contact point (payload version 1) into ``Alert``s.

Grafana's notifier is Alertmanager's, so the payload is Alertmanager's webhook
plus Grafana's own fields: per alert ``values`` (what the query returned),
``silenceURL``, ``dashboardURL``, ``panelURL``, ``imageURL``, and for the group
the deprecated ``title``, ``state`` and ``message``. Those per-alert links and
values become annotations, so a page can link straight to the panel. The
optional HMAC signature is checked before parsing (alertflow/auth.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alertflow.integrations.sources.alertmanager import AlertmanagerSource, WebhookAlert, WebhookPayload
from alertflow.integrations.sources.payloads import scalar_text

_LINKS = {"silenceURL": "silence_url", "dashboardURL": "dashboard_url", "panelURL": "panel_url", "imageURL": "image_url"}


class GrafanaAlert(WebhookAlert):
    values: dict[str, float | int | str | bool | None] | None = None
    valueString: str = ""
    silenceURL: str = ""
    dashboardURL: str = ""
    panelURL: str = ""
    imageURL: str = ""

    def extra_annotations(self) -> dict[str, str]:
        extra = {name: getattr(self, field) for field, name in _LINKS.items() if getattr(self, field)}
        if self.values:
            extra["values"] = ", ".join(f"{key}={scalar_text(value)}" for key, value in sorted(self.values.items()))
        if self.valueString:
            extra["value_string"] = self.valueString
        return extra


class GrafanaPayload(WebhookPayload):
    version: Literal["1"]  # type: ignore[assignment]
    alerts: list[GrafanaAlert] = Field(min_length=1)  # type: ignore[assignment]
    orgId: int | None = None
    title: str = ""
    state: str = ""
    message: str = ""


class GrafanaSource(AlertmanagerSource):
    name = "grafana"
    payload_model = GrafanaPayload
