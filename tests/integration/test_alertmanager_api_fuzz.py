"""Mutated Alertmanager API v2 requests through the real API, on SQLite and PostgreSQL: Prometheus' golden alerts,
a silence as amtool posts it, and random filters. Each answer is a 200 that stored exactly what it says, or a 4xx
naming the field that stored nothing. Never a 5xx."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.fuzzing import GOLDEN, json_values, mutate, mutated
from tests.support import ApiThread

PROMETHEUS = [path for path in GOLDEN if path.parent.name == "prometheus"]
SILENCE = {  # what `amtool silence add alertname=~"Probe.*" service!=web --comment ...` posts
    "matchers": [
        {"name": "alertname", "value": "Probe.*", "isRegex": True, "isEqual": True},
        {"name": "service", "value": "web", "isRegex": False, "isEqual": False},
    ],
    "startsAt": "2026-11-27T10:00:00.000Z",
    "endsAt": "2099-11-27T11:00:00.000Z",
    "createdBy": "alice",
    "comment": "deploy",
}
MATCHER_LIKE = st.sampled_from(
    ['alertname="ProbeDown"', "service=~checkout|billing", "env!~stag.*", "a=", '{job="x"}', "=", "a=~(", "", '"']
)


@pytest.fixture
def api(sandbox, make_config, database_url):  # type: ignore[no-untyped-def]
    config = make_config(sandbox, database_url, prefect_api_url="http://127.0.0.1:9/api")
    with ApiThread(config) as api:
        yield api


def silences(api: ApiThread) -> int:
    return len(api.get("/silences", params={"active": "false"}).json())


def refused_cleanly(response) -> None:  # type: ignore[no-untyped-def]
    assert 400 <= response.status_code < 500 and response.json()["field"], response.text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_requests_through_the_alertmanager_api(api: ApiThread, data: st.DataObject) -> None:
    """POST alerts: 200 means every alert is stored; POST silences: 200 means one silence more; GET with any filter:
    200 or a 4xx naming it. Every refusal names its field and changes nothing."""
    kind = data.draw(st.sampled_from(["alerts", "silence", "filter"]))
    event(kind)
    if kind == "alerts":
        before = api.get("/readyz").json()["inbox_total"]
        response = api.post("/api/v2/alerts", json=mutated(data.draw(st.sampled_from(PROMETHEUS)), data))
        after = api.get("/readyz").json()["inbox_total"]
        assert response.status_code < 500, response.text
        if response.status_code == 200:
            assert after - before == response.json()["accepted"]
        else:
            refused_cleanly(response)
            assert after == before
    elif kind == "silence":
        before = silences(api)
        response = api.post("/api/v2/silences", json=mutate(SILENCE, data, data.draw(st.integers(1, 3))))
        assert response.status_code < 500, response.text
        if response.status_code == 200:
            assert silences(api) == before + 1 and response.json()["silenceID"].isdigit()
        else:
            refused_cleanly(response)
            assert silences(api) == before
    else:
        filters = data.draw(st.lists(MATCHER_LIKE | st.text(max_size=12), max_size=3))
        extra = data.draw(
            st.dictionaries(st.sampled_from(["active", "silenced", "receiver"]), st.text(max_size=5) | json_values.map(str), max_size=2)
        )
        path = data.draw(st.sampled_from(["/api/v2/alerts", "/api/v2/alerts/groups", "/api/v2/silences"]))
        response = api.get(path, params={"filter": filters, **extra})
        assert response.status_code < 500, response.text
        if response.status_code != 200:
            refused_cleanly(response)
