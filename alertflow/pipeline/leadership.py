"""Exactly one pipeline at a time, however many API replicas share the store: a fenced lease.

The rule engine keeps windows, timers and open incidents in memory; two
engines deciding over one inbox would open incidents twice. So every API
process competes for one row of ``leases``; the holder leads (engine,
announcer), the others stand by and try again every half second.

Fencing, not just election: a leader that paused (GC, a stalled disk, a cut
network) may still believe it leads after its lease ran out and a standby took
over. So the pipeline's every write transaction begins by renewing the lease
*for its own term*; if the row no longer names this holder and term, the
transaction is rolled back (``NotLeader``) and nothing of it lands. On
PostgreSQL the renewal's row lock is held until commit, so a takeover cannot
slip between the check and the commit; SQLite's BEGIN IMMEDIATE serializes
writers outright. Expiry is judged by the database's clock on PostgreSQL, so
replicas' clocks may disagree.

The lease is also renewed every second by ``keep_alive``, so a leader busy
restoring a large engine state keeps it; only a process that stops running
(or cannot reach the database) loses it.

A stopping leader gives its lease up, so a standby takes over at once; a dead
one's lease runs out after ``LEASE_SECONDS`` and a standby takes over within
about ``LEASE_SECONDS + STANDBY_POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Any

from sqlalchemy import Float, bindparam, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alertflow.errors import NotLeader, StoreError
from alertflow.store import tables as t
from alertflow.store.database import Store
from alertflow.store.tx import Tx, dialect_insert

log = logging.getLogger(__name__)
LEASE_SECONDS = 3.0  # the leader renews with every write, and at least once a second while idle (its tick)
STANDBY_POLL_SECONDS = 0.5


def database_now(conn: AsyncConnection) -> Any:
    """Now, in epoch seconds, by the database's clock where there is one shared by every replica."""
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", func.clock_timestamp())
    return literal(time.time())  # SQLite: one machine, one clock


class Leadership:
    """This process's claim on one elected role (``pipeline``)."""

    def __init__(self, store: Store, name: str = "pipeline", ttl_seconds: float = LEASE_SECONDS) -> None:
        self.store = store
        self.name = name
        self.ttl = ttl_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.term: int | None = None
        self._fences: dict[str, Any] = {}  # dialect -> the fencing UPDATE

    @property
    def is_leader(self) -> bool:
        return self.term is not None

    async def try_acquire(self) -> bool:
        """Lead if the lease is free, expired or ours; each success starts a new term."""
        async with self.store.write() as tx:
            now = database_now(tx.conn)
            statement = dialect_insert(tx.conn, t.leases).values(name=self.name, holder=self.holder, term=1, expires_at=now + self.ttl)
            statement = statement.on_conflict_do_update(
                index_elements=["name"],
                set_={"holder": self.holder, "term": t.leases.c.term + 1, "expires_at": now + self.ttl},
                where=(t.leases.c.expires_at < now) | (t.leases.c.holder == self.holder),
            ).returning(t.leases.c.term)
            term = (await tx.conn.execute(statement)).scalar_one_or_none()
        if term is not None:
            self.term = term
            log.warning("%s leader now: %s (term %d)", self.name, self.holder, term)
        return term is not None

    async def fence(self, tx: Tx) -> None:
        """Renew the lease inside ``tx``, or roll it back: this process no longer leads."""
        if self.term is None:
            raise NotLeader(f"{self.holder} does not lead the {self.name}")
        dialect = tx.conn.dialect.name
        if dialect not in self._fences:  # built once: the pipeline fences every transaction, and building cost more than running
            now = func.extract("epoch", func.clock_timestamp()) if dialect == "postgresql" else bindparam("fence_now", type_=Float)
            where = (t.leases.c.name == bindparam("fence_name"), t.leases.c.holder == bindparam("fence_holder"),
                     t.leases.c.term == bindparam("fence_term"))  # fmt: skip
            expires = now + bindparam("fence_ttl", type_=Float)
            self._fences[dialect] = update(t.leases).where(*where).values(expires_at=expires)
        values = {"fence_name": self.name, "fence_holder": self.holder, "fence_term": self.term, "fence_ttl": self.ttl}
        if dialect != "postgresql":
            values["fence_now"] = time.time()  # SQLite: one machine, one clock
        if (await tx.conn.execute(self._fences[dialect], values)).rowcount != 1:
            lost, self.term = self.term, None
            raise NotLeader(f"{self.holder} lost the {self.name} lease (term {lost}); its write was rolled back")

    async def keep_alive(self, stop: asyncio.Event) -> None:
        """Renew the lease while leading, also when the pipeline does not write (restoring a large engine state
        after a takeover takes longer than a lease): only a process that stopped running loses it."""
        while not stop.is_set():
            if self.is_leader:
                try:
                    async with self.store.write() as tx:
                        await self.fence(tx)
                except NotLeader as err:
                    log.warning("%s", err)
                except StoreError as err:
                    log.warning("could not renew the %s lease: %s", self.name, err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.ttl / 3)

    async def release(self) -> None:
        """Give the lease up (a clean stop), so a standby need not wait for it to run out."""
        if self.term is None:
            return
        term, self.term = self.term, None
        query = (
            update(t.leases)
            .where(t.leases.c.name == self.name, t.leases.c.holder == self.holder, t.leases.c.term == term)
            .values(expires_at=0.0)
        )
        async with self.store.write() as tx:
            await tx.conn.execute(query)
        log.info("%s lease given up by %s (term %d)", self.name, self.holder, term)

    async def current(self) -> tuple[str, int, float] | None:
        """Who leads, in which term, and for how many more seconds (by the database's clock)."""
        async with self.store.read() as conn:
            query = select(t.leases.c.holder, t.leases.c.term, t.leases.c.expires_at - database_now(conn)).where(
                t.leases.c.name == self.name
            )
            row = (await conn.execute(query)).first()
        return None if row is None else (row[0], row[1], row[2])


class Unfenced:
    """For a pipeline that is alone by construction (tests, replay): it always leads."""

    holder = "unfenced"
    term = 0
    is_leader = True

    async def try_acquire(self) -> bool:
        return True

    async def fence(self, tx: Tx) -> None:
        return None

    async def release(self) -> None:
        return None
