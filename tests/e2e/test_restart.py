"""Kill the API process in the middle of a window, a wait or a first page: after a restart the pattern still fires
exactly once, and the incident is paged exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx
import pytest

from alertflow.cli.sandbox import SlackFailure
from alertflow.config.settings import load_settings
from tests.conftest import REPO, wait_for
from tests.support import write_config

STALL = 20.0  # seconds Slack holds the killed process's request; the restarted one takes over after the 15 s lease

RULES = """
rules:
  - id: hosts-down
    description: Several hosts of a cluster down
    matchers: ['alertname="HostDown"']
    group_by: [cluster]
    pattern: {kind: threshold, count: 3, within: 10m}
    actions:
      - flow: paging
  - id: db-down
    description: The database is down
    matchers: ['alertname="DatabaseDown"']
    group_wait: 3s
    actions:
      - flow: paging
"""


def host(name: str, alertname: str = "HostDown") -> bytes:
    alert = {"status": "firing", "labels": {"alertname": alertname, "cluster": "c1", "host": name}, "startsAt": "2026-11-27T10:00:00Z"}
    return json.dumps({"version": "4", "status": "firing", "alerts": [alert]}).encode()


class ApiProcess:
    """`alertflow api` as its own process, so the test can SIGKILL it like a crash."""

    def __init__(self, config) -> None:  # type: ignore[no-untyped-def]
        self.url = load_settings(config).resolved_api_url
        self.process = subprocess.Popen(
            [sys.executable, "-m", "alertflow", "api", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def up() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                assert self.process.poll() is None, "alertflow api exited"
                return False

        wait_for(up, 60, "alertflow api to start")

    def post(self, body: bytes) -> None:
        assert (
            httpx.post(
                f"{self.url}/webhooks/alertmanager", content=body, headers={"Content-Type": "application/json"}, timeout=10
            ).status_code
            == 202
        )
        wait_for(lambda: httpx.get(f"{self.url}/readyz", timeout=5).json()["inbox_pending"] == 0, 20, "the alert to be decided")

    def incidents(self) -> list[dict]:  # type: ignore[type-arg]
        return httpx.get(f"{self.url}/incidents", timeout=5).json()

    def flow_runs(self, incident_id: int) -> list[str]:
        return [r["flow"] for r in httpx.get(f"{self.url}/incidents/{incident_id}", timeout=5).json()["flow_runs"]]

    def timeline(self, incident_id: int) -> list[str]:
        return [e["summary"] for e in httpx.get(f"{self.url}/incidents/{incident_id}", timeout=5).json()["timeline"]]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def test_threshold_window_and_group_wait_survive_a_crash(sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two of three alerts before a SIGKILL, the third after: one incident, one page; a group_wait running at the crash still pages once."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    config = write_config(
        tmp_path,
        sandbox.url,
        f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}",
        rules_file=str(rules),
        prefect_api_url="http://127.0.0.1:9/api",
    )
    api = ApiProcess(config)
    try:
        api.post(host("a"))
        api.post(host("b"))
        api.post(host("db", alertname="DatabaseDown"))  # opens now, pages after 3 s
        assert [i["rule_id"] for i in api.incidents()] == ["db-down"]
        api.kill()
        api = ApiProcess(config)
        api.post(host("c"))
        for name in ("a", "b", "c"):
            api.post(host(name))  # Alertmanager resends after the restart: nothing new
        by_rule = {i["rule_id"]: i for i in api.incidents()}
        assert sorted(by_rule) == ["db-down", "hosts-down"]
        assert api.flow_runs(by_rule["hosts-down"]["id"]) == ["paging"]
        wait_for(lambda: api.flow_runs(by_rule["db-down"]["id"]), 20, "the group_wait page after the restart")
        assert api.flow_runs(by_rule["db-down"]["id"]) == ["paging"]
        timeline = httpx.get(f"{api.url}/incidents/{by_rule['hosts-down']['id']}", timeout=5).json()["timeline"]
        assert any("3 of 3 alerts within 10m" in e["summary"] for e in timeline)
    finally:
        api.kill()


@pytest.mark.parametrize("slack_took_it", [False, True], ids=["before-slack-took-it", "after-slack-took-it"])
def test_sigkill_while_the_first_page_is_at_slack_pages_once(sandbox, tmp_path, slack_took_it):  # type: ignore[no-untyped-def]
    """SIGKILL of the API process while its first page is at Slack, Prefect unreachable all along. Killed before Slack
    took the message: the restarted process takes the claim over after the lease and sends it. Killed after: it finds
    the message by its metadata (conversations.history) and records it. Either way one message, one page entry."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'page.db'}"
    config = write_config(tmp_path, sandbox.url, database, prefect_api_url="http://127.0.0.1:9/api")
    if slack_took_it:
        sandbox.state.slack_stalls.append(STALL)
    else:
        sandbox.state.slack_failures.append(SlackFailure(500, "internal_error", delay=STALL))
    api = ApiProcess(config)
    try:
        api.post((REPO / "examples" / "alertmanager-firing.json").read_bytes())
        wait_for(lambda: sandbox.state.slack_calls, 10, "the first page at Slack")
        assert not api.timeline(1) or "paged #oncall on Slack" not in api.timeline(1)
        api.kill()
        api = ApiProcess(config)

        def paged() -> list[str]:
            return [s for s in api.timeline(1) if s.startswith("paged #oncall")]

        wait_for(paged, 60, "the page recorded after the restart")
        [message] = [m for m in sandbox.state.slack.channel("#oncall").messages.values() if "thread_ts" not in m]
        assert "checkout" in message["text"]
        [entry] = paged()
        assert entry.endswith("(found after a restart, not sent again)") == slack_took_it, entry
        posts = [c for c in sandbox.state.slack_calls if c["method"] == "chat.postMessage"]
        assert len(posts) == (1 if slack_took_it else 2), "the killed process's attempt, one more if Slack lost it"
    finally:
        api.kill()
