"""Escalations survive the worker: SIGTERM hands a waiting paging run back, SIGKILL's runs are taken over.

Each test pages alice at decision time (the announcer), lets the worker's
paging run start waiting out step 1, stops the worker the way a deploy or a
crash would, starts a new one, and then counts at the Slack stand-in: bob
(step 2) is paged exactly once, alice never again.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.conftest import wait_for
from tests.support import REPO

FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
RULES = "rules:\n  - id: all\n    description: everything pages\n    actions:\n      - flow: paging\n        params: {policy: duo}\n"
WAIT = 8  # step 1's wait, seconds: long enough to stop the worker in the middle of it


def start(start_system, tmp_path):  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    policy = {"steps": [{"notify": {"person": "alice"}, "wait": f"{WAIT}s"}, {"notify": {"person": "bob"}, "wait": "1h"}]}
    system = start_system(
        rules_file=str(rules),
        people={"alice": {"slack_user_id": "UALICE"}, "bob": {"slack_user_id": "UBOB"}},
        escalation_policies={"duo": policy},
    )
    assert system.api.post("/webhooks/alertmanager", content=FIRING, headers={"Content-Type": "application/json"}).status_code == 202
    return system


def pages_to(system, user: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    channel = system.sandbox.state.slack.channel(user)
    return [m for m in channel.messages.values() if "thread_ts" not in m]


def paging_run(system):  # type: ignore[no-untyped-def]
    return next((r for r in system.flow_runs(1) if r.name.startswith("paging")), None)


def waiting(system) -> bool:  # type: ignore[no-untyped-def]
    """The paging run has started and waits out step 1 (Paused: it waits for an answer from the Prefect UI too)."""
    run = paging_run(system)
    return run is not None and (run.state.is_running() or run.state.is_paused()) and "paging flow started" in system.timeline(1)


def finish(system) -> None:  # type: ignore[no-untyped-def]
    assert system.api.post("/incidents/1/resolve", json={"actor": "carol"}).status_code == 200
    [run] = [r for r in system.completed_runs(1, 1, timeout=60) if r.name.startswith("paging")]
    assert run.state.is_completed(), run.state


def test_sigterm_hands_the_waiting_escalation_to_the_next_worker(start_system, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM mid-wait: the worker exits at once (no 30 s grace for a waiting page), the run goes back to Scheduled
    and the timeline says so; a new worker continues it, pages bob when step 1's wait ends, and alice only once."""
    system = start(start_system, tmp_path)
    wait_for(lambda: pages_to(system, "UALICE"), 20, "alice paged at decision time")
    wait_for(lambda: waiting(system), 30, f"the paging run waiting (worker log: {system.worker_log})")
    stopped = time.monotonic()
    system.worker.send_signal(signal.SIGTERM)
    assert system.worker.wait(20) == 0 and time.monotonic() - stopped < 10, "a waiting escalation does not hold the stop"
    assert paging_run(system).state.is_scheduled()
    assert any("paging flow handed over" in s for s in system.timeline(1)), system.timeline(1)
    system.start_worker()
    wait_for(lambda: pages_to(system, "UBOB"), 40, f"bob paged by the new worker (log: {system.worker_log})")
    assert len(pages_to(system, "UALICE")) == 1 and len(pages_to(system, "UBOB")) == 1
    finish(system)


def test_sigkill_leaves_no_run_running_and_the_escalation_goes_on(start_system, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL mid-wait: nothing hands the run back, yet a new worker's reaper finds it held by no live worker,
    reschedules it within ~20 s, and the escalation continues: bob paged once, alice only once."""
    system = start(start_system, tmp_path)
    wait_for(lambda: waiting(system), 30, f"the paging run waiting (worker log: {system.worker_log})")
    system.worker.send_signal(signal.SIGKILL)
    system.worker.wait(10)
    killed = time.monotonic()
    system.start_worker()
    wait_for(lambda: pages_to(system, "UBOB"), 60, f"bob paged after the takeover (log: {system.worker_log})")
    print(f"takeover and step 2 within {time.monotonic() - killed:.1f}s of the kill")
    assert len(pages_to(system, "UALICE")) == 1 and len(pages_to(system, "UBOB")) == 1
    finish(system)


@pytest.mark.parametrize("idempotent", [False, True])
def test_a_runbook_step_cut_off_by_sigkill_runs_again_only_if_idempotent(start_system, tmp_path, idempotent: bool) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL while a runbook step runs: the run taken over skips nothing it did not finish; the cut-off step runs
    again only when the runbook marks it idempotent, else a person is paged saying it may or may not have run."""
    runs = tmp_path / "step-runs"
    slow = ["python3", "-c", "import sys, time; open(sys.argv[1], 'a').write('x'); time.sleep(6)", str(runs)]
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - id: all\n    description: everything recovers\n    actions:\n"
        "      - flow: recovery\n        params: {runbook: fix}\n        retry: {retries: 0}\n"
    )
    runbook = {
        "steps": [{"kind": "shell", "name": "fix", "argv": slow, "idempotent": idempotent}],
        "verify": {"url": "http://127.0.0.1:9/never", "timeout_seconds": 1, "interval_seconds": 0.2},
    }
    system = start_system(rules_file=str(rules), allow_shell=True, runbooks={"fix": runbook})
    assert system.api.post("/webhooks/alertmanager", content=FIRING, headers={"Content-Type": "application/json"}).status_code == 202
    wait_for(lambda: runs.exists(), 30, f"the step to start (worker log: {system.worker_log})")
    system.worker.send_signal(signal.SIGKILL)
    system.worker.wait(10)
    system.start_worker()
    if idempotent:
        wait_for(lambda: runs.read_text() == "xx", 60, "the idempotent step to run again")
        wait_for(lambda: any("verification failed" in s for s in system.timeline(1)), 60, "the run to go on to verification")
    else:
        cut = wait_for(lambda: [s for s in system.timeline(1) if "may or may not have run" in s], 60, "the hand-over")
        assert "not run again" in cut[0] and runs.read_text() == "x"
        wait_for(lambda: system.sandbox.state.messages(), 60, "a person paged with the reason")
        assert "may or may not have run" in system.sandbox.state.messages()[0]["text"]
