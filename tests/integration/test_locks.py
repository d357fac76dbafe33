"""The store's named leases (``locks``): one holder at a time, expiry frees a dead holder's lock; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.anyio


async def taken(store, name: str, holder: str) -> bool:  # type: ignore[no-untyped-def]
    return await store.acquire_lock(name, holder, 60) == holder


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
    """A holder that died (its lease expired) does not block the next one forever: it blocks it until its lease ends."""
    assert await store.acquire_lock("switch:checkout", "dead-run", 2) == "dead-run"
    assert await store.acquire_lock("switch:checkout", "run-b", 60) == "dead-run"
    await wait_until(lambda: taken(store, "switch:checkout", "run-b"), 10, "run-b to take the expired lock")


async def test_the_holder_renews_its_lease(store) -> None:  # type: ignore[no-untyped-def]
    """Acquiring again as the holder extends the lease, so a long move keeps its lock past the first expiry."""
    assert await store.acquire_lock("switch:checkout", "run-a", 0.2) == "run-a"
    assert await store.acquire_lock("switch:witness", "run-a", 0.2) == "run-a"  # the same lease, not renewed
    assert await store.acquire_lock("switch:checkout", "run-a", 60) == "run-a"
    await wait_until(lambda: taken(store, "switch:witness", "run-b"), 10, "the first lease to expire")
    assert await store.acquire_lock("switch:checkout", "run-b", 60) == "run-a"


async def test_racing_takers_get_exactly_one_winner(store) -> None:  # type: ignore[no-untyped-def]
    """Ten concurrent takers: every one of them sees the same single holder."""
    holders = await asyncio.gather(*(store.acquire_lock("switch:race", f"run-{n}", 60) for n in range(10)))
    assert len(set(holders)) == 1 and holders[0].startswith("run-")
