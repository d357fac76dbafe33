"""Which schema revision a database is at, bringing it to the newest, and refusing to run on an older one.

Why: the tables used to be made by ``metadata.create_all`` at start-up, which
creates a missing table but never alters one, so a database made before a
column was added never got it. Every schema change is now an Alembic revision
(alertflow/store/migrations/versions/), and a database records the one it is
at in ``alembic_version``.

The policy, in one place:

- ``Store.upgrade()`` brings a database to head: an empty one is created; one
  made by create_all before migrations is brought to the baseline and stamped
  there (alertflow/store/legacy.py); then every later revision runs.
  ``alertflow db upgrade`` and ``alertflow up`` call it.
- ``Store.check_schema()`` is what ``alertflow api`` and the worker do when they
  start: a database at head is used; with ``create_if_empty`` an empty one (a
  first start) is created at head; anything else refuses with SchemaMismatch
  naming ``alertflow db upgrade``. A server never alters a database that
  someone has not chosen to upgrade.

Starters racing (the API and a worker at once) take turns: on PostgreSQL the
migration's transaction takes an advisory lock, on SQLite it begins IMMEDIATE
(the write lock up front); whoever comes second finds the database at head.
All of an upgrade is one transaction (DDL is transactional on both), so a
failed one leaves the database as it was. SQLite runs it with foreign keys
off, because Alembic's batch mode copies a table and drops the old one, and
dropping a parent with them on deletes its children's rows; PRAGMA
foreign_key_check runs before the commit instead.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alertflow.errors import SchemaMismatch
from alertflow.store import legacy
from alertflow.store import tables as t

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"
SCHEMA_LOCK_KEY = 0x616C6572  # "aler": the advisory lock that makes schema changes one process at a time
UPGRADE_COMMAND = "alertflow db upgrade"

log = logging.getLogger("alertflow.store.schema")


class SchemaKind(enum.StrEnum):
    empty = "empty"  # no alertflow tables: a fresh install
    legacy = "legacy"  # alertflow's tables but no revision: made by create_all before migrations
    behind = "behind"  # an older revision than this alertflow's head
    current = "current"  # at head
    unknown = "unknown"  # a revision this alertflow does not know: a newer alertflow upgraded it


@dataclass(frozen=True)
class SchemaState:
    database: str  # its URL, password hidden
    revision: str | None
    head: str
    kind: SchemaKind

    def describe(self) -> str:
        """One sentence for people: where the database stands and what to do about it."""
        where, run = f"the database {self.database}", f"run `{UPGRADE_COMMAND}` (with the same config)"
        match self.kind:
            case SchemaKind.current:
                return f"{where} is at head ({self.head})"
            case SchemaKind.empty:
                return f"{where} has no alertflow tables yet: {run} to create them"
            case SchemaKind.legacy:
                return (
                    f"{where} was made before alertflow had schema migrations (it records no revision): {run} before starting this version"
                )
            case SchemaKind.behind:
                return f"{where} is at schema revision {self.revision}, older than this alertflow's {self.head}: {run} before starting this version"
        return (
            f"{where} is at schema revision {self.revision}, which this alertflow does not know (its newest is {self.head}): "
            "a newer alertflow upgraded it; run that version (downgrades are not supported)"
        )


def alembic_config(location: Path = MIGRATIONS, **attributes: Any) -> Config:
    """Alembic's configuration, made here instead of read from an alembic.ini; ``connection`` goes in ``attributes``."""
    config = Config()
    config.set_main_option("script_location", str(location))
    config.set_main_option("file_template", "%%(rev)s")  # a revision's file is named by its id: versions/0002_leases.py
    config.attributes.update(attributes)
    return config


@functools.cache
def scripts(location: Path = MIGRATIONS) -> ScriptDirectory:
    """The revisions, read once per process."""
    return ScriptDirectory.from_config(alembic_config(location))


def read_state(conn: Connection, database: str, location: Path = MIGRATIONS) -> SchemaState:
    script = scripts(location)
    head = script.get_current_head()
    assert head is not None, f"no revisions in {location}"
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is None:
        ours = set(inspect(conn).get_table_names()) & set(t.metadata.tables)
        kind = SchemaKind.legacy if ours else SchemaKind.empty
    elif revision == head:
        kind = SchemaKind.current
    else:
        known = {r.revision for r in script.walk_revisions()}
        kind = SchemaKind.behind if revision in known else SchemaKind.unknown
    return SchemaState(database, revision, head, kind)


def migrate(conn: Connection, database: str, location: Path, only_if_empty: bool) -> tuple[SchemaState, SchemaState]:
    """Bring the database to head in one transaction under the schema lock; its state (before, after).

    ``only_if_empty``: create an empty database, refuse anything else that is not at head (a server's first start).
    """
    sqlite = conn.dialect.name == "sqlite"
    with _without_foreign_keys(conn), conn.execution_options(immediate=True).begin():
        if not sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        before = read_state(conn, database, location)
        if before.kind is SchemaKind.current:
            return before, before
        if before.kind is SchemaKind.unknown or (only_if_empty and before.kind is not SchemaKind.empty):
            raise SchemaMismatch(before.describe())
        config = alembic_config(location, connection=conn)
        if before.kind is SchemaKind.legacy:
            changes = legacy.adopt(conn, scripts(location).get_revision(BASELINE).module)
            log.info("%s made before migrations, brought to %s: %s", database, BASELINE, ", ".join(changes) or "no change needed")
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
        if before.kind is SchemaKind.legacy:
            legacy.verify(conn, database)
        if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").all()):
            raise SchemaMismatch(f"the upgrade of {database} would break foreign keys ({broken[:5]}); nothing was changed")
        return before, read_state(conn, database, location)


@contextmanager
def _without_foreign_keys(conn: Connection) -> Iterator[None]:
    """SQLite: foreign keys off around the transaction (set before BEGIN: inside one SQLite ignores it), on again after."""
    if conn.dialect.name != "sqlite":
        yield
        return
    _pragma(conn, "foreign_keys=OFF")
    try:
        yield
    finally:
        try:
            _pragma(conn, "foreign_keys=ON")
        except Exception:
            conn.invalidate()  # it must not go back to the pool with them off
            raise


def _pragma(conn: Connection, pragma: str) -> None:
    """A PRAGMA on the DBAPI connection itself: through SQLAlchemy it would begin a transaction first."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


class SchemaVersions:
    """The schema methods of ``Store`` (alertflow/store/database.py), which provides ``read()`` and ``engine``."""

    engine: AsyncEngine
    is_sqlite: bool
    migrations: Path = MIGRATIONS  # where the revisions are (a test points one store at a folder with one more)

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        raise NotImplementedError

    async def schema_state(self) -> SchemaState:
        self._make_sqlite_folder()
        async with self.read() as conn:
            return await conn.run_sync(read_state, self._database(), self.migrations)

    async def upgrade(self) -> tuple[SchemaState, SchemaState]:
        """Bring the database to head, whatever it is now (see the module docstring); its state before and after."""
        return await self._migrate(only_if_empty=False)

    async def check_schema(self, create_if_empty: bool = False) -> SchemaState:
        """Raise SchemaMismatch unless the database is at head; ``create_if_empty`` creates an empty one at head first."""
        state = await self.schema_state()
        if state.kind is SchemaKind.empty and create_if_empty:
            state = (await self._migrate(only_if_empty=True))[1]
        if state.kind is not SchemaKind.current:
            raise SchemaMismatch(state.describe())
        return state

    async def _migrate(self, only_if_empty: bool) -> tuple[SchemaState, SchemaState]:
        self._make_sqlite_folder()
        async with self.read() as conn:
            return await conn.run_sync(migrate, self._database(), self.migrations, only_if_empty)

    def _database(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def _make_sqlite_folder(self) -> None:
        database = self.engine.url.database
        if self.is_sqlite and database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
