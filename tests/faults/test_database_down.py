"""The database goes away for 20 s: senders are told to retry, nothing half-written, and the pipeline comes back alone.

alertflow's store is PostgreSQL here (a database of the test's own), reached
through a TCP relay that the test takes down, as a database restart or a
network cut would. While it is down a webhook must not be answered 202 (that
promises the alert is on disk), so the sender keeps it and retries; once the
relay is back, nothing has to be restarted: the retried alert is decided, the
incident opens once and pages once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.conftest import wait_for
from tests.support import REPO, TcpRelay

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
JSON = {"Content-Type": "application/json"}
RULES = "rules:\n  - id: all\n    description: everything pages\n    actions:\n      - flow: paging\n"
OUTAGE = 20.0


def stored_counts(url: str) -> dict[str, int]:
    """Rows per table, read straight from PostgreSQL (not through the API under test)."""

    async def read() -> dict[str, int]:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            tables = ("inbox", "incidents", "incident_alerts", "timeline", "outbox", "announcements", "pages")
            return {t: await conn.fetchval(f"select count(*) from {t}") for t in tables}
        finally:
            await conn.close()

    return asyncio.run(read())


def test_database_outage_answers_503_stores_nothing_and_resumes(fresh_pg_url, start_system, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL unreachable for 20 s: every webhook meanwhile gets a 503 naming the storage, nothing is stored and
    the stages log one line per retry (no tracebacks); once it is back the retried alert is accepted and decided
    without a restart: 1 incident, 1 page."""
    relay = TcpRelay(urlsplit(fresh_pg_url).port or 5432)
    relay.up()
    through_relay = fresh_pg_url.replace(f"127.0.0.1:{urlsplit(fresh_pg_url).port}", f"127.0.0.1:{relay.port}")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    system = start_system(database_url=through_relay, rules_file=str(rules))
    before = stored_counts(fresh_pg_url)

    caplog.set_level(logging.ERROR, logger="alertflow")
    relay.down()
    went_down, answers = time.monotonic(), []
    while time.monotonic() - went_down < OUTAGE:  # the sender: Alertmanager retries what was not accepted
        answer = system.api.post("/webhooks/alertmanager", content=FIRING, headers=JSON)
        answers.append((answer.status_code, answer.text))
        time.sleep(0.5)
    ready = system.api.get("/readyz")
    assert stored_counts(fresh_pg_url) == before, "nothing stored while the database was away"
    relay.up()
    came_back = time.monotonic()

    logged = [r for r in caplog.records if r.name.startswith("alertflow")]
    assert any("store unavailable" in r.getMessage() for r in logged), "the stages say the store is away"
    assert not [r.getMessage() for r in logged if r.exc_info], "an expected outage logs no traceback"
    statuses = {status for status, _ in answers}
    assert statuses == {503}, answers[:3]
    assert all("storage unavailable" in text for _, text in answers), answers[0]
    assert ready.status_code == 503, ready.text
    accepted = wait_for(
        lambda: system.api.post("/webhooks/alertmanager", content=FIRING, headers=JSON).status_code == 202 and time.monotonic(),
        30,
        "a retried webhook to be accepted once the database is back",
        interval=0.2,
    )
    wait_for(lambda: system.api.get("/incidents").json(), 30, "the retried alert to be decided")
    decided = time.monotonic()
    wait_for(lambda: system.sandbox.state.messages(), 30, "the first page")
    assert system.api.post("/webhooks/alertmanager", content=FIRING, headers=JSON).status_code == 202  # a later resend
    wait_for(lambda: system.api.get("/readyz").json()["inbox_pending"] == 0, 30, "the resend to be processed")
    system.completed_runs(1, 1)
    print(
        f"database down {OUTAGE:.0f}s: {len(answers)} webhooks answered 503, 0 stored; accepted again "
        f"{accepted - came_back:.1f}s and decided {decided - came_back:.1f}s after it came back; the 503 said {answers[0][1]}"
    )
    assert len(system.api.get("/incidents").json()) == 1
    assert len(system.sandbox.state.messages()) == 1, system.sandbox.state.messages()
    after = stored_counts(fresh_pg_url)
    assert after["inbox"] == 2 and after["incidents"] == 1 and after["pages"] == 1, after
