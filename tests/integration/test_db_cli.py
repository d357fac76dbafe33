"""``alertflow db upgrade|current`` and the servers' refusal of an older schema, as operators run them: real processes.

A database made by the last release before migrations (12326c7), with a row
in every table, is upgraded by the real command line on SQLite and
PostgreSQL and loses nothing; ``alertflow api`` and ``alertflow worker``
refuse to start on it, naming the command that fixes it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alertflow.store.database import Store
from alertflow.store.schema import SchemaKind, scripts
from tests.conftest import free_port
from tests.legacy_databases import make_12326c7, table_rows
from tests.support import EXAMPLE_RULES, start_api

HEAD = scripts().get_current_head()  # the newest revision this checkout knows


def write_config(directory: Path, database_url: str) -> Path:
    config = {
        "home": str(directory / "home"),
        "database_url": database_url,
        "rules_file": str(EXAMPLE_RULES),
        "api_port": free_port(),
        "prefect_api_url": f"http://127.0.0.1:{free_port()}/api",  # nothing answers: these commands must not need Prefect
    }
    path = directory / "alertflow.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def alertflow(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "alertflow", *args, "--config", str(config)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def schema_state(url: str):  # type: ignore[no-untyped-def]
    async def read():  # type: ignore[no-untyped-def]
        store = Store(url)
        try:
            return await store.schema_state()
        finally:
            await store.dispose()

    return asyncio.run(read())


def test_db_upgrade_keeps_every_row_of_a_12326c7_database(empty_database_url: str, tmp_path: Path) -> None:
    """`alertflow db upgrade` stamps a database made before migrations at the baseline; every row of every table is unchanged."""
    asyncio.run(make_12326c7(empty_database_url))
    before = asyncio.run(table_rows(empty_database_url))
    assert all(before.values()), "a row in every table"
    config = write_config(tmp_path, empty_database_url)

    done = alertflow(config, "db", "upgrade")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"upgraded from a database made before migrations to {HEAD} (head)")
    assert asyncio.run(table_rows(empty_database_url)) == before
    assert schema_state(empty_database_url).kind is SchemaKind.current
    again = alertflow(config, "db", "upgrade")
    assert (again.returncode, again.stdout.strip().endswith(f"already at head ({HEAD})")) == (0, True)
    assert asyncio.run(table_rows(empty_database_url)) == before


def test_the_api_refuses_to_start_on_an_older_database(empty_database_url: str, tmp_path: Path) -> None:
    """`alertflow api` on a database at an older schema exits non-zero naming `alertflow db upgrade`, and changes nothing."""
    asyncio.run(make_12326c7(empty_database_url))
    config = write_config(tmp_path, empty_database_url)

    refused = alertflow(config, "api", timeout=60)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "made before alertflow had schema migrations" in refused.stderr
    assert "run `alertflow db upgrade` (with the same config) before starting this version" in refused.stderr
    assert schema_state(empty_database_url).kind is SchemaKind.legacy


def test_the_worker_refuses_to_start_on_an_older_database(tmp_path: Path) -> None:
    """`alertflow worker` refuses an older schema the same way, before it registers anything with Prefect."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'alertflow.db'}"
    asyncio.run(make_12326c7(url))

    refused = alertflow(write_config(tmp_path, url), "worker", timeout=60)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "`alertflow db upgrade`" in refused.stderr


def test_the_api_creates_an_empty_database_at_head_on_its_first_start(tmp_path: Path) -> None:
    """A fresh install needs no upgrade: the first `alertflow api` creates the schema at head and serves."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'alertflow.db'}"
    process, _ = start_api(write_config(tmp_path, url), tmp_path / "api.log")
    try:
        assert schema_state(url).kind is SchemaKind.current
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.parametrize("made", ["empty", "before migrations", "upgraded"])
def test_db_current_says_where_the_database_stands(made: str, tmp_path: Path) -> None:
    """`alertflow db current` prints the database, its revision, the head and its state; exit 1 unless at head."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'alertflow.db'}"
    config = write_config(tmp_path, url)
    if made != "empty":
        asyncio.run(make_12326c7(url))
    if made == "upgraded":
        assert alertflow(config, "db", "upgrade").returncode == 0

    shown = alertflow(config, "db", "current")

    revision, state = {
        "empty": (
            "(none)",
            f"the database {url} has no alertflow tables yet: run `alertflow db upgrade` (with the same config) to create them",
        ),
        "before migrations": ("(none)", f"the database {url} was made before alertflow had schema migrations"),
        "upgraded": (HEAD, "at head"),
    }[made]
    lines = shown.stdout.splitlines()
    assert lines[:3] == [f"database  {url}", f"revision  {revision}", f"head      {HEAD}"]
    assert lines[3].startswith(f"state     {state}")
    assert shown.returncode == (0 if made == "upgraded" else 1)
