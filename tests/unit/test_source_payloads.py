"""Golden payloads: every file under tests/payloads/<source>/ parses into exactly its expected Alerts.

Each ``<case>.json`` is a body as the vendor sends it; ``<case>.expected.json``
is the list of Alerts it must become (without ``received_at`` and ``raw``,
checked apart). A directory's ``_source.yaml`` is its config entry (the generic
source's mapping). ``REGEN_GOLDEN_PAYLOADS=1`` rewrites the expected files
from the parsers: review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from alertflow.config.settings import Settings
from alertflow.config.sources import SourceSettings
from alertflow.integrations.sources import Source
from alertflow.integrations.sources.registry import build_endpoints
from tests.fuzzing import GOLDEN, PAYLOADS

RECEIVED = datetime(2026, 11, 27, 10, 0, 1, tzinfo=timezone.utc)


def source_for(directory: Path) -> Source:
    """The source serving ``directory``'s payloads, built the way the API builds it."""
    config = directory / "_source.yaml"
    entry = SourceSettings.model_validate(yaml.safe_load(config.read_text())) if config.exists() else None
    settings = Settings(sources={directory.name: entry} if entry else {})
    return build_endpoints(settings)[directory.name].source


def normalized(alerts: list[Any]) -> list[dict[str, Any]]:
    return [alert.model_dump(mode="json", exclude={"raw", "received_at"}) for alert in alerts]


def test_every_source_has_golden_payloads() -> None:
    """Each built-in source and the generic one has at least two golden payloads, each with its expectation."""
    by_source = {path.parent.name for path in GOLDEN}
    assert by_source == {"alertmanager", "grafana", "datadog", "pagerduty", "cloudwatch", "prometheus", "generic"}
    for name in by_source:
        assert len([p for p in GOLDEN if p.parent.name == name]) >= 2, name
    missing = [str(p) for p in GOLDEN if not p.with_name(p.stem + ".expected.json").exists()]
    assert missing == [] or os.environ.get("REGEN_GOLDEN_PAYLOADS")


@pytest.mark.parametrize("path", GOLDEN, ids=[f"{p.parent.name}/{p.stem}" for p in GOLDEN])
def test_golden_payload(path: Path) -> None:
    """The payload becomes exactly the expected alerts, each keeping raw JSON and the source's name."""
    payload = json.loads(path.read_text())
    alerts = source_for(path.parent).parse(payload, RECEIVED)
    expected_path = path.with_name(path.stem + ".expected.json")
    if os.environ.get("REGEN_GOLDEN_PAYLOADS"):
        expected_path.write_text(json.dumps(normalized(alerts), indent=2, ensure_ascii=False) + "\n")
    assert normalized(alerts) == json.loads(expected_path.read_text())
    for alert in alerts:
        assert alert.source == path.parent.name and alert.received_at == RECEIVED
        assert alert.raw and "routing_key" not in alert.raw  # kept for people, without credentials


def test_cloudwatch_alerts_keep_the_sns_envelope_without_its_unsubscribe_url() -> None:
    """The raw SNS message is kept with its alarm as JSON, minus UnsubscribeURL: anyone who GETs it unsubscribes alertflow."""
    payload = json.loads((PAYLOADS / "cloudwatch" / "alarm.json").read_text())
    [alert] = source_for(PAYLOADS / "cloudwatch").parse(payload, RECEIVED)
    assert "UnsubscribeURL" in payload and "UnsubscribeURL" not in alert.raw
    assert alert.raw["MessageId"] == payload["MessageId"] and alert.raw["Message"]["AlarmName"] == alert.name


@pytest.mark.parametrize("path", GOLDEN, ids=[f"{p.parent.name}/{p.stem}" for p in GOLDEN])
def test_golden_alerts_are_what_validation_builds_and_store_as_pydantic_writes_them(path: Path) -> None:
    """Alerts built without a second validation (Alert.from_checked) equal validated ones, and the inbox row's
    JSON (store/bulk.py, written with orjson) is exactly what pydantic's model_dump_json writes."""
    from alertflow.models import Alert
    from alertflow.store.bulk import alert_row

    for alert in source_for(path.parent).parse(json.loads(path.read_text()), RECEIVED):
        validated = Alert.model_validate(alert.model_dump())
        assert alert == validated and alert.model_dump() == validated.model_dump()
        source, fingerprint, status, document, raw = alert_row(alert)
        assert document == alert.model_dump_json(exclude={"raw"}) and json.loads(raw) == alert.raw
        assert (source, fingerprint, status) == (alert.source, alert.fingerprint, alert.status.value)
