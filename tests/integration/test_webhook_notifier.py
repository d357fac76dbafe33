"""The outgoing-webhook notifier through the real paging flow, against a real HTTP receiver on loopback.

The receiver checks every request's signature itself, with hmac and hashlib
over ``<timestamp>.<raw body>`` as docs/oncall.md documents it, and answers
from a script (500, 429 with Retry-After, 400...), so retries, Retry-After and
permanent failures are the paging flow's real behaviour, not a mock's. The
webhook's secret comes from a real Prefect Secret block on the test server.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prefect.blocks.system import Secret

from alertflow.flows import page_oncall
from alertflow.models import IncidentStatus, PagingAction
from alertflow.store.pages import PageLog
from tests.integration.test_paging import posts, resolve, timeline_summaries, until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]
SECRET = "webhook-block-secret-value"


class Receiver:
    """Records every POST with whether its signature verified, and answers the next scripted status (else 200)."""

    def __init__(self, secret: str) -> None:
        self.secret, self.script, self.requests = secret.encode(), [], []  # type: ignore[var-annotated]
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                stamp, given = self.headers.get("X-Alertflow-Timestamp", ""), self.headers.get("X-Alertflow-Signature", "")
                expected = "v1=" + hmac.new(receiver.secret, stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
                fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
                status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                receiver.requests.append(
                    {
                        "body": json.loads(raw),
                        "valid": hmac.compare_digest(expected, given) and fresh,
                        "status": status,
                        "at": time.monotonic(),
                    }
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/alertflow"

    def accepted(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["status"] == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(SECRET)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


async def configure(sandbox, make_config, store, receiver: Receiver, **policy: Any) -> None:  # type: ignore[no-untyped-def]
    """ops-hook, its secret in a Prefect Secret block, paged by policy ``p``'s one step."""
    await Secret(value=SECRET).save("ops-hook-secret", overwrite=True)
    hook = {"kind": "webhook", "url": receiver.url, "secret": "prefect-secret:ops-hook-secret", "timeout_seconds": 5}
    steps = {"steps": [{"notify": {"notifier": "ops-hook"}, "wait": "60s"}]} | policy
    make_config(sandbox, database_url=store.url, notifiers={"ops-hook": hook}, escalation_policies={"p": steps})


def action(retries: int = 0) -> PagingAction:
    return PagingAction(params={"policy": "p"}, retry={"retries": retries, "retry_delay_seconds": 0})


async def test_a_page_arrives_signed_and_an_ack_and_resolve_update_it(sandbox, incident, make_config, receiver) -> None:  # type: ignore[no-untyped-def]
    """The page reaches the receiver as signed JSON with the incident's fields; the ack and the resolve follow as
    signed updates with the same key and the new status."""
    store, incident_id = incident
    await configure(sandbox, make_config, store, receiver)
    run = asyncio.create_task(page_oncall(incident_id, action()))
    [page] = await until(receiver.accepted, what="the page")
    assert page["event"] == "page" and page["incident_id"] == incident_id and page["key"] == "service-down|service=checkout"
    assert (page["title"], page["service"], page["severity"], page["status"]) == ("checkout API down", "checkout", "critical", "open")
    assert page["step"] == "step 1/1" and "checkout API down" in page["text"] and "Prefect flow run" in page["links"]
    await resolve(store, incident_id, IncidentStatus.acknowledged)
    await until(lambda: len(receiver.accepted()) == 2, what="the acknowledgement update")
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    updates = receiver.accepted()[1:]
    assert [(u["event"], u["status"], u["key"]) for u in updates] == [
        ("update", "acknowledged", page["key"]),
        ("update", "resolved", page["key"]),
    ]
    assert all(r["valid"] for r in receiver.requests), "every request carries a valid, fresh signature"
    assert "step 1/1: paged ops-hook on ops-hook (webhook)" in await timeline_summaries(store, incident_id)


async def test_a_500_is_retried_by_the_task_and_the_page_delivered_once(sandbox, incident, make_config, receiver) -> None:  # type: ignore[no-untyped-def]
    """A 500 then a 200: the paging task's retry sends again, the receiver accepts exactly one page, logged as sent once."""
    store, incident_id = incident
    await configure(sandbox, make_config, store, receiver)
    receiver.script.append((500, {}))
    run = asyncio.create_task(page_oncall(incident_id, action(retries=2)))
    await until(receiver.accepted, what="the retried page")
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    assert [r["status"] for r in receiver.requests if r["body"]["event"] == "page"] == [500, 200]
    rows = [r for r in await PageLog(store).records(incident_id) if not r.step.startswith("reply.")]
    assert [(r.notifier, r.status) for r in rows] == [("ops-hook", "sent")]


async def test_a_429_waits_out_retry_after_before_the_next_attempt(sandbox, incident, make_config, receiver) -> None:  # type: ignore[no-untyped-def]
    """A 429 with Retry-After: 2 is honoured: the next attempt comes 2 s later although the policy's delay is 0."""
    store, incident_id = incident
    await configure(sandbox, make_config, store, receiver)
    receiver.script.append((429, {"Retry-After": "2"}))
    run = asyncio.create_task(page_oncall(incident_id, action(retries=1)))
    await until(receiver.accepted, what="the page after the rate limit")
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    first, second = receiver.requests[:2]
    assert (first["status"], second["status"]) == (429, 200)
    assert second["at"] - first["at"] >= 1.9


async def test_a_400_is_permanent_recorded_and_the_secret_appears_nowhere(sandbox, incident, make_config, receiver, caplog) -> None:  # type: ignore[no-untyped-def]
    """A 400 is tried once despite retries left, recorded in the timeline and page log, the fallback is paged, and the
    webhook secret is in neither the timeline, the page log nor the logs."""
    caplog.set_level(logging.DEBUG)
    store, incident_id = incident
    await configure(sandbox, make_config, store, receiver, fallback={"slack_channel": "#fallback"})
    receiver.script.append((400, {}))
    run = asyncio.create_task(page_oncall(incident_id, action(retries=2)))
    await until(lambda: posts(sandbox), what="the fallback page")
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    assert [r["status"] for r in receiver.requests] == [400]
    timeline = await store.get_timeline(incident_id)
    [failed] = [e.summary for e in timeline if "failed" in e.summary]
    assert failed.startswith("step 1/1: page to ops-hook on ops-hook (webhook) failed:") and "HTTP 400" in failed, failed
    rows = await PageLog(store).records(incident_id)
    assert [r.status for r in rows if r.notifier == "ops-hook"] == ["failed"]
    seen = " ".join([e.summary + str(e.data) for e in timeline] + [r.model_dump_json() for r in rows] + [caplog.text])
    assert SECRET not in seen and "HTTP 400" in seen
