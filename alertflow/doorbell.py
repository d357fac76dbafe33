"""A background stage's doorbell: rung when there is work, and a slow tick so nothing depends on the ring.

The API process's stages (pipeline, announcer, dispatcher) each wait here
between passes: a commit rings the next stage, so an alert moves through in
milliseconds, and a missed ring (work left by a crash, Prefect coming back)
costs at most one tick.
"""

from __future__ import annotations

import asyncio
import contextlib


class Doorbell:
    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._rung.set()

    @property
    def rung(self) -> bool:
        """Rung since the last wait ended: there is work the stage has not looked at yet."""
        return self._rung.is_set()

    async def wait(self, seconds: float) -> None:
        """Until rung, or ``seconds`` at most."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._rung.wait(), seconds)
        self._rung.clear()
