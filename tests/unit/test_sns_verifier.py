"""integrations/sources/sns.py: what a certificate fetch that cannot happen answers, without any network I/O."""

from __future__ import annotations

import asyncio

import pytest

from alertflow.config.sources import SnsSettings
from alertflow.errors import Forbidden
from alertflow.integrations.sources.sns import SnsVerifier

SETTINGS = SnsSettings(cert_url_pattern=r"^https://sns\.test/")


def message(**fields: str) -> dict[str, str]:
    body = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:alertflow",
        "Message": "{}",
        "Timestamp": "2026-11-27T09:58:31.560Z",
        "SignatureVersion": "2",
        "Signature": "c2ln",
        "SigningCertURL": "https://sns.test/cert.pem",
    }
    return {**body, **fields}


@pytest.mark.parametrize("url", ["https://sns.test/cert.pem\n", "https://sns.test/\tcert.pem", "https://sns.test/" + "a" * 70000])
def test_a_certificate_url_httpx_cannot_send_is_403_not_a_crash(url: str) -> None:
    """A SigningCertURL on an SNS host but with control characters (or absurdly long) is refused as 403, naming the field."""
    with pytest.raises(Forbidden) as caught:
        asyncio.run(SnsVerifier(SETTINGS).verify(message(SigningCertURL=url)))
    assert caught.value.field == "SigningCertURL"
