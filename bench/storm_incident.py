"""A storm incident as people read it: 100,000 alerts of one fault, then its API answer and CLI view.

Why: a storm must stay readable. Every alert joining an incident used to add
a timeline entry, so one fault of 100,000 alerts made a 43 MB
``GET /incidents/1`` and a 300,000-line ``alertflow incidents show 1``. This
posts the storm through the real webhook API (``alertflow api`` on the
embedded SQLite store, as bench/ingest.py starts it), waits until the
pipeline decided every alert, then measures what a person gets:

  pipeline   alerts/s decided (first post to inbox drained)
  timeline   rows of incident 1 in the store, and the database file's size
  GET        bytes and seconds of ``GET /incidents/1`` (the API's default page)
  CLI        lines and seconds of ``alertflow incidents show 1`` (default page,
             80 columns, as in a pipe)

    .venv/bin/python bench/storm_incident.py                    # 100,000 alerts, 100 per request
    .venv/bin/python bench/storm_incident.py --alerts 20000     # a smaller storm
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from ingest import REPO, Target, blast, bodies, ours_body, start_alertflow, stop, wait_drained


async def storm(url: str, args: argparse.Namespace) -> float:
    """Post the storm; returns the pipeline's rate (alerts decided per second)."""
    target = Target("alertflow", f"{url}/webhooks/alertmanager", ours_body, {"Content-Type": "application/json"}, readyz=f"{url}/readyz")
    payloads = bodies(target, f"storm-{os.getpid()}", args.alerts, args.batch)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        result = await blast(client, target, payloads, args.batch, args)
        if result["errors"]:
            raise SystemExit(f"{result['errors']} requests were refused")
        return args.alerts / (await wait_drained(client, target, timeout=1800) - result["began"])


def measure(url: str, tmp: Path) -> dict[str, float]:
    started = time.perf_counter()
    response = httpx.get(f"{url}/incidents/1", timeout=600)
    response.raise_for_status()
    figures = {"get_bytes": len(response.content), "get_seconds": time.perf_counter() - started}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTFLOW_", "PREFECT_"))}
    env.update(COLUMNS="80", PREFECT_HOME=str(tmp / "prefect"))
    command = [sys.executable, "-m", "alertflow", "incidents", "show", "1", "--config", str(tmp / "alertflow.yaml")]
    started = time.perf_counter()
    shown = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=1800, check=True)
    figures.update(cli_seconds=time.perf_counter() - started, cli_lines=shown.stdout.count("\n"))
    database = next((tmp / "home").rglob("*.db"))
    with sqlite3.connect(database) as db:
        figures["timeline_rows"] = db.execute("SELECT count(*) FROM timeline WHERE incident_id = 1").fetchone()[0]
    figures["db_mib"] = sum(p.stat().st_size for p in database.parent.glob(database.name + "*")) / 2**20
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=100_000, help="alerts in the storm (default %(default)s)")
    parser.add_argument("--batch", type=int, default=100, help="alerts per request (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (log, database)")
    args = parser.parse_args()
    args.client = "raw"  # ingest.blast's keep-alive client
    tmp = Path(tempfile.mkdtemp(prefix="alertflow-bench-storm-"))
    process, url = start_alertflow(tmp)
    try:
        rate = asyncio.run(storm(url, args))
        f = measure(url, tmp)
    finally:
        stop(process, signal.SIGINT)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
    print(f"storm of {args.alerts:,} alerts ({args.batch}/request): pipeline {rate:,.0f} alerts/s; "
          f"incident 1 has {f['timeline_rows']:,} timeline rows; database {f['db_mib']:,.1f} MiB")  # fmt: skip
    print(f"GET /incidents/1: {f['get_bytes']:,} bytes in {f['get_seconds']:.2f} s")
    print(f"alertflow incidents show 1: {f['cli_lines']:,} lines in {f['cli_seconds']:.2f} s")


if __name__ == "__main__":
    main()
