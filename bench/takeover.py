"""Pipeline takeover: how long alerts go undecided when the leader of several API replicas dies.

Why: with replicas on PostgreSQL, one process leads the pipeline (rule engine,
first pages) under a fenced lease (alertflow/pipeline/leadership.py). When it
dies without a word (SIGKILL, machine gone), its lease runs out and a standby
takes over. This script starts ``--replicas`` ``alertflow api`` processes on a
fresh PostgreSQL database, then ``--kills`` times: finds the leader, kills it
with SIGKILL, and times until another replica reports ``"pipeline": "leader"``
on /readyz and until an alert sent right after the kill is decided. The killed
replica is started again before the next round. Prefect is not needed (the
dispatchers just find it unreachable).

    .venv/bin/python bench/takeover.py                   # 2 replicas, 5 kills
    .venv/bin/python bench/takeover.py --replicas 3 --kills 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml
from harness import free_port  # bench/harness.py: run as a script, its folder is on the path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = json.loads((REPO / "examples" / "alertmanager-firing.json").read_text())
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def wait(predicate, timeout: float, what: str, interval: float = 0.02):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


class Replica:
    def __init__(self, index: int, directory: Path, config: dict) -> None:  # type: ignore[type-arg]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.path = directory / f"replica-{index}.yaml"
        self.path.write_text(yaml.safe_dump({**config, "api_port": self.port}))
        self.log = directory / f"replica-{index}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            command = [sys.executable, "-m", "alertflow", "api", "--config", str(self.path)]
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait(lambda: self.role() is not None or self.process.poll() is not None, 60, f"{self.url} to answer")  # type: ignore[union-attr]
        if self.process.poll() is not None:
            raise SystemExit(f"alertflow api exited:\n{self.log.read_text()[-3000:]}")

    def role(self) -> str | None:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=0.5).json().get("pipeline")
        except (httpx.HTTPError, ValueError):
            return None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def send(url: str, token: str, fingerprint: str) -> None:
    alert = json.loads(json.dumps(TEMPLATE["alerts"][0]))
    alert["fingerprint"] = fingerprint
    alert["labels"].update(service=f"bench-{fingerprint}")
    body = {**TEMPLATE, "alerts": [alert]}
    headers = {"Authorization": f"Bearer {token}-webhooks"}
    response = httpx.post(f"{url}/webhooks/alertmanager", json=body, headers=headers, timeout=5)
    response.raise_for_status()


def decided(url: str, token: str, service: str) -> bool:
    incidents = httpx.get(f"{url}/incidents", headers={"Authorization": f"Bearer {token}"}, timeout=2).json()
    return any(incident["service"] == service for incident in incidents)


async def admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def one_kill(replicas: list[Replica], token: str, fingerprint: str) -> tuple[float, float]:
    """SIGKILL the leader; seconds until another replica leads, and until an alert sent just after is decided."""
    leader = wait(lambda: next((r for r in replicas if r.role() == "leader"), None), 30, "a leader")
    others = [r for r in replicas if r is not leader]
    killed_at = time.monotonic()
    leader.kill()
    send(others[0].url, token, fingerprint)
    wait(lambda: any(r.role() == "leader" for r in others), 30, "a standby to lead", interval=0.01)
    role = time.monotonic() - killed_at
    wait(lambda: decided(others[0].url, token, f"bench-{fingerprint}"), 30, "the alert to be decided", interval=0.01)
    decision = time.monotonic() - killed_at
    leader.start()
    return role, decision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    database = f"bench_takeover_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(f"CREATE DATABASE {database}"))
    token = "bench-token"
    with tempfile.TemporaryDirectory(prefix="alertflow-takeover-") as tmp:
        directory = Path(tmp)
        config = {
            "home": str(directory / "home"),
            "database_url": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
            "rules_file": str(REPO / "examples" / "rules.yaml"),
            "api_token": token,
            "webhook_token": f"{token}-webhooks",
            "prefect_api_url": f"http://127.0.0.1:{free_port()}/api",  # nobody there: only the pipeline is measured
        }
        replicas = [Replica(i, directory, config) for i in range(args.replicas)]
        roles, decisions = [], []
        try:
            for replica in replicas:
                replica.start()
            for round_ in range(args.kills):
                role, decision = one_kill(replicas, token, f"takeover-{round_}")
                roles.append(role)
                decisions.append(decision)
                print(f"kill {round_ + 1}: new leader after {role:.2f} s, alert sent after the kill decided after {decision:.2f} s")
        finally:
            for replica in replicas:
                if replica.process and replica.process.poll() is None:
                    replica.process.terminate()
                    replica.process.wait(30)
            asyncio.run(admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
    for name, values in (("new leader", roles), ("alert decided", decisions)):
        print(f"{name}: p50 {statistics.median(values):.2f} s, max {max(values):.2f} s over {len(values)} kills")


if __name__ == "__main__":
    main()
