"""A template on the first page: the announcer (API process, Prefect down) renders Slack's template from the alert as
the pipeline recorded it, labels and annotations included; and a failing template still pages, with why in the timeline."""

from __future__ import annotations

import asyncio

import pytest

from alertflow.store.database import Store
from tests.conftest import free_port
from tests.fake_slack import SIGNING_SECRET
from tests.integration.test_announcer import JSON, firing, posted, rules, until
from tests.support import ApiThread

pytestmark = [pytest.mark.anyio]


def start(sandbox, make_config, tmp_path, template: dict[str, str]) -> ApiThread:  # type: ignore[no-untyped-def]
    slack = {"token": "xoxb-test-token", "channel": "#oncall", "base_url": f"{sandbox.url}/slack/api/", "signing_secret": SIGNING_SECRET,
             "template": template}  # fmt: skip
    config = make_config(sandbox, rules_file=rules(tmp_path, {"channel": "#oncall"}), prefect_api_url=f"http://127.0.0.1:{free_port()}/api",
                         slack=slack)  # fmt: skip
    return ApiThread(config).__enter__()


async def test_the_first_page_renders_the_template_from_the_recorded_alert(sandbox, make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Title and text come from the alert's labels and annotations as the pipeline stored them; the buttons stay."""
    template = {"title": "{{ incident.service }} on {{ alerts[0].labels.instance }}",
                "text": "{{ alerts[0].annotations.summary }} [{{ counts.firing }} firing] {{ links.Runbook }}"}  # fmt: skip
    api = start(sandbox, make_config, tmp_path, template)
    try:
        assert api.post("/webhooks/alertmanager", content=firing("checkout"), headers=JSON).status_code == 202
        [message] = await until(lambda: posted(sandbox, "#oncall"), 10, "the first page")
    finally:
        api.__exit__()
    assert message["text"] == "checkout API is not answering health checks [1 firing] https://runbooks.example.com/checkout-down"
    assert message["blocks"][0]["text"]["text"] == ":red_circle: *checkout on checkout-1:8080*"
    assert "alertflow_ack" in str(message["blocks"])


async def test_a_failing_template_on_the_first_page_sends_the_default_and_says_why(sandbox, make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A label the alert lacks: the default page goes out at once, and the timeline says the template failed."""
    api = start(sandbox, make_config, tmp_path, {"text": "{{ alerts[0].labels.team }}"})
    try:
        assert api.post("/webhooks/alertmanager", content=firing("checkout"), headers=JSON).status_code == 202
        [message] = await until(lambda: posted(sandbox, "#oncall"), 10, "the first page")
        store = Store(api.settings.resolved_database_url)
        for _ in range(100):  # the entries are written right after the send
            timeline = [e.summary for e in await store.get_timeline(1)]
            if any(s.startswith("paged ") for s in timeline):
                break
            await asyncio.sleep(0.05)
        await store.dispose()
    finally:
        api.__exit__()
    assert message["text"].startswith("[CRITICAL] Incident #1: ")
    [failed] = [s for s in timeline if s.startswith("template of Slack failed")]
    assert "the default message was sent: UndefinedError" in failed and "team" in failed
