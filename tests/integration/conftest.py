"""Fixtures for tests that talk to real databases and servers."""

from __future__ import annotations

import pytest

from alertflow.store import Store


@pytest.fixture
async def store(database_url: str):  # type: ignore[no-untyped-def]
    """An empty store with its schema, on SQLite or PostgreSQL (see ``database_url``)."""
    store = Store(database_url)
    await store.create_schema()
    yield store
    await store.dispose()
