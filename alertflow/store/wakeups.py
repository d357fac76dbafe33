"""Wake the pipeline leader in another process when an alert or a command lands (PostgreSQL LISTEN/NOTIFY).

In one process, a commit rings the pipeline's doorbell in memory. With several
API replicas the leader is often another process, which would otherwise find
new alerts and people's commands only on its next idle tick, up to a second
later. So every such commit also sends a NOTIFY, delivered only if the
transaction commits, and every replica listens on a connection of its own.
The ticks stay: a notification lost with a dropped connection delays work by a
second, it never loses it. SQLite is one process: nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)
INBOX, COMMANDS = "alertflow_inbox", "alertflow_commands"
RECONNECT_SECONDS = 1.0


async def notify(conn: AsyncConnection, channel: str) -> None:
    """Tell the listeners of ``channel``, when (and if) this transaction commits."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"NOTIFY {channel}"))


class Listener:
    """One connection of this process's own, LISTENing on ``channels``; calls ``wake`` on each notification."""

    def __init__(self, url: str, channels: tuple[str, ...], wake: Callable[[], None]) -> None:
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        self.channels = channels
        self.wake = wake

    async def run(self, stop: asyncio.Event) -> None:
        import asyncpg

        while not stop.is_set():
            try:
                conn = await asyncpg.connect(self.dsn, server_settings={"application_name": f"alertflow:{os.getpid()}:listener"})
            except (OSError, asyncpg.PostgresError) as err:
                log.warning("cannot listen for wake-ups (will retry): %s", err)
                await _wait(stop, RECONNECT_SECONDS)
                continue
            try:
                await self._listen(conn, stop)
            except (OSError, asyncpg.PostgresError) as err:
                log.warning("wake-up listener lost its connection (will retry): %s", err)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
            if not stop.is_set():
                await _wait(stop, RECONNECT_SECONDS)

    async def _listen(self, conn: Any, stop: asyncio.Event) -> None:
        """Until ``stop`` or until the connection is lost."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        for channel in self.channels:
            await conn.add_listener(channel, lambda *_args: self.wake())
        self.wake()  # anything that landed while we were not listening
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(lost.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
