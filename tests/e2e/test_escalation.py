"""The whole loop with an escalation policy: alert → worker's paging run pages the on-call → a Slack click acks
→ no further page, the page updated in place → resolve → the run completes."""

from __future__ import annotations

import time

from tests.conftest import wait_for
from tests.fake_slack import SIGNING_SECRET, block_actions, click
from tests.support import REPO

FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
RULES = "rules:\n  - id: all\n    description: everything pages\n    actions:\n      - flow: paging\n        params: {policy: default}\n"


def test_policy_pages_on_call_and_a_slack_ack_stops_escalation(start_system, sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Step 1 DMs the schedule's on-call at decision time (the announcer, with the alert's runbook and source links);
    the served worker's paging run continues from it and pauses for the Prefect UI; alice's signed Acknowledge click ends the 30 s wait at once, step 2 is never paged,
    and her page shows who acknowledged."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    slack = {"token": "xoxb-test-token", "channel": "#oncall", "base_url": f"{sandbox.url}/slack/api/", "signing_secret": SIGNING_SECRET}
    system = start_system(
        rules_file=str(rules),
        slack=slack,
        people={"alice": {"slack_user_id": "U0ALICE"}},
        schedules={"primary": {"layers": [{"people": ["alice"], "rotation": "daily", "start": "2026-01-01"}]}},
        escalation_policies={
            "default": {"steps": [{"notify": {"schedule": "primary"}, "wait": "30s"}, {"notify": {"slack_channel": "#ops"}}]}
        },
    )
    assert system.api.post("/webhooks/alertmanager", content=FIRING, headers={"Content-Type": "application/json"}).status_code == 202
    [page] = wait_for(lambda: sandbox.state.messages(), 60, f"the page (worker log: {system.worker_log})")
    assert page["channel"] == "U0ALICE"
    links = str([b for b in page["blocks"] if b["type"] == "context"])
    assert "https://runbooks.example.com/checkout-down" in links and "prometheus.example.com:9090/graph" in links, "the alert's links"
    assert "step 1/2" in str(page["blocks"]), "where the escalation is"
    clicked = time.monotonic()
    assert click(system.api.url, block_actions("alertflow_ack", "1", user_id="U0ALICE")).status_code == 200
    [update] = wait_for(lambda: sandbox.state.messages("chat.update"), 20, "the page updated")
    assert time.monotonic() - clicked < 15 and "Acknowledged by alice" in str(update["blocks"])
    assert system.api.post("/incidents/1/resolve", json={"actor": "alice"}).status_code == 200
    runs = system.completed_runs(1, 1)
    assert [r.state.is_completed() for r in runs if r.name.startswith("paging")] == [True]
    assert [m["channel"] for m in sandbox.state.messages() if "thread_ts" not in m] == ["U0ALICE"], "step 2 never paged"
    timeline = system.timeline(1)
    assert "step 1/2: paged alice (on call for primary) on Slack" in timeline and "pages updated: acknowledged by alice" in timeline
