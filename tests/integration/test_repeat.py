"""Re-notification (``repeat_interval``) on the real parts: the paging flow on the real Prefect server, the Slack stand-in.

Intervals are a second, so each test takes a few. A repeat is due every
interval after the first page while the incident is open and firing; it is a
thread reply or a fresh page, claimed in the page log as ``repeat.N.<page>``.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from alertflow.flows import page_oncall
from alertflow.models import IncidentStatus, PagingAction
from alertflow.store.pages import PageLog
from tests.integration.conftest import NOW
from tests.integration.test_paging import posts, replies, resolve, timeline_summaries, until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]


async def firing(store, incident_id: int, status: str = "firing") -> None:  # type: ignore[no-untyped-def]
    """One alert of the incident, firing (or resolved: the incident goes quiet)."""
    async with store.write() as tx:
        row = {
            "incident_id": incident_id,
            "fingerprint": "f1",
            "name": "ServiceDown",
            "status": status,
            "first_seen": NOW,
            "last_seen": NOW,
        }
        await tx.upsert_incident_alerts([row])


async def repeat_steps(store, incident_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.step.split(".")[1] for r in await PageLog(store).records(incident_id) if r.step.startswith("repeat.")]


async def test_a_single_page_repeats_in_its_thread_until_acknowledged(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """Without a policy, repeat_interval 1s: the page, then a reply in its thread every second; after the ack none
    follows, the page is updated, and the run ends at the resolve."""
    store, incident_id = incident
    await firing(store, incident_id)
    make_config(sandbox, database_url=store.url)
    run = asyncio.create_task(page_oncall(incident_id, PagingAction(params={"channel": "#oncall", "repeat_interval": "1s"})))
    await until(lambda: len(replies(sandbox)) == 2, what="two repeats")
    [page] = posts(sandbox)
    first, second = replies(sandbox)
    assert first["thread_ts"] == second["thread_ts"], "both in the page's thread"
    assert first["text"].startswith("Still not acknowledged: [CRITICAL] Incident #")
    await resolve(store, incident_id, IncidentStatus.acknowledged)
    await until(lambda: sandbox.state.messages("chat.update"), what="the page updated with the ack")
    settled = len(replies(sandbox))
    await asyncio.sleep(2.2)
    assert len(replies(sandbox)) == settled and len(posts(sandbox)) == 1, "nothing repeats after the ack"
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    timeline = await timeline_summaries(store, incident_id)
    assert "repeat 1: reminded #oncall on Slack in the page's thread" in timeline
    assert "repeat 2: reminded #oncall on Slack in the page's thread" in timeline
    assert page["channel"] == "#oncall"


async def test_a_restarted_run_sends_no_repeat_twice(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """A run stopped right after repeat 1 and started again in the same interval (same episode) skips repeat 1 and sends
    repeat 2 once: one reply per interval, each claimed once in the page log."""
    store, incident_id = incident
    await firing(store, incident_id)
    make_config(sandbox, database_url=store.url)
    action = PagingAction(params={"channel": "#oncall", "repeat_interval": "3s"})  # repeat 3 is 3 s after repeat 2: room to resolve
    first = asyncio.create_task(page_oncall(incident_id, action, episode="e" * 32))
    await until(lambda: replies(sandbox), what="repeat 1")
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    second = asyncio.create_task(page_oncall(incident_id, action, episode="e" * 32))
    await until(lambda: len(replies(sandbox)) == 2, timeout=15, what="repeat 2 from the restarted run")
    await asyncio.sleep(0.5)
    await resolve(store, incident_id)
    await asyncio.wait_for(second, 15)
    assert len(posts(sandbox)) == 1, "the page itself is not sent again"
    assert len(replies(sandbox)) == 2 and await repeat_steps(store, incident_id) == ["1", "2"]


async def test_a_policy_repeats_as_fresh_pages_while_firing_and_stops_when_quiet(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """With a policy waiting 60 s and repeat_as: page, the step's target gets a fresh page every second during the wait;
    once no alert fires none follows; the resolve updates every page, repeats included."""
    store, incident_id = incident
    await firing(store, incident_id)
    policy = {"steps": [{"notify": {"slack_channel": "#first"}, "wait": "60s"}]}
    make_config(sandbox, database_url=store.url, escalation_policies={"p": policy})
    started = time.monotonic()
    run = asyncio.create_task(page_oncall(incident_id, PagingAction(params={"policy": "p", "repeat_interval": "1s", "repeat_as": "page"})))
    await until(lambda: len(posts(sandbox)) == 3, what="the page and two repeats")
    assert time.monotonic() - started < 15 and not replies(sandbox)
    await firing(store, incident_id, "resolved")
    await asyncio.sleep(1.2)  # a repeat may have been on its way
    quiet = len(posts(sandbox))
    await asyncio.sleep(2.2)
    assert len(posts(sandbox)) == quiet, "a quiet incident is not paged again"
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    assert len(sandbox.state.messages("chat.update")) == quiet, "every page, repeats included, shows the resolve"
    assert "repeat 1: paged #first on Slack again" in await timeline_summaries(store, incident_id)
