"""Message templates: a notifier's page title and text from a sandboxed Jinja2 template, checked when the config loads.

People shape what a page says (``notifiers.NAME.template``, ``slack.template``,
``pagerduty.template``) the way Alertmanager users shape theirs. A template
is config, written by operators; what it renders is incident data, which may
come from anyone who can send an alert, so it runs in Jinja2's
``SandboxedEnvironment`` (no attribute games, bounded ``range``) with
strict undefined values (a misspelt name or a missing label is an error
when shown, not an empty string; ``{% if %}`` may still ask). The
syntax and every top-level name are checked at load, so ``alertflow rules
check --config`` points at the file and line; whatever still fails at render
time (a missing label, say) is the caller's to record, and the default message
is sent instead: a template never drops a page.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, field_validator

# The names a template may use (integrations/notifiers/rendering.py builds them; docs/oncall.md lists them).
VARIABLES = frozenset({"incident", "alerts", "counts", "links", "step", "reason", "detail", "default"})
MAX_TITLE, MAX_TEXT = 250, 4000  # longer output is cut: a title is one line, a page is not a report


class Missing(StrictUndefined):
    """A name or key that is not there: an error when shown or iterated, but false in ``{% if %}`` (and ``| default``
    works), so ``{% if alert.annotations.summary %}`` asks without failing."""

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return id(type(self))


ENVIRONMENT = SandboxedEnvironment(undefined=Missing, autoescape=False)


def check_template(source: str) -> str:
    """Compile once to find syntax errors and unknown names; returns ``source`` unchanged (a pydantic validator)."""
    try:
        tree = ENVIRONMENT.parse(source)
    except TemplateSyntaxError as err:
        raise ValueError(f"line {err.lineno} of the template: {err.message}") from None
    unknown = meta.find_undeclared_variables(tree) - VARIABLES - set(ENVIRONMENT.globals)  # range, namespace... are Jinja's
    if unknown:
        raise ValueError(f"unknown name {sorted(unknown)[0]!r} in the template; known: {', '.join(sorted(VARIABLES))}")
    return source


class MessageTemplate(BaseModel):
    """A notifier's own title and text; either may be left out (the default is used for it)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, description="one line: the headline, an email's subject")
    text: str | None = Field(None, description="the message's text: Slack's notification, PagerDuty's summary, an email's body")

    @field_validator("title", "text")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value)


@lru_cache(maxsize=256)
def _compiled(source: str) -> Any:
    return ENVIRONMENT.from_string(source)


def render_template(source: str, context: dict[str, Any], limit: int) -> str:
    """Render in the sandbox; raises ``TemplateError`` (or ValueError for empty output) for the caller to fall back."""
    rendered = _compiled(source).render(context).strip()
    if not rendered:
        raise ValueError("the template rendered nothing")
    return rendered[:limit]


__all__ = ["MAX_TEXT", "MAX_TITLE", "VARIABLES", "MessageTemplate", "TemplateError", "check_template", "render_template"]
