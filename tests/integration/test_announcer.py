"""First pages at decision time: announced by the API process with Prefect unreachable, continued by the paging run.

The API under test points at a Prefect that is not there (a closed port), so
no flow run can exist when the first page leaves; the paging run is then
started by hand against the real test Prefect server, as the dispatcher would
start it once Prefect is back, with the parameters the outbox holds.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import update

from alertflow.cli.sandbox import SlackFailure
from alertflow.config.settings import current, load_settings
from alertflow.durations import utcnow
from alertflow.flows import page_oncall
from alertflow.integrations.notifiers.message import PageMessage
from alertflow.integrations.notifiers.slack import SlackNotifier
from alertflow.metrics import Metrics
from alertflow.models import PagingAction
from alertflow.paging.announcer import LEASE_SECONDS, Announcer
from alertflow.store import tables as t
from alertflow.store.pages import PageLog
from tests.conftest import REPO, free_port
from tests.fake_slack import SIGNING_SECRET, block_actions, click
from tests.support import ApiThread

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]
JSON = {"Content-Type": "application/json"}
TEMPLATE = json.loads((REPO / "examples" / "alertmanager-firing.json").read_text())
PEOPLE = {"alice": {"slack_user_id": "UALICE"}, "bob": {"slack_user_id": "UBOB"}}
POLICY = {"steps": [{"notify": {"person": "alice"}, "wait": "1s"}, {"notify": {"person": "bob"}, "wait": "1s"}]}


def firing(service: str) -> bytes:
    """An Alertmanager webhook with one firing alert for ``service`` (each service opens its own incident)."""
    alert = json.loads(json.dumps(TEMPLATE["alerts"][0]))
    alert["labels"].update(service=service, instance=f"{service}-1:8080")
    alert["fingerprint"] = f"fp-{service}"
    alert["startsAt"] = datetime.now(timezone.utc).isoformat()
    return json.dumps({**TEMPLATE, "alerts": [alert]}).encode()


def rules(tmp_path, paging: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    """A rules file whose one rule pages each service's incident (and nothing else, so no failover runs)."""
    path = tmp_path / "rules.yaml"
    rule = {"id": "down", "description": "a service is down", "matchers": ['alertname="ServiceDown"'], "group_by": ["service"]}
    path.write_text(json.dumps({"rules": [rule | {"actions": [{"flow": "paging", "params": paging, "retry": {"retries": 0}}]}]}))
    return str(path)


def start_api(sandbox, make_config, tmp_path, paging: dict[str, Any]) -> ApiThread:  # type: ignore[no-untyped-def]
    dead_prefect = f"http://127.0.0.1:{free_port()}/api"  # nothing listens: Prefect is down for the API process
    slack = {"token": "xoxb-test-token", "channel": "#oncall", "base_url": f"{sandbox.url}/slack/api/", "signing_secret": SIGNING_SECRET}
    config = make_config(
        sandbox,
        rules_file=rules(tmp_path, paging),
        prefect_api_url=dead_prefect,
        people=PEOPLE,
        escalation_policies={"duo": POLICY},
        slack=slack,
    )
    return ApiThread(config).__enter__()


def paging_rows(api: ApiThread) -> list[sqlite3.Row]:
    with sqlite3.connect(api.settings.resolved_database_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("select * from outbox where flow = 'paging' order by id").fetchall()


def pages(api: ApiThread) -> list[sqlite3.Row]:
    with sqlite3.connect(api.settings.resolved_database_url.removeprefix("sqlite+aiosqlite:///")) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("select * from pages order by id").fetchall()


async def until(check, timeout: float = 10, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll without blocking the event loop (a flow may run in it)."""
    for _ in range(int(timeout / 0.05)):
        if result := check():
            return result
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def posted(sandbox, channel: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Top-level messages the Slack stand-in holds in ``channel`` (a name, a user id's DM)."""
    return [m for m in sandbox.state.slack.channel(channel).messages.values() if "thread_ts" not in m]


async def run_paging(api: ApiThread) -> None:
    """The paging run the dispatcher would create once Prefect is back: the outbox row's own parameters."""
    params = json.loads(paging_rows(api)[0]["parameters"])
    await page_oncall(params["incident_id"], PagingAction.model_validate(params["action"]), params["episode"])


async def test_the_first_page_leaves_while_prefect_is_down(sandbox, make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With Prefect unreachable, the incident's first page reaches Slack within seconds and the timeline says so;
    the paging run's outbox row still waits for Prefect."""
    api = start_api(sandbox, make_config, tmp_path, {"channel": "#oncall"})
    try:
        assert api.post("/webhooks/alertmanager", content=firing("checkout"), headers=JSON).status_code == 202
        [message] = await until(lambda: posted(sandbox, "#oncall"), 10, "the first page")
        assert "ServiceDown" in message["text"] or "checkout" in message["text"]
        assert message["metadata"]["event_type"] == "alertflow_page"
        # Slack has the message before the page log records it as sent: wait for the record, not a race with it.
        [page] = await until(lambda: [p for p in pages(api) if p["status"] == "sent"], 10, "the page recorded as sent")
        assert (len(pages(api)), page["step"], page["ts"]) == (1, "0.0.0.slack", message["ts"])
        assert page["episode"] == json.loads(paging_rows(api)[0]["parameters"])["episode"]
        assert paging_rows(api)[0]["dispatched_at"] is None  # Prefect is down: no run yet
        timeline = lambda: [e["summary"] for e in api.get("/incidents/1").json()["timeline"]]  # noqa: E731
        await until(lambda: "paged #oncall on Slack" in timeline(), 10, "the page in the timeline")
    finally:
        api.__exit__()


async def test_the_paging_run_continues_from_the_announced_step(sandbox, make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The run created after the announcement does not page step 1 again; nobody answers, so it pages step 2."""
    api = start_api(sandbox, make_config, tmp_path, {"policy": "duo"})
    try:
        api.post("/webhooks/alertmanager", content=firing("checkout"), headers=JSON)
        await until(lambda: posted(sandbox, "UALICE"), 10, "step 1 to alice")
        run = asyncio.create_task(run_paging(api))  # with a policy, the run follows its incident until it resolves
        await until(lambda: posted(sandbox, "UBOB"), 10, "step 2 to bob")
        # From a thread: the run shares this event loop and may hold the SQLite write lock the resolve needs.
        resolved = await asyncio.to_thread(api.post, "/incidents/1/resolve", json={"actor": "carol"})
        assert resolved.status_code == 200
        await asyncio.wait_for(run, 20)
        assert len(posted(sandbox, "UALICE")) == 1, "step 1 is not paged twice"
        assert len(posted(sandbox, "UBOB")) == 1, "step 2 is paged once"
        assert [p["step"] for p in pages(api) if not p["step"].startswith("reply.")] == ["0.0.0.slack", "0.1.0.slack"]
    finally:
        api.__exit__()


async def test_an_ack_before_the_run_exists_stops_the_escalation(sandbox, make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A Slack click on the announced page acknowledges; the run that starts afterwards pages nobody else and
    brings the announced page up to date (no buttons, who acknowledged)."""
    api = start_api(sandbox, make_config, tmp_path, {"policy": "duo"})
    try:
        api.post("/webhooks/alertmanager", content=firing("checkout"), headers=JSON)
        [page] = await until(lambda: posted(sandbox, "UALICE"), 10, "step 1 to alice")
        assert click(api.url, block_actions("alertflow_ack", "1")).status_code == 200
        await until(lambda: api.get("/incidents/1").json()["incident"]["status"] == "acknowledged", 10, "the ack")
        await run_paging(api)
        assert posted(sandbox, "UBOB") == []
        blocks = json.dumps(posted(sandbox, "UALICE")[0]["blocks"])
        assert "Acknowledged by" in blocks and "alertflow_escalate" not in blocks and page["ts"] == posted(sandbox, "UALICE")[0]["ts"]
    finally:
        api.__exit__()


async def test_a_storm_is_announced_in_a_digest_kept_up_to_date(sandbox, make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Twelve incidents at once for one channel: every one is announced, in a handful of messages (not twelve),
    none refused by Slack's rate limit; acknowledging one with its digest button redraws the digest with it
    acknowledged and its button gone."""
    api = start_api(sandbox, make_config, tmp_path, {"channel": "#oncall"})
    try:
        services = [f"svc{i:02d}" for i in range(12)]
        for service in services:
            assert api.post("/webhooks/alertmanager", content=firing(service), headers=JSON).status_code == 202
        await until(lambda: len([p for p in pages(api) if p["status"] == "sent"]) == 12, 15, "12 incidents announced")
        messages = posted(sandbox, "#oncall")
        assert len(messages) <= 4, [m["text"] for m in messages]
        shown = json.dumps([m["blocks"] for m in messages])
        assert all(service in shown for service in services)
        assert not [c for c in sandbox.state.slack_calls if c["answer"].get("error") == "ratelimited"]
        digest = next(p for p in pages(api) if p["detail"] == "digest")
        incident = digest["incident_id"]
        assert click(api.url, block_actions(f"alertflow_ack:{incident}", str(incident))).status_code == 200  # the digest's button
        await until(lambda: api.get(f"/incidents/{incident}").json()["incident"]["status"] == "acknowledged", 10, "the ack")
        params = json.loads(next(r for r in paging_rows(api) if r["incident_id"] == incident)["parameters"])
        await page_oncall(incident, PagingAction.model_validate(params["action"]), params["episode"])
        redrawn = sandbox.state.slack.channel("#oncall").messages[digest["ts"]]
        assert f"#{incident}* " in json.dumps(redrawn["blocks"]) and "acknowledged by slack:alice.smith" in json.dumps(redrawn["blocks"])
        assert f"alertflow_ack:{incident}" not in json.dumps(redrawn["blocks"]) and len(posted(sandbox, "#oncall")) == len(messages)
    finally:
        api.__exit__()


async def crashed_mid_page(incident, sandbox, make_config):  # type: ignore[no-untyped-def]
    """What a process killed between claiming a first page and recording it leaves: a paging decision queued for
    announcement whose page log row is still ``sending``, claimed long ago. Returns the store, settings and row."""
    store, incident_id = incident
    settings = load_settings(make_config(sandbox))
    now = datetime.now(timezone.utc)
    async with store.write() as tx:
        await tx.queue_action(incident_id, PagingAction(params={"channel": "#oncall"}), now)
    [announcement] = await PageLog(store).pending_announcements()
    claimed_at = now - timedelta(seconds=LEASE_SECONDS + 5)
    row, created = await PageLog(store).claim(incident_id, announcement.episode, "0.0.0.slack", "slack", "#oncall", "#oncall", claimed_at)
    assert created
    return store, settings, row


async def test_a_page_claimed_but_never_sent_is_sent_once_after_the_lease(incident, sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """Killed after the claim, before the send: the next pass takes the page over, finds nothing at Slack, sends it once."""
    store, settings, row = await crashed_mid_page(incident, sandbox, make_config)
    announcer = Announcer(store, settings, Metrics())
    assert await announcer.drain() == 1 and await announcer.drain() == 0
    [message] = posted(sandbox, "#oncall")
    [record] = await PageLog(store).records(row.incident_id)
    assert (record.status, record.ts) == ("sent", message["ts"]) and message["metadata"]["event_payload"]["pages"] == str(row.id)


async def test_a_page_sent_but_not_recorded_is_found_not_sent_again(incident, sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """Killed after the send, before the record: the next pass finds the message by its metadata (conversations.history)
    and records it; Slack gets no second page."""
    store, settings, row = await crashed_mid_page(incident, sandbox, make_config)
    incident_now = await store.get_incident(row.incident_id)
    sent = await SlackNotifier(settings.slack).send(PageMessage.for_incident(incident_now, page_id=row.id), "#oncall")
    assert await Announcer(store, settings, Metrics()).drain() == 1
    assert [m["ts"] for m in posted(sandbox, "#oncall")] == [sent.ts]
    [record] = await PageLog(store).records(row.incident_id)
    assert (record.status, record.ts) == ("sent", sent.ts)
    assert "(found after a restart, not sent again)" in " ".join(e.summary for e in await store.get_timeline(row.incident_id))


async def test_a_burst_cut_off_mid_pass_is_looked_up_once(incident, sandbox, make_config):  # type: ignore[no-untyped-def]
    """A process killed after claiming a burst's first pages, one of them already at Slack: the next pass reads the
    channel's history once for all of them (not once a page, against Slack's rate limit), records the page Slack
    has and sends the others, each incident once."""
    store, first = incident
    settings = load_settings(make_config(sandbox))
    now = datetime.now(timezone.utc)
    async with store.write() as tx:
        ids = [first]
        for service in ("svc0", "svc1", "svc2", "svc3", "svc4"):
            opened = {"title": f"{service} down", "service": service, "severity": "critical", "rule_id": "r", "at": now}
            ids.append(await tx.insert_incident(key=f"service-down|service={service}", **opened))
        for incident_id in ids:
            await tx.queue_action(incident_id, PagingAction(params={"channel": "#oncall"}), now)
    log, claimed_at = PageLog(store), now - timedelta(seconds=LEASE_SECONDS + 5)
    rows = [
        (await log.claim(a.incident_id, a.episode, "0.0.0.slack", "slack", "#oncall", "#oncall", claimed_at))[0]
        for a in await log.pending_announcements()
    ]
    page = PageMessage.for_incident(await store.get_incident(rows[0].incident_id), page_id=rows[0].id)
    sent = await SlackNotifier(settings.slack).send(page, "#oncall")
    assert await Announcer(store, settings, Metrics()).drain() == len(ids)
    assert [c["method"] for c in sandbox.state.slack_calls].count("conversations.history") == 1
    records = {r.incident_id: r for incident_id in ids for r in await log.records(incident_id)}
    assert {r.status for r in records.values()} == {"sent"} and records[rows[0].incident_id].ts == sent.ts
    assert all(records[i].ts != sent.ts for i in ids if i != rows[0].incident_id), "the others went in another message"
    shown = [json.dumps(m["blocks"]) for m in posted(sandbox, "#oncall")]
    assert all(sum(f"Incident #{i}:" in blocks or f"#{i}*" in blocks for blocks in shown) == 1 for i in ids), shown


async def test_a_fresh_claim_is_left_to_its_sender(incident, sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """A claim younger than the lease belongs to a sender that may still be sending: nobody else sends it, and the
    decision stays pending (its sender may be dead: a restart right after the claim) until the sender records it."""
    store, incident_id = incident
    settings = load_settings(make_config(sandbox))
    async with store.write() as tx:
        await tx.queue_action(incident_id, PagingAction(params={"channel": "#oncall"}), datetime.now(timezone.utc))
    [announcement] = await PageLog(store).pending_announcements()
    log = PageLog(store)
    now = datetime.now(timezone.utc)
    row, _ = await log.claim(incident_id, announcement.episode, "0.0.0.slack", "slack", "#oncall", "#oncall", now)
    announcer = Announcer(store, settings, Metrics())
    assert await announcer.drain() == 0 and await announcer.drain() == 0
    assert posted(sandbox, "#oncall") == []
    await log.finish(row.id, "sent", "C1", "1.0")
    assert await announcer.drain() == 1 and await log.pending_announcements() == []
    assert posted(sandbox, "#oncall") == []


async def test_a_paging_run_waits_out_a_claim_whose_sender_died(incident_on_each_store, sandbox, monkeypatch):  # type: ignore[no-untyped-def]
    """The announcer claimed step 1 and died before sending it; the paging run starts at once. It does not take the
    page for sent: it waits out the claim's lease (its sender might still be sending), then asks Slack, finds
    nothing and sends the page, once."""
    monkeypatch.setattr("alertflow.flows.paging.LEASE_SECONDS", 1.0)
    store, incident_id = incident_on_each_store
    async with store.write() as tx:
        await tx.queue_action(incident_id, PagingAction(params={"channel": "#oncall"}), datetime.now(timezone.utc))
    [announcement] = await PageLog(store).pending_announcements()
    log, at = PageLog(store), utcnow()
    await log.claim(incident_id, announcement.episode, "0.0.0.slack", "slack", "#oncall", "#oncall", at)
    await page_oncall(incident_id, PagingAction(params={"channel": "#oncall"}), announcement.episode)
    assert len(posted(sandbox, "#oncall")) == 1
    assert [(r.status, r.step) for r in await PageLog(store).records(incident_id)] == [("sent", "0.0.0.slack")]


async def test_a_sender_waiting_out_slacks_rate_limit_keeps_its_claim(incident_on_each_store, sandbox, monkeypatch):  # type: ignore[no-untyped-def]
    """The announcer's first page meets a 429 whose Retry-After (3 s) is longer than the lease (1 s here) and waits it
    out while the paging run starts: the announcer renews its claim as it waits, so the run does not take the page
    for dead, look for it, find nothing yet and send it again. One message."""
    for module in ("alertflow.flows.paging", "alertflow.paging.announcer"):
        monkeypatch.setattr(f"{module}.LEASE_SECONDS", 1.0)
    store, incident_id = incident_on_each_store
    settings = current()  # the config incident_on_each_store wrote
    async with store.write() as tx:
        await tx.queue_action(incident_id, PagingAction(params={"channel": "#oncall"}), datetime.now(timezone.utc))
    [announcement] = await PageLog(store).pending_announcements()
    sandbox.state.slack_failures.append(SlackFailure(429, "ratelimited", retry_after=3))
    announcing = asyncio.create_task(Announcer(store, settings, Metrics()).drain())
    await until(lambda: sandbox.state.slack_calls, 10, "the 429")
    await page_oncall(incident_id, PagingAction(params={"channel": "#oncall"}), announcement.episode)
    assert await announcing == 1
    assert len(posted(sandbox, "#oncall")) == 1, [c["method"] for c in sandbox.state.slack_calls]


@pytest.mark.parametrize("age", [0, LEASE_SECONDS + 5], ids=["fresh", "older-than-the-lease"])
async def test_a_claim_is_left_to_the_paging_run_once_it_exists(incident, sandbox, make_config, age):  # type: ignore[no-untyped-def]
    """Once the paging flow run exists it owns the escalation: a claim (a send it is retrying, however long Slack's
    rate limit makes it wait) settles the decision for the announcer at once, which never takes the page over: the
    run does, if its sender died."""
    store, incident_id = incident
    settings = load_settings(make_config(sandbox))
    async with store.write() as tx:
        await tx.queue_action(incident_id, PagingAction(params={"channel": "#oncall"}), datetime.now(timezone.utc))
        dispatched = update(t.outbox).where(t.outbox.c.incident_id == incident_id).values(flow_run_id=str(uuid.uuid4()))
        await tx.conn.execute(dispatched)
    [announcement] = await PageLog(store).pending_announcements()
    assert announcement.run_created
    claimed_at = datetime.now(timezone.utc) - timedelta(seconds=age)
    log = PageLog(store)
    await log.claim(incident_id, announcement.episode, "0.0.0.slack", "slack", "#oncall", "#oncall", claimed_at)
    assert await Announcer(store, settings, Metrics()).drain() == 1
    assert posted(sandbox, "#oncall") == [] and [r.status for r in await log.records(incident_id)] == ["sending"]


async def test_flow_runs_and_events_wait_for_the_first_pages_a_moment_at_most(incident, sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """Pages first: after a paging decision, the dispatcher's and the event emitter's wait (``pages_first``) ends once
    the announcer's pass has sent the page; with Slack answering late, it ends anyway, the pass still under way."""
    store, incident_id = incident
    settings = load_settings(make_config(sandbox))
    announcer, stop = Announcer(store, settings, Metrics()), asyncio.Event()
    running = asyncio.create_task(announcer.run(stop))
    for late in (0.0, 4.0):
        sandbox.state.slack_failures.extend([SlackFailure(500, "internal_error", delay=late)] if late else [])
        async with store.write() as tx:
            await tx.queue_action(
                incident_id, PagingAction(params={"channel": "#oncall", "reason": f"late {late}"}), datetime.now(timezone.utc)
            )
        announcer.nudge()
        await announcer.pages_first()
        if not late:
            assert len(posted(sandbox, "#oncall")) == 1 and announcer.settled.is_set(), "it waited for the page to leave"
        else:
            assert not announcer.settled.is_set(), "a slow Slack holds flow runs up no longer than PAGES_FIRST_SECONDS"
    stop.set()
    announcer.nudge()
    await running
