"""Mutated real payloads through the real API, on SQLite and PostgreSQL: each answer is a 202 whose alerts
are all in the inbox, or a 4xx naming the problem that wrote nothing. Never a 5xx, never part of a body."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import GOLDEN, PAYLOADS, mutated
from tests.support import ApiThread

# CloudWatch needs signed messages (tests/integration/test_sources_api.py); its parser is fuzzed in tests/unit.
CASES = [path for path in GOLDEN if path.parent.name != "cloudwatch"]


@pytest.fixture
def api(sandbox, make_config, database_url):  # type: ignore[no-untyped-def]
    generic = yaml.safe_load((PAYLOADS / "generic" / "_source.yaml").read_text())
    config = make_config(sandbox, database_url, sources={"generic": generic}, prefect_api_url="http://127.0.0.1:9/api")
    with ApiThread(config) as api:
        yield api


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_payloads_through_the_api(api: ApiThread, data: st.DataObject) -> None:
    """202 means every alert of the body is stored; any refusal is a 4xx with a field, and stores nothing."""
    path: Path = data.draw(st.sampled_from(CASES))
    before = api.get("/readyz").json()["inbox_total"]
    response = api.post(f"/webhooks/{path.parent.name}", json=mutated(path, data))
    after = api.get("/readyz").json()["inbox_total"]
    assert response.status_code < 500, response.text
    if response.status_code == 202:
        assert after - before == response.json()["accepted"]
    else:
        assert 400 <= response.status_code < 500 and response.json()["field"], response.text
        assert after == before
