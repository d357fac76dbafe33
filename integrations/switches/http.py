"""A traffic switch behind an HTTP API, for cloud load balancers and DNS front ends.

``GET url`` answers JSON naming the active target (field ``status_field``); a
shift sends the configured method to ``shift_url`` (default ``url``) with a body
templated from a fixed set of names (``{target}``, ``{service}``, ``{switch}``,
``{incident_id}``), and only the expected statuses count as success. The bearer
token, if any, is sent as a header and never appears in errors.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from alertflow.config.responses import HttpSwitchSettings
from alertflow.errors import PermanentIntegrationError
from alertflow.integrations.http import request, safe_url
from alertflow.integrations.switches import SwitchState
from alertflow.templates import render


class HttpTrafficSwitch:
    def __init__(self, settings: HttpSwitchSettings, client: httpx.AsyncClient, variables: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.client = client
        self.variables = variables or {}
        token = settings.token.get_secret_value() if settings.token else None
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def status(self) -> SwitchState:
        response = await request(self.client, "GET", self.settings.url, headers=self.headers, timeout=self.settings.timeout_seconds)
        try:
            active = str(response.json()[self.settings.status_field])
        except (ValueError, KeyError, TypeError):
            raise PermanentIntegrationError(
                f"GET {safe_url(self.settings.url)}: answer has no {self.settings.status_field!r} field"
            ) from None
        return SwitchState(active=active, detail={self.settings.status_field: active})

    async def shift(self, to: str) -> None:
        values = {**self.variables, "target": to}
        is_json = "json" in self.settings.content_type
        url = render(self.settings.shift_url, {k: quote(v, safe="") for k, v in values.items()}) if self.settings.shift_url else None
        await request(
            self.client,
            self.settings.method,
            url or self.settings.url,
            expect=self.settings.expect_status,
            content=render(self.settings.body, values, json_string=is_json).encode(),
            headers={**self.headers, "Content-Type": self.settings.content_type},
            timeout=self.settings.timeout_seconds,
        )

    async def restore(self, state: SwitchState) -> None:
        if state.active is None:
            raise PermanentIntegrationError("cannot restore a state without an active target")
        await self.shift(state.active)
