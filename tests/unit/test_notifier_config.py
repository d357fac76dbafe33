"""Named notifiers in the settings file: validated at load with their line, and one registry entry per config kind."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from alertflow.config.notifiers import NotifierSettings
from alertflow.config.settings import load_settings
from alertflow.errors import ConfigError, PermanentIntegrationError
from alertflow.integrations.notifiers.registry import KINDS, display_name, kind_of

HOOK = "notifiers:\n  ops-hook: {kind: webhook, url: 'https://hooks.example/alertflow', secret: s3cret-value}\n"


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_settings(path)


def test_a_webhook_notifier_is_named_by_a_step_and_a_person(tmp_path: Path) -> None:
    """A step's `notifier:` target and a person's `notifiers:` name a configured webhook; its secret stays a SecretStr."""
    text = HOOK + "people: {erin: {notifiers: [ops-hook]}}\nescalation_policies:\n  p: {steps: [{notify: {notifier: ops-hook}}]}\n"
    settings = load(tmp_path, text)
    assert settings.notifier("ops-hook").kind == "webhook"  # type: ignore[attr-defined]
    assert "s3cret-value" not in repr(settings.notifiers)
    assert (kind_of("ops-hook", settings).label, display_name("ops-hook", settings)) == ("webhook", "ops-hook (webhook)")
    assert display_name("slack", settings) == "Slack" and display_name("pagerduty", settings) == "PagerDuty"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            HOOK + "escalation_policies:\n  p:\n    steps: [{notify: {notifier: nope}}]\n",
            r"c.yaml:5:\d+: escalation_policies.p.steps.0.notify.notifier: no notifier 'nope'",
        ),
        (HOOK + "people:\n  erin: {notifiers: [ops-hook, nope]}\n", r"c.yaml:4:\d+: people.erin.notifiers.1: no notifier 'nope'"),
        ("notifiers:\n  hook: {kind: webhook, url: 'https://h.example'}\n", r"c.yaml:2:\d+: notifiers.hook.secret: Field required"),
        ("notifiers:\n  hook: {kind: carrier-pigeon, url: x}\n", r"c.yaml:2:\d+: notifiers.hook: Input tag 'carrier-pigeon'"),
        ("notifiers:\n  slack: {kind: webhook, url: 'https://h.example', secret: s}\n", r"'slack' is the built-in notifier"),
        ("notifiers:\n  a-very-long-hook-name: {kind: webhook, url: 'https://h.example', secret: s}\n", r"1 to 16 letters"),
    ],
)
def test_notifier_mistakes_fail_at_load_with_their_line(tmp_path: Path, text: str, match: str) -> None:
    """Unknown names, a webhook without a secret, an unknown kind, a built-in's name or an over-long name fail at load."""
    with pytest.raises(ConfigError, match=match):
        load(tmp_path, text)


def test_every_config_kind_has_a_registry_entry() -> None:
    """The config's notifier kinds and the registry's are the same set, so a kind cannot be configured but not sendable."""
    models = get_args(get_args(NotifierSettings)[0])
    assert {get_args(model.model_fields["kind"].annotation)[0] for model in models} == set(KINDS)


def test_a_notifier_gone_from_the_config_is_a_permanent_error(tmp_path: Path) -> None:
    """A page logged under a notifier that was since removed cannot be updated: permanent, not retried."""
    with pytest.raises(PermanentIntegrationError, match="'old-hook' is no longer in the config"):
        kind_of("old-hook", load(tmp_path, HOOK))
