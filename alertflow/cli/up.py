"""``alertflow up``: the whole system on one machine, started and stopped as one.

Starts, in order: the database's upgrade to this version's schema (``alertflow
db upgrade``, which a production start leaves to the operator); a local Prefect
server (SQLite, in ``<home>/prefect``) unless one already answers at
``prefect_api_url``; the sandbox peers if asked; the worker as a child process;
and the API (with pipeline and dispatcher) in this process. Children run in
their own sessions so Ctrl-C reaches only us; we then stop them in reverse
order: worker (letting runs finish), then Prefect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import uvicorn
import uvloop

from alertflow.api.app import create_app
from alertflow.api.protocol import server_config
from alertflow.cli.db import upgrade_database
from alertflow.cli.sandbox import SandboxServer
from alertflow.config.api import check_exposure
from alertflow.config.settings import Settings
from alertflow.pipeline.stages import Stages, load_rules
from alertflow.rules import RuleSet

log = logging.getLogger("alertflow.up")


def prefect_ready(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_prefect_server(settings: Settings) -> subprocess.Popen[bytes]:
    parts = urlsplit(settings.prefect_api_url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"Prefect API at {settings.prefect_api_url} does not answer, and it is not local to start it")
    home = settings.home.expanduser()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_API_HOST": parts.hostname,
        "PREFECT_SERVER_API_PORT": str(parts.port or 4200),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": settings.prefect_api_url,
    }
    with open(home / "logs" / "prefect-server.log", "ab") as log_file:  # the child keeps its own handle
        command = [sys.executable, "-m", "prefect", "server", "start"]
        return subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)


def wait_until(check: Callable[[], bool], timeout: float, what: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{what} exited with code {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} was not ready after {timeout:.0f}s")
        time.sleep(0.3)


def stop_process(process: subprocess.Popen[bytes], name: str, grace: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop in %.0fs; killing it", name, grace)
        process.kill()
        process.wait()


def up(settings: Settings, config_file: Path | None, sandbox_port: int | None) -> None:
    ruleset = load_rules(settings.rules_file)
    check_exposure(settings)  # before any child starts
    print(upgrade_database(settings), flush=True)  # one machine, one command: its database follows the version
    children: list[tuple[str, subprocess.Popen[bytes], float]] = []
    try:
        if not prefect_ready(settings.prefect_api_url):
            print(f"starting Prefect server (logs: {settings.home.expanduser() / 'logs' / 'prefect-server.log'}) ...", flush=True)
            server = start_prefect_server(settings)
            children.append(("Prefect server", server, 15.0))
            wait_until(lambda: prefect_ready(settings.prefect_api_url), 120, "Prefect server", server)
        worker_command = [sys.executable, "-m", "alertflow", "worker"] + (["--config", str(config_file)] if config_file else [])
        worker = subprocess.Popen(worker_command, start_new_session=True)
        children.insert(0, ("worker", worker, 40.0))
        uvloop.run(serve_api(settings, ruleset, sandbox_port, on_ready=lambda: print(banner(settings, sandbox_port), flush=True)))
    finally:
        for name, process, grace in children:
            print(f"stopping {name} ...", flush=True)
            stop_process(process, name, grace)


class _ApiServer(uvicorn.Server):
    """uvicorn without its signal capture: it re-raises Ctrl-C after shutdown, which
    would interrupt our own orderly stop of the children. We own the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _on_signal(self) -> None:
        self.force_exit = self.should_exit  # a second Ctrl-C stops without waiting
        self.should_exit = True


async def serve_api(
    settings: Settings, ruleset: RuleSet, sandbox_port: int | None = None, on_ready: Callable[[], None] = lambda: None
) -> None:
    """Run the API (with pipeline and dispatcher, and the sandbox peers if given a port) until Ctrl-C or SIGTERM."""
    check_exposure(settings)
    stages = Stages(settings, ruleset)
    # Before uvicorn: a refusal (an older schema) ends the process with its message; from inside the app's lifespan
    # uvicorn would log it as a failed start-up and return as if nothing happened.
    await stages.store.check_schema(create_if_empty=True)
    peers = SandboxServer(port=sandbox_port).start_in_thread() if sandbox_port else None
    server = _ApiServer(server_config(create_app(stages), settings))
    api_task = asyncio.create_task(server.serve())
    while not server.started and not api_task.done():
        await asyncio.sleep(0.05)
    if server.started:
        on_ready()
    try:
        await api_task
    finally:
        if peers:
            peers.stop()


def banner(settings: Settings, sandbox_port: int | None) -> str:
    api = settings.resolved_api_url
    lines = [
        "",
        "alertflow is up (Ctrl-C stops everything)",
        f"  Prefect UI        {settings.prefect_ui_url}",
        f"  webhook           {api}/webhooks/alertmanager",
        f"  incidents API     {api}/incidents",
        f"  health, metrics   {api}/readyz  {api}/metrics",
        f"  rules             {settings.rules_file}",
        f"  store             {settings.resolved_database_url.split('@')[-1]}",
    ]
    if sandbox_port:
        lines.append(f"  sandbox peers     http://127.0.0.1:{sandbox_port}  (Slack-compatible API, traffic switch, health)")
    lines += ["", "  try: alertflow fire examples/alertmanager-firing.json && alertflow incidents", ""]
    return "\n".join(lines)
