"""The systems bench/ingest.py loads: throwaway ``alertflow api`` processes and an Alertmanager, and their stores.

Kept apart from the measurement (ingest.py) as harness.py is from latency.py:
starting, waiting for and stopping processes is its own job.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from harness import free_port  # bench/harness.py: run as a script, its folder is on the path

REPO = Path(__file__).resolve().parent.parent
AM_CONFIG = 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n'


def wait_ready(url: str, process: subprocess.Popen, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited ({process.returncode}); log: {log}\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} not ready after {timeout:.0f}s; log: {log}")


def start_alertflow(tmp: Path, database_url: str | None, replicas: int) -> tuple[list[subprocess.Popen], list[str], str]:
    """``alertflow api`` process(es) on free ports, one store (a fresh SQLite home unless ``database_url``);
    no Prefect (not needed for the 202). Returns the processes, their URLs and the store's URL."""
    database_url = database_url or f"sqlite+aiosqlite:///{tmp / 'home' / 'alertflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTFLOW_", "PREFECT_"))}
    env["PREFECT_HOME"] = str(tmp / "prefect")
    processes, urls = [], []
    for index in range(replicas):
        port = free_port()
        config = {
            "home": str(tmp / "home"),
            "database_url": database_url,
            "rules_file": str(REPO / "examples" / "rules.yaml"),
            "api_port": port,
            "prefect_api_url": f"http://127.0.0.1:{free_port()}/api",
        }  # nothing answers there: outbox rows just wait
        path = tmp / f"alertflow-{index}.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        log = tmp / f"alertflow-api-{index}.log"
        command = [sys.executable, "-m", "alertflow", "api", "--config", str(path)]
        process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
        processes.append(process)
        urls.append(f"http://127.0.0.1:{port}")
        wait_ready(f"{urls[-1]}/readyz", process, "alertflow api", log)
    return processes, urls, database_url


async def fresh_database(url: str, drop_only: bool = False) -> None:
    """(Re)create the PostgreSQL database named in ``url`` for this run, or drop it."""
    import asyncpg

    server, _, name = url.replace("postgresql+asyncpg://", "postgresql://").rpartition("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"--database-url: use a plain database name, not {name!r}")
    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop_only:
            await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()


def start_alertmanager(binary: str, tmp: Path) -> tuple[subprocess.Popen, str]:
    """Alertmanager with a route to a null receiver, no clustering, storage in ``tmp``."""
    port = free_port()
    (tmp / "alertmanager.yml").write_text(AM_CONFIG)
    log = tmp / "alertmanager.log"
    command = [
        binary,
        f"--config.file={tmp / 'alertmanager.yml'}",
        f"--storage.path={tmp / 'alertmanager'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/-/ready", process, "alertmanager", log)
    return process, url


def stop(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
