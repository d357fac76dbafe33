"""The Prefect server goes away for 15 s while an escalation waits out step 1, then comes back.

The API and the worker reach Prefect through a TCP relay the test takes down
(a Prefect restart, or the network between). The paging run lives in the
worker and in Prefect's state; neither may lose it nor repeat it: step 2 is
paged once when step 1's wait ends, step 1 never again, and the run still
ends Completed when the incident is resolved.

Not covered here: an outage that cuts the run's own request to pause (the
moment it starts waiting). Prefect then refuses the client's retry ("already
made this state transition") with a ``Pause`` signal, a BaseException that
flows/ui_answer.py's ``except Exception`` does not catch: the run's code ends
in the worker while Prefect shows it Paused, and the escalation continues only
because the reaper takes the run over 15 s later (seen once in this test
before it waited for Paused; step 2 still paged once).
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import PREFECT_PORT, wait_for
from tests.e2e.test_worker_restart import WAIT, finish, pages_to, paging_run, start, waiting
from tests.support import TcpRelay

pytestmark = pytest.mark.faults
OUTAGE = 15.0


@pytest.fixture
def prefect_relay(prefect_server, monkeypatch):  # type: ignore[no-untyped-def]
    """A relay in front of the test Prefect server; configs and workers started now use it."""
    relay = TcpRelay(PREFECT_PORT)
    relay.up()
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{relay.port}/api")
    yield relay
    relay.down()


def test_prefect_outage_mid_escalation_pages_step_two_once(prefect_relay, start_system, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Prefect unreachable for 15 s while the paging run waits out step 1: bob (step 2) is paged exactly once,
    alice (step 1) never again, and the run completes after a resolve."""
    system = start(start_system, tmp_path)
    # Paused: the run is in step 1's wait (an outage during its pause request itself is another path, see below)
    wait_for(lambda: waiting(system) and paging_run(system).state.is_paused(), 30, f"the paging run paused (log: {system.worker_log})")
    prefect_relay.down()
    went_down = time.monotonic()
    wait_for(lambda: time.monotonic() - went_down >= OUTAGE and not system.worker.poll(), OUTAGE + 5, "the outage")
    assert system.worker.poll() is None, f"the worker died during the outage: {system.worker_log.read_text()[-3000:]}"
    prefect_relay.up()
    back = time.time()
    [first] = pages_to(system, "UALICE")
    assert float(first["ts"]) + WAIT < back, "step 1's wait ran out while Prefect was away (the window this test is about)"
    wait_for(lambda: pages_to(system, "UBOB"), 60, f"bob paged after Prefect came back (worker log: {system.worker_log})")
    print(f"step 2 paged {time.monotonic() - went_down - OUTAGE:.1f}s after Prefect came back; timeline: {system.timeline(1)}")
    assert len(pages_to(system, "UALICE")) == 1 and len(pages_to(system, "UBOB")) == 1
    assert not any("taken over" in s for s in system.timeline(1)), "the run went on in its worker, not by a takeover"
    finish(system)
    assert len(pages_to(system, "UALICE")) == 1 and len(pages_to(system, "UBOB")) == 1
