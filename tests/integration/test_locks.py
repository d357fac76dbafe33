"""The store's named leases (``locks``): one holder at a time, expiry frees a dead holder's lock; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.anyio


async def test_one_holder_at_a_time_and_release_frees(store) -> None:  # type: ignore[no-untyped-def]
    """The first taker holds the lock; a second sees the holder; after release the second gets it; re-acquiring is idempotent."""
    assert await store.acquire_lock("switch:checkout", "run-a", 60) == "run-a"
    assert await store.acquire_lock("switch:checkout", "run-a", 60) == "run-a"
    assert await store.acquire_lock("switch:checkout", "run-b", 60) == "run-a"
    await store.release_lock("switch:checkout", "run-b")  # not the holder: changes nothing
    assert await store.acquire_lock("switch:checkout", "run-b", 60) == "run-a"
    await store.release_lock("switch:checkout", "run-a")
    assert await store.acquire_lock("switch:checkout", "run-b", 60) == "run-b"
    assert await store.acquire_lock("switch:other", "run-a", 60) == "run-a", "locks are per name"


async def test_an_expired_lock_is_taken_over(store) -> None:  # type: ignore[no-untyped-def]
    """A holder that died (its lease expired) does not block the next one forever."""
    assert await store.acquire_lock("switch:checkout", "dead-run", 0.05) == "dead-run"
    await asyncio.sleep(0.1)
    assert await store.acquire_lock("switch:checkout", "run-b", 60) == "run-b"


async def test_the_holder_renews_its_lease(store) -> None:  # type: ignore[no-untyped-def]
    """Acquiring again as the holder extends the lease, so a long move keeps its lock past the first expiry."""
    assert await store.acquire_lock("switch:checkout", "run-a", 0.2) == "run-a"
    assert await store.acquire_lock("switch:checkout", "run-a", 60) == "run-a"
    await asyncio.sleep(0.3)
    assert await store.acquire_lock("switch:checkout", "run-b", 60) == "run-a"


async def test_racing_takers_get_exactly_one_winner(store) -> None:  # type: ignore[no-untyped-def]
    """Ten concurrent takers: every one of them sees the same single holder."""
    holders = await asyncio.gather(*(store.acquire_lock("switch:race", f"run-{n}", 60) for n in range(10)))
    assert len(set(holders)) == 1 and holders[0].startswith("run-")
