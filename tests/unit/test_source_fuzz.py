"""Every source's parser, fuzzed with mutated golden payloads: alerts, or an InputError naming the field; nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertflow.errors import InputError
from alertflow.models import Alert
from tests.fuzzing import GOLDEN, PAYLOADS, json_values, mutated
from tests.unit.test_source_payloads import RECEIVED, source_for


@pytest.mark.parametrize("path", GOLDEN, ids=[f"{p.parent.name}/{p.stem}" for p in GOLDEN])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_payload_yields_alerts_or_a_named_input_error(path: Path, data: st.DataObject) -> None:
    """A mutated real payload parses into valid Alerts, or raises InputError whose field and message say what is wrong."""
    payload = mutated(path, data)
    source = source_for(path.parent)
    try:
        alerts = source.parse(payload, RECEIVED)
    except InputError as err:
        assert err.field and str(err) and err.status_code in (400, 401, 403, 413, 415, 422)
        return
    assert all(isinstance(alert, Alert) and alert.fingerprint and alert.name for alert in alerts)


@pytest.mark.parametrize("name", ["alertmanager", "grafana", "datadog", "pagerduty", "cloudwatch", "generic"])
@settings(max_examples=40, deadline=None)
@given(payload=json_values)
def test_arbitrary_json_is_refused_with_a_named_field(name: str, payload: object) -> None:
    """Any JSON value at all (not a payload) is an InputError, never a crash."""
    source = source_for(PAYLOADS / name)
    with pytest.raises(InputError) as refused:
        source.parse(payload, RECEIVED)
    assert refused.value.field
