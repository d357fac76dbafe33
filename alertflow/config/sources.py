"""The ``sources:`` section of the config file: which senders post here, and how each proves who it is.

Every built-in source works without configuration (as ``/webhooks/<kind>``);
an entry here changes one (its auth, its settings) or adds another under a
new name (``kind: generic`` with a field mapping, or a second Grafana with its
own secret). Auth lives here for all sources at once, so ``alertflow sources``
can show every URL with its auth state. Integrations take their settings
models from this module, like the switches and runbooks in response_config.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from alertflow.auth import AuthSettings

SourceKind = Literal["alertmanager", "grafana", "datadog", "pagerduty", "cloudwatch", "prometheus", "generic"]
SNS_CERT_URL = r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/"
MAX_SOURCE_NAME = 64  # the inbox's source column; PostgreSQL refuses longer


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldMapping(_Section):
    """Where each field of an alert is in the sender's JSON, as dotted paths (``data.items.0.host``)."""

    alerts: str | None = Field(None, description="path to a list of alerts; absent: the body is one alert")
    name: str = Field(description="path to the alert's name (required in every alert)")
    status: str | None = None
    resolved_values: list[str] = Field(
        ["resolved", "ok", "recovered", "closed", "inactive", "up"], description="status values meaning resolved"
    )
    severity: str | None = None
    service: str | None = None
    summary: str | None = None
    fingerprint: str | None = Field(None, description="path to a stable id; absent: a hash of name and labels")
    labels: str | None = Field(None, description="path to an object whose values become labels")
    starts_at: str | None = Field(None, description="path to an ISO-8601 time with a zone; absent: when received")


class SnsSettings(_Section):
    topic_arns: list[str] = Field([], description="accept only these topics (empty: any topic whose signature verifies)")
    cert_url_pattern: str = Field(SNS_CERT_URL, description="where signing certificates may come from; change only in tests")
    ca_file: Path | None = Field(None, description="CA bundle for fetching certificates (tests); default: the system's")
    timeout_seconds: float = Field(10.0, gt=0)


class SourceSettings(_Section):
    kind: SourceKind | None = Field(None, description="which parser; default: the entry's name")
    auth: AuthSettings | None = Field(None, description="none, bearer, basic or hmac; default: the webhook_token as a bearer token")
    mapping: FieldMapping | None = Field(None, description="generic sources: where the fields are")
    routing_keys: list[SecretStr] = Field([], description="pagerduty: accept only events with one of these routing keys")
    sns: SnsSettings = SnsSettings()


def _kinds_known(sources: dict[str, SourceSettings]) -> dict[str, SourceSettings]:
    kinds = get_args(SourceKind)
    for name, entry in sources.items():
        if entry.kind is None and name not in kinds:
            raise ValueError(f"sources.{name}: unknown kind; name it after one or set kind: to one of {', '.join(kinds)}")
        if (entry.kind or name) == "generic" and entry.mapping is None:
            raise ValueError(f"sources.{name}: a generic source needs a mapping (at least `name`: the path to the alert's name)")
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise ValueError(f"sources.{name}: a source name is letters, digits, - and _ (it is part of the URL)")
        if len(name) > MAX_SOURCE_NAME:
            raise ValueError(f"sources.{name}: a source name has at most {MAX_SOURCE_NAME} characters (each alert stores it)")
    return sources


Sources = Annotated[dict[str, SourceSettings], AfterValidator(_kinds_known)]
