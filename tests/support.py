"""Helpers the tests share: a config file on real loopback peers, the API in a thread, a worker process."""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from prometheus_client.parser import text_string_to_metric_families

from alertflow.cli import up as system
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
        from alertflow.api.app import create_app
        from alertflow.api.protocol import server_config
        from alertflow.config.settings import load_settings
        from alertflow.pipeline.stages import Stages, load_rules

        self.settings = load_settings(config_path)
        self.stages = Stages(self.settings, load_rules(self.settings.rules_file))
        app = create_app(self.stages)
        self.server = uvicorn.Server(server_config(app, self.settings, host="127.0.0.1"))
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


def start_worker(config_path: Path, log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``alertflow worker`` as its own process, as in production (``env`` on top of ours, e.g. another
    ``ALERTFLOW_PREFECT_API_URL``: the environment overrides the config file)."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "alertflow", "worker", "--config", str(config_path)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )  # fmt: skip


def start_api(config_path: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``alertflow api`` as its own process, as in production; returns it with its URL once /healthz answers."""
    from alertflow.config.settings import load_settings

    url = load_settings(config_path).resolved_api_url
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "alertflow", "api", "--config", str(config_path)], stdout=log, stderr=subprocess.STDOUT
        )

    wait_until_answers(process, f"{url}/healthz", log_path, "the API process to answer /healthz")
    return process, url


def wait_until_answers(process: subprocess.Popen[bytes], url: str, log_path: Path, what: str) -> None:
    """Wait until ``url`` answers 200; fail with the process's log if it exits first."""

    def ready() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None

    wait_for(ready, 30, what)
    assert process.poll() is None, log_path.read_text()


def start_alertmanager(directory: Path, webhook_url: str, token: str) -> tuple[subprocess.Popen[bytes], str]:
    """The real Alertmanager (Debian's prometheus-alertmanager), alone (no cluster), routing every alert
    to ``webhook_url`` with a bearer token; its files in a fresh folder under ``directory``."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "prometheus-alertmanager is not installed: run `make test` (it installs it) or apt-get install prometheus-alertmanager"
    port = free_port()
    home = directory / f"alertmanager-{port}"
    home.mkdir()
    route = {
        "receiver": "alertflow",
        "group_by": ["alertname", "service"],
        "group_wait": "1s",
        "group_interval": "1s",
        "repeat_interval": "1h",
    }
    webhook = {"url": webhook_url, "send_resolved": True, "http_config": {"authorization": {"type": "Bearer", "credentials": token}}}
    (home / "alertmanager.yml").write_text(
        yaml.safe_dump({"route": route, "receivers": [{"name": "alertflow", "webhook_configs": [webhook]}]})
    )
    argv = [binary, f"--config.file={home / 'alertmanager.yml'}", f"--storage.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    return start_server(argv, home / "alertmanager.log", f"{url}/-/ready", "Alertmanager to be ready"), url


def start_server(argv: list[str], log_path: Path, ready_url: str, what: str) -> subprocess.Popen[bytes]:
    """A server of ours (Alertmanager, Prometheus) with its output in ``log_path``; answering ``ready_url`` when returned."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    wait_until_answers(process, ready_url, log_path, what)
    return process


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


def metric_samples(text: str) -> dict[str, float]:
    """A /metrics page as {name{labels}: value}, read with prometheus-client's own parser."""
    return {f"{x.name}{x.labels or ''}": x.value for family in text_string_to_metric_families(text) for x in family.samples}


class BusyPrefect:
    """An HTTP relay to the Prefect server that answers 503 to the first ``busy`` flow-run creations,
    as Prefect on SQLite does under lock contention; everything else is forwarded unchanged."""

    def __init__(self, target_port: int, busy: int) -> None:
        self.busy, self.refused, self.created = busy, 0, 0
        upstream = httpx.Client(base_url=f"http://127.0.0.1:{target_port}", timeout=30)
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet: the test reads the counts
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                creating = self.command == "POST" and self.path.endswith("/create_flow_run")
                if creating and relay.refused < relay.busy:
                    relay.refused += 1
                    status, headers, content = 503, {"content-type": "application/json"}, b'{"detail": "database is locked"}'
                else:
                    relay.created += creating
                    forwarded = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                    answer = upstream.request(self.command, self.path, content=body, headers=forwarded)
                    status, headers, content = answer.status_code, {"content-type": answer.headers.get("content-type", "")}, answer.content
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
