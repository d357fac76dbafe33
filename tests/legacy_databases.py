"""Databases as alertflow made them before it had migrations, with rows in every table, for the migration tests.

- ``make_12326c7(url)``: ``create_all`` from tests/schema_12326c7.py (the last
  release before migrations, frozen) and ``ROWS`` inserted through its tables.
- ``make_first_release(url)``: the database the first release (284dff0) made
  and no later release started on: the same, with VARCHAR where TEXT is now,
  then without the tables, columns and indexes added since.
- ``table_rows(url)``: every row of every table, as the database returns them,
  to compare before and after an upgrade.
- ``reflected_schema(conn)``: tables, columns, keys and indexes (with their
  predicates, which Alembic's comparison does not look at) as plain data.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests import schema_12326c7 as old
from tests.conftest import pg_database

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
SECOND = timedelta(seconds=1)
KEY = "service-down|service=checkout"
ALERT = {"name": "ServiceDown", "labels": {"service": "checkout", "note": "café ☕"}, "starts_at": "2026-11-27T10:00:00Z"}

ROWS: dict[str, list[dict[str, Any]]] = {
    "inbox": [
        {"id": 1, "source": "alertmanager", "fingerprint": "fp-a", "status": "firing", "received_at": T0, "alert": ALERT}
        | {"raw": {"alerts": [ALERT], "version": "4"}, "processed_at": T0 + SECOND},
        {"id": 2, "source": "grafana", "fingerprint": "fp-b", "status": "firing", "received_at": T0 + SECOND, "alert": {}}
        | {"raw": {"bad": True}, "error": "ValueError: no labels"},
    ],
    "incidents": [
        {"id": 1, "key": KEY, "title": "checkout API down", "service": "checkout", "severity": "critical", "status": "acknowledged"}
        | {"rule_id": "service-down", "opened_at": T0, "acknowledged_at": T0 + 60 * SECOND, "acknowledged_by": "ana", "flapping": True},
        {"id": 2, "key": "disk|service=db", "title": "disk full", "service": "db", "severity": "warning", "status": "resolved"}
        | {"rule_id": "disk", "opened_at": T0, "resolved_at": T0 + 120 * SECOND, "resolved_by": "system"},
    ],
    "incident_alerts": [
        {"incident_id": 1, "fingerprint": "fp-a", "name": "ServiceDown", "status": "firing", "first_seen": T0, "last_seen": T0 + SECOND},
        {"incident_id": 2, "fingerprint": "fp-c", "name": "DiskFull", "status": "resolved", "first_seen": T0, "last_seen": T0},
    ],
    "timeline": [
        {"id": 1, "incident_id": 1, "at": T0, "kind": "alert", "summary": "ServiceDown firing", "data": {"fp": "fp-a"}, "actor": "system"},
        {"id": 2, "incident_id": 1, "at": T0 + SECOND, "kind": "ack", "summary": "acknowledged by ana", "data": {}, "actor": "ana"},
    ],
    "outbox": [
        {"id": 1, "idempotency_key": "3f0c8a52-6d3e-4a8e-9a51-1b2c3d4e5f60", "incident_id": 1, "flow": "paging", "priority": 2}
        | {"parameters": {"incident_id": 1, "action": {"flow": "paging"}}, "created_at": T0, "dispatched_at": T0 + SECOND}
        | {"flow_run_id": "7d9a7a39-0c2e-4f0a-8d67-2a1f3e4b5c6d", "attempts": 1, "next_attempt_at": T0},
        {"id": 2, "idempotency_key": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "incident_id": 1, "flow": "failover", "priority": 0}
        | {"parameters": {"switch": "checkout", "to": "standby"}, "created_at": T0, "attempts": 2, "next_attempt_at": T0 + 30 * SECOND}
        | {"last_error": "Prefect unreachable"},
    ],
    "engine_state": [{"kind": "group", "key": KEY, "state": {"members": ["fp-a"], "opened": "2026-11-27T10:00:00Z"}}],
    "silences": [
        {"id": 1, "matchers": ['service="db"'], "starts_at": T0, "ends_at": T0 + 3600 * SECOND, "author": "bo", "comment": "maintenance"}
        | {"created_at": T0}
    ],
    "locks": [{"name": "switch:checkout", "holder": "run-7d9a", "acquired_at": T0, "expires_at": T0 + 60 * SECOND}],
    "workers": [{"id": "worker-1", "heartbeat_at": T0, "runs": ["7d9a7a39-0c2e-4f0a-8d67-2a1f3e4b5c6d"]}],
    "announcements": [{"id": 1, "outbox_id": 1, "incident_id": 1, "episode": "3f0c8a52", "created_at": T0, "done_at": T0 + SECOND}],
    "pages": [
        {"id": 1, "incident_id": 1, "episode": "3f0c8a52", "step": "1.1.0.slack", "notifier": "slack", "recipient": "#oncall"}
        | {"address": "C0123", "status": "sent", "channel": "C0123", "ts": "1764237600.000100", "claimed_at": T0}
    ],
}

FIRST_RELEASE_TABLES = ("inbox", "incidents", "incident_alerts", "timeline", "outbox")
FIRST_RELEASE = [
    *(f"DROP TABLE {name}" for name in ("pages", "announcements", "workers", "locks", "silences", "engine_state")),
    "DROP INDEX ix_inbox_failed",
    "DROP INDEX ix_outbox_pending",
    "ALTER TABLE outbox DROP COLUMN priority",
    "ALTER TABLE incidents DROP COLUMN flapping",
    "ALTER TABLE inbox DROP COLUMN insert_order",
    "CREATE INDEX ix_outbox_pending ON outbox (next_attempt_at) WHERE dispatched_at IS NULL",
]
FIRST_RELEASE_VARCHAR = {("incidents", "key"): 512, ("incidents", "service"): 256, ("incident_alerts", "name"): 256}


async def make_12326c7(url: str, schema: sa.MetaData = old.metadata) -> None:
    """The database 12326c7 made (its create_all), with ``ROWS`` in every table."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(schema.create_all)
            for table in schema.sorted_tables:
                for row in ROWS[table.name]:  # one by one: a column a row leaves out takes its default
                    await conn.execute(table.insert().values(**row))
    finally:
        await engine.dispose()


async def make_first_release(url: str) -> None:
    """The database 284dff0 made: 12326c7's with its VARCHARs, less what came after (``FIRST_RELEASE``)."""
    schema = sa.MetaData()
    for table in old.metadata.sorted_tables:
        table.to_metadata(schema)
    for (table, column), length in FIRST_RELEASE_VARCHAR.items():
        schema.tables[table].c[column].type = sa.String(length)
    await make_12326c7(url, schema)
    await execute(url, FIRST_RELEASE)


async def execute(url: str, statements: list[str]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


async def table_rows(url: str, tables: tuple[str, ...] = tuple(ROWS)) -> dict[str, list[dict[str, Any]]]:
    """Every row of ``tables``, in primary-key order, in 12326c7's columns (later revisions add columns), as the database
    returns them."""
    engine = create_async_engine(url)
    found = {}
    try:
        async with engine.connect() as conn:
            for name in tables:
                order = ", ".join(c.name for c in old.metadata.tables[name].primary_key.columns)
                known = set(old.metadata.tables[name].columns.keys())
                result = await conn.exec_driver_sql(f"SELECT * FROM {name} ORDER BY {order}")
                found[name] = [{k: v for k, v in row._mapping.items() if k in known} for row in result]
    finally:
        await engine.dispose()
    return found


def reflected_schema(conn: sa.Connection) -> dict[str, Any]:
    """What a database says of its tables (``alembic_version`` aside), as comparable plain data."""
    inspector = sa.inspect(conn)
    schema = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        schema[table] = {
            "columns": {c["name"]: (str(c["type"]), c["nullable"], str(c["default"])) for c in inspector.get_columns(table)},
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": sorted(repr(sorted(fk.items())) for fk in inspector.get_foreign_keys(table)),
            "unique": sorted(repr((u["name"], u["column_names"])) for u in inspector.get_unique_constraints(table)),
            "indexes": {
                i["name"]: (i["column_names"], bool(i["unique"]), sorted((k, str(v)) for k, v in i.get("dialect_options", {}).items()))
                for i in inspector.get_indexes(table)
            },
        }
    return schema


@contextmanager
def sibling_database(url: str, directory: Path):  # type: ignore[no-untyped-def]
    """Another empty database of the same kind as ``url``: a SQLite file, or a ``mig_*`` database on the PostgreSQL."""
    if url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{directory / 'sibling.db'}"
        return
    with pg_database("mig_sibling") as other:
        yield other
