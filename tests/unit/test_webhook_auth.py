"""alertflow/auth.py: each auth kind lets the right request through and refuses others with 401/403."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone

import pytest
from pydantic import SecretStr

from alertflow.auth import BasicAuth, BearerAuth, HmacAuth, NoAuth, check_request
from alertflow.errors import Forbidden, InputError, Unauthorized

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
BODY = b'{"version": "1", "alerts": []}'
SECRET = "s3cret-value"
HMAC = HmacAuth(secret=SecretStr(SECRET))
HMAC_TS = HmacAuth(secret=SecretStr(SECRET), timestamp_header="X-Grafana-Alerting-Timestamp", max_age_seconds=60)


def sign(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """What Grafana sends, computed here and not by alertflow: the hex HMAC-SHA256 of the body, or of
    ``timestamp:body`` when a timestamp header is configured (Grafana's webhook contact point, HMAC signature)."""
    signed = body if timestamp is None else f"{timestamp}:".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


# Computed with openssl, not Python: printf '%s' "$BODY" | openssl dgst -sha256 -hmac s3cret-value
# (and with "1795773570:" before the body, NOW - 30 s, for the timestamped one).
OPENSSL_SIGNATURE = "da4202f27fe75283a8d5028bfc5381d4cb860d2e74fdcd0b0e1f938b443b9290"
OPENSSL_TIMESTAMPED = "8b74c83bf6161d021f7d1ca68de54c9fa1362421a899a260e5d18bea8dad88d2"


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def stamp(offset: float) -> str:
    return str(int(NOW.timestamp() + offset))


ACCEPTED = [
    pytest.param(NoAuth(), {}, id="none"),
    pytest.param(BearerAuth(token=SecretStr(SECRET)), {"authorization": f"Bearer {SECRET}"}, id="bearer"),
    pytest.param(BasicAuth(username="grafana", password=SecretStr(SECRET)), basic("grafana", SECRET), id="basic"),
    pytest.param(HMAC, {"x-grafana-alerting-signature": OPENSSL_SIGNATURE}, id="hmac-openssl"),
    pytest.param(
        HMAC_TS, {"x-grafana-alerting-signature": OPENSSL_TIMESTAMPED, "x-grafana-alerting-timestamp": "1795773570"}, id="hmac-ts-openssl"
    ),
    pytest.param(HMAC, {"x-grafana-alerting-signature": sign(SECRET, BODY)}, id="hmac"),
    pytest.param(HMAC, {"x-grafana-alerting-signature": "sha256=" + sign(SECRET, BODY).upper()}, id="hmac-prefixed-uppercase"),
    pytest.param(
        HMAC_TS,
        {"x-grafana-alerting-signature": sign(SECRET, BODY, stamp(-30)), "x-grafana-alerting-timestamp": stamp(-30)},
        id="hmac-timestamp-in-window",
    ),
]


@pytest.mark.parametrize(("auth", "headers"), ACCEPTED)
def test_right_credentials_pass(auth, headers) -> None:  # type: ignore[no-untyped-def]
    """A request carrying what its source's auth asks for passes."""
    check_request(auth, headers, BODY, NOW)


REFUSED = [
    pytest.param(BearerAuth(token=SecretStr(SECRET)), {}, Unauthorized, "authorization", id="bearer-missing"),
    pytest.param(BearerAuth(token=SecretStr(SECRET)), {"authorization": "Bearer s3cret"}, Unauthorized, "authorization", id="bearer-prefix"),
    pytest.param(BasicAuth(username="u", password=SecretStr(SECRET)), {}, Unauthorized, "authorization", id="basic-missing"),
    pytest.param(BasicAuth(username="u", password=SecretStr(SECRET)), {"authorization": "Basic %%%"}, Unauthorized, "authorization", id="basic-garbage"),
    pytest.param(BasicAuth(username="u", password=SecretStr(SECRET)), basic("u", "wrong"), Forbidden, "authorization", id="basic-wrong-password"),
    pytest.param(BasicAuth(username="u", password=SecretStr(SECRET)), basic("v", SECRET), Forbidden, "authorization", id="basic-wrong-user"),
    pytest.param(HMAC, {}, Unauthorized, "X-Grafana-Alerting-Signature", id="hmac-missing"),
    pytest.param(HMAC, {"x-grafana-alerting-signature": sign("other", BODY)}, Forbidden, "X-Grafana-Alerting-Signature", id="hmac-other-secret"),
    pytest.param(HMAC, {"x-grafana-alerting-signature": sign(SECRET, BODY + b" ")}, Forbidden, "X-Grafana-Alerting-Signature", id="hmac-body-changed"),
    pytest.param(HMAC_TS, {"x-grafana-alerting-signature": sign(SECRET, BODY)}, Unauthorized, "X-Grafana-Alerting-Timestamp", id="ts-missing"),
    pytest.param(
        HMAC_TS,
        {"x-grafana-alerting-signature": sign(SECRET, BODY, stamp(-120)), "x-grafana-alerting-timestamp": stamp(-120)},
        Forbidden, "X-Grafana-Alerting-Timestamp", id="ts-replayed-late",
    ),
    pytest.param(
        HMAC_TS,
        {"x-grafana-alerting-signature": sign(SECRET, BODY, stamp(120)), "x-grafana-alerting-timestamp": stamp(120)},
        Forbidden, "X-Grafana-Alerting-Timestamp", id="ts-future",
    ),
    pytest.param(
        HMAC_TS, {"x-grafana-alerting-signature": sign(SECRET, BODY, "nan"), "x-grafana-alerting-timestamp": "nan"},
        Forbidden, "X-Grafana-Alerting-Timestamp", id="ts-nan",
    ),
    pytest.param(
        HMAC_TS,
        {"x-grafana-alerting-signature": sign(SECRET, BODY), "x-grafana-alerting-timestamp": stamp(0)},
        Forbidden, "X-Grafana-Alerting-Signature", id="ts-not-signed-over",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("auth", "headers", "error", "field"), REFUSED)
def test_wrong_credentials_are_refused_without_echoing_the_secret(auth, headers, error: type[InputError], field: str) -> None:  # type: ignore[no-untyped-def]
    """Missing credentials are 401, wrong ones 403 (a wrong bearer token stays 401), naming the header, never the secret."""
    with pytest.raises(InputError) as caught:
        check_request(auth, headers, BODY, NOW)
    assert type(caught.value) is error and caught.value.field == field
    assert SECRET not in str(caught.value) and "s3cret" not in str(caught.value)


def test_auth_settings_hide_their_secrets() -> None:
    """Secrets print as stars in reprs and descriptions."""
    for auth in (BearerAuth(token=SecretStr(SECRET)), BasicAuth(username="u", password=SecretStr(SECRET)), HMAC_TS):
        assert SECRET not in repr(auth) and SECRET not in auth.describe()
