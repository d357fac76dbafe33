"""``alertflow rules check``: everything wrong with a rules file, each with its line.

Beyond the file's own shape, actions are checked against the config they will
run with: a failover naming a switch, or a recovery naming a runbook, that the
config does not define would otherwise fail only when the incident happens.
"""

from __future__ import annotations

import os
from pathlib import Path

from alertflow.config.settings import load_settings
from alertflow.errors import ConfigError
from alertflow.models import FailoverAction, PagingAction, RecoveryAction
from alertflow.rules import parse_rules
from alertflow.yamlmodel import parse_yaml, where


def check_rules(path: Path, config: Path | None) -> tuple[list[str], str]:
    """Return (problems, summary); no problems means the file is good to deploy."""
    try:
        text = path.read_text()
        ruleset = parse_rules(text, str(path))
    except OSError as err:
        return [f"{path}: cannot read: {err.strerror}"], ""
    except ConfigError as err:
        return str(err).splitlines(), ""
    problems: list[str] = []
    config_file = config or os.environ.get("ALERTFLOW_CONFIG")
    if config_file:
        try:
            settings = load_settings(config_file)
        except ConfigError as err:
            return str(err).splitlines(), ""
        _, node = parse_yaml(text, str(path))
        for i, rule in enumerate(ruleset.rules):
            for j, action in enumerate(rule.actions):
                loc = ("rules", i, "actions", j, "params")
                if isinstance(action, FailoverAction) and action.params.switch not in settings.switches:
                    problems.append(
                        f"{where(node, (*loc, 'switch'), str(path))}: no traffic switch {action.params.switch!r} in {config_file}"
                    )
                elif isinstance(action, FailoverAction) and (targets := settings.switches[action.params.switch].targets):
                    for field in ("to", "back_to"):
                        if (target := getattr(action.params, field)) not in targets:
                            problems.append(
                                f"{where(node, (*loc, field), str(path))}: switch {action.params.switch} has no target {target!r}"
                            )
                if isinstance(action, PagingAction) and action.params.policy and action.params.policy not in settings.escalation_policies:
                    problems.append(
                        f"{where(node, (*loc, 'policy'), str(path))}: no escalation policy {action.params.policy!r} in {config_file}"
                    )
                if isinstance(action, RecoveryAction) and action.params.runbook not in settings.runbooks:
                    problems.append(f"{where(node, (*loc, 'runbook'), str(path))}: no runbook {action.params.runbook!r} in {config_file}")
    actions = sum(len(rule.actions) for rule in ruleset.rules)
    checked = f", references checked against {config_file}" if config_file else ""
    return problems, f"{path}: OK: {len(ruleset.rules)} rules, {actions} actions{checked}"
