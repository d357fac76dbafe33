"""Microsoft Teams and Mattermost incoming webhooks through the real paging flow, against a loopback receiver.

The receiver (the webhook test's) records each JSON body; Teams must get its
documented ``message`` with an Adaptive Card attachment, Mattermost ``text``
and ``attachments``. Mattermost's template renders from the incident's alerts;
Teams' fails at render time (a label the alert lacks), so its default card goes
and the timeline says why. The webhook URLs' keys appear in no error.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import pytest

from alertflow.config.settings import load_settings
from alertflow.errors import PermanentIntegrationError
from alertflow.flows import page_oncall
from alertflow.integrations.notifiers.mattermost import MattermostNotifier
from alertflow.models import IncidentStatus, PagingAction, TimelineEntry, TimelineKind
from tests.integration.test_paging import resolve, timeline_summaries, until
from tests.integration.test_webhook_notifier import receiver  # noqa: F401  (the fixture: tests ask for it by name)
from tests.unit.test_message_templates import message

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]
TEAMS_KEY, MM_KEY = "teams-key-0123456789", "mm-key-9876543210"


async def an_alert(store, incident_id: int) -> None:  # type: ignore[no-untyped-def]
    data = {"fingerprint": "f1", "name": "ServiceDown", "status": "firing", "labels": {"alertname": "ServiceDown", "instance": "web1"},
            "annotations": {"summary": "checkout answers 503"}}  # fmt: skip
    entry = TimelineEntry(incident_id=incident_id, at=datetime.now(timezone.utc), kind=TimelineKind.alert, summary="alert", data=data)
    await store.add_timeline(entry)


async def test_teams_and_mattermost_get_their_formats_and_a_failed_template_falls_back(
    sandbox,
    incident,
    make_config,
    request,
    caplog,
) -> None:  # type: ignore[no-untyped-def]
    """One step reaches both webhooks: Teams an Adaptive Card (its template failed: the default, recorded), Mattermost its
    template's text from the alert's labels and annotations; the ack and the resolve follow as new posts. The URLs'
    keys are in no timeline entry and no log line (httpx logs each request's URL)."""
    caplog.set_level(logging.DEBUG)
    hooks = request.getfixturevalue("receiver")
    store, incident_id = incident
    await an_alert(store, incident_id)
    notifiers = {
        "teams-ops": {"kind": "teams", "url": f"{hooks.url}/{TEAMS_KEY}", "template": {"text": "{{ alerts[0].labels.team }}"}},
        "mm": {"kind": "mattermost", "url": f"{hooks.url}/{MM_KEY}", "channel": "town-square",
               "template": {"title": "{{ incident.service }} is down",
                            "text": "{% for a in alerts %}{{ a.labels.instance }}: {{ a.annotations.summary }} ({{ step }}){% endfor %}"}},
    }  # fmt: skip
    policy = {"steps": [{"notify": [{"notifier": "teams-ops"}, {"notifier": "mm"}], "wait": "60s"}]}
    make_config(sandbox, database_url=store.url, notifiers=notifiers, escalation_policies={"p": policy})
    run = asyncio.create_task(page_oncall(incident_id, PagingAction(params={"policy": "p"})))
    await until(lambda: len(hooks.accepted()) == 2, what="both pages")
    teams, mm = sorted(hooks.accepted(), key=lambda body: "attachments" in body and "text" in body)
    [card] = teams["attachments"]
    assert teams["type"] == "message" and card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][1]["text"] == f"[CRITICAL] Incident #{incident_id}: checkout API down (checkout)", "the default text"
    assert mm["text"] == "web1: checkout answers 503 (step 1/1)" and mm["channel"] == "town-square" and mm["username"] == "alertflow"
    assert mm["attachments"][0]["title"] == "checkout is down"
    assert {"short": True, "title": "Severity", "value": "critical"} in mm["attachments"][0]["fields"]
    await resolve(store, incident_id, IncidentStatus.acknowledged)
    await until(lambda: len(hooks.accepted()) == 4, what="the acknowledgement posts")
    await resolve(store, incident_id)
    await asyncio.wait_for(run, 15)
    said = [b.get("text") or b["attachments"][0]["content"]["body"][1]["text"] for b in hooks.accepted()[2:]]
    assert sorted(said) == ["Acknowledged by alice"] * 2 + ["Resolved by alice"] * 2
    timeline = await timeline_summaries(store, incident_id)
    [failed] = [s for s in timeline if s.startswith("template of teams-ops (Teams) failed")]
    assert "the default message was sent: UndefinedError" in failed and "team" in failed
    assert "step 1/1: paged teams-ops on teams-ops (Teams)" in timeline and "step 1/1: paged mm on mm (Mattermost)" in timeline
    seen = str(await store.get_timeline(incident_id)) + caplog.text
    assert "HTTP Request: POST 127.0.0.1:" in caplog.text and TEAMS_KEY not in seen and MM_KEY not in seen


async def test_a_refused_webhook_is_permanent_and_its_key_stays_hidden(sandbox, make_config, request) -> None:  # type: ignore[no-untyped-def]
    """A 404 from Mattermost is permanent, and the error names the host, never the URL's key."""
    hooks = request.getfixturevalue("receiver")
    settings = load_settings(make_config(sandbox, notifiers={"mm": {"kind": "mattermost", "url": f"{hooks.url}/{MM_KEY}"}}))
    hooks.script.append((404, {}))
    notifier = MattermostNotifier.for_address(settings.notifiers["mm"], "mm", settings)  # type: ignore[arg-type]
    with pytest.raises(PermanentIntegrationError, match=r"mattermost webhook on 127\.0\.0\.1: HTTP 404") as refused:
        await notifier.send(message(), "mm")
    assert MM_KEY not in str(refused.value) and "/hooks/" not in str(refused.value)
