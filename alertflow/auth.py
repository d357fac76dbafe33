"""Who may post to a webhook: one check per source, configured in one place, run before parsing.

Senders differ in what they can send: Alertmanager and Datadog set an
``Authorization`` header (bearer or basic), Grafana signs the body with
HMAC-SHA256 (optionally over ``timestamp:body``, to refuse replays), SNS signs
its messages itself (verified by the source, integrations/sources/sns.py). Every
comparison is constant-time, and no message ever contains the secret or what
was sent in its place. A missing credential is 401; one that is present but
wrong (bad signature, stale timestamp) is 403, except a wrong bearer token,
which stays 401 as it always was.

An email's acknowledge link is signed here too, with the same ``sign``: the
HMAC covers the incident, who the link is for and its expiry, so none of them
can be changed, and a link stops working when it expires (410), not before.
A schedule's calendar feed link is signed the same way, over the schedule's
name alone: calendar apps cannot send a token, and a subscription lasts until
the secret changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from alertflow.errors import Expired, Forbidden, Unauthorized


class _Auth(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoAuth(_Auth):
    kind: Literal["none"] = "none"

    def describe(self) -> str:
        return "none (anyone who can reach the URL)"


class BearerAuth(_Auth):
    kind: Literal["bearer"] = "bearer"
    token: SecretStr

    def describe(self) -> str:
        return "bearer token"


class BasicAuth(_Auth):
    kind: Literal["basic"] = "basic"
    username: str = Field(min_length=1)
    password: SecretStr

    def describe(self) -> str:
        return f"basic auth (user {self.username})"


class HmacAuth(_Auth):
    kind: Literal["hmac"] = "hmac"
    secret: SecretStr
    header: str = Field("X-Grafana-Alerting-Signature", description="header carrying the hex HMAC-SHA256")
    timestamp_header: str | None = Field(None, description="when set, the signature is over `timestamp:body` and stale ones are refused")
    max_age_seconds: float = Field(300.0, gt=0, description="replay window: how far the timestamp may be from now, either way")

    def describe(self) -> str:
        replay = f", timestamp in {self.timestamp_header} within {self.max_age_seconds:g}s" if self.timestamp_header else ""
        return f"HMAC-SHA256 signature in {self.header}{replay}"


AuthSettings = Annotated[NoAuth | BearerAuth | BasicAuth | HmacAuth, Field(discriminator="kind")]


def check_request(auth: AuthSettings, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
    """Raise ``Unauthorized`` (401) or ``Forbidden`` (403) unless the request carries what ``auth`` asks for."""
    if isinstance(auth, BearerAuth):
        _check_bearer(auth, headers)
    elif isinstance(auth, BasicAuth):
        _check_basic(auth, headers)
    elif isinstance(auth, HmacAuth):
        _check_hmac(auth, headers, body, now)


def _same(sent: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(sent, expected)


def _check_bearer(auth: BearerAuth, headers: Mapping[str, str]) -> None:
    check_bearer(auth.token, headers)


def check_bearer(token: SecretStr, headers: Mapping[str, str]) -> None:
    """The one bearer-token check: webhooks and the API's own token."""
    sent = headers.get("authorization", "")
    if not _same(sent.encode(), f"Bearer {token.get_secret_value()}".encode()):
        raise Unauthorized("missing or wrong bearer token (Authorization: Bearer ...)", field="authorization")


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The token a request carries: ``Bearer <token>``, or the password of ``Basic`` auth (any user name), which is
    how Prometheus' ``alerting.alertmanagers[].basic_auth`` and amtool's ``--alertmanager.url=http://user:token@...``
    carry one. None when there is neither, or the basic value is not base64 of ``user:password``."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2] or None
    except (binascii.Error, UnicodeDecodeError):
        return None


def check_token(token: SecretStr, headers: Mapping[str, str]) -> None:
    """A bearer token sent either way ``presented_token`` reads: ``Authorization: Bearer`` or as the basic-auth password."""
    sent = presented_token(headers) or ""
    if not _same(sent.encode(), token.get_secret_value().encode()):
        raise Unauthorized(
            "missing or wrong token (Authorization: Bearer <token>, or basic auth with the token as password)", field="authorization"
        )


def _check_basic(auth: BasicAuth, headers: Mapping[str, str]) -> None:
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthorized("basic auth required (Authorization: Basic ...)", field="authorization")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("Authorization: Basic value is not base64 of user:password", field="authorization") from None
    user_ok = _same(user.encode(), auth.username.encode())
    password_ok = _same(password.encode(), auth.password.get_secret_value().encode())
    if not (user_ok and password_ok):
        raise Forbidden("wrong user name or password", field="authorization")


def _check_hmac(auth: HmacAuth, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
    sent = headers.get(auth.header.lower())
    if not sent:
        raise Unauthorized(f"missing signature header {auth.header}", field=auth.header)
    stamp = None
    if auth.timestamp_header:
        stamp = headers.get(auth.timestamp_header.lower(), "")
        if not stamp:
            raise Unauthorized(f"missing timestamp header {auth.timestamp_header}", field=auth.timestamp_header)
        try:
            age = abs(now.timestamp() - float(stamp))
        except ValueError:
            raise Forbidden(f"{auth.timestamp_header} is not a Unix timestamp", field=auth.timestamp_header) from None
        if not age <= auth.max_age_seconds:  # also refuses nan
            raise Forbidden(f"{auth.timestamp_header} is outside the {auth.max_age_seconds:g}s replay window", field=auth.timestamp_header)
    expected = sign(auth.secret.get_secret_value(), body, stamp)
    if not _same(sent.strip().lower().removeprefix("sha256=").encode(), expected.encode()):
        raise Forbidden(f"signature in {auth.header} does not match the body", field=auth.header)


def sender_headers(auth: AuthSettings, body: bytes, now: datetime) -> dict[str, str]:
    """The auth headers a sender configured like ``auth`` sends with ``body`` (``alertflow fire`` uses them)."""
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"Bearer {auth.token.get_secret_value()}"}
    if isinstance(auth, BasicAuth):
        pair = f"{auth.username}:{auth.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    if isinstance(auth, HmacAuth) and auth.timestamp_header:
        stamp = str(int(now.timestamp()))
        return {auth.header: sign(auth.secret.get_secret_value(), body, stamp), auth.timestamp_header: stamp}
    if isinstance(auth, HmacAuth):
        return {auth.header: sign(auth.secret.get_secret_value(), body)}
    return {}


def sign(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """The hex signature a sender configured like ``HmacAuth`` puts in its header (docs and tests use it)."""
    signed = body if timestamp is None else timestamp.encode() + b":" + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def ack_link_signature(secret: SecretStr, incident_id: int, by: str, expires: int) -> str:
    """The signature of an acknowledge link: ``sign`` over ``<expires>:<incident id>:<by>``."""
    return sign(secret.get_secret_value(), f"{incident_id}:{by}".encode(), str(expires))


def check_ack_link(secret: SecretStr, incident_id: int, by: str, expires: str, signature: str, now: datetime) -> None:
    """Raise ``Forbidden`` (403) unless we signed this link, ``Expired`` (410) once it has expired."""
    if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
        raise Forbidden("expires must be the link's Unix time, as sent", field="expires")
    expected = ack_link_signature(secret, incident_id, by, int(expires))
    if not _same(signature.encode("utf-8", "replace"), expected.encode()):
        raise Forbidden("this acknowledge link's signature does not match (altered, or signed with another secret)", field="sig")
    if now.timestamp() > int(expires):
        raise Expired("this acknowledge link has expired; acknowledge in Slack, the CLI or the API instead", field="expires")


def calendar_link_signature(secret: SecretStr, schedule: str) -> str:
    """The signature of a schedule's calendar feed link: ``sign`` over ``oncall-calendar:<schedule>``."""
    return sign(secret.get_secret_value(), f"oncall-calendar:{schedule}".encode())


def check_calendar_link(secret: SecretStr, schedule: str, signature: str) -> None:
    """Raise ``Forbidden`` (403) unless we signed this feed link for this schedule."""
    if not _same(signature.encode("utf-8", "replace"), calendar_link_signature(secret, schedule).encode()):
        raise Forbidden("this calendar link's signature does not match (altered, another schedule's, or an old secret)", field="sig")
