"""Email pages over real SMTP (aiosmtpd with STARTTLS and AUTH on loopback), and their ack links through the real API.

alice's contact list reaches her by Slack and email in one step. The mail's
link is signed and expiring: a GET (what a link scanner does) shows a page and
changes nothing, a POST acknowledges through the pipeline like a Slack button,
and the escalation stops. The SMTP password and the link secret are never in
the timeline, the page log or the logs.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from alertflow.config.settings import load_settings
from alertflow.errors import PermanentIntegrationError
from alertflow.flows import page_oncall
from alertflow.integrations.notifiers.email import EmailNotifier, ack_url
from alertflow.models import PagingAction
from alertflow.store.pages import PageLog
from tests.integration.test_paging import posts, resolve, timeline_summaries, until
from tests.smtp_peer import PASSWORD, SmtpPeer
from tests.support import ApiThread

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]
LINK_SECRET = "ack-link-signing-secret-0123"


@pytest.fixture
def smtp(tmp_path) -> Iterator[SmtpPeer]:  # type: ignore[no-untyped-def]
    peer = SmtpPeer(tmp_path).start()
    yield peer
    peer.stop()


def configure(sandbox, make_config, store, smtp: SmtpPeer, **mail: object):  # type: ignore[no-untyped-def]
    people = {"alice": {"slack_user_id": "UALICE", "email": "alice@example.com", "contact": ["slack", "mail"]}}
    policy = {"steps": [{"notify": {"person": "alice"}, "wait": "60s"}, {"notify": {"slack_channel": "#ops"}}]}
    path = make_config(sandbox, database_url=store.url, notifiers={"mail": smtp.settings(**mail)}, people=people,
                       escalation_policies={"p": policy})  # fmt: skip
    settings = load_settings(path)
    path.write_text(path.read_text() + f"ack_links: {{secret: {LINK_SECRET}, base_url: '{settings.resolved_api_url}'}}\n")
    return path


async def test_slack_and_email_at_once_and_the_ack_link_stops_the_escalation(sandbox, incident, make_config, smtp, caplog) -> None:  # type: ignore[no-untyped-def]
    """One step pages alice on Slack and by email (STARTTLS, AUTH); the link's GET changes nothing, its POST acknowledges
    as alice, step 2 never comes, and the ack and resolve reach the mail's thread."""
    caplog.set_level(logging.DEBUG)
    store, incident_id = incident
    with ApiThread(configure(sandbox, make_config, store, smtp)) as api:
        run = asyncio.create_task(page_oncall(incident_id, PagingAction(params={"policy": "p"})))
        await until(lambda: smtp.mails and posts(sandbox), what="the Slack DM and the email")
        assert [p["channel"] for p in posts(sandbox)] == ["UALICE"]
        [sent] = smtp.mails
        mail = sent["mail"]
        assert sent["tls"] and sent["to"] == ["alice@example.com"] and smtp.logins == [("pager", True)]
        assert mail["Subject"] == f"[CRITICAL] Incident #{incident_id}: checkout API down (checkout)"
        assert mail["To"] == "alice <alice@example.com>" and mail["From"] == "alertflow@example.com"
        text = mail.get_content()
        assert "Service: checkout" in text and "Escalation: step 1/2" in text and "Prefect flow run: " in text
        link = re.search(r"Acknowledge \(stops the escalation\): (\S+)", text)[1]  # type: ignore[index]
        assert link.startswith(f"{api.url}/ack/{incident_id}?by=alice&expires=")

        page = await asyncio.to_thread(httpx.get, link, headers={"Accept": "text/html"})
        assert page.status_code == 200 and "Acknowledge as alice" in page.text and 'method="post"' in page.text
        assert (await store.get_incident(incident_id)).acknowledged_by is None, "a GET (a link scanner) acknowledges nothing"
        forged = await asyncio.to_thread(httpx.post, link.replace("by=alice", "by=mallory"))
        assert (forged.status_code, forged.json()["field"]) == (403, "sig")
        late = ack_url(api.settings.ack_links, api.url, incident_id, "alice", datetime.now(timezone.utc) - timedelta(days=2))  # type: ignore[arg-type]
        expired = await asyncio.to_thread(httpx.post, late)
        assert (expired.status_code, expired.json()["field"]) == (410, "expires") and "expired" in expired.json()["error"]
        missing = await asyncio.to_thread(httpx.post, link.split("&sig=")[0])
        assert (missing.status_code, missing.json()["field"]) == (422, "sig")

        acked = await asyncio.to_thread(httpx.post, link)
        assert acked.status_code == 200 and acked.json() == {
            "incident_id": incident_id,
            "status": "acknowledged",
            "acknowledged_by": "alice",
        }
        await until(lambda: len(smtp.mails) == 2, what="the acknowledgement in the mail's thread")
        update = smtp.mails[1]["mail"]
        assert update["In-Reply-To"] == mail["Message-ID"] and update.get_content().startswith("Acknowledged by alice.")
        assert "Acknowledge (stops" not in update.get_content()
        await resolve(store, incident_id)
        await asyncio.wait_for(run, 15)
    assert [p["channel"] for p in posts(sandbox)] == ["UALICE"], "the escalation stopped: #ops was never paged"
    timeline = await timeline_summaries(store, incident_id)
    assert "step 1/2: paged alice on mail (email)" in timeline and "acknowledged by alice" in timeline
    seen = " ".join([str(e) for e in await store.get_timeline(incident_id)] + [str(r) for r in await PageLog(store).records(incident_id)])
    seen += caplog.text
    assert PASSWORD not in seen and LINK_SECRET not in seen


async def test_a_refused_login_is_permanent_and_names_no_password(smtp, tmp_path, sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """A wrong password is a permanent error after one login, naming the user and SMTP's code, not the password;
    a server certificate the client does not trust is permanent too."""
    settings = load_settings(make_config(sandbox, notifiers={"mail": smtp.settings(password="wrong-password-here")}))
    notifier = EmailNotifier.for_address(settings.notifiers["mail"], "alice <alice@example.com>", settings)  # type: ignore[arg-type]
    message = _message()
    with pytest.raises(PermanentIntegrationError, match="login as pager refused: 535") as refused:
        await notifier.send(message, "alice <alice@example.com>")
    assert "wrong-password-here" not in str(refused.value) and not smtp.mails
    assert smtp.logins and all(login == ("pager", False) for login in smtp.logins), "smtplib's mechanisms, each refused; no retry"
    untrusted = load_settings(make_config(sandbox, notifiers={"mail": smtp.settings(ca_file=None)}))
    notifier = EmailNotifier.for_address(untrusted.notifiers["mail"], "a@example.com", untrusted)  # type: ignore[arg-type]
    with pytest.raises(PermanentIntegrationError, match="TLS failed"):
        await notifier.send(message, "a@example.com")


def _message():  # type: ignore[no-untyped-def]
    from alertflow.integrations.notifiers.message import PageMessage
    from alertflow.models import Severity

    return PageMessage(incident_id=1, title="t", severity=Severity.warning, service="s", status="open")


async def test_forged_and_malformed_ack_links_are_4xx_naming_the_field(sandbox, incident, make_config, smtp) -> None:  # type: ignore[no-untyped-def]
    """Random ids, people, expiries and signatures on GET and POST: always a 4xx naming the field (never a 5xx), and the
    incident is never acknowledged."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    store, incident_id = incident
    with ApiThread(configure(sandbox, make_config, store, smtp)) as api:
        texts = st.text(max_size=40) | st.sampled_from(["", "9" * 30, "1796205600", "alice", "%00", "é"])

        @settings(max_examples=60, deadline=None, database=None)
        @given(st.sampled_from(["GET", "POST"]), st.sampled_from([str(incident_id), "0", "-1", "abc", "99999999999"]), texts, texts, texts)
        def probe(method: str, target: str, by: str, expires: str, sig: str) -> None:
            answer = httpx.request(method, f"{api.url}/ack/{target}", params={"by": by, "expires": expires, "sig": sig}, timeout=10)
            assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
            if answer.status_code in (403, 410, 422):
                assert answer.json()["field"] in ("by", "expires", "sig", "path.incident_id"), answer.text

        await asyncio.to_thread(probe)
    assert (await store.get_incident(incident_id)).acknowledged_by is None
