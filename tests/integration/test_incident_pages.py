"""An incident read a page at a time, through the real API on loopback and the real CLI: the timeline in
pages that neither repeat nor skip an entry, and the alerts as a count with the first few fingerprints."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import wait_for
from tests.integration.test_rules_cli import cli
from tests.integration.test_storm_timeline import storm
from tests.support import ApiThread

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def api(sandbox, make_config):  # type: ignore[no-untyped-def]
    """The API with a storm of 1,200 alerts of one fault decided; Prefect unreachable, so nothing else writes the timeline."""
    with ApiThread(make_config(sandbox, prefect_api_url="http://127.0.0.1:9/api")) as api:
        for batch in range(12):
            assert api.post("/webhooks/alertmanager", content=json.dumps(storm(100, f"s{batch}-")), headers=JSON).status_code == 202
        wait_for(lambda: api.request("GET", "/readyz").json()["inbox_pending"] == 0, 60, "the pipeline to decide the storm")
        yield api


def test_timeline_pages_follow_the_cursor_without_repeats_or_gaps(api: ApiThread) -> None:
    """Pages of 4 entries, chained by next_cursor, give exactly the whole timeline in order; the last page has no cursor."""
    whole = api.request("GET", "/incidents/1", params={"limit": 1000}).json()
    assert whole["next_cursor"] is None and len(whole["timeline"]) == whole["timeline_total"] > 8
    paged, cursor = [], None
    while True:
        page = api.request("GET", "/incidents/1", params={"limit": 4} | ({"cursor": cursor} if cursor else {})).json()
        assert len(page["timeline"]) <= 4 and page["timeline_total"] == whole["timeline_total"]
        paged += page["timeline"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert paged == whole["timeline"]


def test_the_default_page_is_bounded_and_counts_the_alerts(api: ApiThread) -> None:
    """By default a storm's incident lists 100 fingerprints with the count of all 1,200 alerts, and at most 100 entries."""
    detail = api.request("GET", "/incidents/1").json()
    assert detail["incident"]["alert_count"] == 1200 and len(detail["incident"]["fingerprints"]) == 100
    assert len(detail["timeline"]) <= 100
    assert any(e["data"].get("folded") for e in detail["timeline"]), "the storm is folded, not one entry per alert"
    assert api.request("GET", "/incidents/1", params={"limit": 0}).status_code == 422
    assert api.request("GET", "/incidents/1", params={"limit": 1001}).status_code == 422


def test_the_cli_shows_a_page_prints_the_next_command_and_shows_all_with_all(api: ApiThread) -> None:
    """`incidents show --limit 3` prints one page and the --cursor command for the next, which prints another; --all prints every page."""
    first = cli("incidents", "show", "1", "--limit", "3")
    assert first.returncode == 0, first.stderr
    assert "alerts 1,200:" in first.stdout and first.stdout.count("Timeline") == 1
    [cursor] = re.findall(r"alertflow incidents show 1 --cursor (\d+)", first.stdout)
    following = cli("incidents", "show", "1", "--limit", "3", "--cursor", cursor)
    assert re.findall(r"--cursor (\d+)", following.stdout) not in ([], [cursor]), "the next page ends further on"
    total = api.request("GET", "/incidents/1").json()["timeline_total"]
    every = cli("incidents", "show", "1", "--limit", "3", "--all")
    assert every.stdout.count("Timeline") == -(-total // 3) and "more alerts joined" in every.stdout
    assert "--cursor" not in every.stdout.split("Timeline")[-1], "the last page names no next one"


def test_the_cli_shows_an_incident_as_one_json_document(api: ApiThread) -> None:
    """`incidents show --json` is the API's document for one page; with --all, every entry and no next cursor;
    `incidents --json` is one incident per line."""
    whole = api.request("GET", "/incidents/1", params={"limit": 1000}).json()
    page = json.loads(cli("incidents", "show", "1", "--limit", "3", "--json").stdout)
    assert len(page["timeline"]) == 3 and page["next_cursor"] is not None and page["incident"]["alert_count"] == 1200
    every = json.loads(cli("incidents", "show", "1", "--limit", "3", "--all", "--json").stdout)
    assert every["timeline"] == whole["timeline"] and every["next_cursor"] is None
    [listed] = [json.loads(line) for line in cli("incidents", "--json").stdout.splitlines()]
    assert listed["id"] == 1 and listed["status"] == whole["incident"]["status"]
