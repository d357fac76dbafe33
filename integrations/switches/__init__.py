"""Traffic switches: what decides which backend serves a service (HAProxy, an HTTP API).

Each switch answers ``status()``, ``shift(to)`` and ``restore(state)``; probe.py
checks through the front end who really answers, so a move is verified by the
traffic itself and not by the switch's word.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel


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
