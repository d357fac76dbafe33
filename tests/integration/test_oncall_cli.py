"""``alertflow oncall who|show`` and ``rules check`` of paging policies, as a person runs them.

who and show ask the API (one for the module, on loopback), run in this process as in
tests/integration/test_oncall_overrides.py, which also covers the overrides stored in the database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.test_oncall_overrides import cli as oncall
from tests.integration.test_rules_cli import cli
from tests.support import ApiThread, write_config

CONFIG = """\
people: {alice: {slack_user_id: U1}, bob: {}, carol: {}}
schedules:
  primary:
    time_zone: Europe/Berlin
    layers:
      - {name: weekly, people: [alice, bob], start: 2026-11-02, handoff: 09:00}
      - {name: nights, people: [carol], rotation: daily, start: 2026-11-01, restrict: {from: 22:00, to: 06:00}}
    overrides:
      - {person: carol, start: 2026-11-27T12:00, end: 2026-11-27T14:00}
escalation_policies:
  default:
    steps: [{notify: {schedule: primary}, wait: 5m}, {notify: {slack_channel: "#ops"}}]
"""


def write(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "alertflow.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def api_config(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """The config above, served by an API on loopback for the module; the CLI reads it too."""
    folder = tmp_path_factory.mktemp("oncall-cli")
    database = f"sqlite+aiosqlite:///{folder / 'alertflow.db'}"
    config = write_config(folder, "http://127.0.0.1:9", database, prefect_api_url="http://127.0.0.1:9/api", **yaml.safe_load(CONFIG))
    with ApiThread(config):
        yield config


def test_oncall_who_answers_per_schedule_and_time(api_config: Path) -> None:
    """who prints the person, the layer or override, and when the shift ends, in the schedule's zone."""
    config = api_config
    assert oncall(config, "oncall", "who", "--at", "2026-11-27T10:00").stdout == "primary: bob (weekly) until Fri 2026-11-27 12:00 CET\n"
    assert oncall(config, "oncall", "who", "-s", "primary", "--at", "2026-11-27T12:30:00+01:00").stdout.startswith(
        "primary: carol (override) until Fri 2026-11-27 14:00 CET"
    )
    [who] = map(json.loads, oncall(config, "oncall", "who", "--at", "2026-11-27T10:00", "--json").stdout.splitlines())
    assert who == {
        "schedule": "primary", "time_zone": "Europe/Berlin", "at": "2026-11-27T10:00:00+01:00", "person": "bob", "source": "weekly",
        "until": "2026-11-27T12:00:00+01:00",
    }  # fmt: skip
    unknown = oncall(config, "oncall", "who", "-s", "nope")
    assert unknown.exit_code == 2 and "no schedule 'nope' (have: primary)" in unknown.output


def test_oncall_show_lists_coming_shifts(api_config: Path) -> None:
    """show prints one shift per line (--json; a table without): the rotation, the override and the night layer, in order."""
    shown = oncall(api_config, "oncall", "show", "--at", "2026-11-27T10:00", "--days", "1", "--json")
    shifts = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(s["start"][11:16], s["person"], s["source"]) for s in shifts] == [
        ("10:00", "bob", "weekly"),
        ("12:00", "carol", "override"),
        ("14:00", "bob", "weekly"),
        ("22:00", "carol", "nights"),
        ("06:00", "bob", "weekly"),
    ], shown.stdout
    assert shifts[-1]["end"] == "2026-11-28T10:00:00+01:00" and {s["schedule"] for s in shifts} == {"primary"}
    table = oncall(api_config, "oncall", "show", "--at", "2026-11-27T10:00", "--days", "1").stdout
    assert "primary (Europe/Berlin)" in table and any(
        "12:00" in line and "carol" in line and "override" in line for line in table.splitlines()
    )


def test_invalid_schedule_fails_rules_check_with_its_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A schedule naming an unknown person fails `rules check` at the person's line; a rule naming an unknown
    policy fails at the rule's line."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: r\n    description: d\n    actions:\n      - flow: paging\n        params: {policy: nightly}\n")
    bad = write(tmp_path, CONFIG.replace("people: [carol]", "people: [carole]"))
    checked = cli("rules", "check", str(rules), "--config", str(bad))
    assert checked.returncode == 1 and f"{bad}:7:33: schedules.primary.layers.1.people.0: no person 'carole'" in checked.stderr
    checked = cli("rules", "check", str(rules), "--config", str(write(tmp_path)))
    assert checked.returncode == 1 and f"{rules}:6:26: rules.0.actions.0.params.policy: no escalation policy 'nightly'" in checked.stderr
    rules.write_text(rules.read_text().replace("nightly", "default"))
    assert cli("rules", "check", str(rules), "--config", str(write(tmp_path))).returncode == 0
