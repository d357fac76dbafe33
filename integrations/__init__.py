"""One module per outside system, each behind a small Protocol.

Integrations take their settings (a pydantic model, secrets as ``SecretStr``)
and an injected client, so tests point them at real servers on loopback.
Vendor errors leave as ``RetryableIntegrationError`` or
``PermanentIntegrationError``; flows retry only the first kind.
They never import rules, flows or Prefect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from alertflow.models import Alert


class Source(Protocol):
    """Turns one webhook body into alerts, or raises ``InputError`` naming the field."""

    name: str

    def parse(self, payload: Any, received_at: datetime) -> list[Alert]: ...


@runtime_checkable
class VerifyingSource(Protocol):
    """A source whose messages carry their own proof of origin (SNS signatures, PagerDuty routing keys).

    ``verify`` runs after the request's own auth (alertflow/webhook_auth.py) and before
    ``parse``; it raises ``Unauthorized``/``Forbidden``, or returns text when the message was a
    control message handled here (an SNS subscription confirmed) that carries no alerts.
    """

    async def verify(self, payload: Any) -> str | None: ...


class SwitchState(BaseModel):
    """What a switch serves from: the one active target (None when not exactly one), and
    the raw state per server, enough to put it back exactly as it was."""

    active: str | None
    detail: dict[str, str]


class TrafficSwitch(Protocol):
    """Decides which backend serves a service's traffic."""

    async def status(self) -> SwitchState: ...

    async def shift(self, to: str) -> None:
        """Serve from target ``to``."""
        ...

    async def restore(self, state: SwitchState) -> None:
        """Put the switch back to a state ``status()`` returned (compensation after a failed shift)."""
        ...
