"""The inbox's own connection: each group commit of webhook alerts in one trip to the database.

Why: a 202 waits for the inbox commit, so its latency is intake's pace. Through
SQLAlchemy's pool a commit was six or more trips: a thread switch to aiosqlite
per statement on SQLite, a round trip per statement (and a pre-ping) on
PostgreSQL, each waiting its turn for a CPU on a busy machine. Here:

- SQLite: a thread and a sqlite3 connection of its own run BEGIN IMMEDIATE,
  the insert and COMMIT (WAL, ``synchronous=FULL``: on disk when it returns)
  as one call, under the store's writer lock like every other SQLite write;
- PostgreSQL: a connection of its own sends one statement (ids from the
  sequence, the insert, the NOTIFY that wakes the pipeline leader), which
  commits on its own: on disk (``synchronous_commit``) when it answers.

A connection that failed is closed and opened afresh for the next commit; its
errors become ``StoreUnavailable`` / ``StoreError`` (bulk.py ``translated``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from alertflow.models import Alert
from alertflow.store import bulk
from alertflow.store.wakeups import INBOX

# One statement, so it commits alone. nextval runs row by row in generate_series order, so the ids
# ascend with the ordinality: the i-th alert gets the i-th id.
POSTGRES_APPEND = f"""
WITH ids AS (SELECT n, nextval(pg_get_serial_sequence('inbox', 'id')) AS id FROM generate_series(1, $1::int) AS n),
added AS (
    INSERT INTO inbox (id, source, fingerprint, status, received_at, alert, raw)
    SELECT ids.id, u.s, u.f, u.st, u.at, u.a::jsonb, u.r::jsonb
    FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[]) WITH ORDINALITY
        AS u(s, f, st, at, a, r, n)
    JOIN ids USING (n)
    RETURNING id
)
SELECT pg_notify('{INBOX}', ''), (SELECT array_agg(ids.id ORDER BY ids.n) FROM ids), (SELECT count(*) FROM added)
"""


class InboxConnection:
    """Commits alerts to the inbox for ``Store.append_alerts``; ``store`` gives its URL and writer lock."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._thread: ThreadPoolExecutor | None = None  # SQLite
        self._sqlite: sqlite3.Connection | None = None
        self._postgres: Any = None  # an asyncpg connection

    async def append(self, alerts: Sequence[Alert]) -> list[int]:
        rows = [bulk.alert_row(alert) for alert in alerts]
        if self.store.is_sqlite:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="inbox-commit")
            async with self.store.writer_lock(), bulk.translated():
                return await asyncio.get_running_loop().run_in_executor(self._thread, self._commit_sqlite, alerts, rows)
        async with bulk.translated():
            try:
                return await self._commit_postgres(alerts, rows)
            except BaseException:
                await self._close_postgres()
                raise

    async def close(self) -> None:
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close_sqlite)
            self._thread.shutdown()
            self._thread = None
        await self._close_postgres()

    def _commit_sqlite(self, alerts: Sequence[Alert], rows: list[tuple[str, ...]]) -> list[int]:
        if self._sqlite is None:
            connection = sqlite3.connect(self.store.engine.url.database, timeout=30, check_same_thread=False)
            self.store.configure_sqlite(connection)
            self._sqlite = connection
        connection = self._sqlite
        connection.execute("BEGIN IMMEDIATE")
        try:
            ids = bulk.insert_inbox_sqlite(connection, alerts, rows)
            connection.execute("COMMIT")
        except BaseException:
            self._close_sqlite()  # whatever state it is in (closing rolls back), the next commit starts afresh
            raise
        return ids

    def _close_sqlite(self) -> None:
        if self._sqlite is not None:
            with contextlib.suppress(sqlite3.Error):
                self._sqlite.close()
            self._sqlite = None

    async def _commit_postgres(self, alerts: Sequence[Alert], rows: list[tuple[str, ...]]) -> list[int]:
        if self._postgres is None:
            import asyncpg

            dsn = self.store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            name = {"application_name": f"alertflow:{os.getpid()}:inbox"}
            self._postgres = await asyncpg.connect(dsn, server_settings=name, timeout=10)
        columns = list(zip(*rows, strict=True))
        stamps = [alert.received_at for alert in alerts]
        arguments = (len(rows), columns[0], columns[1], columns[2], stamps, columns[3], columns[4])
        _, ids, added = await self._postgres.fetchrow(POSTGRES_APPEND, *arguments, timeout=30)
        assert added == len(rows) == len(ids), "inbox insert wrote a different number of rows"
        return list(ids)

    async def _close_postgres(self) -> None:
        connection, self._postgres = self._postgres, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)
