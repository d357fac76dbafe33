"""The queue that carries people's commands from any API replica to the pipeline leader.

An acknowledgement changes the engine's memory (a resolved incident is
forgotten, inhibited alerts are evaluated again, a silence holds alerts
back), so only the process that runs the engine may apply it. The replica
that took the request queues it here and waits; the leader applies it and
writes the result *in the same transaction* as the change, so a command is
applied exactly once whatever crashes. A command nobody applied in time is
withdrawn in one conditional update: either the leader applied it first (the
waiter reads its result) or it will never be applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from alertflow.errors import AlertflowError
from alertflow.store import tables as t
from alertflow.store.database import Store
from alertflow.store.tx import Tx
from alertflow.store.wakeups import COMMANDS, notify


class Withdrawn(AlertflowError):
    """The command's waiter gave up before the leader applied it: the change must not land."""


@dataclass(frozen=True)
class Command:
    id: int
    kind: str
    payload: dict[str, Any]


async def finish_command(tx: Tx, command_id: int | None, at: datetime, result: dict[str, Any]) -> None:
    """Record a command's result with the change it made; a withdrawn command rolls the change back."""
    if command_id is None:
        return
    query = update(t.commands).where(t.commands.c.id == command_id, t.commands.c.done_at.is_(None)).values(done_at=at, result=result)
    if (await tx.conn.execute(query)).rowcount != 1:
        raise Withdrawn(f"command {command_id} was withdrawn before it was applied")


class CommandQueue:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def submit(self, kind: str, payload: dict[str, Any], at: datetime) -> int:
        async with self.store.write() as tx:
            await notify(tx.conn, COMMANDS)
            values = {"kind": kind, "payload": payload, "created_at": at}
            return (await tx.conn.execute(insert(t.commands).values(**values).returning(t.commands.c.id))).scalar_one()

    async def pending(self, limit: int = 100) -> list[Command]:
        query = select(t.commands.c.id, t.commands.c.kind, t.commands.c.payload).where(t.commands.c.done_at.is_(None))
        async with self.store.read() as conn:
            rows = await conn.execute(query.order_by(t.commands.c.id).limit(limit))
            return [Command(row.id, row.kind, row.payload) for row in rows]

    async def result(self, command_id: int) -> dict[str, Any] | None:
        query = select(t.commands.c.result).where(t.commands.c.id == command_id, t.commands.c.done_at.is_not(None))
        async with self.store.read() as conn:
            return (await conn.execute(query)).scalar_one_or_none()

    async def withdraw(self, command_id: int, at: datetime, result: dict[str, Any]) -> bool:
        """Give up on a command nobody applied; False when the leader applied it first."""
        query = update(t.commands).where(t.commands.c.id == command_id, t.commands.c.done_at.is_(None)).values(done_at=at, result=result)
        async with self.store.write() as tx:
            return (await tx.conn.execute(query)).rowcount == 1
