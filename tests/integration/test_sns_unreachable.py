"""integrations/sources/sns.py against loopback: SNS unreachable is retryable (the API's 5xx makes SNS deliver
again, where a 4xx would drop the alarm); a certificate URL SNS does not serve is still the sender's 403."""

from __future__ import annotations

import pytest

from alertflow.config.sources import SnsSettings
from alertflow.errors import Forbidden, RetryableIntegrationError
from alertflow.integrations.sources.sns import SnsVerifier
from tests.sns_peer import TOPIC, SnsPeer, alarm_message

pytestmark = pytest.mark.anyio


async def test_signing_certificate_unreachable_is_retryable(sns: SnsPeer) -> None:
    """A certificate host that does not answer raises RetryableIntegrationError, not Forbidden."""
    settings = SnsSettings(cert_url_pattern=r"^https://127[.]0[.]0[.]1:9/", ca_file=sns.ca_file, topic_arns=[TOPIC], timeout_seconds=2)
    signed = sns.message("Notification", alarm_message(), SigningCertURL="https://127.0.0.1:9/cert.pem")
    with pytest.raises(RetryableIntegrationError):
        await SnsVerifier(settings).verify(signed)


async def test_a_path_sns_does_not_serve_is_forbidden(sns: SnsPeer) -> None:
    """A certificate URL on the SNS host that answers 404 is the sender's 403, naming SigningCertURL."""
    settings = SnsSettings.model_validate(sns.source_settings()["sns"])
    signed = sns.message("Notification", alarm_message(), SigningCertURL=f"{sns.url}/forged.pem")
    with pytest.raises(Forbidden) as caught:
        await SnsVerifier(settings).verify(signed)
    assert caught.value.field == "SigningCertURL"
