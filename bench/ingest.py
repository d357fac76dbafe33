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
    .venv/bin/python bench/ingest.py --start \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/intake_bench    # the store on PostgreSQL
    .venv/bin/python bench/ingest.py --start --replicas 2 \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/intake_bench    # two API processes, one store
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8080 \\
        --against-alertmanager http://127.0.0.1:9093                 # systems you run yourself

The load generator shares the machine with the servers; "client CPU" is the
share of one core it used, so you can tell when the client is the bottleneck;
"server CPU" is what the API process(es) used over the phase, in cores.

Whether the pipeline keeps up is read from the store after each phase (with
``--start`` or ``--database-url``): "decided/s" is the measured alerts over
the pipeline's own span (its first to its last decision of the phase; at least
the accepted rate when it keeps pace with intake), "lag" how long after the
last 202 the last alert was decided, "decided p99" the 99th percentile from an
alert's arrival to its decision. RSS is the API process's resident memory at
the end of the phase (the largest, with replicas).
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
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
from ingest_systems import fresh_database, start_alertflow, start_alertmanager, stop  # bench/ingest_systems.py

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = json.loads((REPO / "examples" / "alertmanager-firing.json").read_text())
DEFAULT_AM = "/usr/bin/prometheus-alertmanager"


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
    post_urls: list[str]  # one per API process; senders are spread over them
    encode: object  # list[alert] -> bytes
    headers: dict[str, str]
    readyz: str | None = None  # alertflow only: to wait for its pipeline
    pids: list[int] = field(default_factory=list)  # the server processes, when this script started them
    database_url: str | None = None  # alertflow's store, to read when each alert was decided


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

    def __init__(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self.client, self.url, self.headers, self.close = client, url, headers, lambda: None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        response = await self.client.post(self.url, content=body, headers=self.headers)
        return response.status_code, response.content


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def blast(client: httpx.AsyncClient, target: Target, payloads: list[bytes], batch: int, args: argparse.Namespace) -> dict:
    """Post every payload with ``args.concurrency`` requests in flight; the same code for every target.
    Sender ``i`` talks to API process ``i % replicas``."""
    latencies: list[float] = []
    counts = {"accepted": 0, "errors": 0}
    ids: list[int] = []
    queue = iter(payloads)

    async def sender(index: int) -> None:
        url = target.post_urls[index % len(target.post_urls)]
        connection = RawConnection(url, target.headers) if args.client == "raw" else HttpxPoster(client, url, target.headers)
        try:
            for body in queue:
                began = time.perf_counter()
                status, text = await connection.post(body)
                latencies.append(time.perf_counter() - began)
                if status in (200, 202):
                    counts["accepted"] += batch
                    if target.database_url:  # the first and last id of the request: where the phase's alerts are
                        ids.extend(json.loads(text)["alert_ids"][:: max(1, batch - 1)])
                else:
                    counts["errors"] += 1
                    if counts["errors"] <= 3:
                        print(f"  {target.name}: HTTP {status} {text[:200]!r}", file=sys.stderr)
        finally:
            connection.close()

    server_cpu, cpu, began, wall = cpu_seconds(target.pids), time.process_time(), time.perf_counter(), time.time()
    await asyncio.gather(*(sender(i) for i in range(args.concurrency)))
    elapsed = time.perf_counter() - began
    return {"rate": counts["accepted"] / elapsed, "p50": pct(latencies, 0.50) * 1000, "p99": pct(latencies, 0.99) * 1000,
            "errors": counts["errors"], "began": began, "wall_began": wall, "wall_ended": wall + elapsed,
            "client_cpu": (time.process_time() - cpu) / elapsed, "server_cpu": (cpu_seconds(target.pids) - server_cpu) / elapsed,
            "ids": (min(ids), max(ids)) if ids else None}  # fmt: skip


async def wait_drained(client: httpx.AsyncClient, target: Target, timeout: float = 600) -> float:
    """Wait until alertflow's pipeline has no pending inbox alerts; returns when (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if (await client.get(target.readyz)).json().get("inbox_pending", 0) == 0:  # type: ignore[arg-type]
            return time.perf_counter()
        await asyncio.sleep(0.1)
    raise SystemExit(f"{target.name}: the pipeline did not catch up in {timeout:.0f}s")


async def decisions(database_url: str, first: int, last: int) -> list[tuple[float, float]]:
    """(received, decided) epoch seconds of the inbox rows ``first``..``last``, from the store itself."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            query = "SELECT received_at, processed_at FROM inbox WHERE id BETWEEN ? AND ? AND processed_at IS NOT NULL"
            rows = conn.execute(query, (first, last)).fetchall()
        stamp = lambda text: datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()  # noqa: E731
        return [(stamp(received), stamp(decided)) for received, decided in rows]
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        query = "SELECT received_at, processed_at FROM inbox WHERE id BETWEEN $1 AND $2 AND processed_at IS NOT NULL"
        rows = await conn.fetch(query, first, last)
    finally:
        await conn.close()
    return [(row[0].timestamp(), row[1].timestamp()) for row in rows]


async def pipeline_figures(target: Target, result: dict, alerts: int) -> dict:
    """How the pipeline kept up with the phase: its own rate, its lag behind the last 202, arrival-to-decision p99."""
    if result["ids"] is None:
        return {}
    rows = await decisions(target.database_url, *result["ids"])  # type: ignore[arg-type]
    if len(rows) < alerts:
        print(f"  {target.name}: only {len(rows)} of {alerts} alerts found decided", file=sys.stderr)
    decided = sorted(d for _, d in rows)
    span = decided[-1] - decided[0]
    return {"decided_rate": len(rows) / span if span > 0 else float("inf"), "lag": (decided[-1] - result["wall_ended"]) * 1000,
            "decided_p99": pct([d - r for r, d in rows], 0.99) * 1000}  # fmt: skip


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
                    if target.database_url:
                        result.update(await pipeline_figures(target, result, args.alerts))
                if target.pids:
                    result["rss"] = max(rss_mib(pid) for pid in target.pids)
                results[batch, target.name] = result
                print(f"  done: {target.name}, {batch} alert(s)/request: {result['rate']:,.0f} alerts/s", file=sys.stderr, flush=True)
    report(results, targets, args)


def report(results: dict[tuple[int, str], dict], targets: list[Target], args: argparse.Namespace) -> None:
    replicas = f", {args.replicas} API processes" if args.replicas > 1 else ""
    print(
        f"\n{args.alerts:,} alerts per mode and target, concurrency {args.concurrency}, keep-alive "
        f"({args.client} client), after {args.warmup_alerts:,} warm-up alerts; alertflow store: {store_name(args)}{replicas}"
    )
    print(
        f"{'target':<13} {'alerts/req':>10} {'alerts/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'client CPU':>10} "
        f"{'server CPU':>10} {'decided/s':>9} {'lag ms':>7} {'decided p99 ms':>14} {'RSS MiB':>7}"
    )
    for (batch, name), r in results.items():
        decided = f"{r['decided_rate']:,.0f}" if "decided_rate" in r else (f"{r['drained']:,.0f}*" if "drained" in r else "-")
        lag = f"{r['lag']:.0f}" if "lag" in r else "-"
        decided_p99 = f"{r['decided_p99']:.0f}" if "decided_p99" in r else "-"
        cpu = f"{r['server_cpu']:.2f}" if "rss" in r else "-"
        rss = f"{r['rss']:.0f}" if "rss" in r else "-"
        print(
            f"{name:<13} {batch:>10} {r['rate']:>9,.0f} {r['p50']:>7.1f} {r['p99']:>7.1f} {r['errors']:>6} "
            f"{r['client_cpu']:>9.0%} {cpu:>10} {decided:>9} {lag:>7} {decided_p99:>14} {rss:>7}"
        )
    if any("drained" in r and "decided_rate" not in r for r in results.values()):
        print("* without the store to read: alerts / (time until /readyz showed nothing pending - first request)")
    if len(targets) == 2:
        for batch in args.batches:
            ours, theirs = results[batch, "alertflow"], results[batch, "alertmanager"]
            ratio = ours["rate"] / theirs["rate"]
            verdict = "meets" if ratio >= 1.0 else "misses"
            notes = [f"p99 {'<=' if ours['p99'] <= theirs['p99'] else '>'} Alertmanager's"]
            if "decided_rate" in ours:
                notes.append(f"pipeline {'kept up' if ours['decided_rate'] >= ours['rate'] else 'fell behind'}")
            print(
                f"ratio alertflow/alertmanager, {batch:>3} alert(s)/request: {ratio:.2f}  ({verdict} the goal of >= 1.0; {', '.join(notes)})"
            )
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def store_name(args: argparse.Namespace) -> str:
    if not args.start and not args.database_url:
        return "as configured"
    return "PostgreSQL" if (args.database_url or "").startswith("postgresql") else "SQLite (WAL, synchronous=FULL)"


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
    parser.add_argument(
        "--database-url",
        help="alertflow's store. With --start and a postgresql+asyncpg:// URL, that database is created fresh for the run "
        "(dropped first if it exists) and dropped after it unless --keep; default: SQLite in a temp home. "
        "Without --start: the store of the API at --url, read to tell when each alert was decided",
    )
    parser.add_argument("--replicas", type=int, default=1, help="with --start: API processes on one store (PostgreSQL for more than 1)")
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
    postgres = (args.database_url or "").startswith("postgresql")
    if args.replicas > 1 and not (args.start and postgres):
        parser.error("--replicas needs --start and a PostgreSQL --database-url (SQLite is one process)")

    processes: list[tuple[subprocess.Popen, int]] = []
    tmp = Path(tempfile.mkdtemp(prefix="alertflow-bench-ingest-"))
    try:
        urls, am_url, database_url = [args.url.rstrip("/")], args.against_alertmanager, args.database_url
        if args.start:
            if postgres:
                asyncio.run(fresh_database(args.database_url))
            started, urls, database_url = start_alertflow(tmp, args.database_url, args.replicas)
            processes += [(process, signal.SIGINT) for process in started]
            if args.alertmanager_binary:
                process, am_url = start_alertmanager(args.alertmanager_binary, tmp)
                processes.append((process, signal.SIGTERM))
        headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {args.token}"} if args.token else {})
        pids = [process.pid for process, _ in processes[: len(urls)]] if args.start else []
        ours = Target(
            "alertflow", [f"{url}/webhooks/alertmanager" for url in urls], ours_body, headers, f"{urls[0]}/readyz", pids, database_url
        )
        targets = [ours]
        if am_url:
            am_pids = [processes[-1][0].pid] if args.start and args.alertmanager_binary else []
            am_headers = {"Content-Type": "application/json"}
            targets.append(Target("alertmanager", [f"{am_url.rstrip('/')}/api/v2/alerts"], alertmanager_body, am_headers, pids=am_pids))
        print(f"alertflow at {', '.join(urls)}" + (f", Alertmanager at {am_url}" if am_url else ""), file=sys.stderr)
        asyncio.run(run(targets, args))
    finally:
        for process, sig in reversed(processes):
            stop(process, sig)
        if args.keep:
            print(f"kept {tmp}" + (f" and database {args.database_url}" if postgres and args.start else ""), file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
            if postgres and args.start:
                asyncio.run(fresh_database(args.database_url, drop_only=True))


if __name__ == "__main__":
    main()
