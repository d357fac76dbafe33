"""One module per outside system, each behind a small Protocol.

Integrations take their settings (a pydantic model, secrets as ``SecretStr``)
and an injected client, so tests point them at real servers on loopback.
Vendor errors leave as ``RetryableIntegrationError`` or
``PermanentIntegrationError``; flows retry only the first kind.
They never import rules, flows or Prefect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from alertflow.models import Alert


class Source(Protocol):
    """Turns one webhook body into alerts, or raises ``InputError`` naming the field."""

    name: str

    def parse(self, payload: Any, received_at: datetime) -> list[Alert]: ...


class TrafficSwitch(Protocol):
    """Decides which backend serves a service's traffic."""

    async def status(self) -> str: ...

    async def shift(self, to: str) -> str:
        """Serve from ``to``; returns what was active before, for a rollback."""
        ...
