"""Failover and failback against a real HAProxy fronting two real backends, with a real Prefect server."""

from __future__ import annotations

import asyncio

import pytest

from alertflow.config.responses import HaproxySwitchSettings
from alertflow.flows import fail_back, fail_over
from alertflow.integrations.switches.haproxy import HaproxySwitch
from alertflow.models import FailbackAction, FailoverAction, RetryPolicy
from tests.support import pages, summaries

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]
QUICK = RetryPolicy(retries=2, retry_delay_seconds=0.3)


@pytest.fixture
def haproxy_incident(incident, load_balancer, sandbox, make_config):  # type: ignore[no-untyped-def]
    """The incident fixture, with switch `checkout` being the real HAProxy."""
    store, incident_id = incident
    make_config(sandbox, database_url=store.url, switches={"checkout": load_balancer.switch_settings(lock_wait_seconds=60)})
    return store, incident_id, load_balancer


async def haproxy_state(load_balancer) -> dict[str, str]:  # type: ignore[no-untyped-def]
    switch = HaproxySwitch(HaproxySwitchSettings.model_validate(load_balancer.switch_settings()))
    return (await switch.status()).detail


async def test_failover_moves_real_traffic_to_the_standby(haproxy_incident) -> None:  # type: ignore[no-untyped-def]
    """Primary killed: failover checks web2, sets it ready and web1 drain, and requests through HAProxy reach web2."""
    store, incident_id, lb = haproxy_incident
    lb.kill("web1")
    assert await fail_over(incident_id, FailoverAction(params={"switch": "checkout"}, retry=QUICK)) == "standby"
    assert [lb.served_by() for _ in range(5)] == ["web2"] * 5
    assert await haproxy_state(lb) == {"web1": "drain", "web2": "ready"}
    timeline = summaries(await store.get_timeline(incident_id))
    assert any(s.startswith("switch checkout: standby is healthy") for s in timeline)
    assert any("3 of 3 requests through" in s and "served by 'web2'" in s for s in timeline), timeline
    assert await pages(store, incident_id) == [], "a successful failover does not escalate"


async def test_unhealthy_standby_is_not_shifted_to_and_escalates(haproxy_incident) -> None:  # type: ignore[no-untyped-def]
    """With the standby dead too, failover does not touch HAProxy, fails, and queues a page saying why."""
    store, incident_id, lb = haproxy_incident
    lb.kill("web2")
    before = await haproxy_state(lb)
    state = await fail_over(incident_id, FailoverAction(params={"switch": "checkout"}, retry=QUICK), return_state=True)
    assert state.is_failed()
    assert await haproxy_state(lb) == before == {"web1": "ready", "web2": "maint"}
    timeline = summaries(await store.get_timeline(incident_id))
    assert any(s.startswith("switch checkout: standby is unhealthy, traffic not shifted") for s in timeline), timeline
    [page] = await pages(store, incident_id)
    assert page["reason"] == "failover of checkout to standby not done: standby is unhealthy"
    assert "/healthz" in page["detail"] and "/runs/flow-run/" in page["detail"]


async def test_failed_verification_rolls_back_to_the_exact_previous_state(haproxy_incident) -> None:  # type: ignore[no-untyped-def]
    """web2's health endpoint says OK but it serves 500s: the front-end probe catches it, HAProxy is restored, rollback recorded."""
    store, incident_id, lb = haproxy_incident
    lb.kill("web2")
    lb.start_backend("web2", broken=True)
    before = await haproxy_state(lb)
    state = await fail_over(incident_id, FailoverAction(params={"switch": "checkout"}, retry=QUICK), return_state=True)
    assert state.is_failed()
    assert await haproxy_state(lb) == before == {"web1": "ready", "web2": "maint"}
    assert lb.served_by() == "web1"
    entries = await store.get_timeline(incident_id)
    [rollback] = [e for e in entries if e.kind.value == "rollback"]
    assert rollback.summary.startswith("switch checkout restored to primary: failover to standby failed: front end")
    assert rollback.data["restored"] == before
    [page] = await pages(store, incident_id)
    assert page["reason"] == "switch checkout rolled back to primary"


async def test_second_failover_waits_for_the_first_then_changes_nothing(haproxy_incident) -> None:  # type: ignore[no-untyped-def]
    """While another failover holds the switch's lock, a second waits and says so; once the first has shifted and
    released, the second finds standby serving and changes nothing."""
    store, incident_id, lb = haproxy_incident
    await store.acquire_lock("switch:checkout", "flow-run:first", 60)
    second = asyncio.create_task(fail_over(incident_id, FailoverAction(params={"switch": "checkout"}, retry=QUICK)))
    for _ in range(300):
        if any(s.startswith("switch checkout is being moved by flow-run:first") for s in summaries(await store.get_timeline(incident_id))):
            break
        await asyncio.sleep(0.1)
    assert not second.done() and await haproxy_state(lb) == {"web1": "ready", "web2": "maint"}
    switch = HaproxySwitch(HaproxySwitchSettings.model_validate(lb.switch_settings()))
    await switch.shift("standby")  # the first failover's work
    await store.release_lock("switch:checkout", "flow-run:first")
    assert await second == "unchanged"
    assert "switch checkout already serves standby: nothing to do" in summaries(await store.get_timeline(incident_id))
    assert lb.served_by() == "web2"


async def test_dry_run_reports_the_plan_and_changes_nothing(haproxy_incident) -> None:  # type: ignore[no-untyped-def]
    """A dry run reads HAProxy and the standby's health, records the plan, and leaves traffic where it is."""
    store, incident_id, lb = haproxy_incident
    plan = await fail_over(incident_id, FailoverAction(params={"switch": "checkout", "dry_run": True}))
    assert plan["current"] == "primary" and plan["detail"] == {"web1": "ready", "web2": "maint"}
    assert plan["steps"][:2] == ["check standby health", "shift checkout to standby"] and "HTTP 200" in plan["target_health"]
    assert await haproxy_state(lb) == {"web1": "ready", "web2": "maint"} and lb.served_by() == "web1"
    [entry] = [e for e in await store.get_timeline(incident_id) if e.data.get("dry_run")]
    assert entry.summary.startswith("dry run: would fail over switch checkout from primary to standby")


async def test_failback_waits_for_a_stably_healthy_primary_then_returns(haproxy_incident) -> None:  # type: ignore[no-untyped-def]
    """After a failover, failback waits until web1 has been healthy for the period, shifts back and verifies web1 serves."""
    store, incident_id, lb = haproxy_incident
    lb.kill("web1")
    await fail_over(incident_id, FailoverAction(params={"switch": "checkout"}, retry=QUICK))
    lb.start_backend("web1")
    failback = FailbackAction(params={"switch": "checkout", "healthy_for_seconds": 1.0, "max_wait_seconds": 30}, retry=QUICK)
    assert await fail_back(incident_id, failback) == "primary"
    assert lb.served_by() == "web1"
    assert await haproxy_state(lb) == {"web1": "ready", "web2": "drain"}
    timeline = summaries(await store.get_timeline(incident_id))
    assert "failback: waiting until primary has been healthy for 1s" in timeline
    assert any(s.startswith("switch checkout verified serving primary") for s in timeline)


async def test_failback_gives_up_when_the_primary_stays_down(haproxy_incident) -> None:  # type: ignore[no-untyped-def]
    """A primary that never comes back within max_wait: failback fails, says so, escalates, and traffic stays on the standby."""
    store, incident_id, lb = haproxy_incident
    lb.kill("web1")
    await fail_over(incident_id, FailoverAction(params={"switch": "checkout"}, retry=QUICK))
    failback = FailbackAction(params={"switch": "checkout", "healthy_for_seconds": 0.5, "max_wait_seconds": 1})
    state = await fail_back(incident_id, failback, return_state=True)
    assert state.is_failed() and lb.served_by() == "web2"
    assert any("traffic stays" in s for s in summaries(await store.get_timeline(incident_id)))
    [page] = await pages(store, incident_id)
    assert page["reason"] == "failback of checkout to primary not done: primary not stably healthy"


async def test_failback_with_traffic_on_the_primary_neither_waits_nor_moves(haproxy_incident) -> None:  # type: ignore[no-untyped-def]
    """No failover happened (web1 serves): failback does not wait out its hysteresis period; it changes nothing and says so."""
    store, incident_id, lb = haproxy_incident
    failback = FailbackAction(params={"switch": "checkout", "healthy_for_seconds": 300, "max_wait_seconds": 600}, retry=QUICK)
    assert await asyncio.wait_for(fail_back(incident_id, failback), 60) == "unchanged"
    assert await haproxy_state(lb) == {"web1": "ready", "web2": "maint"}
    timeline = summaries(await store.get_timeline(incident_id))
    assert "switch checkout already serves primary: nothing to do" in timeline
    assert not any(s.startswith("failback: waiting") for s in timeline), timeline
