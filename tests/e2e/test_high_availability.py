"""High availability on PostgreSQL: two `alertflow api` processes behind a real HAProxy, a worker, the Prefect server.

A storm of alerts for many services goes through HAProxy while the system is
hurt three times: the standby replica is killed, then the pipeline leader is
killed (SIGKILL), then the leader's database connections are cut
(``pg_terminate_backend``). Afterwards: every alert that got a 202 on its one
try is in the inbox exactly once; the incidents and their timelines equal
those a single process makes of the same inbox; every incident was paged
exactly once (one Slack message names it, its paging run sent nothing more);
the standby took over within 5 s (printed).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alertflow.models import IncidentStatus
from alertflow.pipeline.consumer import Pipeline
from alertflow.rules import parse_rules
from alertflow.store.database import Store
from tests.conftest import REPO, free_port, wait_for
from tests.support import start_api, start_worker, stop_process

pytestmark = pytest.mark.postgres
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
TEMPLATE = json.loads((REPO / "examples" / "alertmanager-firing.json").read_text())
SERVICES = 24  # about 7 alerts each: below the storm fold (storm.SHOWN a minute), so timelines compare entry by entry
RULES = {
    "rules": [
        {
            "id": "down",
            "description": "a service is down",
            "matchers": ['alertname="ServiceDown"'],
            "group_by": ["service"],
            "actions": [{"flow": "paging", "params": {"channel": "#oncall"}, "retry": {"retries": 0}}],
        }
    ]
}
NAMES_INCIDENT = re.compile(r'"(?:alertflow_incident_|alertflow_ack:)(\d+)"')  # a page's action block, a digest's Ack button
HAPROXY_CONFIG = """\
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    retries 3
    option redispatch 1
    retry-on conn-failure
frontend webhooks
    bind 127.0.0.1:{front}
    default_backend alertflow
backend alertflow
    option httpchk GET /healthz
    server a 127.0.0.1:{a} check inter 200ms fall 1 rise 2
    server b 127.0.0.1:{b} check inter 200ms fall 1 rise 2
"""


def alert(seq: int) -> bytes:
    """One firing alert of its own (fingerprint), for one of SERVICES services."""
    body = json.loads(json.dumps(TEMPLATE["alerts"][0]))
    body["labels"].update(service=f"svc-{seq % SERVICES:02d}", instance=f"i-{seq}")
    body["fingerprint"] = f"fp-{seq:05d}"
    body["startsAt"] = datetime.now(timezone.utc).isoformat()
    return json.dumps({**TEMPLATE, "alerts": [body]}).encode()


class Sender(threading.Thread):
    """Alertmanager's part: a steady stream through HAProxy; a failed try is sent again, as Alertmanager does."""

    def __init__(self, url: str, token: str, per_second: float) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.interval = url, token, 1 / per_second
        self.first_try: set[str] = set()  # fingerprints acknowledged with a 202 on their one and only try
        self.retried: set[str] = set()
        self.seq = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        with httpx.Client(timeout=10) as client:
            while not self.stopping.is_set():
                fingerprint, body, tries = f"fp-{self.seq:05d}", alert(self.seq), 0
                while True:
                    tries += 1
                    try:
                        if client.post(self.url, content=body, headers=headers).status_code == 202:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.1)
                (self.first_try if tries == 1 else self.retried).add(fingerprint)
                self.seq += 1
                time.sleep(self.interval)


class Replica:
    def __init__(self, name: str, config: Path, directory: Path) -> None:
        self.name, self.config, self.directory = name, config, directory
        self.url = f"http://127.0.0.1:{yaml.safe_load(config.read_text())['api_port']}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.process, _ = start_api(self.config, self.directory / f"api-{self.name}-{self.starts}.log")

    def role(self) -> str | None:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).json().get("pipeline")
        except (httpx.HTTPError, ValueError):
            return None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def leader_of(replicas: list[Replica]) -> Replica:
    return wait_for(lambda: next((r for r in replicas if r.role() == "leader"), None), 15, "a pipeline leader")


async def terminate_backends(database_url: str, pid: int) -> int:
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres")
    try:
        query = "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name like $1"
        return int(await conn.fetchval(query, f"alertflow:{pid}%"))  # its pool and its wake-up listener
    finally:
        await conn.close()


async def inbox_fingerprints(store: Store) -> list[str]:
    return [a.fingerprint async for a in store.inbox_alerts(None, None)]


async def decisions(store: Store) -> dict[str, Any]:
    """Incidents by key, each with its status, alerts (fingerprints) and the pipeline's rule and resolve entries.
    The entries are compared as a set: their order follows the decision clock, which a replay does not share. The
    alerts' own timeline entries are not compared: past ten a minute a storm's alerts are folded into one entry and a
    new leader starts its folds afresh (alertflow/pipeline/storm.py), so their placement differs from a replay's."""
    result = {}
    for incident in await store.list_incidents(limit=1000):
        full = await store.get_incident(incident.id)
        entries = [(e.kind.value, e.summary) for e in await store.get_timeline(incident.id) if e.kind.value in ("rule", "resolve")]
        result[incident.key] = (incident.status, sorted(full.fingerprints), sorted(entries))
    return result


async def single_process_run(fingerprints_in_order: list[Any], rules_path: Path, url: str) -> dict[str, Any]:
    """The same inbox, decided by one plain pipeline of its own (no leases, no replicas)."""
    store = Store(url)
    await store.upgrade()
    pipeline = Pipeline(store, parse_rules(rules_path.read_text()))
    await store.append_alerts(fingerprints_in_order)
    await pipeline.drain()
    try:
        return await decisions(store)
    finally:
        await store.dispose()


def test_replicas_survive_a_killed_standby_a_killed_leader_and_a_cut_connection(
    prefect_api, sandbox, make_config, fresh_pg_url, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(RULES))
    token = "ha-webhook-token"
    config_a = make_config(sandbox, fresh_pg_url, rules_file=str(rules_path), webhook_token=token, deployment_name=f"ha-{free_port()}")
    config_b = tmp_path / "replica-b.yaml"
    config_b.write_text(yaml.safe_dump({**yaml.safe_load(config_a.read_text()), "api_port": free_port()}))
    worker = start_worker(config_a, tmp_path / "worker.log")
    replicas = [Replica("a", config_a, tmp_path), Replica("b", config_b, tmp_path)]
    for replica in replicas:
        replica.start()
    ports = {"front": free_port(), "a": replicas[0].url.rsplit(":", 1)[1], "b": replicas[1].url.rsplit(":", 1)[1]}
    (tmp_path / "haproxy.cfg").write_text(HAPROXY_CONFIG.format(**ports))
    with open(tmp_path / "haproxy.log", "wb") as log:
        haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(tmp_path / "haproxy.cfg")], stdout=log, stderr=subprocess.STDOUT)
    sender = Sender(f"http://127.0.0.1:{ports['front']}/webhooks/alertmanager", token, per_second=12)
    try:
        leader = leader_of(replicas)
        sender.start()
        time.sleep(2)

        standby = next(r for r in replicas if r is not leader)  # 1. the standby dies: nothing changes
        standby.kill()
        time.sleep(1)
        assert leader.role() == "leader"
        standby.start()

        time.sleep(2)  # 2. the leader dies: the standby takes over
        killed_at = time.monotonic()
        leader.kill()
        new_leader = wait_for(lambda: standby if standby.role() == "leader" else None, 10, "the standby to take over", interval=0.05)
        takeover = time.monotonic() - killed_at
        print(f"\ntakeover after SIGKILL of the leader: {takeover:.2f} s")
        assert takeover <= 5.0
        leader.start()

        time.sleep(2)  # 3. the leader's database connections are cut
        assert new_leader.process is not None
        cut = asyncio.run(terminate_backends(fresh_pg_url, new_leader.process.pid))
        assert cut >= 1
        cut_at = time.monotonic()
        seq_then = sender.seq
        wait_for(lambda: asyncio.run(_decided_after(fresh_pg_url, seq_then + 5)), 10, "decisions to continue after the cut")
        print(f"pipeline deciding again {time.monotonic() - cut_at:.2f} s after its connections were cut ({cut} terminated)")
        time.sleep(1)
    finally:
        sender.stopping.set()
        sender.join(30)

    try:
        store = Store(fresh_pg_url)
        wait_for(lambda: asyncio.run(_pending(fresh_pg_url)) == 0, 20, "the inbox to be decided")
        inbox = asyncio.run(inbox_fingerprints(store))
        for fingerprint in sender.first_try:
            assert inbox.count(fingerprint) == 1, fingerprint
        assert set(inbox) == sender.first_try | sender.retried
        print(f"alerts: {len(inbox)} stored, {len(sender.first_try)} acknowledged at the first try, {len(sender.retried)} sent again")

        wanted = asyncio.run(_ordered_alerts(fresh_pg_url))
        got = asyncio.run(decisions(Store(fresh_pg_url)))
        expected = asyncio.run(single_process_run(wanted, rules_path, f"sqlite+aiosqlite:///{tmp_path / 'single.db'}"))
        for key in sorted(got):  # per incident, so a difference names it
            assert got[key] == expected[key], key
        assert got.keys() == expected.keys()
        assert all(status is IncidentStatus.open for status, _, _ in got.values()) and len(got) == SERVICES

        ids = asyncio.run(_incident_ids(fresh_pg_url))
        wait_for(lambda: asyncio.run(_paging_runs_done(fresh_pg_url, prefect_api)), 120, "every paging run to finish", interval=1)
        messages = [m for m in sandbox.state.slack.channel("#oncall").messages.values() if "thread_ts" not in m]
        named = [set(map(int, NAMES_INCIDENT.findall(json.dumps(m["blocks"])))) for m in messages]  # a page's or a digest's
        for incident_id in ids:
            assert sum(incident_id in ids_shown for ids_shown in named) == 1, f"incident {incident_id} is not in exactly one message"
        print(f"incidents: {len(ids)}, Slack messages: {len(messages)}, each incident in exactly one")
    finally:
        for thing in [haproxy, worker] + [r.process for r in replicas if r.process]:
            if thing.poll() is None:
                stop_process(thing)


async def _pending(url: str) -> int:
    store = Store(url)
    try:
        return (await store.counts())["inbox_pending"]
    finally:
        await store.dispose()


async def _decided_after(url: str, seq: int) -> bool:
    """The alert sent ``seq``-th (or a later one) has been decided."""
    store = Store(url)
    try:
        async with store.read() as conn:
            from sqlalchemy import select

            from alertflow.store import tables as t

            query = select(t.inbox.c.id).where(t.inbox.c.fingerprint >= f"fp-{seq:05d}", t.inbox.c.processed_at.is_not(None))
            return (await conn.execute(query.limit(1))).first() is not None
    finally:
        await store.dispose()


async def _ordered_alerts(url: str) -> list[Any]:
    store = Store(url)
    try:
        return [a async for a in store.inbox_alerts(None, None)]
    finally:
        await store.dispose()


async def _incident_ids(url: str) -> list[int]:
    store = Store(url)
    try:
        return [i.id for i in await store.list_incidents(limit=1000)]
    finally:
        await store.dispose()


async def _paging_runs_done(url: str, prefect_url: str) -> bool:
    from prefect.client.orchestration import get_client

    store = Store(url)
    try:
        rows = [row for i in await store.list_incidents(limit=1000) for row in await store.outbox_for(i.id)]
    finally:
        await store.dispose()
    ids = [row["flow_run_id"] for row in rows]
    if not ids or None in ids:
        return False
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
    return len(runs) == len(ids) and all(r.state is not None and r.state.is_final() for r in runs)
