"""Mutated real payloads through the real API, on SQLite and PostgreSQL: each answer is a 202 whose alerts
are all in the inbox, or a 4xx naming the problem that wrote nothing. Never a 5xx, never part of a body."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.fuzzing import GOLDEN, PAYLOADS, mutated
from tests.sns_peer import SnsPeer
from tests.support import ApiThread


@pytest.fixture
def api(sandbox, make_config, database_url, sns):  # type: ignore[no-untyped-def]
    generic = yaml.safe_load((PAYLOADS / "generic" / "_source.yaml").read_text())
    sources = {"generic": generic, "cloudwatch": sns.source_settings()}
    config = make_config(sandbox, database_url, sources=sources, prefect_api_url="http://127.0.0.1:9/api")
    with ApiThread(config) as api:
        yield api


def signed(sns: SnsPeer, body: object) -> object:
    """A mutated SNS message signed again by the test's SNS, so the mutation reaches the parser;
    one too broken to sign goes as it is (and must be refused)."""
    if not isinstance(body, dict):
        return body
    try:
        return sns.sign({**body, "SigningCertURL": f"{sns.url}/cert.pem"})
    except (ValidationError, KeyError, TypeError):
        return body


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_payloads_through_the_api(api: ApiThread, sns: SnsPeer, data: st.DataObject) -> None:
    """202 means every alert of the body is stored; any refusal is a 4xx with a field, and stores nothing.
    CloudWatch's mutated messages are signed again, so they get past verification to the parser."""
    path: Path = data.draw(st.sampled_from(GOLDEN))
    body = mutated(path, data)
    if path.parent.name == "cloudwatch":
        body = signed(sns, body)
    before = api.get("/readyz").json()["inbox_total"]
    response = api.post(f"/webhooks/{path.parent.name}", json=body)
    after = api.get("/readyz").json()["inbox_total"]
    event(f"{path.parent.name} {response.status_code}")  # --hypothesis-show-statistics shows the mix
    assert response.status_code < 500, response.text
    if response.status_code == 202:
        assert after - before == response.json()["accepted"]
    else:
        assert 400 <= response.status_code < 500 and response.json()["field"], response.text
        assert after == before
