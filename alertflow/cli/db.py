"""``alertflow db upgrade|current|prune|revision``: the database's schema revision, moving it to this version's, retention.

Why commands of their own: an upgrade changes a database that holds every
incident, so it is something an operator runs on purpose (before starting a
new version), not something a server does on its way up. ``alertflow api``
and the worker only check, and refuse to start on an older schema with a
message naming ``alertflow db upgrade``; ``alertflow up`` (one machine, the
embedded default) upgrades by itself. The policy is in alertflow/store/schema.py.

``alertflow db prune`` applies ``retention:`` now, or with ``--dry-run`` says
what it would delete, with the pipeline's own code (alertflow/pipeline/retention.py).
It deletes only while no pipeline leads (one leads wherever an API runs, and
prunes by itself): it takes the lease for one batch at a time, so an API that
starts meanwhile takes over within a batch.

Each command uses the configured ``database_url``, the same settings as the
API (``--config FILE``). SQLAlchemy and Alembic are imported inside the
commands, so ``--help`` stays instant.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from alertflow.cli.client import NOT_FOUND, ConfigOption, JsonOption, cli_settings
from alertflow.cli.render import print_json, print_tables
from alertflow.config.settings import Settings
from alertflow.durations import format_duration
from alertflow.errors import NotLeader, StoreError

if TYPE_CHECKING:
    from alertflow.pipeline.retention import Pass, Pruned
    from alertflow.store.database import Store
    from alertflow.store.schema import SchemaState

db_app = typer.Typer(help="The database's schema: upgrade it to this version's, or see where it stands.", no_args_is_help=True)
T = TypeVar("T")


def with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` on a store of the configured database; an unreachable database ends the command (exit 3)."""
    from alertflow.store.database import Store

    async def run() -> T:
        store = Store(settings.resolved_database_url)
        try:
            return await work(store)
        finally:
            await store.dispose()

    try:
        return asyncio.run(run())
    except StoreError as err:
        from sqlalchemy.engine import make_url

        where = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
        typer.secho(f"cannot use the database {where}: {err}", fg="red", err=True)
        raise typer.Exit(3) from None


def upgrade_database(settings: Settings) -> str:
    """Bring the configured database to head (``alertflow db upgrade``, ``alertflow up``); what happened, in a line."""
    from alertflow.store.schema import SchemaKind

    before, after = with_store(settings, lambda store: store.upgrade())
    if before.kind is SchemaKind.current:
        return f"database {after.database}: already at head ({after.head})"
    start = {SchemaKind.empty: "an empty database", SchemaKind.legacy: "a database made before migrations"}.get(before.kind)
    return f"database {after.database}: upgraded from {start or before.revision} to {after.revision} (head)"


def check_database(settings: Settings) -> None:
    """What a server checks before it starts: SchemaMismatch (exit 2, naming `alertflow db upgrade`) unless at head;
    an empty database, a first start, is created at head."""
    with_store(settings, lambda store: store.check_schema(create_if_empty=True))


@db_app.command()
def upgrade(config: ConfigOption = None) -> None:
    """Upgrade the database to this version's schema (run it before starting a new version; safe to repeat)."""
    typer.echo(upgrade_database(cli_settings(config)))


@db_app.command()
def current(config: ConfigOption = None) -> None:
    """Print the database's schema revision and whether it is at head (exit 1 when it is not)."""
    state: SchemaState = with_store(cli_settings(config), lambda store: store.schema_state())
    at_head = state.revision == state.head
    typer.echo(f"database  {state.database}")
    typer.echo(f"revision  {state.revision or '(none)'}")
    typer.echo(f"head      {state.head}")
    typer.echo(f"state     {'at head' if at_head else state.describe()}")
    raise typer.Exit(0 if at_head else 1)


@db_app.command()
def prune(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only say what would go, per table; delete nothing")] = False,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Delete what retention: lets go now, in batches (exit 1 when an API's pipeline leads: it prunes by itself)."""
    settings = cli_settings(config)
    logging.getLogger("alertflow.pipeline.leadership").setLevel(logging.ERROR)  # a lease per batch: saying so each time is noise

    async def run(store: Store) -> Pass:
        from alertflow.pipeline.leadership import Leadership
        from alertflow.pipeline.retention import Pruner, as_leader_per_batch

        await store.check_schema()
        leadership = Leadership(store)
        pruner = Pruner(store, settings.retention, as_leader_per_batch(store, leadership))
        if dry_run:
            return await pruner.measure()
        if (leader := await leadership.current()) is not None and leader[2] > 0:
            raise NotLeader(f"{leader[0]} leads the pipeline (term {leader[1]}) and prunes by itself")
        return await pruner.prune()

    try:
        done = with_store(settings, run)
    except NotLeader as err:
        typer.secho(f"{err}; nothing deleted here (--dry-run shows what is left; stop the API to prune from here)", fg="red", err=True)
        raise typer.Exit(NOT_FOUND) from None
    if json_output:
        print_json({"dry_run": dry_run, "rows": done.rows, "stopped": done.stopped, "tables": [_table(t) for t in done.tables]})
    else:
        header = ["table", "retention", "cut-off (UTC)", "rows", *(["oldest", "newest"] if dry_run else [])]
        cells = [
            [t.table, f"{t.setting}: {_when(t.keep) if t.keep else 'forever'}", _when(t.cutoff), f"{t.rows:,}",
             *([_when(t.oldest), _when(t.newest)] if dry_run else [])]
            for t in done.tables
        ]  # fmt: skip
        title = f"would delete {done.rows:,} rows (dry run)" if dry_run else f"deleted {done.rows:,} rows"
        print_tables([(title, header, cells)], width=110)
    if done.stopped:
        typer.secho(f"stopped before the end: {done.stopped}; its pipeline prunes the rest", fg="red", err=True)
        raise typer.Exit(NOT_FOUND)


def _table(pruned: Pruned) -> dict[str, Any]:
    """One table of ``db prune --json`` (docs/cli.md)."""
    keep = None if pruned.keep is None else format_duration(pruned.keep)
    times = {name: None if (at := getattr(pruned, name)) is None else at.isoformat() for name in ("cutoff", "oldest", "newest")}
    return {"table": pruned.table, "setting": pruned.setting, "keep": keep, "rows": pruned.rows, **times}


def _when(value: Any) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else format_duration(value)


@db_app.command(hidden=True)
def revision(
    message: Annotated[str, typer.Option("--message", "-m", help="what the revision does, one line")],
    rev_id: Annotated[str, typer.Option(help="the revision's id and file name: the next number and a word, e.g. 0002_leases")],
    autogenerate: Annotated[bool, typer.Option(help="draft the operations from tables.py against the database (at head)")] = False,
    config: ConfigOption = None,
) -> None:
    """(For developers, in a checkout) write alertflow/store/migrations/versions/REV_ID.py; see the README there."""
    if not re.fullmatch(r"\d{4}_[a-z0-9_]+", rev_id):
        raise typer.BadParameter("four digits, an underscore and a lower-case word, e.g. 0002_leases", param_hint="--rev-id")
    from alembic import command

    from alertflow.store.schema import alembic_config

    def write(conn: object) -> None:
        cfg = alembic_config(connection=conn)
        ruff = Path(sys.executable).with_name("ruff")
        if ruff.exists():  # the draft leaves formatted, its imports sorted
            cfg.set_section_option("post_write_hooks", "hooks", "fix, format")
            for hook, options in (("fix", "check --fix --quiet"), ("format", "format --quiet")):
                cfg.set_section_option("post_write_hooks", f"{hook}.type", "exec")
                cfg.set_section_option("post_write_hooks", f"{hook}.executable", str(ruff))
                cfg.set_section_option("post_write_hooks", f"{hook}.options", f"{options} REVISION_SCRIPT_FILENAME")
        command.revision(cfg, message=message, rev_id=rev_id, autogenerate=autogenerate)

    async def run(store: Store) -> None:
        async with store.read() as conn:
            await conn.run_sync(write)

    with_store(cli_settings(config), run)
