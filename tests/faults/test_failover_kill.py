"""A worker SIGKILLed between a failover's shift and its verification: the move is not repeated, the run goes on.

The sandbox's front end answers late, so the failover run sits in its
verification right after shifting the switch; the test kills the worker there
(a crash, an OOM kill) and starts another. The switch is the stand-in that
counts: exactly one write ever reaches it. The new worker takes the run over,
verifies the traffic through the front end and completes it, and the
timeline tells a person what happened in between.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.conftest import wait_for
from tests.support import REPO, sandbox_switch

FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
RULES = (
    "rules:\n  - id: all\n    description: everything fails over\n    actions:\n"
    "      - flow: failover\n        params: {switch: checkout, to: standby}\n"
)
pytestmark = pytest.mark.faults
SHIFTED = "switch checkout shifted from primary to standby"


def test_sigkill_between_shift_and_verify_moves_traffic_once(start_system, sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL after the shift, before the verification: one write reaches the switch, the next worker verifies
    the traffic and completes the run, and the timeline shows the shift, the takeover and the verification."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    switch = sandbox_switch(sandbox.url, "checkout")
    switch["probe"]["timeout_seconds"] = 60  # the verification waits for the late front end instead of failing
    system = start_system(rules_file=str(rules), switches={"checkout": switch})
    sandbox.state.slow_fronts["checkout"] = 60
    assert system.api.post("/webhooks/alertmanager", content=FIRING, headers={"Content-Type": "application/json"}).status_code == 202
    wait_for(lambda: SHIFTED in system.timeline(1), 30, f"the shift (worker log: {system.worker_log})")
    system.worker.send_signal(signal.SIGKILL)
    system.worker.wait(10)
    killed = time.monotonic()
    sandbox.state.slow_fronts.clear()
    system.start_worker()
    [run] = system.completed_runs(1, 1, timeout=60)
    print(f"failover completed {time.monotonic() - killed:.1f}s after the kill; timeline: {system.timeline(1)}")
    assert run.state.is_completed(), run.state
    writes = [call for call in sandbox.state.switch_calls if call["method"] != "GET"]
    assert [call["body"] for call in writes] == [{"active": "standby"}], writes
    assert sandbox.state.switches["checkout"] == "standby"
    timeline = system.timeline(1)
    assert timeline.count(SHIFTED) == 1, timeline
    taken_over = "failover flow taken over: its worker stopped answering; it continues on a live worker"
    [verified] = [s for s in timeline if s.startswith("switch checkout verified serving standby: 2 of 2 requests")]
    story = [SHIFTED, taken_over, "switch checkout already serves standby: nothing to do", verified, "failover flow succeeded"]
    assert [s for s in timeline if s in story] == story, timeline
