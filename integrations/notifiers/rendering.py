"""A page shaped by its notifier's template: the context a template sees, and the fallback when it fails.

Every sender of a page (the announcer, the paging flow, ``alertflow notify
preview``) asks ``for_notifier`` for the message a notifier sends. Without a
template the message is the default, untouched. With one, its title and text
are rendered (alertflow/config/messages.py: sandboxed, strict) from the
incident, its alerts with labels and annotations, the counts, the links and
the escalation step; a template that fails here (a label the alert lacks, a
filter on the wrong type) gives the default message and the reason, which the
caller writes in the timeline. The page always goes.
"""

from __future__ import annotations

from typing import Any

from alertflow.config.messages import MAX_TEXT, MAX_TITLE, MessageTemplate, TemplateError, render_template
from alertflow.config.settings import Settings
from alertflow.errors import ConfigError
from alertflow.integrations.notifiers.message import PageMessage

MAX_ALERTS = 50  # alerts a template sees (a storm's incident has thousands; counts has them all)


def context(message: PageMessage) -> dict[str, Any]:
    """What a template may name (``VARIABLES``): plain dicts, lists and strings, nothing with methods of ours."""
    incident = {
        "id": message.incident_id,
        "key": message.key,
        "title": message.title,
        "service": message.service,
        "severity": message.severity.value,
        "status": message.status,
        "acknowledged_by": message.acked_by,
        "acknowledged_at": message.acked_at.isoformat() if message.acked_at else None,
        "resolved_by": message.resolved_by,
        "resolved_at": message.resolved_at.isoformat() if message.resolved_at else None,
    }
    alerts = message.alerts[:MAX_ALERTS]
    total = max(message.alert_count, len(message.alerts))
    counts = {"alerts": total, "firing": message.firing_count, "resolved": max(total - message.firing_count, 0), "shown": len(alerts)}
    default = {"title": message.headline(), "text": message.default_text()}
    return {
        "incident": incident,
        "alerts": alerts,
        "counts": counts,
        "links": message.all_links(),
        "step": message.step,
        "reason": message.reason,
        "detail": message.detail,
        "default": default,
    }


def template_of(name: str, config: Settings) -> MessageTemplate | None:
    try:
        return getattr(config.notifier(name), "template", None)
    except ConfigError:
        return None  # a notifier no longer configured: the page fails where it is sent, not here


def shape(message: PageMessage, template: MessageTemplate | None) -> tuple[PageMessage, str | None]:
    """The message as the template makes it, or the default message and why the template failed."""
    if template is None or (template.title is None and template.text is None):
        return message, None
    values = context(message.model_copy(update={"template_title": None, "template_text": None}))
    try:
        title = render_template(template.title, values, MAX_TITLE).replace("\n", " ") if template.title is not None else None
        text = render_template(template.text, values, MAX_TEXT) if template.text is not None else None
    except (TemplateError, ValueError, TypeError, ArithmeticError, LookupError) as err:
        return message, f"{type(err).__name__}: {str(err)[:300]}"
    return message.model_copy(update={"template_title": title, "template_text": text}), None


def for_notifier(message: PageMessage, name: str, config: Settings) -> tuple[PageMessage, str | None]:
    """``shape`` with the template of the notifier called ``name``."""
    return shape(message, template_of(name, config))
