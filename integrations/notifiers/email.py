"""Email over SMTP as a notifier: a page is a mail, news and answers are replies in its thread.

Many people still get paged by mail, and any SMTP relay will do. This speaks
submission as mail clients do: STARTTLS on 587 (or TLS on 465, or neither
for a local relay) with the system's CAs or a private one (``ca_file``), then
AUTH when a user is configured; stdlib ``smtplib`` in a worker thread, since
one message a page does not earn an async SMTP stack. A page's Message-ID is
its reference in the page log; updates (acknowledged, resolved), thread news
and repeats are sent with ``In-Reply-To`` it, so mail clients keep them
together. When ``ack_links`` is configured, an unanswered page carries a
signed, expiring link to ``/ack/{id}`` (alertflow/api/acklinks.py).

Failures: 4xx replies, timeouts and dropped connections are retryable; 5xx
replies, refused credentials, a server without STARTTLS and a certificate
that does not verify are permanent. The password is used only in AUTH: it is
in no message, error or log line.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import uuid
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formataddr, formatdate, getaddresses
from typing import Any
from urllib.parse import quote, urlencode

from alertflow.auth import ack_link_signature
from alertflow.config.notifiers import AckLinkSettings, EmailSettings
from alertflow.config.settings import Settings
from alertflow.errors import PermanentIntegrationError, RetryableIntegrationError
from alertflow.integrations.notifiers import PageRef
from alertflow.integrations.notifiers.message import PageMessage


def ack_url(links: AckLinkSettings, base_url: str, incident_id: int, by: str, now: datetime) -> str:
    """A signed link that acknowledges ``incident_id`` as ``by`` until ``expires_after`` from ``now``."""
    expires = int((now + links.expires_after).timestamp())
    query = urlencode({"by": by, "expires": expires, "sig": ack_link_signature(links.secret, incident_id, by, expires)}, quote_via=quote)
    return f"{(links.base_url or base_url).rstrip('/')}/ack/{incident_id}?{query}"


def recipients(settings: EmailSettings, address: str, config: Settings) -> tuple[list[str], str | None]:
    """Who a page's address means (``alice <a@x>`` from a contact list, ``person:NAME``, or the notifier's ``to``),
    as To: addresses, and who its ack link acknowledges as."""
    if address.startswith("person:"):
        name = address.removeprefix("person:")
        person = config.people.get(name)
        return ([formataddr((name, person.email))] if person and person.email else []), name
    found = [(name, email) for name, email in getaddresses([address]) if "@" in email]
    if found:
        return [formataddr(pair) for pair in found], found[0][0] or found[0][1]
    return list(settings.to), None


def subject(message: PageMessage) -> str:
    """The template's title, else the page's one-line text (what Slack notifies with)."""
    return message.headline() if message.template_title is not None else message.text()


def body(message: PageMessage, link: str | None) -> str:
    """The text (a template's, or the default line), what the incident is, its links, and the ack link."""
    lines = [message.text(), ""] + [f"{label}: {value}" for label, value in message.facts()]
    if message.detail:
        lines += ["", message.detail]
    links = message.all_links()
    lines += ["", "Links:", *(f"  {label}: {url}" for label, url in links.items())] if links else []
    lines += ["", f"Acknowledge (stops the escalation): {link}"] if link else []
    return "\n".join(lines) + "\n"


class EmailNotifier:
    """Sends pages to the addresses one page log address means (``for_address``), as ``by`` in its ack links."""

    def __init__(self, settings: EmailSettings, to: list[str], by: str | None, config: Settings | None = None) -> None:
        self.settings, self.to, self.by, self.config = settings, to, by, config

    @classmethod
    def for_address(cls, settings: EmailSettings, address: str, config: Settings) -> EmailNotifier:
        to, by = recipients(settings, address, config)
        return cls(settings, to, by, config)

    async def send(self, message: PageMessage, address: str) -> PageRef:
        return await self._send(subject(message), body(message, self._ack_link(message)), None)

    async def update(self, ref: PageRef, message: PageMessage) -> None:
        done = f"Resolved by {message.resolved_by}" if message.resolved_by else f"Acknowledged by {message.acked_by}"
        await self._send(f"Re: {subject(message)}", f"{done}.\n\n{body(message, None)}", ref.ts)

    async def reply(self, ref: PageRef, text: str) -> PageRef | None:
        return await self._send("Re: alertflow incident", text + "\n", ref.ts)

    async def find(self, message: PageMessage, address: str, since: datetime) -> PageRef | None:
        return None  # SMTP cannot be asked what it delivered: a page cut off mid-send goes again

    def _ack_link(self, message: PageMessage) -> str | None:
        links = self.config.ack_links if self.config else None
        if links is None or message.acked_by or message.resolved_by or self.config is None:
            return None
        return ack_url(links, self.config.resolved_api_url, message.incident_id, self.by or "email", datetime.now(timezone.utc))

    async def _send(self, subject: str, text: str, in_reply_to: str | None) -> PageRef:
        if not self.to:
            raise PermanentIntegrationError("email: no address to send to (a contact's address, the person's email, or to:)")
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Date"] = self.settings.from_address, ", ".join(self.to), formatdate(localtime=False)
        mail["Subject"] = " ".join(subject.split())[:250]
        mail["Message-ID"] = message_id = f"<{uuid.uuid4().hex}@alertflow>"
        if in_reply_to:
            mail["In-Reply-To"] = mail["References"] = in_reply_to
        mail.set_content(text)
        await asyncio.to_thread(self._deliver, mail)
        return PageRef(ts=message_id)

    def _deliver(self, mail: EmailMessage) -> None:
        s, where = self.settings, f"email via {self.settings.host}:{self.settings.port}"
        try:
            with _connect(s) as smtp:
                smtp.ehlo()
                if s.security == "starttls":
                    if not smtp.has_extn("starttls"):
                        raise PermanentIntegrationError(f"{where}: the server does not offer STARTTLS (security: starttls)")
                    smtp.starttls(context=_tls(s))
                    smtp.ehlo()
                if s.username and s.password:
                    smtp.login(s.username, s.password.get_secret_value())
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as err:
            raise PermanentIntegrationError(f"{where}: login as {s.username} refused: {err.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused as err:
            codes = sorted({code for code, _ in err.recipients.values()})
            raise _by_code(codes[0], f"{where}: recipients refused: {codes}") from None
        except smtplib.SMTPResponseException as err:
            raise _by_code(err.smtp_code, f"{where}: {err.smtp_code} {_said(err.smtp_error)}") from None
        except ssl.SSLError as err:
            raise PermanentIntegrationError(f"{where}: TLS failed: {err.reason or type(err).__name__}") from None
        except (smtplib.SMTPException, OSError) as err:
            raise RetryableIntegrationError(f"{where}: {type(err).__name__}: {err}") from None


def _connect(s: EmailSettings) -> smtplib.SMTP:
    if s.security == "tls":
        return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=_tls(s))
    return smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)


def _tls(s: EmailSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)


def _said(reply: Any) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return text[:200].replace("\n", " ")


def _by_code(code: int, message: str) -> RetryableIntegrationError | PermanentIntegrationError:
    """SMTP's own split: 4yz is transient (try again), 5yz is not."""
    return RetryableIntegrationError(message) if 400 <= code < 500 else PermanentIntegrationError(message)
