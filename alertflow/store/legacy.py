"""Databases made by ``metadata.create_all`` before alertflow had migrations: brought to the baseline, then checked.

Why: every alertflow up to 12326c7 made its tables with create_all at
start-up, which creates a missing table but never changes an existing one. So
such a database has the tables the last version started on it knew, with the
columns and indexes of the version that first created each. ``adopt()`` makes
the few changes history made to existing tables (each cheap on both
databases, none touching a row but outbox's new priority), then
alertflow/store/schema.py stamps the baseline and upgrades to head, and
``verify()`` compares the result with tables.py: any difference left is one
nobody planned for, so the whole upgrade is rolled back and reported rather
than guessed at.

What changed in existing tables (git log -p alertflow/store/tables.py, and
alertflow/tables.py before it):

- 046574c: incidents.key and .service, incident_alerts.name from VARCHAR to
  TEXT. PostgreSQL: ALTER TYPE (binary-compatible, no table rewrite). SQLite:
  both have TEXT affinity and no length is enforced, so nothing is changed and
  verify() does not count it.
- 4a4590a: inbox.insert_order (nullable); outbox.priority (NOT NULL DEFAULT
  1; undispatched rows get their flow's priority); ix_outbox_pending on
  (priority, id) instead of (next_attempt_at).
- a09422e: incidents.flapping (NOT NULL DEFAULT false).
- 876fa5c: the index ix_inbox_failed.
- Tables added later (engine_state, silences, locks, pages, announcements,
  workers) are created, if missing, by the baseline revision's own functions.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from alertflow.errors import SchemaMismatch
from alertflow.models import FlowName
from alertflow.store import tables as t

WAS_VARCHAR = (("incidents", "key"), ("incidents", "service"), ("incident_alerts", "name"))


def added_columns() -> list[tuple[str, sa.Column[Any]]]:
    """The columns added to existing tables, as the baseline has them (new objects each time: a column joins one table)."""
    return [
        ("inbox", sa.Column("insert_order", sa.Integer(), nullable=True)),
        ("outbox", sa.Column("priority", sa.Integer(), server_default="1", nullable=False)),
        ("incidents", sa.Column("flapping", sa.Boolean(), server_default=sa.false(), nullable=False)),
    ]


def adopt(conn: Connection, baseline: ModuleType) -> list[str]:
    """Bring a database made by create_all to the baseline schema (``baseline``: revision 0001's module); what changed."""
    changes: list[str] = []
    with Operations.context(MigrationContext.configure(conn)) as op:
        existing = set(sa.inspect(conn).get_table_names())
        for name, create in baseline.TABLES.items():
            if name not in existing:
                create()
                changes.append(f"created table {name}")
        for table, column in added_columns():
            if column.name not in _columns(conn, table):
                op.add_column(table, column)
                changes.append(f"added {table}.{column.name}")
                if column.name == "priority":
                    cases = " ".join(f"WHEN '{flow.value}' THEN {flow.priority}" for flow in FlowName)
                    conn.execute(sa.text(f"UPDATE outbox SET priority = CASE flow {cases} ELSE 1 END WHERE dispatched_at IS NULL"))
        if conn.dialect.name == "postgresql":
            for table, column in WAS_VARCHAR:
                if not isinstance(_columns(conn, table)[column], sa.Text):
                    op.alter_column(table, column, type_=sa.Text(), existing_nullable=False)
                    changes.append(f"{table}.{column} is TEXT")
        indexes = _indexes(conn, "inbox")
        if "ix_inbox_failed" not in indexes:
            op.create_index("ix_inbox_failed", "inbox", ["id"], **baseline.where("error IS NOT NULL"))
            changes.append("created index ix_inbox_failed")
        pending = _indexes(conn, "outbox").get("ix_outbox_pending")
        if pending != ["priority", "id"]:
            if pending is not None:
                op.drop_index("ix_outbox_pending", table_name="outbox")
            op.create_index("ix_outbox_pending", "outbox", ["priority", "id"], **baseline.where("dispatched_at IS NULL"))
            changes.append("ix_outbox_pending on (priority, id)")
    return changes


def verify(conn: Connection, database: str) -> None:
    """Refuse (SchemaMismatch) if the upgraded database still differs from tables.py."""
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    differences = [d for d in _flatten(compare_metadata(context, t.metadata)) if not _same_on_sqlite(conn, d)]
    if differences:
        listed = "; ".join(_describe(d) for d in differences[:10])
        raise SchemaMismatch(
            f"the database {database} was made before alertflow had migrations, and after bringing it up to date its schema "
            f"still differs from this version's in ways alertflow does not know how to fix: {listed}. Nothing was changed; "
            "compare it with alertflow/store/tables.py and fix it by hand, or start from an empty database"
        )


def _columns(conn: Connection, table: str) -> dict[str, Any]:
    return {column["name"]: column["type"] for column in sa.inspect(conn).get_columns(table)}


def _indexes(conn: Connection, table: str) -> dict[str, list[str]]:
    return {index["name"]: list(index["column_names"]) for index in sa.inspect(conn).get_indexes(table) if index["name"]}


def _flatten(differences: list[Any]) -> list[tuple[Any, ...]]:
    """compare_metadata's answer: tuples, and lists of tuples for the changes of one column."""
    return [item for d in differences for item in (d if isinstance(d, list) else [d])]


def _same_on_sqlite(conn: Connection, difference: tuple[Any, ...]) -> bool:
    """VARCHAR(n) against TEXT on SQLite: one affinity, no length enforced; the same column."""
    if conn.dialect.name != "sqlite" or difference[0] != "modify_type":
        return False
    return all(isinstance(type_, sa.String) for type_ in difference[-2:])


def _describe(difference: tuple[Any, ...]) -> str:
    """``add_column outbox priority``, ``modify_type incidents key VARCHAR(512) TEXT``: what and where."""
    kind, *rest = difference
    return " ".join([kind, *(str(getattr(item, "name", item)) for item in rest if item is not None and not isinstance(item, dict))])
