"""`alertflow report` against the real API: the JSON document scripts read, the tables people read, and a window
it cannot read refused with exit code 2 before any request."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest

from alertflow.models import IncidentStatus
from alertflow.store.database import Store
from alertflow.store.pages import PageLog
from tests.integration.test_rules_cli import cli
from tests.support import ApiThread


@pytest.fixture
def api(sandbox, make_config):  # type: ignore[no-untyped-def]
    """The API on a store holding one checkout incident of an hour ago: acknowledged after 60 s, resolved after 300 s, one page."""
    config = make_config(sandbox, prefect_api_url="http://127.0.0.1:9/api")
    with ApiThread(config) as api:

        async def seed() -> None:
            store = Store(api.settings.resolved_database_url)
            opened = datetime.now(timezone.utc) - timedelta(hours=1)
            async with store.write() as tx:
                incident_id = await tx.insert_incident(
                    key="k", title="checkout API down", service="checkout", severity="critical", rule_id="service-down", at=opened
                )
                await tx.transition(incident_id, IncidentStatus.acknowledged, "alice", opened + timedelta(seconds=60))
                await tx.transition(incident_id, IncidentStatus.resolved, "alice", opened + timedelta(seconds=300))
            page, _ = await PageLog(store).claim(incident_id, "e", "0.0.0.slack", "slack", "#oncall", "C1", opened + timedelta(seconds=1))
            await PageLog(store).finish(page.id, "sent")
            await store.dispose()

        asyncio.run(seed())
        api.config = config  # type: ignore[attr-defined]
        yield api


def test_report_json_is_the_apis_document(api) -> None:  # type: ignore[no-untyped-def]
    """--json prints GET /reports as one document: MTTA and MTTR of the incident, its page, the window."""
    shown = cli("report", "--since", "7d", "--json", config=api.config)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    [row] = report["rows"]
    assert (row["service"], row["rule_id"], row["incidents"], row["pages"]) == ("checkout", "service-down", 1, 1)
    assert row["mtta"] == {"count": 1, "mean": 60.0, "p50": 60.0, "p90": 60.0}
    assert row["mttr"] == {"count": 1, "mean": 300.0, "p50": 300.0, "p90": 300.0}
    assert [(p["person"], p["pages"]) for p in report["pages_by_person"]] == [("#oncall", 1)]
    since, until = (datetime.fromisoformat(report[k]) for k in ("since", "until"))
    assert until - since == timedelta(days=7)
    other = json.loads(cli("report", "--service", "db", "--json", config=api.config).stdout)
    assert other["service"] == "db" and other["rows"] == [] and other["totals"]["incidents"] == 0


def test_report_prints_tables(api) -> None:  # type: ignore[no-untyped-def]
    """Without --json: the rows, pages per person and noisy alerts as tables, durations as people read them."""
    shown = cli("report", config=api.config)
    assert shown.returncode == 0, shown.stderr
    for text in ("Incidents per service and rule", "checkout", "1m 00s / 1m 00s", "5m 00s / 5m 00s", "Pages per person", "#oncall"):
        assert text in shown.stdout, shown.stdout


def test_unknown_window_is_refused_with_exit_code_2(api) -> None:  # type: ignore[no-untyped-def]
    """`--since 30x` exits 2 naming --since, from the CLI; the API refuses it too, 422 naming since."""
    refused = cli("report", "--since", "30x", config=api.config)
    assert refused.returncode == 2 and "--since" in refused.stderr and "unknown report window '30x'" in refused.stderr, refused.stderr
    answer = api.get("/reports", params={"since": "30x"})
    assert answer.status_code == 422 and answer.json()["field"] == "since"


def test_exit_codes_for_not_found_and_unreachable(api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A missing incident exits 1; an API that does not answer exits 3."""
    assert cli("incidents", "show", "42", "--json", config=api.config).returncode == 1
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text("api_url: http://127.0.0.1:9\n")
    unreachable = cli("report", config=elsewhere)
    assert unreachable.returncode == 3 and "cannot reach the alertflow API" in unreachable.stderr
