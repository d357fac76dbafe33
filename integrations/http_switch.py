"""A traffic switch behind a small HTTP API, for load balancers and DNS front ends.

Contract: ``GET url`` answers ``{"active": "<backend>"}``; ``POST url`` with
``{"active": "<backend>"}`` makes that backend serve. The bearer token, if any,
is sent as a header and never appears in errors.
"""

from __future__ import annotations

import httpx

from alertflow.config import HttpSwitchSettings
from alertflow.errors import PermanentIntegrationError
from integrations.http import request, safe_url


class HttpTrafficSwitch:
    def __init__(self, settings: HttpSwitchSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client
        token = settings.token.get_secret_value() if settings.token else None
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def status(self) -> str:
        response = await request(self.client, "GET", self.settings.url, headers=self.headers, timeout=self.settings.timeout_seconds)
        try:
            active = response.json()["active"]
        except (ValueError, KeyError, TypeError):
            raise PermanentIntegrationError(f"GET {safe_url(self.settings.url)}: answer has no 'active' field") from None
        return str(active)

    async def shift(self, to: str) -> str:
        previous = await self.status()
        await request(
            self.client, "POST", self.settings.url, json={"active": to}, headers=self.headers, timeout=self.settings.timeout_seconds
        )
        return previous
