"""Rule tooling from the command line: rules test / explain, inbox export → replay, silences."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import wait_for
from tests.support import EXAMPLE_RULES, REPO, ApiThread

FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()


def cli(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", **({"ALERTFLOW_CONFIG": str(config)} if config else {})}
    return subprocess.run([sys.executable, "-m", "alertflow", *args], capture_output=True, text=True, env=env, timeout=60)


def test_rules_test_passes_the_examples_and_prints_a_diff_on_failure(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The example rule tests pass (exit 0); a wrong expectation fails with exit 1 and says expected vs got."""
    ok = cli("rules", "test", str(REPO / "examples" / "rules-tests.yaml"))
    assert ok.returncode == 0 and "3 passed, 0 failed" in ok.stdout, ok.stdout + ok.stderr
    (tmp_path / "rules.yaml").write_text(EXAMPLE_RULES.read_text())
    (tmp_path / "tests.yaml").write_text(
        "rule_files: [rules.yaml]\ntests:\n  - name: wrong\n    alerts:\n"
        "      - {labels: {alertname: ServiceDown, service: checkout, env: production}}\n"
        "    expect:\n      incidents:\n        - {key: service-down|service=checkout, actions: [paging]}\n"
    )
    failed = cli("rules", "test", str(tmp_path / "tests.yaml"))
    assert failed.returncode == 1
    assert "actions: expected ['paging'], got ['paging', 'timeline', 'failover', 'recovery']" in failed.stdout, failed.stdout


def test_rules_explain_names_the_failing_matcher_and_the_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """explain shows the matcher that rules an alert out, the rule that decides, and the incident key; --json says
    the same as one object per alert."""
    (tmp_path / "alert.json").write_text(
        json.dumps({"labels": {"alertname": "ServiceDown", "service": "checkout", "env": "staging", "severity": "critical"}})
    )
    out = cli("rules", "explain", str(tmp_path / "alert.json"), "--rules", str(EXAMPLE_RULES)).stdout
    assert 'service-down: env="production" does not match (env="staging")' in out
    assert (
        "critical-elsewhere: matches   ← decides" in out
        and "incident key: critical-elsewhere|alertname=ServiceDown|service=checkout" in out
    )
    [explained] = map(
        json.loads, cli("rules", "explain", str(tmp_path / "alert.json"), "--rules", str(EXAMPLE_RULES), "--json").stdout.splitlines()
    )
    assert explained["alert"]["name"] == "ServiceDown" and explained["deciding_rule"] == "critical-elsewhere"
    assert explained["key"] == "critical-elsewhere|alertname=ServiceDown|service=checkout"
    verdicts = {v["rule_id"]: (v["matched"], v["reason"]) for v in explained["verdicts"]}
    assert verdicts["service-down"] == (False, 'env="production" does not match (env="staging")')


def test_export_then_replay_compares_two_rule_versions(sandbox, make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Recorded alerts exported from the API replay through two rule versions; the difference names the incident that no longer opens."""
    config = make_config(sandbox, prefect_api_url="http://127.0.0.1:9/api")
    with ApiThread(config) as api:
        api.post("/webhooks/alertmanager", content=FIRING, headers={"Content-Type": "application/json"})
        wait_for(lambda: api.get("/incidents").json(), 10, "the incident")
        exported = cli("inbox", "export", config=config)
    assert exported.returncode == 0 and json.loads(exported.stdout.splitlines()[0])["fingerprint"] == "8a3f1c2d9e4b7a60"
    (tmp_path / "alerts.jsonl").write_text(exported.stdout)
    (tmp_path / "new.yaml").write_text(EXAMPLE_RULES.read_text().replace('env="production"', 'env="prod"'))
    replay = cli("replay", str(tmp_path / "alerts.jsonl"), "--rules", str(tmp_path / "new.yaml"), "--against", str(EXAMPLE_RULES))
    assert replay.returncode == 0, replay.stderr
    assert (
        "old rules" in replay.stdout
        and "service-down|service=checkout [open, critical] alerts=1 actions=paging,timeline,failover,recovery" in replay.stdout
    )
    assert "- service-down|service=checkout: no longer opened" in replay.stdout
    arguments = ("replay", str(tmp_path / "alerts.jsonl"), "--rules", str(tmp_path / "new.yaml"), "--against", str(EXAMPLE_RULES))
    compared = json.loads(cli(*arguments, "--json").stdout)
    [old] = compared["old"]["incidents"]
    assert (old["key"], old["status"], old["alerts"]) == ("service-down|service=checkout", "open", 1)
    assert old["actions"] == ["paging", "timeline", "failover", "recovery"]
    assert [(c["change"], c["key"]) for c in compared["difference"]] == [
        ("added", "critical-elsewhere|alertname=ServiceDown|service=checkout"),
        ("removed", "service-down|service=checkout"),
    ]


def test_silence_commands_add_list_and_expire(sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """silence add prints the new silence, list shows it with its author (--json: one silence per line), expire ends
    it; a matcher it cannot read exits 2."""
    config = make_config(sandbox, prefect_api_url="http://127.0.0.1:9/api")
    with ApiThread(config):
        added = cli("silence", "add", 'service="db"', "--duration", "2h", "--comment", "migration", "--by", "alice", config=config)
        assert added.returncode == 0 and added.stdout.startswith("silence 1 until"), added.stdout + added.stderr
        listed = cli("silence", "list", config=config).stdout
        assert 'service="db"' in listed and "alice" in listed and "migration" in listed
        [silence] = map(json.loads, cli("silence", "list", "--json", config=config).stdout.splitlines())
        assert (silence["id"], silence["matchers"], silence["author"], silence["comment"]) == (1, ['service="db"'], "alice", "migration")
        assert cli("silence", "list", "--held", "--json", config=config).stdout == ""
        assert cli("silence", "expire", "1", config=config).stdout.strip() == "silence 1 ended"
        assert cli("silence", "list", "--json", config=config).stdout == ""
        assert cli("silence", "add", 'service~"db"', config=config).returncode == 2
