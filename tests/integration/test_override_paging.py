"""A page goes to whoever an override stored in the database puts on call: the first step from the API process
(the announcer, Prefect unreachable for it), the next from the paging flow run on the real Prefect server."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from alertflow.flows import followup
from tests.conftest import free_port
from tests.fake_slack import SIGNING_SECRET
from tests.integration.test_announcer import JSON, firing, posted, rules, run_paging, until
from tests.support import ApiThread

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]
PEOPLE = {"alice": {"slack_user_id": "UALICE"}, "bob": {"slack_user_id": "UBOB"}}
SCHEDULES = {"primary": {"layers": [{"people": ["alice"], "rotation": "daily", "start": "2026-01-01"}]}}
POLICY = {"steps": [{"notify": {"schedule": "primary"}, "wait": "0s"}, {"notify": {"schedule": "primary"}}]}  # no wait: fast


async def test_a_stored_override_is_paged_instead_of_the_layer(sandbox, make_config, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """alice is on call by the layer; an override added through the API puts bob on: the announced step 1 and the
    run's step 2 both page bob, and alice gets nothing."""
    monkeypatch.setattr(followup, "FOLLOW_POLL_SECONDS", 0.1)  # the run ends soon after the resolve, not up to 2 s later
    slack = {"token": "xoxb-test-token", "channel": "#oncall", "base_url": f"{sandbox.url}/slack/api/", "signing_secret": SIGNING_SECRET}
    config = make_config(
        sandbox, rules_file=rules(tmp_path, {"policy": "oncall"}), prefect_api_url=f"http://127.0.0.1:{free_port()}/api", people=PEOPLE,
        schedules=SCHEDULES, escalation_policies={"oncall": POLICY}, slack=slack,
    )  # fmt: skip
    with ApiThread(config) as api:
        now = datetime.now(timezone.utc)
        override = {"schedule": "primary", "person": "bob", "start": (now - timedelta(hours=1)).isoformat(), "actor": "dave"}
        assert api.post("/oncall/overrides", json=override | {"end": (now + timedelta(hours=1)).isoformat()}).status_code == 201
        assert api.post("/webhooks/alertmanager", content=firing("checkout"), headers=JSON).status_code == 202
        await until(lambda: posted(sandbox, "UBOB"), 10, "step 1 to bob, from the announcer")
        run = asyncio.create_task(run_paging(api))
        await until(lambda: len(posted(sandbox, "UBOB")) == 2, 15, "step 2 to bob, from the paging run")
        assert (await asyncio.to_thread(api.post, "/incidents/1/resolve", json={"actor": "bob"})).status_code == 200
        await asyncio.wait_for(run, 20)
        assert posted(sandbox, "UALICE") == []
        timeline = [e["summary"] for e in api.get("/incidents/1", params={"limit": 1000}).json()["timeline"]]
        assert "step 1/2: paged bob (on call for primary) on Slack" in timeline, timeline
        assert "step 2/2: paged bob (on call for primary) on Slack" in timeline, timeline
