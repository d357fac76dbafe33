"""Webhook ingest throughput: how many alerts/s does alertflow accept (a 202 means "on disk")?

Why: the webhook is the front door. The project's goal is to accept alerts at
least as fast as Prometheus Alertmanager does, although alertflow commits
every accepted alert durably (SQLite WAL, synchronous=FULL, group commit) and
Alertmanager keeps them in memory. This script posts the same alerts, with the
same client code, concurrency and HTTP keep-alive, to both, and prints
accepted alerts/s, p50/p99 latency of the 2xx, and the ratio ours/theirs.

Two modes: 1 alert per request and 100 alerts per request. Each alert has its
own labels and fingerprint (a storm of one fault: same service, distinct
instances, so the pipeline attaches them all to one incident). Each mode
starts with a warm-up that is not measured; before each measured phase we wait
until alertflow's pipeline has decided every pending alert, so one phase's
backlog does not slow the next, and we report when the pipeline caught up.

Run (from the repository root, with the venv's Python):

    .venv/bin/python bench/ingest.py --start                       # throwaway alertflow API + Alertmanager
    .venv/bin/python bench/ingest.py --start --alertmanager-binary ''   # alertflow only
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8080 \\
        --against-alertmanager http://127.0.0.1:9093                 # systems you run yourself

The load generator shares the machine with the servers; "client CPU" is the
share of one core it used, so you can tell when the client is the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = json.loads((REPO / "examples" / "alertmanager-firing.json").read_text())
DEFAULT_AM = "/usr/bin/prometheus-alertmanager"
AM_CONFIG = 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n'


def v4_alerts(prefix: str, count: int) -> list[dict]:
    """``count`` firing alerts like the example's, each with its own labels and fingerprint."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    alerts = []
    for i in range(count):
        alert = copy.deepcopy(TEMPLATE["alerts"][0])
        alert["labels"]["instance"] = f"{prefix}-{i}:8080"
        alert["startsAt"] = now
        alert["fingerprint"] = hashlib.sha256(f"{prefix}-{i}".encode()).hexdigest()[:16]
        alerts.append(alert)
    return alerts


def ours_body(alerts: list[dict]) -> bytes:
    return json.dumps({**TEMPLATE, "alerts": alerts}).encode()


def alertmanager_body(alerts: list[dict]) -> bytes:
    keys = ("labels", "annotations", "startsAt", "endsAt", "generatorURL")
    return json.dumps([{k: a[k] for k in keys} for a in alerts]).encode()


@dataclass
class Target:
    name: str
    post_url: str
    encode: object  # list[alert] -> bytes
    headers: dict[str, str]
    readyz: str | None = None  # alertflow only: to wait for its pipeline


def bodies(target: Target, prefix: str, alerts: int, batch: int) -> list[bytes]:
    every = v4_alerts(prefix, alerts)
    return [target.encode(every[i : i + batch]) for i in range(0, len(every), batch)]  # type: ignore[operator]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.5) - 1))] if ordered else float("nan")


class RawConnection:
    """A minimal HTTP/1.1 keep-alive POST: one connection, one request at a time.

    With httpx the client used ~4 ms of CPU per request on this 2-core machine
    and, not the server, set Alertmanager's pace (~240 req/s at 93% of a core);
    this one costs a small fraction of that. Both targets get the same code.
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = httpx.URL(url)
        self.host, self.port, self.path = parts.host, parts.port or 80, parts.raw_path.decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}Content-Length: "
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(f"{self.head}{len(body)}\r\n\r\n".encode() + body)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = re.search(r"\r\ncontent-length: *(\d+)", head)
        if length is None:
            raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
        data = await reader.readexactly(int(length[1]))
        if "\r\nconnection: close" in head:
            writer.close()
            self.streams = None
        return int(head.split(" ", 2)[1]), data

    def close(self) -> None:
        if self.streams:
            self.streams[1].close()


class HttpxPoster:
    """The same interface over a shared httpx.AsyncClient (``--client httpx``)."""

    def __init__(self, client: httpx.AsyncClient, target: Target) -> None:
        self.client, self.target, self.close = client, target, lambda: None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        response = await self.client.post(self.target.post_url, content=body, headers=self.target.headers)
        return response.status_code, response.content


async def blast(client: httpx.AsyncClient, target: Target, payloads: list[bytes], batch: int, args: argparse.Namespace) -> dict:
    """Post every payload with ``args.concurrency`` requests in flight; the same code for every target."""
    latencies: list[float] = []
    counts = {"accepted": 0, "errors": 0}
    queue = iter(payloads)

    async def sender() -> None:
        connection = RawConnection(target.post_url, target.headers) if args.client == "raw" else HttpxPoster(client, target)
        try:
            for body in queue:
                began = time.perf_counter()
                status, text = await connection.post(body)
                latencies.append(time.perf_counter() - began)
                if status in (200, 202):
                    counts["accepted"] += batch
                else:
                    counts["errors"] += 1
                    if counts["errors"] <= 3:
                        print(f"  {target.name}: HTTP {status} {text[:200]!r}", file=sys.stderr)
        finally:
            connection.close()

    cpu, began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - began
    return {"rate": counts["accepted"] / elapsed, "p50": pct(latencies, 0.50) * 1000, "p99": pct(latencies, 0.99) * 1000,
            "errors": counts["errors"], "began": began, "client_cpu": (time.process_time() - cpu) / elapsed}  # fmt: skip


async def wait_drained(client: httpx.AsyncClient, target: Target, timeout: float = 600) -> float:
    """Wait until alertflow's pipeline has no pending inbox alerts; returns when (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if (await client.get(target.readyz)).json().get("inbox_pending", 0) == 0:  # type: ignore[arg-type]
            return time.perf_counter()
        await asyncio.sleep(0.1)
    raise SystemExit(f"{target.name}: the pipeline did not catch up in {timeout:.0f}s")


async def run(targets: list[Target], args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    run_id = f"{int(time.time())}-{os.getpid()}"
    results: dict[tuple[int, str], dict] = {}
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        for batch in args.batches:
            for target in targets:
                prefix = f"bench-{run_id}-{target.name}-b{batch}"
                warmup = bodies(target, prefix + "-warm", args.warmup_alerts, batch)
                measured = bodies(target, prefix, args.alerts, batch)
                for payloads in (warmup, measured):
                    if target.readyz:
                        await wait_drained(client, target)
                    result = await blast(client, target, payloads, batch, args)
                if target.readyz:
                    result["drained"] = args.alerts / (await wait_drained(client, target) - result["began"])
                results[batch, target.name] = result
                print(f"  done: {target.name}, {batch} alert(s)/request: {result['rate']:,.0f} alerts/s", file=sys.stderr, flush=True)
    report(results, targets, args)


def report(results: dict[tuple[int, str], dict], targets: list[Target], args: argparse.Namespace) -> None:
    print(
        f"\n{args.alerts:,} alerts per mode and target, concurrency {args.concurrency}, keep-alive "
        f"({args.client} client), after {args.warmup_alerts:,} warm-up alerts"
    )
    print(
        f"{'target':<13} {'alerts/req':>10} {'alerts/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'client CPU':>10} "
        f"{'pipeline caught up':>19}"
    )
    for (batch, name), r in results.items():
        drained = f"{r['drained']:,.0f} alerts/s" if "drained" in r else "-"
        print(
            f"{name:<13} {batch:>10} {r['rate']:>10,.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['errors']:>6} "
            f"{r['client_cpu']:>9.0%} {drained:>19}"
        )
    if len(targets) == 2:
        for batch in args.batches:
            ratio = results[batch, "alertflow"]["rate"] / results[batch, "alertmanager"]["rate"]
            verdict = "meets" if ratio >= 1.0 else "misses"
            print(f"ratio alertflow/alertmanager, {batch:>3} alert(s)/request: {ratio:.2f}  ({verdict} the goal of >= 1.0)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def start_alertflow(tmp: Path) -> tuple[subprocess.Popen, str]:
    """``alertflow api`` on a free port with a fresh SQLite home; no Prefect (not needed for the 202)."""
    port = free_port()
    config = {
        "home": str(tmp / "home"),
        "rules_file": str(REPO / "examples" / "rules.yaml"),
        "api_port": port,
        "prefect_api_url": f"http://127.0.0.1:{free_port()}/api",
    }  # nothing answers there: outbox rows just wait
    (tmp / "alertflow.yaml").write_text(json.dumps(config))  # JSON is YAML
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTFLOW_", "PREFECT_"))}
    env["PREFECT_HOME"] = str(tmp / "prefect")
    log = tmp / "alertflow-api.log"
    command = [sys.executable, "-m", "alertflow", "api", "--config", str(tmp / "alertflow.yaml")]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/readyz", process, "alertflow api", log)
    return process, url


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="a running alertflow API (ignored with --start)")
    parser.add_argument("--against-alertmanager", metavar="URL", help="also load this Alertmanager's /api/v2/alerts and print the ratio")
    parser.add_argument("--start", action="store_true", help="start a throwaway alertflow API (and Alertmanager, see below) for the run")
    parser.add_argument(
        "--alertmanager-binary",
        default=DEFAULT_AM if Path(DEFAULT_AM).exists() else "",
        help="with --start, the Alertmanager to start and compare against ('' for none; default %(default)s)",
    )
    parser.add_argument("--alerts", type=int, default=20_000, help="alerts per mode and target (default %(default)s)")
    parser.add_argument("--warmup-alerts", type=int, default=2_000, help="unmeasured alerts first, per mode and target")
    parser.add_argument(
        "--batches",
        type=lambda s: [int(b) for b in s.split(",")],
        default=[1, 100],
        help="alerts per request, one mode each (default 1,100)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default %(default)s)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load generator's HTTP client (default %(default)s)")
    parser.add_argument("--token", default=os.environ.get("ALERTFLOW_WEBHOOK_TOKEN"), help="alertflow webhook bearer token, if set")
    parser.add_argument("--keep", action="store_true", help="with --start, keep the temp directory (logs, databases)")
    args = parser.parse_args()

    processes: list[tuple[subprocess.Popen, int]] = []
    tmp = Path(tempfile.mkdtemp(prefix="alertflow-bench-ingest-"))
    try:
        url, am_url = args.url.rstrip("/"), args.against_alertmanager
        if args.start:
            process, url = start_alertflow(tmp)
            processes.append((process, signal.SIGINT))
            if args.alertmanager_binary:
                process, am_url = start_alertmanager(args.alertmanager_binary, tmp)
                processes.append((process, signal.SIGTERM))
        headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {args.token}"} if args.token else {})
        targets = [Target("alertflow", f"{url}/webhooks/alertmanager", ours_body, headers, readyz=f"{url}/readyz")]
        if am_url:
            am_headers = {"Content-Type": "application/json"}
            targets.append(Target("alertmanager", f"{am_url.rstrip('/')}/api/v2/alerts", alertmanager_body, am_headers))
        print(f"alertflow at {url}" + (f", Alertmanager at {am_url}" if am_url else ""), file=sys.stderr)
        asyncio.run(run(targets, args))
    finally:
        for process, sig in reversed(processes):
            stop(process, sig)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)


if __name__ == "__main__":
    main()
