"""`alertflow sources`: every source with its URL and auth state, from the config alone, secrets never shown."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alertflow.auth import HmacAuth
from alertflow.cli.main import app
from alertflow.config.settings import load_settings
from alertflow.errors import ConfigError
from alertflow.integrations.sources.registry import build_endpoints

CONFIG = """
webhook_token: global-s3cret
sources:
  grafana:
    auth: {kind: hmac, secret: hmac-s3cret, timestamp_header: X-Grafana-Alerting-Timestamp}
  datadog:
    auth: {kind: basic, username: dd, password: basic-s3cret}
  zabbix:
    kind: generic
    mapping: {name: event.name}
  pagerduty:
    routing_keys: [routing-s3cret]
"""


def test_sources_lists_urls_and_auth_without_secrets(tmp_path: Path) -> None:
    """Each source shows its URL (PagerDuty also /v2/enqueue, Prometheus /api/v2/alerts) and its auth kind, one per line with
    --json; no secret appears."""
    config = tmp_path / "alertflow.yaml"
    config.write_text(CONFIG)
    arguments = ["sources", "--config", str(config), "--base-url", "https://af.example.com"]
    result = CliRunner().invoke(app, [*arguments, "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in map(json.loads, result.output.splitlines())}
    assert set(rows) == {"alertmanager", "cloudwatch", "datadog", "grafana", "pagerduty", "prometheus", "zabbix"}
    assert rows["zabbix"]["urls"] == ["https://af.example.com/webhooks/zabbix"] and "bearer token" in rows["zabbix"]["auth"]
    assert "basic auth (user dd)" in rows["datadog"]["auth"] and "HMAC-SHA256" in rows["grafana"]["auth"]
    assert "SNS signature" in rows["cloudwatch"]["proof"] and "routing_key" in rows["pagerduty"]["proof"]
    assert rows["pagerduty"]["urls"] == ["https://af.example.com/webhooks/pagerduty", "https://af.example.com/v2/enqueue"]
    assert rows["prometheus"]["urls"][-1] == "https://af.example.com/api/v2/alerts"
    assert rows["prometheus"]["auth"] == "bearer token (or as basic auth password)"
    table = CliRunner().invoke(app, arguments, env={"COLUMNS": "250"}).output
    assert "s3cret" not in result.output + table and "https://af.example.com/webhooks/zabbix" in table


def test_unknown_kind_and_generic_without_mapping_are_config_errors(tmp_path: Path) -> None:
    """A source name that is no kind needs `kind:`; a generic source needs a mapping: both fail at load, with the path."""
    config = tmp_path / "alertflow.yaml"
    config.write_text("sources:\n  nagios: {}\n")
    with pytest.raises(ConfigError, match=r"sources\.nagios: unknown kind"):
        load_settings(config)
    for entry in ("zabbix: {kind: generic}", "generic: {}"):
        config.write_text(f"sources:\n  {entry}\n")
        with pytest.raises(ConfigError, match="mapping"):
            load_settings(config)


def test_a_second_source_of_a_kind_serves_under_its_own_name(tmp_path: Path) -> None:
    """`staging-grafana: {kind: grafana}` parses Grafana bodies into alerts whose source is its own name, with its own auth."""
    config = tmp_path / "alertflow.yaml"
    config.write_text("sources:\n  staging-grafana: {kind: grafana, auth: {kind: hmac, secret: x}}\n")
    endpoints = build_endpoints(load_settings(config))
    staging, grafana = endpoints["staging-grafana"], endpoints["grafana"]
    assert staging.path == "/webhooks/staging-grafana" and isinstance(staging.auth, HmacAuth)
    body = (Path(__file__).resolve().parents[1] / "payloads" / "grafana" / "resolved.json").read_text()
    now = datetime(2026, 11, 27, 10, tzinfo=timezone.utc)
    [alert] = staging.source.parse(json.loads(body), now)
    assert alert.source == "staging-grafana" and grafana.source.parse(json.loads(body), now)[0].source == "grafana"


def test_a_source_name_longer_than_the_inbox_column_is_a_config_error(tmp_path: Path) -> None:
    """A source name over 64 characters fails at load, not as a database error on PostgreSQL at the first alert."""
    config = tmp_path / "alertflow.yaml"
    config.write_text(f"sources:\n  {'g' * 65}: {{kind: grafana}}\n")
    with pytest.raises(ConfigError, match="at most 64 characters"):
        load_settings(config)
    config.write_text(f"sources:\n  {'g' * 64}: {{kind: grafana}}\n")
    assert load_settings(config).sources


def test_cloudwatch_without_topic_arns_says_any_topic_is_accepted(tmp_path: Path) -> None:
    """Anyone can sign SNS messages for a topic of their own, so the listing asks for topic_arns until they are set."""
    config = tmp_path / "alertflow.yaml"
    config.write_text("sources:\n  cloudwatch: {}\n")
    assert "set sns.topic_arns" in build_endpoints(load_settings(config))["cloudwatch"].proof
    config.write_text("sources:\n  cloudwatch: {sns: {topic_arns: ['arn:aws:sns:us-east-1:123456789012:alertflow']}}\n")
    assert "topic_arns" not in build_endpoints(load_settings(config))["cloudwatch"].proof
