"""A real SMTP server on loopback for the email notifier's tests: aiosmtpd with STARTTLS (a self-signed certificate) and AUTH.

STARTTLS is required before AUTH and before mail, as a submission server
(port 587) requires it; AUTH accepts one user and password. Every message is
kept with whether it came over TLS and as whom, parsed with the stdlib's
email parser, so a test reads what a person's mail client would.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.conftest import free_port

USER, PASSWORD = "pager", "smtp-password-not-to-be-seen"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (the client trusts exactly it): (cert file, key file)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


class SmtpPeer:
    """aiosmtpd in its own thread; ``mails`` are the messages received, with ``tls`` and ``login``."""

    def __init__(self, directory: Path) -> None:
        self.cert_file, key_file = self_signed(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, key_file)
        self.mails: list[dict[str, Any]] = []
        self.logins: list[tuple[str, bool]] = []
        self.port = free_port()
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, tls_context=context, require_starttls=True,
            auth_required=True, auth_require_tls=True, authenticator=self.authenticate,
        )  # fmt: skip

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (USER, PASSWORD)
        self.logins.append((data.login.decode() if isinstance(data, LoginPassword) else "?", ok))
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail: EmailMessage = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[assignment]
        self.mails.append({"mail": mail, "to": list(envelope.rcpt_tos), "tls": session.ssl is not None, "login": session.auth_data})
        return "250 OK"

    def start(self) -> SmtpPeer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The ``notifiers.mail`` entry that reaches this server: STARTTLS on its port, AUTH, trusting its certificate."""
        return {"kind": "email", "host": "127.0.0.1", "port": self.port, "security": "starttls", "username": USER, "password": PASSWORD,
                "from_address": "alertflow@example.com", "ca_file": str(self.cert_file), "timeout_seconds": 5} | extra  # fmt: skip
