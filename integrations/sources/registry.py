"""The webhook sources this process serves: built from the config once, shared by the API and the CLI.

Every built-in kind is served under its own name without any config; entries
under ``sources:`` replace one or add another name (``kind: generic`` with a
mapping, a second Grafana with its own secret). Each gets its request auth
here: its own ``auth``, else the ``webhook_token`` as a bearer token (what
``/webhooks/*`` always required), except senders that cannot set headers and
prove themselves in the body instead: CloudWatch's SNS signature (always
checked) and PagerDuty's routing key (when ``routing_keys`` are set).
"""

from __future__ import annotations

from dataclasses import dataclass

from alertflow.auth import AuthSettings, BearerAuth, NoAuth
from alertflow.config.settings import Settings
from alertflow.config.sources import SourceSettings
from alertflow.integrations.sources import Source
from alertflow.integrations.sources.alertmanager import AlertmanagerSource
from alertflow.integrations.sources.cloudwatch import CloudWatchSource
from alertflow.integrations.sources.datadog import DatadogSource
from alertflow.integrations.sources.generic import GenericSource
from alertflow.integrations.sources.grafana import GrafanaSource
from alertflow.integrations.sources.pagerduty import PagerDutySource
from alertflow.integrations.sources.prometheus import PrometheusSource

BUILT_IN = ("alertmanager", "grafana", "datadog", "pagerduty", "cloudwatch", "prometheus")


@dataclass(frozen=True)
class Endpoint:
    name: str
    kind: str
    source: Source
    auth: AuthSettings
    proof: str  # what the body itself must carry, for people ("" when nothing)

    @property
    def path(self) -> str:
        return f"/webhooks/{self.name}"


def build_endpoints(settings: Settings) -> dict[str, Endpoint]:
    configured = dict(settings.sources)
    for kind in BUILT_IN:
        configured.setdefault(kind, SourceSettings())
    return {name: _endpoint(name, entry, settings) for name, entry in sorted(configured.items())}


def default_auth(settings: Settings) -> AuthSettings:
    """What a source without its own ``auth`` requires: the ``webhook_token`` as a bearer token, if set."""
    return BearerAuth(token=settings.webhook_token) if settings.webhook_token else NoAuth()


def enqueue_source(endpoints: dict[str, Endpoint]) -> str | None:
    """The source PagerDuty's ``/v2/enqueue`` route serves: the first of kind pagerduty."""
    return next((e.name for e in endpoints.values() if e.kind == "pagerduty"), None)


def alerts_api_source(endpoints: dict[str, Endpoint]) -> str | None:
    """The source Alertmanager's ``POST /api/v2/alerts`` route serves (what Prometheus sends): the first of kind prometheus."""
    return next((e.name for e in endpoints.values() if e.kind == "prometheus"), None)


def _endpoint(name: str, entry: SourceSettings, settings: Settings) -> Endpoint:
    kind = entry.kind or name  # a known kind: the config refuses any other at load (source_config.py)
    fallback = default_auth(settings)
    proof = ""
    source: Source
    if kind == "generic":
        assert entry.mapping is not None  # the config requires it
        source = GenericSource(name, entry.mapping)
    elif kind == "cloudwatch":
        source, fallback, proof = CloudWatchSource(entry.sns), NoAuth(), "SNS signature (SignatureVersion 1 or 2)"
        if not entry.sns.topic_arns:  # anyone can sign for a topic of their own, and we confirm its subscription
            proof += ", any topic: set sns.topic_arns"
    elif kind == "pagerduty":
        source = PagerDutySource(entry.routing_keys)
        if entry.routing_keys:
            fallback, proof = NoAuth(), f"routing_key (one of {len(entry.routing_keys)} configured)"
    else:
        source = _PARSERS[kind]()
    source.name = name  # alerts carry the name they were posted under as their ``source``
    return Endpoint(name=name, kind=kind, source=source, auth=entry.auth or fallback, proof=proof)


_PARSERS = {"alertmanager": AlertmanagerSource, "grafana": GrafanaSource, "datadog": DatadogSource, "prometheus": PrometheusSource}
