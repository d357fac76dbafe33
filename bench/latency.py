"""Page latency in a big outage: from each alert's webhook to its incident's first announcement on Slack, and on.

Why: paging is the promise that matters in an incident, and an incident
response pipeline is judged on its worst day, when a fault opens dozens of
incidents at once (issue 13). The first page must not wait for Prefect: the
announcer sends step 1 at decision time, alone or in a digest when a storm
outruns the channel's rate limit, and the paging flow run continues from there.
This script measures that promise end to end on the real system.

How: it starts the whole system (a Prefect server of its own, then
``alertflow up`` pointed at it; temp home, free ports) with the sandbox's
Slack-compatible server in this process, which enforces Slack's per-channel
rate limit and records every call. After a warm-up incident, it sends
``--incidents`` alerts ``--interval`` seconds apart (0 = a burst), each opening
a new incident (examples/rules.yaml fans out paging, timeline, failover and
recovery), waits for every flow run to finish and prints, per incident,
seconds from sending its webhook to:

- the 202 and the pipeline's decision (the outbox row);
- **announced**: the first Slack call that shows the incident, in its own
  message or a digest (posted, or updated to take it in), found by the
  incident's number in the message blocks and checked against the page log's
  channel/ts (the incident's "paged ... on Slack" timeline entry);
- the paging flow run created and Running, the failover run Running, and
  the last of the incident's runs final;

with p50/p90/p99/max, then Slack calls per target (top-level messages, thread
replies, updates, 429s), duplicates (incidents shown in more than one
top-level message: two pages, or a page and a digest) and the outcome of every
flow run. ``--prefect-down SECONDS`` stops the Prefect server (SIGTERM to its
process group) right before the burst and starts it again, on the same port
and database, SECONDS after it stopped; it then also reports the
announcements made while Prefect was down and the paging flow runs per
incident (each must exist exactly once). The issue's targets are printed with
met / MISSED. Stop with Ctrl-C; ``--keep`` keeps the temp home and logs.

    .venv/bin/python bench/latency.py --incidents 100 --interval 0                  # a burst of 100
    .venv/bin/python bench/latency.py --incidents 20 --interval 5                   # one every 5 s
    .venv/bin/python bench/latency.py --incidents 20 --interval 0 --prefect-down 60 # Prefect stopped 60 s
    .venv/bin/python bench/latency.py --incidents 100 --interval 0 --prefect-db postgresql://postgres@127.0.0.1:5432/runs_prefect_bench
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
from harness import System  # bench/harness.py: run as a script, its folder is on the path
from report import STAGES, SlackLog, report  # bench/report.py

from alertflow.cli.sandbox import SandboxServer

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = json.loads((REPO / "examples" / "alertmanager-firing.json").read_text())


def payload(service: str) -> bytes:
    alert = copy.deepcopy(TEMPLATE["alerts"][0])
    alert["labels"].update(service=service, instance=f"{service}-1:8080")
    alert["startsAt"] = datetime.now().astimezone().isoformat()
    alert["fingerprint"] = f"{abs(hash(service)):x}"[:16]
    groups = {"service": service, "alertname": alert["labels"]["alertname"]}
    return json.dumps({**TEMPLATE, "groupLabels": groups, "commonLabels": alert["labels"], "alerts": [alert]}).encode()


async def poll(check, timeout: float, interval: float = 0.5):  # type: ignore[no-untyped-def]
    """``check()`` until it returns something true, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(interval)
    return result


class Bench:
    def __init__(self, api: str, sandbox_url: str, http: httpx.AsyncClient, prefect) -> None:  # type: ignore[no-untyped-def]
        self.api, self.sandbox_url, self.http, self.prefect = api, sandbox_url, http, prefect

    async def slack(self, since: float) -> SlackLog:
        return SlackLog.read((await self.http.get(f"{self.sandbox_url}/_sandbox/calls")).json()["slack"], since)

    async def fire(self, service: str) -> tuple[float, float]:
        body = payload(service)
        t0 = time.time()
        response = await self.http.post(f"{self.api}/webhooks/alertmanager", content=body, headers={"Content-Type": "application/json"})
        if response.status_code != 202:
            raise SystemExit(f"webhook answered {response.status_code}: {response.text}")
        return t0, time.time()

    async def incident_ids(self, services: list[str]) -> dict[str, int] | None:
        listed = (await self.http.get(f"{self.api}/incidents", params={"limit": 1000})).json()
        found = {i["service"]: i["id"] for i in listed if i["service"] in services}
        return found if len(found) == len(services) else None

    async def detail(self, incident_id: int) -> dict:
        return (await self.http.get(f"{self.api}/incidents/{incident_id}")).json()

    async def announced(self, ids: dict[str, int], since: float, timeout: float) -> bool:
        async def all_shown() -> bool:
            slack = await self.slack(since)
            return all(slack.first_shown(i) for i in ids.values())

        return bool(await poll(all_shown, timeout))

    async def finished(self, ids: dict[str, int], timeout: float) -> dict[int, dict]:
        """Wait until every response of these incidents has its flow run and every run is final; the runs by id."""
        runs: dict[int, dict] = {}

        async def all_dispatched() -> bool:
            for incident_id in ids.values():
                if incident_id not in runs:
                    rows = (await self.detail(incident_id))["flow_runs"]
                    if rows and all(row["flow_run_id"] for row in rows):
                        runs[incident_id] = {row["flow"]: row["flow_run_id"] for row in rows}
            return len(runs) == len(ids)

        async def all_final() -> bool:
            found = await self.read_runs([run for by_flow in runs.values() for run in by_flow.values()])
            return all(run.state and run.state.is_final() for run in found.values()) and len(found) == sum(map(len, runs.values()))

        if not await poll(all_dispatched, timeout, 1.0) or not await poll(all_final, timeout, 1.0):
            print(f"not every flow run finished within {timeout:.0f} s; reporting what there is", file=sys.stderr)
        return runs

    async def read_runs(self, run_ids: list[str]) -> dict[str, object]:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        found = {}
        for i in range(0, len(run_ids), 200):
            chunk = FlowRunFilter(id=FlowRunFilterId(any_=run_ids[i : i + 200]))
            found |= {str(run.id): run for run in await self.prefect.read_flow_runs(flow_run_filter=chunk, limit=200)}
        return found

    async def runs_named(self, names: list[str]) -> Counter[str]:
        """How many flow runs Prefect has of each name (``paging-incident-7``): each should exist once."""
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

        counts: Counter[str] = Counter()
        for i in range(0, len(names), 50):
            found = await self.prefect.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names[i : i + 50])), limit=200
            )
            counts.update(run.name for run in found)
        return counts

    async def running_at(self, run_id: str | None) -> float:
        if not run_id:
            return float("nan")
        states = await self.prefect.read_flow_run_states(run_id)
        return next((s.timestamp.timestamp() for s in states if s.type.value == "RUNNING"), float("nan"))


async def measure(args: argparse.Namespace, api: str, sandbox_url: str, system: System | None) -> None:
    from prefect.client.orchestration import get_client

    tag = f"{int(time.time()) % 100000}"
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as http, get_client() as prefect:
        bench = Bench(api, sandbox_url, http, prefect)
        for flow in ("paging", "timeline", "failover", "recovery"):  # the worker registers the deployments just before it serves them
            if not await poll(lambda flow=flow: _deployment(prefect, f"{flow}/alertflow"), 180):
                raise SystemExit(f"deployment {flow}/alertflow not registered within 180 s")
        warmup = [f"bench{tag}-warmup"]
        warm_at = time.time()
        await bench.fire(warmup[0])
        warm_ids = await poll(lambda: bench.incident_ids(warmup), 30)
        if not warm_ids or not await bench.announced(warm_ids, warm_at, 60):
            raise SystemExit("the warm-up incident was not announced within 60 s")
        await bench.finished(warm_ids, 120)
        print("warm-up incident announced and its flow runs finished; measuring", file=sys.stderr, flush=True)

        outage: dict[str, float] = {}
        if args.prefect_down:
            if system is None:
                raise SystemExit("--prefect-down needs the system this script starts (not --url)")
            outage["stopped"] = time.time()
            system.prefect.stop()
            print(f"Prefect server stopped; restarting it in {args.prefect_down:g} s", file=sys.stderr, flush=True)
        services = [f"bench{tag}-{i:03d}" for i in range(args.incidents)]
        began = time.monotonic()
        burst_at = time.time()

        async def fire_at(i: int, service: str) -> tuple[float, float]:
            await asyncio.sleep(max(0.0, began + i * args.interval - time.monotonic()))
            return await bench.fire(service)

        sent = dict(zip(services, await asyncio.gather(*(fire_at(i, s) for i, s in enumerate(services))), strict=True))
        ids = await poll(lambda: bench.incident_ids(services), 60)
        if not ids:
            raise SystemExit("not every alert opened an incident within 60 s")
        if not await bench.announced(ids, burst_at, 30 if args.prefect_down else 120 + args.incidents):
            print("not every incident was announced; reporting what there is", file=sys.stderr)
        if args.prefect_down:
            await asyncio.sleep(max(0.0, outage["stopped"] + args.prefect_down - time.time()))
            outage["restarting"] = time.time()
            await asyncio.to_thread(system.prefect.start)
            outage["back"] = time.time()
            print(f"Prefect server back after {outage['back'] - outage['stopped']:.1f} s", file=sys.stderr, flush=True)
        runs = await bench.finished(ids, 300 + 10 * args.incidents)
        slack = await bench.slack(burst_at)
        found = await bench.read_runs([run for by_flow in runs.values() for run in by_flow.values()])
        paging_runs = await bench.runs_named([f"paging-incident-{i}" for i in ids.values()])
        rows, pages, queued, joined = [], {}, 0, Counter[str]()
        details = {incident_id: await bench.detail(incident_id) for incident_id in ids.values()}
        run_of_row = {row["id"]: row["flow_run_id"] for detail in details.values() for row in detail["flow_runs"]}
        for service, incident_id in ids.items():
            t0, acked = sent[service]
            detail = details[incident_id]
            queued += len(detail["flow_runs"])  # outbox rows: the runs the incident was given
            pages[incident_id] = [e for e in detail["timeline"] if e["kind"] == "page" and e["summary"].startswith("paged")]
            by_flow = runs.get(incident_id, {})
            joins = [e for e in detail["timeline"] if e["kind"] in ("failover", "recovery") and "joined_incident" in e["data"]]
            joined.update(flow for flow in {e["kind"] for e in joins} if flow not in by_flow)
            shared = [e["data"]["outbox_id"] for e in joins if e["kind"] == "failover"]
            failover_run = by_flow.get("failover") or (run_of_row.get(shared[0]) if shared else None)  # the run it joined
            outbox = {row["flow"]: row for row in detail["flow_runs"]}
            shown = slack.first_shown(incident_id)
            mine = [found[r] for r in by_flow.values() if r in found]
            paging = found.get(by_flow.get("paging", ""))
            at = {
                "202": acked,
                "decided": datetime.fromisoformat(outbox["paging"]["created_at"]).timestamp() if "paging" in outbox else float("nan"),
                "announced": shown[0] if shown else float("nan"),
                "paging created": paging.created.timestamp() if paging else float("nan"),
                "paging running": await bench.running_at(by_flow.get("paging")),
                "failover running": await bench.running_at(failover_run),
                "runs final": max(r.state.timestamp.timestamp() for r in mine) if mine and all(r.state.is_final() for r in mine) else float("nan"),
            }  # fmt: skip
            rows.append({stage: at[stage] - t0 for stage in STAGES} | {"id": incident_id, "sent": t0})
        outcomes = Counter(f"{flow} {found[r].state.name}" for by_flow in runs.values() for flow, r in by_flow.items() if r in found)
        created = sorted(run.created.timestamp() for run in found.values())
    report(args, rows, slack, pages, outcomes, paging_runs, outage, burst_at, created, queued, joined)


async def _deployment(prefect, name: str) -> bool:  # type: ignore[no-untyped-def]
    from prefect.exceptions import ObjectNotFound

    try:
        return bool(await prefect.read_deployment_by_name(name))
    except ObjectNotFound:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=30, help="alerts, each opening a new incident (default %(default)s)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between alerts; 0 sends a burst (default %(default)s)")
    parser.add_argument("--prefect-down", type=float, default=0, metavar="SECONDS", help="stop Prefect just before the alerts, for SECONDS")
    parser.add_argument("--url", help="use this running alertflow API instead of starting the system")
    parser.add_argument("--prefect-api-url", default=os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api"), help="with --url")
    parser.add_argument("--sandbox-url", default="http://127.0.0.1:8099", help="with --url: the sandbox its Slack points at")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (logs, databases) of the system started")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for Prefect and `alertflow up`")
    parser.add_argument(
        "--prefect-db", metavar="URL", help="run Prefect on this PostgreSQL database, dropped and created empty"
        " (e.g. postgresql://postgres@127.0.0.1:5432/runs_prefect_bench); dropped at the end unless --keep"
    )  # fmt: skip
    args = parser.parse_args()

    if args.url:
        os.environ["PREFECT_API_URL"] = args.prefect_api_url
        asyncio.run(measure(args, args.url.rstrip("/"), args.sandbox_url.rstrip("/"), None))
        return
    sandbox = SandboxServer(slack_token="xoxb-bench").start_in_thread()
    system = System(sandbox.url, args.env, args.prefect_db)
    os.environ.update(PREFECT_API_URL=system.prefect_api_url, PREFECT_HOME=str(system.tmp / "prefect-bench"))
    try:
        system.start()
        asyncio.run(measure(args, system.api_url, sandbox.url, system))
    finally:
        system.stop(args.keep)
        sandbox.stop()


if __name__ == "__main__":
    main()
