"""``alertflow notify preview``: each notifier's page for a real incident, as a person runs it, sending nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from alertflow.store.database import Store
from tests.integration.conftest import NOW
from tests.integration.test_chat_webhooks import an_alert
from tests.integration.test_rules_cli import cli


async def an_incident(url: str) -> int:
    store = Store(url)
    await store.upgrade()
    async with store.write() as tx:
        incident_id = await tx.insert_incident(
            key="service-down|service=checkout", title="checkout API down", service="checkout", severity="critical",
            rule_id="service-down", at=NOW,
        )  # fmt: skip
    await an_alert(store, incident_id)
    await store.dispose()
    return incident_id


def test_preview_renders_every_notifier_and_says_when_a_template_fails(tmp_path: Path) -> None:
    """Slack shows the default, mm its template from the alert's labels; teams' template fails: the default is shown,
    with why, and the command exits 1. --notifier shows one; an unknown one is exit 2."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'alertflow.db'}"
    incident_id = asyncio.run(an_incident(url))
    notifiers = {
        "mm": {"kind": "mattermost", "url": "https://mm.example/hooks/k",
               "template": {"title": "{{ incident.service }} down", "text": "{{ alerts[0].labels.instance }}: {{ counts.alerts }} alert(s)"}},
        "teams-ops": {"kind": "teams", "url": "https://teams.example/k", "template": {"text": "{{ alerts[0].labels.team }}"}},
    }  # fmt: skip
    config = tmp_path / "alertflow.yaml"
    config.write_text(yaml.safe_dump({"home": str(tmp_path / "home"), "database_url": url, "notifiers": notifiers}))
    shown = cli("notify", "preview", "--incident", str(incident_id), config=config)
    assert shown.returncode == 1, shown.stdout + shown.stderr
    out = shown.stdout
    assert (
        "== Slack: the default\ntitle: Incident #1: checkout API down\ntext:\n  [CRITICAL] Incident #1: checkout API down (checkout)\n"
        in out
    )
    assert "== mm (Mattermost): its template\ntitle: checkout down\ntext:\n  web1: 1 alert(s)\n" in out
    assert "== teams-ops (Teams): its template\ntemplate failed at render time, the default message is sent: UndefinedError" in out
    one = cli("notify", "preview", "-i", str(incident_id), "--notifier", "mm", config=config)
    assert "PagerDuty" not in out, "pagerduty: is not configured"
    assert one.returncode == 0 and "Slack" not in one.stdout and "web1: 1 alert(s)" in one.stdout
    assert cli("notify", "preview", "-i", str(incident_id), "--notifier", "nope", config=config).returncode == 2
