"""Outbox → Prefect: exactly once, in order, and patient while Prefect is down."""

from __future__ import annotations

import asyncio
import sqlite3
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client

from alertflow.config.settings import load_settings
from alertflow.worker.runner import build_deployments
from tests.conftest import PREFECT_PORT, wait_for
from tests.support import REPO, ApiThread, BusyPrefect, TcpRelay

pytestmark = pytest.mark.usefixtures("prefect_server")
FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
JSON = {"Content-Type": "application/json"}


def register_deployments(config_path) -> None:  # type: ignore[no-untyped-def]
    """The deployments a worker would serve (no worker runs them here: runs stay Scheduled)."""
    settings = load_settings(config_path)

    async def apply() -> None:
        for deployment in await build_deployments(settings):
            await deployment.aapply()

    asyncio.run(apply())


def outbox(api: ApiThread) -> list[sqlite3.Row]:
    with sqlite3.connect(api.settings.resolved_database_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("select * from outbox order by id").fetchall()


def read_flow_run(flow_run_id: str):  # type: ignore[no-untyped-def]
    async def read():  # type: ignore[no-untyped-def]
        async with get_client() as client:
            return await client.read_flow_run(UUID(flow_run_id))

    return asyncio.run(read())


def test_outbox_waits_while_prefect_is_down_and_drains_when_back(sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """With Prefect unreachable the webhook still answers 202 and rows wait; when Prefect is back they all dispatch."""
    relay = TcpRelay(PREFECT_PORT)
    config = make_config(sandbox, prefect_api_url=f"http://127.0.0.1:{relay.port}/api", deployment_name="dispatch-test")
    register_deployments(config)
    with ApiThread(config) as api:
        assert api.post("/webhooks/alertmanager", content=FIRING, headers=JSON).status_code == 202
        # The failover row (dispatched first: it acts on systems) is tried again and again; the rest wait behind it.
        wait_for(lambda: len(outbox(api)) == 4 and outbox(api)[2]["attempts"] >= 2, 20, "repeated failed dispatch attempts")
        rows = outbox(api)
        assert all(row["dispatched_at"] is None for row in rows) and "ConnectError" in rows[2]["last_error"]
        assert api.get("/readyz").json()["prefect_reachable"] is False
        relay.up()
        wait_for(lambda: all(row["flow_run_id"] for row in outbox(api)), 30, "the outbox to drain")
    runs = [read_flow_run(row["flow_run_id"]) for row in outbox(api)]
    assert [run.name.split("-incident-")[0] for run in runs] == ["paging", "timeline", "failover", "recovery"]
    assert all(run.state.is_scheduled() and "incident-1" in run.tags for run in runs)
    assert runs[2].parameters["action"]["params"] == {
        "switch": "checkout",
        "to": "standby",
        "back_to": "primary",
        "failback_after_seconds": None,
        "dry_run": False,
    }
    relay.down()


def test_redispatch_after_a_crash_creates_no_second_run(sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """If the process dies after Prefect accepted a run but before the row was marked, the re-send returns the same run."""
    config = make_config(sandbox, deployment_name="dispatch-test")
    register_deployments(config)
    with ApiThread(config) as api:
        api.post("/webhooks/alertmanager", content=FIRING, headers=JSON)
        first = wait_for(
            lambda: [r["flow_run_id"] for r in outbox(api)] if all(r["flow_run_id"] for r in outbox(api)) else None, 20, "dispatch"
        )
    with sqlite3.connect(api.settings.resolved_database_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        conn.execute("update outbox set dispatched_at = null, flow_run_id = null")  # the lost "mark dispatched"
    with ApiThread(config) as api:
        again = wait_for(
            lambda: [r["flow_run_id"] for r in outbox(api)] if all(r["flow_run_id"] for r in outbox(api)) else None, 20, "re-dispatch"
        )
    assert again == first


@pytest.mark.parametrize(("busy", "first_row_attempts"), [(5, 1), (6, 2)])  # a dispatched row counts its dispatch too
def test_a_busy_prefect_gets_six_quick_tries_per_dispatch(sandbox, make_config, busy: int, first_row_attempts: int) -> None:  # type: ignore[no-untyped-def]
    """Prefect answering 503 to run creation is retried within one dispatch, six tries in all; only then is the row postponed."""
    proxy = BusyPrefect(PREFECT_PORT, busy=busy)
    config = make_config(sandbox, prefect_api_url=proxy.url, deployment_name="dispatch-test")
    register_deployments(config)
    with ApiThread(config) as api:
        assert api.post("/webhooks/alertmanager", content=FIRING, headers=JSON).status_code == 202
        wait_for(lambda: all(row["flow_run_id"] for row in outbox(api)) and len(outbox(api)) == 4, 30, "the outbox to drain")
    rows = outbox(api)
    proxy.close()
    # A creation Prefect did but whose answer came too late is sent again with its idempotency key: still 4 runs.
    assert proxy.refused == busy and proxy.created >= 4 and len({row["flow_run_id"] for row in rows}) == 4
    # Rows are listed in decision order; the failover row (FlowName.priority 0) is dispatched first.
    assert [row["attempts"] for row in rows] == [1, 1, first_row_attempts, 1]


@pytest.mark.postgres
def test_two_replicas_creating_runs_at_once_create_each_run_once(sandbox, make_config, fresh_pg_url) -> None:  # type: ignore[no-untyped-def]
    """Two API processes' dispatchers, three run creators each, on one PostgreSQL outbox: every row is claimed by one
    creator (attempts stay 1), becomes its own run with its own idempotency key, and all are created."""
    from datetime import datetime, timezone

    from alertflow.models import TimelineAction
    from alertflow.pipeline.dispatch import Dispatcher
    from alertflow.pipeline.stages import prefect_client_for
    from alertflow.store.database import Store

    config = make_config(sandbox, fresh_pg_url, deployment_name="dispatch-replicas", dispatch_concurrency=3)
    register_deployments(config)
    settings = load_settings(config)

    async def scenario() -> list[dict]:  # type: ignore[type-arg]
        stores = [Store(fresh_pg_url) for _ in range(3)]
        await stores[0].upgrade()
        async with stores[0].write() as tx:
            for n in range(12):
                incident = await tx.insert_incident(key=f"k{n}", title="t", service=f"s{n}", severity="critical", rule_id="r",
                                                    at=datetime.now(timezone.utc))  # fmt: skip
                await tx.queue_action(incident, TimelineAction(), datetime.now(timezone.utc))
        replicas = [
            Dispatcher(store, prefect_client_for(settings.prefect_api_url), deployment_name="dispatch-replicas", ui_url="-", concurrency=3)
            for store in stores[1:]
        ]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(replica.run(stop, idle_seconds=0.1)) for replica in replicas]
        try:
            for _ in range(300):
                rows = [row for n in range(1, 13) for row in await stores[0].outbox_for(n)]
                if all(row["flow_run_id"] for row in rows):
                    return rows
                await asyncio.sleep(0.1)
            raise AssertionError("the outbox did not drain")
        finally:
            stop.set()
            for replica in replicas:
                replica.nudge()
            await asyncio.gather(*tasks)
            await asyncio.gather(*(store.dispose() for store in stores))

    rows = asyncio.run(scenario())
    assert [row["attempts"] for row in rows] == [1] * 12
    assert len({row["flow_run_id"] for row in rows}) == 12
    assert all(read_flow_run(row["flow_run_id"]).idempotency_key == row["idempotency_key"] for row in rows)
