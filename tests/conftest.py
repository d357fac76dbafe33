"""Shared test fixtures: real servers on loopback, started once per session.

The environment is set before anything imports Prefect, so every Prefect
client in this process (and in subprocesses we start) talks to the test
server, with its home in a temporary directory and nothing from ~/.prefect.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from alertflow.cli.sandbox import SandboxServer


# Each xdist worker takes ports from a block of its own, below Linux's ephemeral range (32768+): a port the kernel
# handed one worker for bind(0) and that was closed again could be handed to another worker before the first bound it.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_PORTS = iter(range(12000 + 2000 * _WORKER, 14000 + 2000 * _WORKER))


def free_port() -> int:
    """A loopback port free now, from this worker's own block (none other hands it out)."""
    for port in _PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("this test worker used up its block of ports")


SESSION_DIR = Path(tempfile.mkdtemp(prefix="alertflow-tests-"))
PREFECT_PORT = free_port()
PREFECT_API_URL = f"http://127.0.0.1:{PREFECT_PORT}/api"
for name in [n for n in os.environ if n.startswith("ALERTFLOW_") and not n.startswith("ALERTFLOW_TEST_")]:
    del os.environ[name]
os.environ.update(
    PREFECT_HOME=str(SESSION_DIR / "prefect"),
    PREFECT_API_URL=PREFECT_API_URL,
    PREFECT_SERVER_ANALYTICS_ENABLED="false",
    PREFECT_LOGGING_TO_API_BATCH_INTERVAL="0.3",
    ALERTFLOW_HOME=str(SESSION_DIR / "home"),
)

PG_URL = os.environ.get("ALERTFLOW_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ALERTFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379")
PG_PREFIX = os.environ.get("ALERTFLOW_TEST_PG_PREFIX", "")  # before the names of the databases tests create (a shared server)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def wait_for(check, timeout: float, what: str, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


async def wait_until(check, timeout: float, what: str, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """``wait_for`` for an async ``check``, without blocking the event loop the code under test runs in."""
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)
    return result


@contextmanager
def running_prefect_server(port: int, log_path: Path, *args: str, **env: str) -> Iterator[str]:
    """``prefect server start [args]`` on a loopback port (``env`` on top of ours), healthy when its API URL is
    yielded; stopped with SIGTERM, then SIGKILL if it hangs."""
    url = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    log = open(log_path, "wb")  # noqa: SIM115
    env = {**os.environ, "PREFECT_SERVER_API_PORT": str(port), "PREFECT_SERVER_API_HOST": "127.0.0.1", **env}
    command = [sys.executable, "-m", "prefect", "server", "start", *args]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: process.poll() is not None or healthy(), 120, "the Prefect server to start")
        if process.poll() is not None:
            pytest.fail(f"Prefect server exited: {log_path.read_text()[-2000:]}")
        yield url
    finally:
        from alertflow.cli.up import stop_process

        stop_process(process, f"Prefect server on :{port}", grace=30)
        log.close()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real Prefect server on SQLite in a temp dir, once per test session."""
    with running_prefect_server(PREFECT_PORT, SESSION_DIR / "prefect-server.log") as url:
        yield url


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """Slack-compatible API, traffic switch and health endpoints on loopback (fresh per test)."""
    from alertflow.cli.sandbox import SandboxServer

    server = SandboxServer(slack_token="xoxb-test-token").start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def pagerduty():  # type: ignore[no-untyped-def]
    """A PagerDuty-compatible Events API v2 server on loopback (tests/fake_pagerduty.py, fresh per test)."""
    from tests.fake_pagerduty import FakePagerDuty

    server = FakePagerDuty().start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def load_balancer(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real HAProxy serving web1, with web2 in maintenance as the standby (tests/loadbalancer.py)."""
    from tests.loadbalancer import LoadBalancer

    balancer = LoadBalancer(tmp_path).start()
    yield balancer
    balancer.stop()


@contextmanager
def pg_database(prefix: str) -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL (its URL, asyncpg driver), dropped afterwards."""
    import asyncpg

    admin_dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    name = f"{PG_PREFIX}{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A database of our own on the machine's PostgreSQL, dropped at the end of the session."""
    with pg_database("alertflow_test") as url:
        yield url


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A database of this test's own on the machine's PostgreSQL, dropped after it."""
    with pg_database("alertflow_fresh") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on SQLite and on PostgreSQL, starting from empty tables."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'alertflow.db'}"
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from alertflow.store.tables import metadata

    url = request.getfixturevalue("pg_server_url")

    async def reset() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))  # empty again: the next upgrade creates all
        await engine.dispose()

    asyncio.run(reset())
    return url


@pytest.fixture
def make_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Write a config file for this test and make it the process's config (flows read it too)."""
    from tests.support import write_config

    def make(sandbox: SandboxServer, database_url: str | None = None, **overrides: object) -> Path:
        path = write_config(tmp_path, sandbox.url, database_url or f"sqlite+aiosqlite:///{tmp_path / 'alertflow.db'}", **overrides)
        monkeypatch.setenv("ALERTFLOW_CONFIG", str(path))
        from alertflow.config import settings as config

        config.current.cache_clear()
        return path

    yield make
    from alertflow.config import settings as config

    config.current.cache_clear()
