"""Message templates: the default pages unchanged, a template's context, load-time errors with their line, the fallback."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from alertflow.config.messages import MessageTemplate
from alertflow.config.settings import load_settings
from alertflow.errors import ConfigError
from alertflow.integrations.notifiers.message import PageMessage
from alertflow.integrations.notifiers.rendering import shape
from alertflow.models import Incident, IncidentStatus, PagingParams, Severity, TimelineEntry, TimelineKind
from alertflow.paging.recipients import alert_links, alert_views, page_message

AT = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
INCIDENT = Incident(id=42, key="service-down|service=checkout", title="checkout API down", service="checkout",
                    severity=Severity.critical, status=IncidentStatus.open, rule_id="service-down", opened_at=AT, alert_count=2)  # fmt: skip
ALERTS = [
    TimelineEntry(incident_id=42, at=AT, kind=TimelineKind.alert, summary="alert ServiceDown firing: checkout down",
                  data={"fingerprint": "f1", "name": "ServiceDown", "status": "firing", "labels": {"alertname": "ServiceDown", "instance": "web1"},
                        "annotations": {"summary": "checkout down", "runbook_url": "https://runbooks/checkout"},
                        "runbook_url": "https://runbooks/checkout"}),
    TimelineEntry(incident_id=42, at=AT, kind=TimelineKind.alert, summary="alert ServiceDown resolved: checkout down",
                  data={"fingerprint": "f2", "labels": {"alertname": "ServiceDown", "instance": "web2"}}),
]  # fmt: skip


def message(**params: object) -> PageMessage:
    return page_message(INCIDENT, PagingParams(**params), "http://prefect/run/1", 1, alert_links(ALERTS), "step 1/2", alert_views(ALERTS))


@pytest.mark.parametrize(
    ("update", "text"),
    [
        ({}, "[CRITICAL] Incident #42: checkout API down (checkout)"),
        ({"reason": "failover failed"}, "[CRITICAL] Incident #42: checkout API down (checkout) ESCALATION: failover failed"),
        ({"acked_by": "alice"}, "[CRITICAL] Incident #42: checkout API down (checkout) (acknowledged by alice)"),
        ({"acked_by": "alice", "resolved_by": "bob"}, "[CRITICAL] Incident #42: checkout API down (checkout) (resolved by bob)"),
    ],
)
def test_without_a_template_the_page_is_todays(update: dict[str, str], text: str) -> None:
    """No template (or an empty one): the message is returned as it was, its text and Slack heading byte for byte as before."""
    page = message().model_copy(update=update)
    for template in (None, MessageTemplate()):
        shaped, why = shape(page, template)
        assert shaped is page and why is None
    assert page.text() == text and page.headline() == "Incident #42: checkout API down"
    assert page.blocks()[0]["text"]["text"] == ":red_circle: *Incident #42: checkout API down*"


def test_a_template_sees_the_incident_its_alerts_counts_links_and_step() -> None:
    """Title and text render from the incident, each alert's labels and annotations, the counts, the links and the step."""
    template = MessageTemplate(
        title="{{ incident.severity|upper }} {{ incident.service }}: {{ counts.firing }}/{{ counts.alerts }} firing",
        text="{% for a in alerts %}{{ a.labels.instance }} {{ a.status }}{% if a.annotations.summary %} ({{ a.annotations.summary }}){% endif %}\n"
        "{% endfor %}{{ links.Runbook }} {{ step }}{% for i in range(1) %}{{ alerts[0].labels.nope | default('') }}{% endfor %}\n"
        "{{ default.text }}",
    )
    shaped, why = shape(message(), template)
    assert why is None
    assert shaped.headline() == "CRITICAL checkout: 1/2 firing"
    assert shaped.text() == (
        "web1 firing (checkout down)\nweb2 resolved\nhttps://runbooks/checkout step 1/2\n[CRITICAL] Incident #42: checkout API down (checkout)"
    )
    assert shaped.blocks()[0]["text"]["text"] == ":red_circle: *CRITICAL checkout: 1/2 firing*"


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ({"text": "{{ alerts[0].labels.team }}"}, "UndefinedError"),  # a label this alert lacks
        ({"title": "{{ incident.title.__class__.__mro__ }}"}, "SecurityError"),  # the sandbox refuses
        ({"text": "{{ counts.firing / 0 }}"}, "ZeroDivisionError"),
        ({"title": "{% if false %}x{% endif %}"}, "rendered nothing"),
    ],
)
def test_a_template_that_fails_at_render_time_gives_the_default_and_why(template: dict[str, str], why: str) -> None:
    """A render-time failure returns the default message unchanged and the reason, for the timeline; never an exception."""
    page = message()
    shaped, reason = shape(page, MessageTemplate(**template))
    assert shaped is page and reason is not None and why in reason


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "slack:\n  template:\n    text: '{{ incident.title '\n",
            r"c.yaml:3:\d+: slack.template.text: line 1 of the template: unexpected end",
        ),
        ("slack:\n  template:\n    title: '{{ incidnet.title }}'\n", r"c.yaml:3:\d+: slack.template.title: unknown name 'incidnet'"),
        (
            "notifiers:\n  mm: {kind: mattermost, url: 'https://mm.example/hooks/k', template: {text: '{% for %}'}}\n",
            r"c.yaml:2:\d+: notifiers.mm.template.text: line 1 of the template",
        ),
    ],
)
def test_template_mistakes_fail_at_load_with_their_line(tmp_path: Path, text: str, match: str) -> None:
    """Syntax errors and unknown names in a template are config errors at load, with file:line and the template's own line."""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_settings(path)
