"""``alertflow db prune [--dry-run] [--json]`` on SQLite and PostgreSQL, and the errors of a bad ``retention:`` section."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from alertflow.cli.main import app
from alertflow.pipeline.leadership import Leadership
from alertflow.store.database import Store
from tests.integration.test_retention import NOW, history, rows


def config(tmp_path: Path, database_url: str, retention: object) -> Path:
    path = tmp_path / "alertflow.yaml"
    path.write_text(yaml.safe_dump({"database_url": database_url, "retention": retention}))
    return path


def prune(path: Path, *options: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["db", "prune", "--config", str(path), *options])
    return result.exit_code, result.stdout, result.stderr


def test_prune_refuses_while_a_pipeline_leads_then_shows_and_deletes(database_url: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """While another process leads: exit 1 naming it, nothing deleted. Then --dry-run --json is one document with each
    table's rows and cut-off, changing nothing; the prune deletes those rows (a table on stdout), and a dry run after
    it finds nothing."""
    monkeypatch.setenv("ALERTFLOW_CONFIG", "")  # the command exports its --config; put it back afterwards
    path = config(tmp_path, database_url, {"batch_size": 3, "pause": "1ms"})

    async def prepare() -> tuple[Leadership, dict[str, int]]:
        store = Store(database_url)  # one per event loop (asyncpg's connections belong to theirs)
        await store.upgrade()
        pipeline, clock = await history(store)
        clock.at = NOW
        await pipeline.tick()
        leader = Leadership(store)
        assert await leader.try_acquire()
        try:
            return leader, await rows(store)
        finally:
            await store.dispose()

    async def release(leader: Leadership) -> dict[str, int]:
        leader.store = Store(database_url)
        await leader.release()
        try:
            return await rows(leader.store)
        finally:
            await leader.store.dispose()

    leader, before = asyncio.run(prepare())

    code, out, err = prune(path)
    assert (code, out) == (1, "") and f"{leader.holder} leads the pipeline" in err and "nothing deleted" in err
    assert asyncio.run(release(leader)) == before

    code, out, _ = prune(path, "--dry-run", "--json")
    assert code == 0
    shown = json.loads(out)
    assert (shown["dry_run"], shown["rows"], shown["stopped"]) == (True, 18, None)
    inbox = shown["tables"][0]
    assert {k: inbox[k] for k in ("table", "setting", "keep", "rows")} == {"table": "inbox", "setting": "inbox", "keep": "30d", "rows": 6}
    assert inbox["oldest"] < inbox["newest"] < inbox["cutoff"]
    assert [t["table"] for t in shown["tables"]] == ["inbox", "commands", "timeline", "incident_alerts", "outbox", "pages", "incidents"]
    assert shown["tables"][-1] | {"rows": 0} == {"table": "incidents", "setting": "incidents", "keep": None, "rows": 0,
                                                 "cutoff": None, "oldest": None, "newest": None}  # fmt: skip

    code, out, _ = prune(path)
    assert code == 0 and "deleted 18 rows" in out and "inbox: 30d" in out
    code, out, _ = prune(path, "--dry-run", "--json")
    assert (code, json.loads(out)["rows"]) == (0, 0)


@pytest.mark.parametrize(
    ("retention", "named", "says"),
    [
        ({"inbx": "30d"}, "retention.inbx", "Extra inputs are not permitted"),
        ({"inbox": "-3d"}, "retention.inbox", "not a duration"),
        ({"inbox": -5}, "retention.inbox", "cannot be negative"),
        ({"timeline": 30}, "retention.timeline", "30s is too short: keep at least 1h"),
        ({"incidents": "90d"}, "retention", "retention.incidents (90d) must be at least retention.timeline (180d)"),
        ({"batch_size": 0}, "retention.batch_size", "greater than or equal to 1"),
    ],
)
def test_a_bad_retention_section_is_refused_naming_the_field(tmp_path: Path, monkeypatch, retention, named, says) -> None:  # type: ignore[no-untyped-def]
    """An unknown key, a negative or too short duration, incidents kept shorter than their timelines: exit 2, the
    message names the field (file:line:col: retention.<field>), nothing is opened."""
    monkeypatch.setenv("ALERTFLOW_CONFIG", "")
    path = config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'never-made.db'}", retention)

    code, out, err = prune(path, "--dry-run")

    assert (code, out) == (2, "")
    assert f": {named}: " in err and says in err, err
    assert not (tmp_path / "never-made.db").exists()
