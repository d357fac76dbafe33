"""A stand-in for Amazon SNS on loopback: our own CA and signing certificate, served over HTTPS,
and messages signed the way SNS signs them (SignatureVersion 1: SHA1, 2: SHA256).

The tests point the CloudWatch source's ``cert_url_pattern`` and ``ca_file`` here; the
verification code is the production code, only the certificate's origin differs. The
string to sign is built here from AWS's documented format, not by alertflow's code,
so a verifier that builds it wrongly fails against this peer as it would against SNS.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOPIC = "arn:aws:sns:us-east-1:123456789012:alertflow"
# "Verifying the signatures of Amazon SNS messages": the fields signed, in this byte order, each as
# its name and its value on a line of their own; Subject only when the message has one (null: none).
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def string_to_sign(body: dict[str, Any]) -> bytes:
    return "".join(f"{name}\n{body[name]}\n" for name in SIGNED_FIELDS[body["Type"]] if body.get(name) is not None).encode()


def _certificate(
    subject: str, key: rsa.RSAPrivateKey, issuer: x509.Name | None, issuer_key: rsa.RSAPrivateKey, ca: bool
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
    return builder.sign(issuer_key, hashes.SHA256())


class SnsPeer:
    """HTTPS on 127.0.0.1 serving the signing certificate and recording subscription confirmations."""

    def __init__(self, directory: Path) -> None:
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = _certificate("alertflow test CA", ca_key, None, ca_key, ca=True)
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        leaf = _certificate("sns.test", self.signing_key, ca.subject, ca_key, ca=False)
        pem = serialization.Encoding.PEM
        self.ca_file = directory / "sns-ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(pem))
        (directory / "sns-server.pem").write_bytes(leaf.public_bytes(pem))
        (directory / "sns-server.key").write_bytes(
            self.signing_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        self.cert_pem = leaf.public_bytes(pem)
        self.confirmations: list[str] = []
        self.cert_fetches = 0
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/cert.pem"):
                    peer.cert_fetches += 1
                    body = peer.cert_pem
                elif self.path.startswith("/confirm"):
                    peer.confirmations.append(self.path)
                    body = b"<ConfirmSubscriptionResponse/>"
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / "sns-server.pem", directory / "sns-server.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def source_settings(self) -> dict[str, Any]:
        """The ``sources.cloudwatch`` config entry that trusts this peer (tests only)."""
        return {"sns": {"cert_url_pattern": f"^{self.url.replace('.', '[.]')}/", "ca_file": str(self.ca_file), "topic_arns": [TOPIC]}}

    def message(self, kind: str, message: str, version: str = "1", **fields: Any) -> dict[str, Any]:
        """An SNS message of ``kind``, signed like SNS signs it."""
        body: dict[str, Any] = {
            "Type": kind,
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": TOPIC,
            "Message": message,
            "Timestamp": "2026-11-27T09:58:31.560Z",
            "SignatureVersion": version,
            "SigningCertURL": f"{self.url}/cert.pem",
            **fields,
        }
        if kind == "SubscriptionConfirmation":
            body.setdefault("Token", "2336412f37fb687f5d51e6e2425c464de12884")
            body.setdefault("SubscribeURL", f"{self.url}/confirm?Action=ConfirmSubscription&Token={body['Token']}")
        return self.sign(body)

    def sign(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` with its Signature set as SNS would, by this peer's certificate."""
        digest = hashes.SHA1() if body["SignatureVersion"] == "1" else hashes.SHA256()
        signature = self.signing_key.sign(string_to_sign(body), padding.PKCS1v15(), digest)
        return {**body, "Signature": base64.b64encode(signature).decode()}


def alarm_message(state: str = "ALARM") -> str:
    """A CloudWatch alarm as SNS carries it: JSON text inside the Message field."""
    path = Path(__file__).parent / "payloads" / "cloudwatch" / ("ok.json" if state == "OK" else "alarm.json")
    return json.loads(path.read_text())["Message"]
