"""Alert sources: one module per sender, each turning a webhook body into ``Alert``s.

A sender's request auth (bearer, basic, HMAC) is checked before parsing
(alertflow/auth.py); senders that prove themselves in the body implement
``VerifyingSource``. registry.py builds the endpoints this process serves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from alertflow.models import Alert


class Source(Protocol):
    """Turns one webhook body into alerts, or raises ``InputError`` naming the field."""

    name: str

    def parse(self, payload: Any, received_at: datetime) -> list[Alert]: ...


@runtime_checkable
class VerifyingSource(Protocol):
    """A source whose messages carry their own proof of origin (SNS signatures, PagerDuty routing keys).

    ``verify`` runs after the request's own auth (alertflow/auth.py) and before
    ``parse``; it raises ``Unauthorized``/``Forbidden``, or returns text when the message was a
    control message handled here (an SNS subscription confirmed) that carries no alerts.
    """

    async def verify(self, payload: Any) -> str | None: ...
