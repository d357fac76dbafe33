"""Prefect as docs/deploy.md runs it for scale, started as subprocesses for a test.

One Prefect server process on SQLite is what every other test talks to; production
runs several API replicas on PostgreSQL that share events, caches, concurrency leases
and background work through Redis (the ``prefect-redis`` integration), plus one
process of background services. That topology has failure modes of its own (a
setting one replica lacks, events that never leave the replica they were published
on), so a test that claims "works on scaled Prefect" must run this very topology,
started the way docs/deploy.md says: the schema migrated once, then the replicas with
``--no-services`` and migrations off, then ``prefect server services start``.

The replicas start one after another: on a fresh database each registers Prefect's
block types as it starts, and two doing it at once log a page of
``Failed to register block schema`` tracebacks (harmless: one commit wins).

``start_scaled_prefect`` is a context manager; the ``scaled_prefect`` fixture in
tests/e2e/conftest.py wraps it for the e2e tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import redis

from tests.conftest import REDIS_URL, free_port, running_prefect_server, wait_for
from tests.support import stop_process

# The stream and consumer group the services' event persister reads: it exists once the services consume events.
EVENTS_STREAM, PERSISTER_GROUP = "events", "event-persister"


def scaled_environment(database_url: str, redis_url: str, redis_db: int, docket_db: int) -> dict[str, str]:
    """The settings every Prefect process of the topology shares (docs/deploy.md, "Prefect")."""
    redis_address = urlsplit(redis_url)
    return {
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_HOST": redis_address.hostname or "127.0.0.1",
        "PREFECT_REDIS_MESSAGING_PORT": str(redis_address.port or 6379),
        "PREFECT_REDIS_MESSAGING_DB": str(redis_db),
        "PREFECT_SERVER_DOCKET_URL": f"{redis_url.rstrip('/')}/{docket_db}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


@dataclass
class ScaledPrefect:
    """A running scaled Prefect: its API replicas' URLs (``.../api``), what they share, and where they log."""

    api_urls: list[str]
    database_url: str
    environment: dict[str, str]
    directory: Path
    services: subprocess.Popen[bytes] = field(repr=False)

    def log(self, name: str) -> str:
        """A part's log: ``upgrade``, ``services`` or ``replica-1`` ... ``replica-N``."""
        return (self.directory / f"{name}.log").read_text()


@contextmanager
def start_scaled_prefect(
    directory: Path,
    database_url: str,
    redis_db: int,
    *,
    replicas: int = 2,
    docket_db: int | None = None,
    redis_url: str = REDIS_URL,
    **env: str,
) -> Iterator[ScaledPrefect]:
    """Migrate ``database_url`` (empty, PostgreSQL), start ``replicas`` API replicas and the services on it, with
    messaging in Redis database ``redis_db`` and the docket in ``docket_db`` (default ``redis_db + 1``); both
    Redis databases are flushed before and after. ``env`` goes to every Prefect process (e.g. a shorter
    ``PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL``). Everything is stopped on exit, SIGTERM first."""
    directory.mkdir(parents=True, exist_ok=True)
    docket_db = redis_db + 1 if docket_db is None else docket_db
    shared = {**scaled_environment(database_url, redis_url, redis_db, docket_db), **env}
    flush = [redis.Redis.from_url(redis_url, db=db) for db in (redis_db, docket_db)]
    for client in flush:
        client.flushdb()
    try:
        upgrade(directory, shared)
        with ExitStack() as stack:
            services = stack.enter_context(running_services(directory, shared))  # starts while the replicas do
            urls = [
                stack.enter_context(
                    running_prefect_server(
                        free_port(), directory / f"replica-{n}.log", "--no-services",
                        PREFECT_HOME=str(directory / f"replica-{n}"), **shared,
                    )
                )
                for n in range(1, replicas + 1)
            ]  # fmt: skip
            wait_until_consuming(services, flush[0], directory / "services.log")
            yield ScaledPrefect(urls, database_url, shared, directory, services)
    finally:
        for client in flush:
            client.flushdb()
            client.close()


def upgrade(directory: Path, shared: dict[str, str]) -> None:
    """``prefect server database upgrade -y``: the schema, once, before any server starts."""
    log = directory / "upgrade.log"
    with open(log, "wb") as out:
        done = subprocess.run(
            [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
            env={**os.environ, "PREFECT_HOME": str(directory / "upgrade"), **shared},
            stdout=out, stderr=subprocess.STDOUT, timeout=180,
        )  # fmt: skip
    assert done.returncode == 0, log.read_text()[-2000:]


@contextmanager
def running_services(directory: Path, shared: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``prefect server services start``, logging to ``services.log``; stopped on exit."""
    with open(directory / "services.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "services", "start"],
            env={**os.environ, "PREFECT_HOME": str(directory / "services"), **shared},
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process
    finally:
        stop_process(process)


def wait_until_consuming(process: subprocess.Popen[bytes], messaging: redis.Redis, log_path: Path) -> None:
    """Wait until the services' event persister reads the events stream in Redis (their readiness: no port)."""

    def consuming() -> bool:
        if process.poll() is not None:
            return True
        try:
            return any(group["name"].decode() == PERSISTER_GROUP for group in messaging.xinfo_groups(EVENTS_STREAM))
        except redis.ResponseError:  # no stream yet
            return False

    wait_for(consuming, 120, "the Prefect services to consume events")
    assert process.poll() is None, log_path.read_text()[-2000:]
