"""The worker registering its deployments: it waits for Prefect with capped backoff, and a stop ends the wait."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from alertflow.config.settings import load_settings
from alertflow.worker.runner import build_deployments, register
from tests.conftest import PREFECT_PORT
from tests.support import TcpRelay

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.anyio]


async def until_retrying(caplog, times: int) -> list[str]:  # type: ignore[no-untyped-def]
    """The waits register announced, once it has announced ``times`` of them (so we act inside a wait)."""

    def waits() -> list[str]:
        return [r.getMessage().rsplit("retrying in ", 1)[1] for r in caplog.records if "cannot register" in r.getMessage()]

    async with asyncio.timeout(20):
        while len(waits()) < times:
            await asyncio.sleep(0.02)
    return waits()


def unreachable(relay: TcpRelay) -> temporary_settings:
    """Prefect's client pointed at the relay, with its own retries off so each attempt is one request."""
    return temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{relay.port}/api", PREFECT_CLIENT_MAX_RETRIES: 0})


async def test_registration_waits_for_prefect_then_applies(sandbox, make_config, caplog) -> None:  # type: ignore[no-untyped-def]
    """Prefect unreachable: each failed try is logged with the next wait (1 s, then 2 s); once it is back, all deployments apply."""
    relay = TcpRelay(PREFECT_PORT)  # down until up()
    deployments = await build_deployments(load_settings(make_config(sandbox, deployment_name="register-test")))
    caplog.set_level(logging.WARNING, logger="alertflow.worker.runner")
    with unreachable(relay):
        registering = asyncio.create_task(register(deployments, asyncio.Event()))
        waits = await until_retrying(caplog, 2)
        relay.up()
        ids = await asyncio.wait_for(registering, 20)
    relay.down()
    assert ids is not None and len(ids) == len(deployments) and waits == ["1s", "2s"]


async def test_a_stop_ends_the_wait_for_prefect_at_once(sandbox, make_config, caplog) -> None:  # type: ignore[no-untyped-def]
    """Stopping while Prefect is unreachable returns None within moments, not after the current backoff."""
    relay = TcpRelay(PREFECT_PORT)
    deployments = await build_deployments(load_settings(make_config(sandbox, deployment_name="register-test")))
    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, logger="alertflow.worker.runner")
    with unreachable(relay):
        registering = asyncio.create_task(register(deployments, stop))
        await until_retrying(caplog, 2)  # inside the 2 s wait
        stop.set()
        started = time.monotonic()
        assert await asyncio.wait_for(registering, 5) is None
    assert time.monotonic() - started < 0.5
