"""Fixtures for tests that talk to real databases and servers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from alertflow.config.settings import load_settings
from alertflow.store.database import Store
from tests.conftest import pg_database

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
async def store(database_url: str):  # type: ignore[no-untyped-def]
    """An empty store with its schema, on SQLite or PostgreSQL (see ``database_url``)."""
    store = Store(database_url)
    await store.upgrade()
    yield store
    await store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own with nothing in it: a SQLite file, or a ``mig_*`` database on the PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'alertflow.db'}"
        return
    with pg_database("mig") as url:
        yield url


@pytest.fixture
async def incident(sandbox, make_config):  # type: ignore[no-untyped-def]
    """An open incident in a fresh store, with the flows' config pointed at the sandbox."""
    async for opened in _incident(make_config(sandbox)):
        yield opened


@pytest.fixture
async def incident_on_each_store(sandbox, make_config, database_url):  # type: ignore[no-untyped-def]
    """``incident`` on SQLite and on PostgreSQL (the flows' config too)."""
    async for opened in _incident(make_config(sandbox, database_url)):
        yield opened


async def _incident(config: Path):  # type: ignore[no-untyped-def]
    settings = load_settings(config)
    store = Store(settings.resolved_database_url)
    await store.upgrade()
    async with store.write() as tx:
        incident_id = await tx.insert_incident(
            key="service-down|service=checkout",
            title="checkout API down",
            service="checkout",
            severity="critical",
            rule_id="service-down",
            at=NOW,
        )
    yield store, incident_id
    await store.dispose()


@pytest.fixture
def sns(tmp_path):  # type: ignore[no-untyped-def]
    """A stand-in for Amazon SNS: our own CA and signing certificate over HTTPS on loopback (tests/sns_peer.py)."""
    from tests.sns_peer import SnsPeer

    peer = SnsPeer(tmp_path)
    yield peer
    peer.close()
