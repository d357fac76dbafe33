"""The hot statements of intake and of the pipeline's storm path, on the driver's own connection.

Why: SQLAlchemy runs every parameter of every row through Python (type
processors, the insert sentinel, the compiled-statement cache): at 100 alerts
per request that was a fifth of the API process, and the pipeline writes three
rows per alert (bench/README.md, "Intake"). These few statements are fixed, so
they go straight to the driver (aiosqlite or asyncpg), with parameters already
in the form the database stores, inside the transaction ``Store.write()``
opened: one ``executemany`` (SQLite) or one statement over arrays (PostgreSQL)
per batch. What they store is what SQLAlchemy stored (tests/integration/test_store.py
reads it back through the ordinary reads).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from alertflow.errors import StoreError, StoreUnavailable
from alertflow.models import Alert


def sqlite_time(value: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite DATETIME stores it (UTC, naive, microseconds): what the reads parse."""
    value = value.astimezone(timezone.utc)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value:%H:%M:%S}.{value.microsecond:06d}"


def alert_row(alert: Alert) -> tuple[str, str, str, str, str]:
    """(source, fingerprint, status, alert JSON without raw, raw JSON): an inbox row but its id and time."""
    # What model_dump_json(exclude={"raw"}) writes (tests/integration/test_store.py), at a third of its cost:
    # the fields are JSON types already, enums are str, and orjson writes aware datetimes as pydantic does.
    document = orjson.dumps({k: v for k, v in alert.__dict__.items() if k != "raw"}, option=orjson.OPT_UTC_Z).decode()
    return alert.source, alert.fingerprint, alert.status.value, document, orjson.dumps(alert.raw).decode()


def _stamps(times: Any) -> list[str]:
    """``sqlite_time`` of each; a request's alerts (a batch's rows) share one time, formatted once."""
    stamps, previous, stamp = [], None, ""
    for at in times:
        if at is not previous:
            previous, stamp = at, sqlite_time(at)
        stamps.append(stamp)
    return stamps


SQLITE_MAX_ID = "SELECT coalesce(max(id), 0) FROM inbox"
SQLITE_INSERT_INBOX = "INSERT INTO inbox (id, source, fingerprint, status, received_at, alert, raw) VALUES (?, ?, ?, ?, ?, ?, ?)"


def sqlite_inbox_rows(last_id: int, alerts: Sequence[Alert], rows: Sequence[tuple[str, ...]]) -> tuple[list[int], list[tuple[Any, ...]]]:
    """Ids after ``last_id`` (the inbox's highest, read under BEGIN IMMEDIATE: this transaction is the only
    writer, so the next ids are ours to give) and the parameters of ``SQLITE_INSERT_INBOX``."""
    ids = list(range(last_id + 1, last_id + 1 + len(rows)))
    stamps = _stamps(alert.received_at for alert in alerts)
    return ids, [(i, s, f, st, at, a, r) for i, (s, f, st, a, r), at in zip(ids, rows, stamps, strict=True)]


def insert_inbox_sqlite(connection: sqlite3.Connection, alerts: Sequence[Alert], rows: Sequence[tuple[str, ...]]) -> list[int]:
    """The SQLite inbox insert on a plain sqlite3 connection already in a write transaction."""
    ids, parameters = sqlite_inbox_rows(connection.execute(SQLITE_MAX_ID).fetchone()[0], alerts, rows)
    connection.executemany(SQLITE_INSERT_INBOX, parameters)
    return ids


async def _driver(conn: AsyncConnection) -> tuple[bool, Any]:
    """(is SQLite, the driver's connection), inside the transaction SQLAlchemy began."""
    raw = (await conn.get_raw_connection()).driver_connection
    if conn.dialect.name == "sqlite":
        assert raw.in_transaction, "bulk writes run inside Store.write()"
        return True, raw
    if not raw.is_in_transaction():  # asyncpg: SQLAlchemy begins lazily, at its first statement
        await conn.execute(text("SELECT 1"))
    return False, raw


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Driver errors as the store's own (what SQLAlchemy's would have become): unreachable or locked is
    ``StoreUnavailable`` (the pool's pre-ping drops a dead connection), anything the database refused ``StoreError``."""
    try:
        yield
    except (sqlite3.OperationalError, OSError, *_asyncpg_lost()) as err:
        raise StoreUnavailable(f"database write failed: {type(err).__name__}: {err}") from err
    except (sqlite3.Error, *_asyncpg_refused()) as err:
        raise StoreError(f"database write failed: {type(err).__name__}: {err}") from err


def _asyncpg_lost() -> tuple[type[Exception], ...]:
    import asyncpg

    return asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError


def _asyncpg_refused() -> tuple[type[Exception], ...]:
    import asyncpg

    return (asyncpg.PostgresError,)


async def append_inbox(conn: AsyncConnection, alerts: Sequence[Alert], rows: Sequence[tuple[str, ...]] | None = None) -> list[int]:
    """Insert alerts into the inbox; their ids, in input order. ``rows`` are their ``alert_row``s, if made already."""
    if not alerts:
        return []
    rows = rows if rows is not None else [alert_row(alert) for alert in alerts]
    async with translated():
        sqlite, driver = await _driver(conn)
        if sqlite:
            async with driver.execute(SQLITE_MAX_ID) as cursor:
                (last,) = await cursor.fetchone()
            ids, parameters = sqlite_inbox_rows(last, alerts, rows)
            await driver.executemany(SQLITE_INSERT_INBOX, parameters)
            return ids
        # PostgreSQL: replicas insert at once; ids come from the sequence, in the order asked for.
        records = await driver.fetch("SELECT nextval(pg_get_serial_sequence('inbox', 'id')) FROM generate_series(1, $1)", len(rows))
        ids = sorted(record[0] for record in records)
        columns = list(zip(*rows, strict=True))
        await driver.execute(
            "INSERT INTO inbox (id, source, fingerprint, status, received_at, alert, raw) "
            "SELECT i, s, f, st, at, a::jsonb, r::jsonb FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], "
            "$5::timestamptz[], $6::text[], $7::text[]) AS u(i, s, f, st, at, a, r)",
            ids, columns[0], columns[1], columns[2], [alert.received_at for alert in alerts], columns[3], columns[4],
        )  # fmt: skip
        return ids


async def upsert_incident_alerts(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Record alerts in incidents (incident_alerts rows); a known fingerprint updates its status and last_seen."""
    async with translated():
        sqlite, driver = await _driver(conn)
        if sqlite:
            firsts, lasts = _stamps(r["first_seen"] for r in rows), _stamps(r["last_seen"] for r in rows)
            await driver.executemany(
                "INSERT INTO incident_alerts (incident_id, fingerprint, name, status, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (incident_id, fingerprint) DO UPDATE SET status = excluded.status, last_seen = excluded.last_seen",
                [(r["incident_id"], r["fingerprint"], r["name"], r["status"], first, last) for r, first, last in zip(rows, firsts, lasts, strict=True)],
            )  # fmt: skip
            return
        # One statement cannot update a row twice (ON CONFLICT): the last row of each key wins, as it would one by one.
        last = {(r["incident_id"], r["fingerprint"]): r for r in rows}
        firsts: dict[tuple[int, str], datetime] = {}
        for r in rows:
            firsts.setdefault((r["incident_id"], r["fingerprint"]), r["first_seen"])
        columns = ("incident_id", "fingerprint", "name", "status", "last_seen")
        arrays = [[r[c] for r in last.values()] for c in columns]
        await driver.execute(
            "INSERT INTO incident_alerts (incident_id, fingerprint, name, status, first_seen, last_seen) "
            "SELECT i, f, n, s, fs, ls FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[]) "
            "AS u(i, f, n, s, fs, ls) "
            "ON CONFLICT (incident_id, fingerprint) DO UPDATE SET status = excluded.status, last_seen = excluded.last_seen",
            arrays[0], arrays[1], arrays[2], arrays[3], [firsts[key] for key in last], arrays[4],
        )  # fmt: skip


async def upsert_engine_state(conn: AsyncConnection, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
    """Save engine state rows (kind, key, state): insert, or replace the state of an existing row."""
    async with translated():
        sqlite, driver = await _driver(conn)
        documents = [(kind, key, orjson.dumps(state).decode()) for kind, key, state in rows]
        if sqlite:
            await driver.executemany(
                "INSERT INTO engine_state (kind, key, state) VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET state = excluded.state",
                documents,
            )
            return
        unique = {(kind, key): document for kind, key, document in documents}  # the last state of a key wins
        kinds, keys = zip(*unique, strict=True)
        await driver.execute(
            "INSERT INTO engine_state (kind, key, state) SELECT k, y, s::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS u(k, y, s) "
            "ON CONFLICT (kind, key) DO UPDATE SET state = excluded.state",
            list(kinds), list(keys), list(unique.values()),
        )  # fmt: skip


async def mark_processed(conn: AsyncConnection, inbox_ids: Sequence[int], at: datetime, error: str | None = None) -> None:
    """The pipeline's progress mark on inbox rows (with the error of one set aside)."""
    async with translated():
        sqlite, driver = await _driver(conn)
        if sqlite:
            await driver.execute(
                "UPDATE inbox SET processed_at = ?, error = ? WHERE id IN (SELECT value FROM json_each(?))",
                (sqlite_time(at), error, orjson.dumps(list(inbox_ids)).decode()),
            )
            return
        await driver.execute("UPDATE inbox SET processed_at = $1, error = $2 WHERE id = ANY($3::bigint[])", at, error, list(inbox_ids))
