"""The system a bench starts: its own Prefect server, then ``alertflow up`` pointed at it, on free ports.

Kept apart from the measurements (latency.py) because starting, stopping and
restarting the parts is its own job: ``--prefect-down`` stops the Prefect
server this starts and starts it again on the same port and database, and
``--prefect-db`` puts that server on a fresh PostgreSQL database (what the
README's production notes ask for) instead of the embedded SQLite file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import asyncpg
import httpx

from alertflow.config.settings import load_settings

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrefectDatabase:
    """A PostgreSQL database for the bench's Prefect server, created empty (dropped first if it exists) so every
    run starts from the same state, and dropped afterwards unless kept."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://"))
        self.name = parts.path.lstrip("/")
        if parts.scheme != "postgresql" or not self.name:
            raise SystemExit(f"--prefect-db wants postgresql://USER@HOST:PORT/DATABASE, not {url}")
        self.admin = parts._replace(path="/postgres").geturl()  # the server's maintenance database
        self.url = parts._replace(scheme="postgresql+asyncpg").geturl()  # Prefect's driver

    def _admin(self, *statements: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(self.admin)
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                await conn.close()

        asyncio.run(run())

    def create(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class PrefectServer:
    """The system's Prefect server, started here with the product's own ``start_prefect_server`` (as ``alertflow up``
    would), so that ``--prefect-down`` can stop it and start it again on the same port and database."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.config, self.env = config, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from alertflow.cli.up import prefect_ready, start_prefect_server, wait_until  # imports Prefect: after PREFECT_* are set

        with mock.patch.dict(os.environ, self.env, clear=True):  # the environment `alertflow up` gets
            settings = load_settings(self.config)
            self.process = start_prefect_server(settings)
        wait_until(lambda: prefect_ready(settings.prefect_api_url), 120, "Prefect server", self.process)

    def stop(self) -> None:
        """SIGTERM to its process group (it runs in a session of its own), SIGKILL after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(grace)
                return
            except subprocess.TimeoutExpired:
                print(f"Prefect server did not stop in {grace} s", file=sys.stderr)
            except ProcessLookupError:
                return


class System:
    """Prefect, then ``alertflow up`` (which finds it answering and starts none) with a temp home and free ports."""

    def __init__(self, sandbox_url: str, extra_env: list[str], prefect_db: str | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="alertflow-bench-latency-"))
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self.prefect_api_url = f"http://127.0.0.1:{free_port()}/api"
        restart = {"kind": "http", "name": "restart", "method": "POST", "url": f"{sandbox_url}/restart/checkout"}
        config = {
            "home": str(self.tmp / "home"), "rules_file": str(REPO / "examples" / "rules.yaml"),
            "api_port": int(self.api_url.rsplit(":", 1)[1]), "prefect_api_url": self.prefect_api_url,
            "slack": {"token": "xoxb-bench", "channel": "#oncall", "base_url": f"{sandbox_url}/slack/api/"},
            "switches": {"checkout": {"url": f"{sandbox_url}/switch/checkout"}},
            "runbooks": {"restart-checkout": {"steps": [restart], "verify": {"url": f"{sandbox_url}/health/checkout"}}},
        }  # fmt: skip
        self.config = self.tmp / "alertflow.yaml"
        self.config.write_text(json.dumps(config))  # JSON is YAML
        self.log = self.tmp / "alertflow-up.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTFLOW_", "PREFECT_"))}
        self.env.update(PREFECT_HOME=str(self.tmp / "prefect-client"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
        self.env.update(item.split("=", 1) for item in extra_env)
        self.prefect_db = PrefectDatabase(prefect_db) if prefect_db else None
        server_env = {"PREFECT_API_DATABASE_CONNECTION_URL": self.prefect_db.url} if self.prefect_db else {}
        self.prefect = PrefectServer(self.config, {**self.env, **server_env})
        self.process: subprocess.Popen[bytes] | None = None
        self.descendants: set[int] = set()

    def start(self) -> None:
        from alertflow.cli.up import wait_until

        where = f"PostgreSQL database {self.prefect_db.name}, created empty" if self.prefect_db else "SQLite"
        print(f"starting Prefect on {where} (log: {self.tmp / 'home' / 'logs' / 'prefect-server.log'}) ...", file=sys.stderr, flush=True)
        if self.prefect_db:
            self.prefect_db.create()
        self.prefect.start()
        print(f"starting alertflow up (log: {self.log}) ...", file=sys.stderr, flush=True)
        command = [sys.executable, "-m", "alertflow", "up", "--config", str(self.config)]
        self.process = subprocess.Popen(
            command, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=self.env, cwd=REPO, start_new_session=True
        )
        wait_until(self._api_ready, 180, "alertflow up", self.process)
        self.note_descendants()

    def _api_ready(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def note_descendants(self) -> None:
        """Remember the worker's processes, to check at the end that they are gone."""
        parents = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid, rest = stat.read_text().split(" (", 1)
                parents[int(pid)] = int(rest.rsplit(") ", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        frontier = {self.process.pid} if self.process else set()
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier} - self.descendants
            self.descendants |= frontier

    def stop(self, keep: bool) -> None:
        if self.process is not None:
            self.note_descendants()
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
                try:
                    self.process.wait(120)
                except subprocess.TimeoutExpired:
                    print("alertflow up did not stop in 120 s after SIGINT; killing it", file=sys.stderr)
                    self.process.kill()
                    self.process.wait()
            time.sleep(1)
            for pid in sorted(self.descendants):
                if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text():
                    print(f"process {pid} of alertflow up outlived it; killing it", file=sys.stderr)
                    os.kill(pid, signal.SIGKILL)
        self.prefect.stop()
        if self.prefect_db and not keep:
            self.prefect_db.drop()
        code = self.process.returncode if self.process else None
        print(f"alertflow up stopped (exit code {code})" + (f"; logs in {self.tmp}" if keep else ""), file=sys.stderr)
        if not keep:
            subprocess.run(["rm", "-rf", str(self.tmp)], check=False)
