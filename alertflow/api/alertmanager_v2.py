"""Alertmanager API v2, the parts its clients use, on the API port: Prometheus sends here, amtool reads and silences here.

Why: people adopt alertflow by changing one URL. Prometheus'
``alerting.alertmanagers`` posts to ``POST /api/v2/alerts``; that body takes the
same path as every webhook (alertflow/api/webhooks.py ``take_in``/``commit``,
source integrations/sources/prometheus.py) and is answered 200, as
Alertmanager answers, only once it is committed. ``GET /api/v2/alerts`` and
``/alerts/groups`` list what alertflow holds firing now (alertflow/store/firing.py):
an alert in a rule's group is active, with the rule as its receiver and the
incident key's labels as its group; one held back is suppressed (silencedBy the
silences covering it, inhibitedBy the inhibiting alert's fingerprint); one not
decided yet is unprocessed. ``GET /api/v2/status`` says who answers. Silences
are in alertflow/api/alertmanager_silences.py.

Auth: reads need an API token with scope read, silences operate, as on the rest
of the API, sent as a bearer token or as the basic-auth password (any user
name), which is how amtool and Prometheus' ``basic_auth`` send one. Posting
alerts takes the sender's credential of the ``prometheus`` source (by default
the ``webhook_token``; bearer or basic password), or an API token with operate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from alertflow.api.access import ApiAccess
from alertflow.api.alertmanager_shapes import NO_RULE, am_time, gettable_alert, parse_filter
from alertflow.api.http import json_response
from alertflow.api.webhooks import Authorize, commit, take_in
from alertflow.auth import BearerAuth, check_request, check_token
from alertflow.config.api import Scope
from alertflow.errors import Forbidden, InputError, Unauthorized
from alertflow.integrations.sources.registry import Endpoint, alerts_api_source, build_endpoints
from alertflow.pipeline.stages import Stages
from alertflow.rules.schema import key_labels
from alertflow.rules.suppression import ActiveSilence
from alertflow.store.firing import Firing

Filters = Annotated[list[str] | None, Query(alias="filter", description='matchers, e.g. alertname="ServiceDown"; repeatable')]


class AlertQuery:
    """The query of ``GET /api/v2/alerts`` and ``/alerts/groups`` (Alertmanager's ``unprocessed`` applies to both here)."""

    def __init__(
        self,
        filters: Filters = None,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        unprocessed: bool = True,
        receiver: Annotated[str | None, Query(description="regex matching the receiver: the rule that holds the alert")] = None,
    ) -> None:
        self.filters, self.receiver = filters, receiver
        self.active, self.silenced, self.inhibited, self.unprocessed = active, silenced, inhibited, unprocessed


def _version() -> str:
    try:
        return version("alertflow")
    except PackageNotFoundError:
        return "unknown"


def alertmanager_router(stages: Stages, access: ApiAccess) -> APIRouter:
    router = APIRouter(prefix="/api/v2", tags=["alertmanager"])
    endpoints = build_endpoints(stages.settings)
    started = datetime.now(timezone.utc)
    name = alerts_api_source(endpoints)

    def read_scope(request: Request) -> None:
        access.check(request, Scope.read, basic=True)

    if name is not None:
        endpoint = endpoints[name]

        @router.post("/alerts", responses={code: {} for code in (400, 401, 403, 413, 415, 422)})
        async def post_alerts(request: Request) -> Response:
            """Prometheus' alerts (postableAlerts); 200 once they are committed, as Alertmanager answers."""
            authorize = _sender_or_operator(endpoint, access, request)
            intake = await take_in(stages, endpoint, request.headers, request.stream(), authorize)
            ids = await commit(stages, endpoint, intake.alerts)
            return json_response({"accepted": len(ids), "alert_ids": ids}, 200)

    async def listed(query: AlertQuery) -> list[tuple[Firing, dict[str, Any]]]:
        """The firing alerts that pass the query, each with its gettableAlert."""
        matchers = parse_filter(query.filters or [])
        wanted = _receiver_regex(query.receiver)
        now = datetime.now(timezone.utc)
        silences = [ActiveSilence.of(s) for s in await stages.store.silences(active_at=now)]
        out = []
        for firing in await stages.store.firing_alerts():
            labels = firing.alert.labels
            silenced_by = [str(s.id) for s in silences if s.covers(labels, now)] if firing.held == "silence" else []
            shown = gettable_alert(firing, silenced_by)
            status = shown["status"]
            if (firing.state == "active" and not query.active) or (firing.state == "unprocessed" and not query.unprocessed):
                continue
            if (status["silencedBy"] and not query.silenced) or (status["inhibitedBy"] and not query.inhibited):
                continue
            if wanted and not any(wanted.fullmatch(r["name"]) for r in shown["receivers"]):
                continue
            if all(m.matches(labels) for m in matchers):
                out.append((firing, shown))
        return out

    @router.get("/alerts")
    async def get_alerts(request: Request, query: Annotated[AlertQuery, Depends()]) -> Response:
        """The alerts firing now (gettableAlerts), ordered by fingerprint."""
        read_scope(request)
        return json_response([shown for _, shown in await listed(query)])

    @router.get("/alerts/groups")
    async def get_alert_groups(request: Request, query: Annotated[AlertQuery, Depends()]) -> Response:
        """The alerts firing now by group (alertGroups): one per incident key; alerts no rule holds yet in one of their own."""
        read_scope(request)
        groups: dict[str, dict[str, Any]] = {}
        for firing, shown in await listed(query):
            key = firing.group_key or ""
            if key not in groups:
                rule_id, labels = key_labels(key) if key else (NO_RULE, {})
                groups[key] = {"labels": labels, "receiver": {"name": rule_id}, "alerts": []}
            groups[key]["alerts"].append(shown)
        return json_response(list(groups.values()))

    @router.get("/status")
    async def get_status(request: Request) -> Response:
        """Who answers: alertflow's version (amtool warns that it differs from its own: `--no-version-check`)."""
        read_scope(request)
        release = _version()
        original = (
            f"# alertflow {release} answers as Alertmanager (API v2). Its rules file decides what happens to alerts:\n"
            "# this is no Alertmanager config, only the receiver alerts no rule holds are shown under.\n"
            f"route:\n  receiver: {NO_RULE}\nreceivers:\n- name: {NO_RULE}\n"
        )
        build = {"revision": "", "branch": "", "buildUser": "", "buildDate": "", "goVersion": ""}
        return json_response(
            {
                "cluster": {"status": "disabled", "peers": []},
                "versionInfo": {"version": release, **build},
                "config": {"original": original},
                "uptime": am_time(started),
            }
        )

    return router


def _receiver_regex(receiver: str | None) -> re.Pattern[str] | None:
    if not receiver:
        return None
    try:
        return re.compile(receiver)
    except re.error as err:
        raise InputError(f"receiver: not a regex: {err}", field="receiver") from None


def _sender_or_operator(endpoint: Endpoint, access: ApiAccess, request: Request) -> Authorize:
    """The ``prometheus`` source's own credential (a bearer token may come as the basic-auth password), or an API token with
    scope operate (amtool alert add); a refusal is the source's own, as on ``/webhooks/*``."""

    def check(headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        try:
            if isinstance(endpoint.auth, BearerAuth):
                check_token(endpoint.auth.token, headers)
            else:
                check_request(endpoint.auth, headers, body, now)
        except (Unauthorized, Forbidden):
            if access.open or not access.allows(request, Scope.operate):
                raise

    return check
