"""Helpers the tests share: a config file on real loopback peers, the API in a thread, a worker process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from alertflow import system
from tests.conftest import REPO, free_port, wait_for

EXAMPLE_RULES = REPO / "examples" / "rules.yaml"


def write_config(directory: Path, sandbox_url: str, database_url: str, **overrides: Any) -> Path:
    """A config like examples/alertflow.yaml, pointed at this test's sandbox and database."""
    config: dict[str, Any] = {
        "home": str(directory / "home"),
        "database_url": database_url,
        "rules_file": str(EXAMPLE_RULES),
        "api_port": free_port(),
        "prefect_api_url": os.environ["PREFECT_API_URL"],
        "deployment_name": "alertflow",
        "worker_poll_seconds": 0.1,
        "slack": {"token": "xoxb-test-token", "channel": "#oncall", "base_url": f"{sandbox_url}/slack/api/"},
        "switches": {"checkout": sandbox_switch(sandbox_url, "checkout")},
        "runbooks": {
            "restart-checkout": {
                "steps": [{"kind": "http", "name": "restart", "method": "POST", "url": f"{sandbox_url}/restart/checkout"}],
                "verify": {"url": f"{sandbox_url}/health/checkout", "timeout_seconds": 5, "interval_seconds": 0.2},
            }
        },
    }
    config.update(overrides)
    path = directory / "alertflow.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def sandbox_switch(sandbox_url: str, name: str) -> dict[str, Any]:
    """An HTTP switch on the sandbox, with health checks per target and a probe through its front end."""
    return {
        "url": f"{sandbox_url}/switch/{name}",
        "targets": {target: {"health_url": f"{sandbox_url}/health/{name}-{target}"} for target in ("primary", "standby")},
        "probe": {"url": f"{sandbox_url}/front/{name}", "header": "X-Served-By", "samples": 2},
    }


def summaries(entries: list[Any]) -> list[str]:
    """The summaries of timeline entries, in order."""
    return [e.summary for e in entries]


async def pages(store: Any, incident_id: int) -> list[dict[str, Any]]:
    """The params of every paging flow run queued for the incident (escalations included)."""
    return [row["parameters"]["action"]["params"] for row in await store.outbox_for(incident_id) if row["flow"] == "paging"]


class ApiThread:
    """The real API process's core (uvicorn + service) in a thread, on a loopback port."""

    def __init__(self, config_path: Path) -> None:
        from alertflow.api import create_app
        from alertflow.config import load_settings
        from alertflow.service import Service, load_rules

        self.settings = load_settings(config_path)
        self.service = Service(self.settings, load_rules(self.settings.rules_file))
        app = create_app(self.service)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.settings.api_port, log_level="warning"))
        self.thread = threading.Thread(target=asyncio.run, args=(self.server.serve(),), daemon=True)
        self.url = self.settings.resolved_api_url

    def __enter__(self) -> ApiThread:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), 30, "the API to start")
        assert self.server.started, "the API failed to start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}{path}", timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)


def start_worker(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """``alertflow worker`` as its own process, as in production."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "alertflow", "worker", "--config", str(config_path)], stdout=log, stderr=subprocess.STDOUT
        )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    system.stop_process(process, " ".join(map(str, process.args)), grace=40)  # type: ignore[arg-type]


class TcpRelay:
    """A loopback TCP relay we can take down and bring back: a real outage of whatever is behind it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.connections.update((writer, upstream_writer))
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    def up(self) -> None:
        async def start() -> None:
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)

    def down(self) -> None:
        async def stop() -> None:
            if self.server:
                self.server.close()
                for writer in self.connections:
                    writer.close()
                self.connections.clear()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
