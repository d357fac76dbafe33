"""Schema migrations on real SQLite files and a real PostgreSQL: head is tables.py, old databases keep their rows.

The command line (``alertflow db upgrade``, ``db current``, ``api`` refusing)
is tested in test_db_cli.py; these tests drive ``Store`` directly.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from alertflow.errors import SchemaMismatch, StoreError
from alertflow.models import TimelineEntry, TimelineKind
from alertflow.store import legacy
from alertflow.store.connections import switch_to_wal
from alertflow.store.database import Store
from alertflow.store.schema import MIGRATIONS, SchemaKind, scripts
from alertflow.store.tables import metadata
from tests.integration.conftest import NOW
from tests.legacy_databases import (
    FIRST_RELEASE_TABLES,
    execute,
    make_12326c7,
    make_first_release,
    reflected_schema,
    sibling_database,
    table_rows,
)

HEAD = scripts().get_current_head()  # the newest revision this checkout knows

PROBE = '''"""Probe: a revision after the baseline, for the tests: a new column, and a change SQLite makes by copying the table."""

import sqlalchemy as sa
from alembic import op

revision = "9999_probe"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("probe", sa.Text(), nullable=True))
        batch.alter_column("title", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    pass
'''


def compare(conn) -> list:  # type: ignore[no-untyped-def]
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return compare_metadata(context, metadata)


async def inspect_with(store: Store, look):  # type: ignore[no-untyped-def]
    async with store.read() as conn:
        return await conn.run_sync(look)


def test_the_revisions_at_head_make_exactly_the_schema_of_tables_py(empty_database_url: str, tmp_path: Path) -> None:
    """Guard: upgraded to head, a database has the schema tables.py declares, by Alembic's comparison and by reflection
    against create_all (index predicates included): a change to tables.py without a revision fails here."""

    async def migrated() -> tuple[list, dict]:  # type: ignore[type-arg]
        store = Store(empty_database_url)
        try:
            await store.upgrade()
            return await inspect_with(store, compare), await inspect_with(store, reflected_schema)
        finally:
            await store.dispose()

    async def declared(url: str) -> dict:  # type: ignore[type-arg]
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
                return await conn.run_sync(reflected_schema)
        finally:
            await engine.dispose()

    differences, schema = asyncio.run(migrated())
    assert differences == []
    with sibling_database(empty_database_url, tmp_path) as url:
        assert schema == asyncio.run(declared(url))
    assert set(schema) == set(metadata.tables)


@pytest.mark.anyio
async def test_a_first_release_database_gets_what_later_releases_added(empty_database_url: str) -> None:
    """A database the first release made (no later tables, columns or indexes; VARCHAR keys) is brought to head with its rows,
    undispatched outbox rows getting their flow's priority."""
    await make_first_release(empty_database_url)
    before = await table_rows(empty_database_url, FIRST_RELEASE_TABLES)
    store = Store(empty_database_url)
    try:
        was, now = await store.upgrade()
        assert (was.kind, now.kind, now.revision) == (SchemaKind.legacy, SchemaKind.current, HEAD)
        differences = [d for d in await inspect_with(store, compare) for d in (d if isinstance(d, list) else [d])]
        kept_varchar = {(d[0], d[2], d[3]) for d in differences}  # on SQLite only: VARCHAR and TEXT are one affinity there
        assert kept_varchar == ({("modify_type", t, c) for t, c in legacy.WAS_VARCHAR} if store.is_sqlite else set())
        indexes = {i["name"]: i for i in await inspect_with(store, lambda c: inspect(c).get_indexes("outbox"))}
        assert indexes["ix_outbox_pending"]["column_names"] == ["priority", "id"]
        assert "dispatched_at IS NULL" in str(next(iter(indexes["ix_outbox_pending"]["dialect_options"].values())))
        assert [row["incident_id"] for row in await store.outbox_for(1)] == [1, 1]
        assert (await store.get_incident(1)).flapping is False
    finally:
        await store.dispose()
    after = await table_rows(empty_database_url)
    for table, rows in before.items():
        assert [{column: row[column] for column in rows[0]} for row in after[table]] == rows, table
    assert [(row["flow"], row["priority"]) for row in after["outbox"]] == [("paging", 1), ("failover", 0)]  # dispatched: the default
    assert all(after[table] == [] for table in after if table not in FIRST_RELEASE_TABLES)


@pytest.mark.anyio
async def test_an_old_database_that_differs_in_an_unknown_way_is_refused_and_left_as_it_was(empty_database_url: str) -> None:
    """A difference nobody planned for is reported by name and the whole upgrade rolled back: no stamp, no column added."""
    await make_first_release(empty_database_url)
    await execute(empty_database_url, ["ALTER TABLE incidents ADD COLUMN surprise TEXT"])
    store = Store(empty_database_url)
    try:
        with pytest.raises(SchemaMismatch, match="surprise"):
            await store.upgrade()
        assert (await store.schema_state()).kind is SchemaKind.legacy
        columns = await inspect_with(store, lambda c: [column["name"] for column in inspect(c).get_columns("outbox")])
        assert "priority" not in columns
        assert "engine_state" not in await inspect_with(store, lambda c: inspect(c).get_table_names())
    finally:
        await store.dispose()


@pytest.mark.anyio
async def test_an_older_revision_is_refused_until_upgraded_and_a_newer_one_always(empty_database_url: str, tmp_path: Path) -> None:
    """A database one revision behind refuses to start (naming `alertflow db upgrade`), upgrades keeping every row (SQLite
    copies incidents: its children's rows and its partial unique index survive), and then refuses the older code."""
    newer_revisions = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, newer_revisions, ignore=shutil.ignore_patterns("__pycache__"))
    (newer_revisions / "versions" / "9999_probe.py").write_text(PROBE.format(head=HEAD))
    older, newer = Store(empty_database_url), Store(empty_database_url)
    newer.migrations = newer_revisions
    try:
        await older.upgrade()
        async with older.write() as tx:
            incident_id = await tx.insert_incident(key="k", title="t", service="s", severity="critical", rule_id="r", at=NOW)
        await older.add_timeline(TimelineEntry(incident_id=incident_id, at=NOW, kind=TimelineKind.note, summary="kept"))
        with pytest.raises(SchemaMismatch, match=rf"revision {HEAD}, older than this alertflow's 9999_probe: run `alertflow db upgrade`"):
            await newer.check_schema(create_if_empty=True)
        was, now = await newer.upgrade()
        assert (was.revision, now.revision, now.kind) == (HEAD, "9999_probe", SchemaKind.current)
        assert [entry.summary for entry in await newer.get_timeline(incident_id)] == ["kept"]
        unique = await inspect_with(newer, lambda c: [i for i in inspect(c).get_indexes("incidents") if i["unique"]])
        assert [(i["name"], i["column_names"]) for i in unique] == [("ux_incidents_open_key", ["key"])]
        assert "resolved" in str(next(iter(unique[0]["dialect_options"].values())))
        with pytest.raises(SchemaMismatch, match="9999_probe, which this alertflow does not know"):
            await older.check_schema()
        with pytest.raises(SchemaMismatch, match="a newer alertflow upgraded it"):
            await older.upgrade()
    finally:
        await older.dispose()
        await newer.dispose()


@pytest.mark.anyio
async def test_starters_racing_on_an_old_database_take_turns(empty_database_url: str) -> None:
    """Three upgrades at once on a database made before migrations: one adopts and stamps it, the others find it at head."""
    await make_12326c7(empty_database_url)
    before = await table_rows(empty_database_url)
    stores = [Store(empty_database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(store.upgrade() for store in stores))
        assert sorted(was.kind for was, _ in results) == [SchemaKind.current, SchemaKind.current, SchemaKind.legacy]
        assert {now.kind for _, now in results} == {SchemaKind.current}
        async with stores[0].read() as conn:
            assert (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    finally:
        await asyncio.gather(*(store.dispose() for store in stores))
    assert await table_rows(empty_database_url) == before


@pytest.mark.anyio
async def test_starters_racing_on_an_empty_database_create_it_once(empty_database_url: str) -> None:
    """The API and workers starting together on a fresh install all find the schema at head; it was created once."""
    stores = [Store(empty_database_url) for _ in range(4)]
    try:
        states = await asyncio.gather(*(store.check_schema(create_if_empty=True) for store in stores))
        assert {state.kind for state in states} == {SchemaKind.current}
        assert await stores[0].counts() == {
            "inbox_total": 0,
            "inbox_pending": 0,
            "inbox_failed": 0,
            "outbox_pending": 0,
            "incidents_open": 0,
        }
    finally:
        await asyncio.gather(*(store.dispose() for store in stores))


def test_a_starter_switching_a_new_file_to_wal_waits_for_a_racing_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Starters racing on a brand-new SQLite file: one holds it while it switches; the other is refused at once
    ("database is locked", no busy wait) and tries again until the file is free, then switches it."""
    path = tmp_path / "new.db"
    racing = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    racing.execute("BEGIN EXCLUSIVE")
    threading.Timer(0.3, racing.execute, ["COMMIT"]).start()
    starter = sqlite3.connect(path, isolation_level=None, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        starter.execute("PRAGMA journal_mode=WAL")  # what a starter met before it tried again
    switch_to_wal(starter.execute)
    assert starter.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.anyio
async def test_foreign_keys_hold_again_after_an_upgrade(empty_database_url: str) -> None:
    """SQLite migrates with foreign keys off; the connection that did it enforces them again for whoever uses it next."""
    store = Store(empty_database_url)
    try:
        await store.upgrade()
        with pytest.raises(StoreError):
            await store.add_timeline(TimelineEntry(incident_id=404, at=NOW, kind=TimelineKind.note, summary="orphan"))
    finally:
        await store.dispose()
