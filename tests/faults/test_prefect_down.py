"""The Prefect server goes away for 15 s while an escalation waits out step 1, then comes back.

The API and the worker reach Prefect through a TCP relay the test takes down
(a Prefect restart, or the network between). The paging run lives in the
worker and in Prefect's state; neither may lose it nor repeat it: step 2 is
paged once when step 1's wait ends, step 1 never again, and the run still
ends Completed when the incident is resolved.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import PREFECT_PORT, wait_for
from tests.e2e.test_worker_restart import finish, pages_to, start, waiting
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
    wait_for(lambda: waiting(system), 30, f"the paging run waiting (worker log: {system.worker_log})")
    prefect_relay.down()
    went_down = time.monotonic()
    wait_for(lambda: time.monotonic() - went_down >= OUTAGE and not system.worker.poll(), OUTAGE + 5, "the outage")
    assert system.worker.poll() is None, f"the worker died during the outage: {system.worker_log.read_text()[-3000:]}"
    prefect_relay.up()
    wait_for(lambda: pages_to(system, "UBOB"), 60, f"bob paged after Prefect came back (worker log: {system.worker_log})")
    print(f"step 2 paged {time.monotonic() - went_down - OUTAGE:.1f}s after Prefect came back; timeline: {system.timeline(1)}")
    assert len(pages_to(system, "UALICE")) == 1 and len(pages_to(system, "UBOB")) == 1
    finish(system)
    assert len(pages_to(system, "UALICE")) == 1 and len(pages_to(system, "UBOB")) == 1
