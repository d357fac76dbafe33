"""Connections to the store: the engine for SQLite or PostgreSQL, and how transactions begin and fail.

SQLite (WAL, ``synchronous=FULL``) is the embedded default: a commit is on disk
when it returns, which is what a 2xx to a webhook promises. Write transactions
start with ``BEGIN IMMEDIATE`` so two writers queue instead of failing on a
lock upgrade; inside one process they queue on an asyncio lock, in order,
rather than in SQLite's busy handler, which sleeps 1 to 100 ms between tries
(that sleeping set intake's pace: bench/README.md, "Intake"). Other processes
(a worker) still meet the busy timeout. PostgreSQL is the same code behind a
URL. Driver errors become ``StoreError`` / ``StoreUnavailable`` here.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from tenacity import Retrying, retry_if_exception_message, stop_after_delay, wait_exponential

from alertflow.errors import StoreError, StoreUnavailable
from alertflow.store.inbox import InboxConnection
from alertflow.store.tx import Tx


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Connections:
    """The engine and its transactions; ``Store`` (database.py) adds what it reads and writes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
        if self.is_sqlite:
            options["connect_args"] = {"timeout": 30}
        else:
            # Named per process in pg_stat_activity, so an operator (or the HA test) can tell replicas apart.
            named = {"server_settings": {"application_name": f"alertflow:{os.getpid()}"}}
            options.update(pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=named)
        self.engine = create_async_engine(url, **options)
        self.inbox_writer = InboxConnection(self)  # the inbox's own connection (store/inbox.py)
        self._writer_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", sqlite_on_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_on_begin)

    async def dispose(self) -> None:
        await self.inbox_writer.close()
        await self.engine.dispose()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """One write transaction; everything in it lands together or not at all."""
        if self.is_sqlite:  # one writer at a time: queue here, in order, not in SQLite's busy handler (it sleeps 1-100 ms)
            async with self.writer_lock(), self._write() as tx:
                yield tx
        else:
            async with self._write() as tx:
                yield tx

    def configure_sqlite(self, connection: Any) -> None:
        """The pragmas every SQLite connection of the store gets (also the inbox's own, store/inbox.py)."""
        sqlite_on_connect(connection, None)

    def writer_lock(self) -> asyncio.Lock:
        """SQLite: this process's writers, one at a time, in order."""
        loop = asyncio.get_running_loop()
        if loop not in self._writer_locks:
            self._writer_locks[loop] = asyncio.Lock()
        return self._writer_locks[loop]

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[Tx]:
        try:
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(immediate=True)
                async with conn.begin():
                    yield Tx(conn)
        except DBAPIError as err:
            raise _store_error("write", err) from err
        except OSError as err:  # asyncpg: refused or reset before SQLAlchemy could wrap it
            raise StoreUnavailable(f"database write failed: {err}") from err

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as conn:
                yield conn
        except DBAPIError as err:
            raise _store_error("read", err) from err
        except OSError as err:
            raise StoreUnavailable(f"database read failed: {err}") from err


# asyncpg's errors for a connection that went away; SQLAlchemy wraps them as a plain DBAPIError when it happens while
# connecting (a database behind a cut link): unreachable all the same. By name: asyncpg is only there for PostgreSQL.
_CONNECTION_LOST = {"ConnectionDoesNotExistError", "PostgresConnectionError", "ConnectionFailureError"}


def _store_error(what: str, err: DBAPIError) -> StoreError:
    """Unreachable or locked (worth waiting for) versus refused (a constraint: retrying will not help)."""
    cause = err.orig.__cause__ if err.orig is not None else None  # asyncpg's own error, under SQLAlchemy's adapter
    lost = err.connection_invalidated or type(cause).__name__ in _CONNECTION_LOST  # e.g. cut while connecting
    kind = StoreUnavailable if isinstance(err, (OperationalError, InterfaceError)) or lost else StoreError
    return kind(f"database {what} failed: {type(err.orig).__name__}: {err.orig}")


def switch_to_wal(execute: Any) -> None:
    """``PRAGMA journal_mode=WAL`` through ``execute``. Connections racing to switch a brand-new file (the API and
    workers starting on a fresh install) may be refused at once: SQLite answers "database is locked" without
    waiting where waiting could deadlock. So: briefly again, until one of them has switched it."""
    again, wait = retry_if_exception_message(match="database is locked"), wait_exponential(0.01, max=0.2)
    Retrying(retry=again, wait=wait, stop=stop_after_delay(5), reraise=True)(execute, "PRAGMA journal_mode=WAL")


def sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_on_begin)
    cursor = dbapi_connection.cursor()
    switch_to_wal(cursor.execute)
    for pragma in ("synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    immediate = conn.get_execution_options().get("immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
