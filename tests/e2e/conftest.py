"""The whole system for end-to-end tests: API (with pipeline and dispatcher), a worker process, and peers."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey, FlowRunFilter, FlowRunFilterId

from alertflow.cli.sandbox import SandboxServer
from tests.conftest import free_port, pg_database, running_prefect_server, wait_for
from tests.support import ApiThread, start_worker, stop_process


@dataclass
class System:
    api: ApiThread
    sandbox: SandboxServer
    config: Path
    worker_log: Path
    workers: list[subprocess.Popen[bytes]]

    @property
    def worker(self) -> subprocess.Popen[bytes]:
        """The worker started last."""
        return self.workers[-1]

    def start_worker(self) -> subprocess.Popen[bytes]:
        """Another ``alertflow worker`` on the same config (a restart, or a second machine); serving when returned."""
        log = self.worker_log.with_name(f"worker-{len(self.workers) + 1}.log")
        worker = start_worker(self.config, log)
        self.workers.append(worker)
        self.worker_log = log
        wait_for(lambda: "serving" in log.read_text() or worker.poll() is not None, 60, "the worker to serve")
        assert worker.poll() is None, log.read_text()
        return worker

    def flow_runs(self, incident_id: int) -> list[Any]:
        """The Prefect flow runs our outbox dispatched for the incident (tags repeat across test databases)."""
        detail = self.api.get(f"/incidents/{incident_id}")
        if detail.status_code == 404:  # the pipeline has not decided the alert yet
            return []
        ids = [row["flow_run_id"] for row in detail.json()["flow_runs"] if row["flow_run_id"]]

        async def read() -> list[Any]:
            async with get_client() as client:
                return await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))

        return asyncio.run(read()) if ids else []

    def completed_runs(self, incident_id: int, count: int, timeout: float = 60) -> list[Any]:
        """Wait until ``count`` flow runs of the incident are final, and return them."""

        def done() -> list[Any] | None:
            runs = self.flow_runs(incident_id)
            return runs if len(runs) >= count and all(r.state.is_final() for r in runs) else None

        return wait_for(
            done, timeout, f"{count} finished flow runs of incident {incident_id} (worker log: {self.worker_log})", interval=0.3
        )

    def timeline_artifact(self, incident_id: int) -> str:
        """The latest version of the incident's markdown artifact in Prefect."""

        async def read() -> str:
            async with get_client() as client:
                [artifact] = await client.read_latest_artifacts(
                    artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[f"incident-{incident_id}-timeline"]))
                )
                return str(artifact.data)

        return asyncio.run(read())

    def timeline(self, incident_id: int) -> list[str]:
        """The incident's timeline summaries; none while the incident is not decided yet (a 404), so polls go on."""
        response = self.api.get(f"/incidents/{incident_id}")
        return [] if response.status_code == 404 else [e["summary"] for e in response.json()["timeline"]]


@pytest.fixture
def prefect_api(request, prefect_server, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The Prefect API the system talks to: the session's server on SQLite; parametrized ``"postgres"``, a server
    of this test's own on PostgreSQL; parametrized ``"scaled"``, the first API replica of ``scaled_prefect`` (the
    test may point a worker at another). This process's client and the config follow it."""
    param = getattr(request, "param", "sqlite")
    if param == "sqlite":
        yield prefect_server
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if param == "scaled":
        scaled = request.getfixturevalue("scaled_prefect")
        server, database = contextlib.nullcontext(scaled.api_urls[0]), scaled.database_url
    else:
        database = request.getfixturevalue("fresh_pg_url")
        server = running_prefect_server(
            free_port(),
            tmp_path / "prefect-postgres.log",
            PREFECT_HOME=str(tmp_path / "prefect-postgres"),
            PREFECT_API_DATABASE_CONNECTION_URL=database,
        )
    with server as url, temporary_settings(updates={PREFECT_API_URL: url}):
        monkeypatch.setenv("PREFECT_API_URL", url)  # configs written from now on, and the workers they start
        yield url
        assert asyncio.run(count_flow_runs(database)) > 0, "no flow run stored in PostgreSQL: the test ran against another server"


@pytest.fixture
def scaled_prefect(tmp_path):  # type: ignore[no-untyped-def]
    """Prefect scaled out as docs/deploy.md runs it (tests/e2e/scaled_prefect.py): two API replicas and the services
    on a PostgreSQL database of this test's own, messaging in Redis databases 11 and 12."""
    from tests.e2e.scaled_prefect import start_scaled_prefect

    with (
        pg_database("alertflow_prefect") as database,
        start_scaled_prefect(
            tmp_path / "prefect-scaled", database, redis_db=11, PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL="0.5"
        ) as prefect,
    ):
        yield prefect


async def count_flow_runs(database_url: str) -> int:
    """Flow runs in a Prefect server's PostgreSQL database, read there, not through Prefect."""
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(await conn.fetchval("select count(*) from flow_run"))
    finally:
        await conn.close()


@pytest.fixture
def start_system(prefect_api, sandbox, make_config, tmp_path):  # type: ignore[no-untyped-def]
    started: list[Any] = []
    workers: list[subprocess.Popen[bytes]] = []

    def start(worker_env: dict[str, str] | None = None, **config: Any) -> System:
        """The system on a config with ``config`` on top; ``worker_env`` on top of the worker's environment."""
        # Deployments of its own: a run another test left behind (Scheduled, or a killed worker's) never reaches this one.
        path = make_config(sandbox, **{"deployment_name": f"e2e-{uuid.uuid4().hex[:8]}", **config})
        worker = start_worker(path, tmp_path / "worker.log", worker_env)
        workers.append(worker)
        wait_for(lambda: "serving" in (tmp_path / "worker.log").read_text() or worker.poll() is not None, 60, "the worker to serve")
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        api = ApiThread(path).__enter__()
        started.append(api)
        return System(api, sandbox, path, tmp_path / "worker.log", workers)

    yield start
    for thing in reversed(started):
        thing.__exit__()
    for worker in reversed(workers):
        if worker.poll() is None:
            stop_process(worker)
