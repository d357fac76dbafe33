"""Amazon SNS HTTP(S) deliveries: every message's signature verified before anything is believed.

SNS signs each message (SignatureVersion 1: RSA with SHA1, 2: RSA with
SHA256) over a canonical "Key\\nvalue\\n" string of its fields, with a
certificate it names in ``SigningCertURL``. Anyone can post a message naming
their own certificate, so the URL must be https on an SNS host
(``cert_url_pattern``; tests point it at a loopback server, nothing else should
change it) before it is fetched. A ``SubscriptionConfirmation`` is confirmed
(its ``SubscribeURL``, also on an SNS host, is fetched) only after its
signature verified. ``topic_arns``, when set, is the list of topics accepted.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from datetime import datetime, timezone
from typing import Any, Literal

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel, ConfigDict, Field

from alertflow.config.sources import SnsSettings
from alertflow.errors import Forbidden, RetryableIntegrationError
from alertflow.integrations.sources.payloads import validate

_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
_CACHE_SIZE = 32


class SnsMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
    MessageId: str = Field(min_length=1)
    TopicArn: str = Field(min_length=1)
    Message: str
    Timestamp: str = Field(min_length=1)
    Subject: str | None = None
    SubscribeURL: str | None = None
    Token: str | None = None
    SignatureVersion: Literal["1", "2"]
    Signature: str = Field(min_length=1)
    SigningCertURL: str = Field(min_length=1)

    def string_to_sign(self) -> bytes:
        values = self.model_dump()
        return "".join(f"{key}\n{values[key]}\n" for key in _SIGNED_FIELDS[self.Type] if values.get(key) is not None).encode()


class SnsVerifier:
    def __init__(self, settings: SnsSettings) -> None:
        self.settings = settings
        self._pattern = re.compile(settings.cert_url_pattern)
        self._keys: dict[str, rsa.RSAPublicKey] = {}

    async def verify(self, payload: Any) -> SnsMessage:
        """The message, once its topic is accepted and its signature verifies; else 403 naming why."""
        message = validate(SnsMessage, payload)
        if self.settings.topic_arns and message.TopicArn not in self.settings.topic_arns:
            raise Forbidden("TopicArn: this topic is not in the source's topic_arns", field="TopicArn")
        key = await self._public_key(message.SigningCertURL)
        try:
            signature = base64.b64decode(message.Signature, validate=True)
            key.verify(signature, message.string_to_sign(), padding.PKCS1v15(), _HASHES[message.SignatureVersion]())
        except (binascii.Error, ValueError, InvalidSignature):
            raise Forbidden("Signature: the message's signature does not verify", field="Signature") from None
        return message

    async def confirm(self, message: SnsMessage) -> None:
        """Confirm a verified subscription by fetching its SubscribeURL (an SNS host only)."""
        url = message.SubscribeURL or ""
        if not self._pattern.match(url):
            raise Forbidden("SubscribeURL: not an SNS URL; the subscription was not confirmed", field="SubscribeURL")
        if not (await self._get(url, "SubscribeURL")).is_success:
            raise RetryableIntegrationError("confirming the SNS subscription failed: SNS refused the SubscribeURL")

    async def _public_key(self, url: str) -> rsa.RSAPublicKey:
        if not self._pattern.match(url):
            raise Forbidden("SigningCertURL: certificates are fetched only from SNS hosts over https", field="SigningCertURL")
        if url in self._keys:
            return self._keys[url]
        response = await self._get(url, "SigningCertURL")
        try:
            response.raise_for_status()
            cert = x509.load_pem_x509_certificate(response.content)
        except (httpx.HTTPStatusError, ValueError) as err:
            raise Forbidden(f"SigningCertURL: no usable certificate there ({type(err).__name__})", field="SigningCertURL") from None
        now = datetime.now(timezone.utc)
        key = cert.public_key()
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc) or not isinstance(key, rsa.RSAPublicKey):
            raise Forbidden("SigningCertURL: the certificate is expired, not yet valid, or not RSA", field="SigningCertURL")
        if len(self._keys) >= _CACHE_SIZE:
            self._keys.pop(next(iter(self._keys)))
        self._keys[url] = key
        return key

    async def _get(self, url: str, field: str) -> httpx.Response:
        """GET an SNS URL. SNS unreachable or failing is retryable: the API answers 5xx, which SNS
        delivers again (it drops a message answered 4xx). A URL httpx cannot send is the sender's 403."""
        try:
            async with self._client() as client:
                response = await client.get(url)
        except httpx.InvalidURL:
            raise Forbidden(f"{field}: not a valid URL", field=field) from None
        except httpx.HTTPError as err:
            raise RetryableIntegrationError(f"SNS did not answer at {field}: {type(err).__name__}") from None
        if response.is_server_error:
            raise RetryableIntegrationError(f"SNS answered HTTP {response.status_code} at {field}")
        return response

    def _client(self) -> httpx.AsyncClient:
        verify: ssl.SSLContext | bool = True
        if self.settings.ca_file:
            verify = ssl.create_default_context(cafile=str(self.settings.ca_file))
        return httpx.AsyncClient(verify=verify, timeout=self.settings.timeout_seconds, follow_redirects=False)
