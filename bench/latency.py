"""Page latency: from an alert's webhook to its incident's Slack page, stage by stage.

Why: paging is the promise that matters in an incident. The project's goals
are (b) the paging flow run Running within 1 s at p50 and (c) the Slack
message at the Slack-compatible server within 2 s at p99, measured from the
moment the webhook request is sent. Each of ``--incidents`` alerts has its own
``service`` label, so with examples/rules.yaml each opens a NEW incident and
fans out four flow runs (paging, timeline, failover, recovery).

Per incident it reports, as seconds after the request was sent (t0):
  202         the webhook answered
  received    the alert's inbox received_at (timeline entry of kind "alert")
  decided     the paging outbox row was written (pipeline decision)
  (a) created the paging flow run's ``created`` in Prefect
  claimed     its Pending state (the worker claimed it)
  (b) running its Running state
  (c) slack   the sandbox received chat.postMessage for the incident

By default it starts the whole system (``alertflow up`` with a temp home, free
ports and its own Prefect server) with the sandbox running in this process,
waits until the worker serves and a warm-up incident has been paged (not
counted), sends alerts ``--interval`` seconds apart (0 = a burst), waits for
every flow run to finish, prints the figures and stops the system with SIGINT
(``--keep`` keeps its temp home and logs; ``--env NAME=VALUE`` passes settings
to it, e.g. PREFECT_API_DATABASE_CONNECTION_URL to put Prefect on PostgreSQL).

    .venv/bin/python bench/latency.py                   # 30 incidents, 5 s apart (one at a time)
    .venv/bin/python bench/latency.py --interval 1      # 30 incidents, 1 s apart (beyond capacity on 2 cores)
    .venv/bin/python bench/latency.py --interval 0      # a burst of 30
    .venv/bin/python bench/latency.py --url http://127.0.0.1:8080 \\
        --prefect-api-url http://127.0.0.1:4200/api --sandbox-url http://127.0.0.1:8099   # `alertflow up --sandbox`
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = json.loads((REPO / "examples" / "alertmanager-firing.json").read_text())
FLOWS = ("paging", "timeline", "failover", "recovery")
STAGES = ("202", "received", "decided", "(a) created", "claimed", "(b) running", "(c) slack")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def payload(service: str) -> bytes:
    alert = copy.deepcopy(TEMPLATE["alerts"][0])
    alert["labels"].update(service=service, instance=f"{service}-1:8080")
    alert["startsAt"] = datetime.now().astimezone().isoformat()
    alert["fingerprint"] = f"{abs(hash(service)):x}"[:16]
    groups = {"service": service, "alertname": alert["labels"]["alertname"]}
    return json.dumps({**TEMPLATE, "groupLabels": groups, "commonLabels": alert["labels"], "alerts": [alert]}).encode()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))] if ordered else float("nan")


class System:
    """``alertflow up`` with a temp home, free ports and its own Prefect server; stopped with SIGINT."""

    def __init__(self, sandbox_url: str, extra_env: list[str]) -> None:
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
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTFLOW_", "PREFECT_"))}
        env.update(PREFECT_HOME=str(self.tmp / "prefect-client"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
        env.update(item.split("=", 1) for item in extra_env)
        command = [sys.executable, "-m", "alertflow", "up", "--config", str(self.config)]
        self.process = subprocess.Popen(
            command, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
        self.descendants: set[int] = set()

    def wait_api(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"alertflow up exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.api_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"alertflow up not ready after {timeout:.0f}s; log: {self.log}")

    def note_descendants(self) -> None:
        """Remember the worker and Prefect server processes, to check at the end that they are gone."""
        parents = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid, rest = stat.read_text().split(" (", 1)
                parents[int(pid)] = int(rest.rsplit(") ", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        frontier = {self.process.pid}
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier} - self.descendants
            self.descendants |= frontier

    def stop(self, keep: bool) -> None:
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
        print(f"alertflow up stopped (exit code {self.process.returncode})" + (f"; logs in {self.tmp}" if keep else ""), file=sys.stderr)
        if not keep:
            subprocess.run(["rm", "-rf", str(self.tmp)], check=False)


async def wait_for(check, timeout: float, what: str, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)
    return result


class Bench:
    def __init__(self, api: str, sandbox_url: str, http: httpx.AsyncClient, prefect) -> None:  # type: ignore[no-untyped-def]
        self.api, self.sandbox_url, self.http, self.prefect = api, sandbox_url, http, prefect

    async def pages(self) -> dict[str, float]:
        """Slack messages the sandbox accepted, by the service named in their text: first call time."""
        calls = (await self.http.get(f"{self.sandbox_url}/_sandbox/calls")).json()["slack"]
        pages: dict[str, float] = {}
        for call in calls:
            if call["method"] == "chat.postMessage" and call["ok"]:
                service = call["body"].get("text", "").rsplit("(", 1)[-1].rstrip(")")
                pages.setdefault(service, call["at"])
        return pages

    async def incident(self, service: str) -> dict | None:
        found = [i for i in (await self.http.get(f"{self.api}/incidents", params={"limit": 1000})).json() if i["service"] == service]
        return (await self.http.get(f"{self.api}/incidents/{found[0]['id']}")).json() if found else None

    async def runs_final(self, detail: dict) -> list | None:
        ids = [row["flow_run_id"] for row in detail["flow_runs"] if row["flow_run_id"]]
        if len(ids) < len(FLOWS):
            return None
        runs = [await self.prefect.read_flow_run(run_id) for run_id in ids]
        return runs if all(run.state.is_final() for run in runs) else None

    async def fire(self, service: str) -> tuple[float, float]:
        body = payload(service)
        t0 = time.time()
        response = await self.http.post(f"{self.api}/webhooks/alertmanager", content=body, headers={"Content-Type": "application/json"})
        if response.status_code != 202:
            raise SystemExit(f"webhook answered {response.status_code}: {response.text}")
        return t0, time.time()

    async def settle(self, services: list[str], timeout: float) -> dict[str, dict]:
        """Wait until every service was paged and its four flow runs are final; return the incident details."""
        await wait_for(lambda: self._all_paged(services), timeout, "every page to reach the sandbox")
        details: dict[str, dict] = {}

        async def all_final() -> bool:
            for service in services:
                details[service] = await wait_for(lambda service=service: self.incident(service), 30, f"the incident of {service}")
                if await self.runs_final(details[service]) is None:
                    return False
            return True

        await wait_for(all_final, timeout, "every flow run to finish", interval=1.0)
        return details

    async def _all_paged(self, services: list[str]) -> bool:
        pages = await self.pages()
        return all(service in pages for service in services)

    async def stages(self, detail: dict, t0: float, acked: float, paged: float) -> dict[str, float]:
        alert_at = next(e["at"] for e in detail["timeline"] if e["kind"] == "alert")
        row = next(r for r in detail["flow_runs"] if r["flow"] == "paging")
        run = await self.prefect.read_flow_run(row["flow_run_id"])
        states = {s.type.value: s.timestamp.timestamp() for s in await self.prefect.read_flow_run_states(row["flow_run_id"])}
        at = {"received": datetime.fromisoformat(alert_at).timestamp(), "decided": datetime.fromisoformat(row["created_at"]).timestamp()}
        at |= {"(a) created": run.created.timestamp(), "claimed": states.get("PENDING", float("nan")),
               "(b) running": states.get("RUNNING", float("nan")), "(c) slack": paged, "202": acked}  # fmt: skip
        return {stage: at[stage] - t0 for stage in STAGES}


async def measure(args: argparse.Namespace, api: str, sandbox_url: str) -> None:
    from prefect.client.orchestration import get_client

    run_id = f"{int(time.time()) % 100000}"
    async with httpx.AsyncClient(timeout=30) as http, get_client() as prefect:
        bench = Bench(api, sandbox_url, http, prefect)
        for flow in FLOWS:  # the worker registers the deployments just before it serves them
            await wait_for(lambda flow=flow: _deployment(prefect, f"{flow}/alertflow"), 180, f"deployment {flow}/alertflow", 0.5)
        warmup = f"bench{run_id}-warmup"
        await bench.fire(warmup)
        await bench.settle([warmup], 120)
        print("warm-up incident paged and its flow runs finished; measuring", file=sys.stderr, flush=True)

        services = [f"bench{run_id}-{i:03d}" for i in range(args.incidents)]
        began = time.monotonic()

        async def fire_at(i: int, service: str) -> tuple[float, float]:
            await asyncio.sleep(max(0.0, began + i * args.interval - time.monotonic()))
            return await bench.fire(service)

        sent = dict(zip(services, await asyncio.gather(*(fire_at(i, s) for i, s in enumerate(services))), strict=True))
        details = await bench.settle(services, 120 + 10 * args.incidents)
        pages = await bench.pages()
        rows = [await bench.stages(details[s], *sent[s], pages[s]) for s in services]
        outcomes = [run.state.name for s in services for run in await bench.runs_final(details[s]) or []]
    report(args, rows, outcomes)


async def _deployment(prefect, name: str) -> bool:  # type: ignore[no-untyped-def]
    from prefect.exceptions import ObjectNotFound

    try:
        return bool(await prefect.read_deployment_by_name(name))
    except ObjectNotFound:
        return False


def report(args: argparse.Namespace, rows: list[dict[str, float]], outcomes: list[str]) -> None:
    mode = "a burst" if args.interval == 0 else f"{args.interval:g} s apart"
    print(f"\n{len(rows)} new incidents, alerts sent {mode}; seconds after the webhook request was sent")
    print(f"{'stage':<13} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")
    for stage in STAGES:
        values = [row[stage] for row in rows]
        print(f"{stage:<13} " + " ".join(f"{pct(values, q):>7.3f}" for q in (0.5, 0.9, 0.99)) + f" {max(values):>7.3f}")
    counts = {name: outcomes.count(name) for name in sorted(set(outcomes))}
    print(f"flow runs of these incidents: {counts}")
    running_p50 = pct([row["(b) running"] for row in rows], 0.5)
    slack_p99 = pct([row["(c) slack"] for row in rows], 0.99)
    print(f"goal (b) paging run Running p50 <= 1 s: {running_p50:.3f} s -> {'met' if running_p50 <= 1 else 'MISSED'}")
    print(f"goal (c) Slack message p99 <= 2 s:      {slack_p99:.3f} s -> {'met' if slack_p99 <= 2 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=30, help="alerts, each opening a new incident (default %(default)s)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between alerts; 0 sends a burst (default %(default)s)")
    parser.add_argument("--url", help="use this running alertflow API instead of starting the system")
    parser.add_argument("--prefect-api-url", default=os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api"), help="with --url")
    parser.add_argument("--sandbox-url", default="http://127.0.0.1:8099", help="with --url: the sandbox its Slack points at")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (logs, databases) of the system started")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for `alertflow up` (repeatable)"
    )
    args = parser.parse_args()

    if args.url:
        os.environ["PREFECT_API_URL"] = args.prefect_api_url
        asyncio.run(measure(args, args.url.rstrip("/"), args.sandbox_url.rstrip("/")))
        return
    from alertflow.cli.sandbox import SandboxServer

    sandbox = SandboxServer(slack_token="xoxb-bench").start_in_thread()
    system = System(sandbox.url, args.env)
    os.environ.update(PREFECT_API_URL=system.prefect_api_url, PREFECT_HOME=str(system.tmp / "prefect-bench"))
    try:
        print(f"starting alertflow up (log: {system.log}) ...", file=sys.stderr, flush=True)
        system.wait_api()
        system.note_descendants()
        asyncio.run(measure(args, system.api_url, sandbox.url))
    finally:
        system.stop(args.keep)
        sandbox.stop()


if __name__ == "__main__":
    main()
