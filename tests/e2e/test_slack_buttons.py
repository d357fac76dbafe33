"""The page's buttons close the loop: the message the paging flow posts carries buttons whose signed click acks."""

from __future__ import annotations

from tests.conftest import wait_for
from tests.fake_slack import SIGNING_SECRET, block_actions, click
from tests.support import REPO

FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
PAGING_ONLY = "rules:\n  - id: all\n    description: everything pages\n    actions:\n      - flow: paging\n"


def test_clicking_acknowledge_on_the_posted_page_acks_the_incident(start_system, sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Alert → paging flow posts Block Kit with three buttons valued with the incident id → Slack-signed click → acked by the person."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(PAGING_ONLY)
    slack = {"token": "xoxb-test-token", "channel": "#oncall", "base_url": f"{sandbox.url}/slack/api/", "signing_secret": SIGNING_SECRET}
    system = start_system(rules_file=str(rules), slack=slack, people={"alice": {"slack_user_id": "U0ALICE"}})
    assert system.api.post("/webhooks/alertmanager", content=FIRING, headers={"Content-Type": "application/json"}).status_code == 202
    [run] = system.completed_runs(1, 1)
    assert run.state.is_completed(), run.state.message
    [page] = sandbox.state.messages()
    buttons = {e["action_id"]: e["value"] for block in page["blocks"] if block["type"] == "actions" for e in block["elements"]}
    assert buttons == {"alertflow_ack": "1", "alertflow_resolve": "1", "alertflow_escalate": "1"}

    response = click(system.api.url, block_actions("alertflow_ack", buttons["alertflow_ack"], user_id="U0ALICE", username="alice.s"))
    assert response.status_code == 200, response.text
    incident = wait_for(lambda: system.api.get("/incidents/1").json()["incident"], 5, "the incident")
    assert (incident["status"], incident["acknowledged_by"]) == ("acknowledged", "alice")
    assert "acknowledged by alice" in system.timeline(1)
