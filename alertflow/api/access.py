"""Who may call a control or read endpoint: bearer tokens with scopes, checked before anything changes.

Every route outside the webhooks, Slack's signed clicks and the health pages
names the scope it needs (alertflow/config/api.py: read, respond, operate).
``api_token`` has every scope; ``api_tokens`` each have theirs. No API token
configured means open, which the server allows only on loopback
(``check_exposure`` at start). A missing or unknown token is 401; a known token
without the scope is 403 naming the scope, as is a webhook sender's credential,
which is never valid here: whoever can post alerts cannot also acknowledge
them or fail over. Every configured token is compared, in constant time, so
timing tells nothing about which one nearly matched; messages name a token by
its setting, never by its value.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Request

from alertflow.auth import presented_token
from alertflow.config.api import Credential, Scope, credentials
from alertflow.config.settings import Settings
from alertflow.errors import Forbidden, Unauthorized

# Raises Unauthorized or Forbidden unless the request may act with the scope; else names the credential (for the record).
ScopeCheck = Callable[[Request, Scope], str]
OPEN = "no API token (open on loopback)"  # the credential of a request to an API with no token configured


class ApiAccess:
    """The API's tokens and the webhook credentials that must not pass for them, read once from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.known = credentials(settings)
        self.open = not any(c.scopes for c in self.known)  # no API token: served only on loopback (check_exposure)

    def check(self, request: Request, scope: Scope, basic: bool = False) -> str:
        """The credential's setting (``api_token``, ``api_tokens.NAME``), never its value. ``basic``: the token may
        also come as the basic-auth password (the Alertmanager API: amtool, Grafana)."""
        if self.open:
            return OPEN
        needs = f"{request.method} {request.url.path} needs an API token with scope {scope.value!r}"
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        if basic:
            scheme, sent = "bearer", presented_token(request.headers) or ""
        if scheme.lower() != "bearer" or not sent:
            raise Unauthorized(f"{needs} (Authorization: Bearer ...)", field="authorization")
        found = _match(sent.encode(), self.known)
        if found is None:
            raise Unauthorized(f"unknown bearer token; {needs}", field="authorization")
        if not found.scopes:
            raise Forbidden(
                f"{found.setting} is a webhook sender's token, valid only for posting alerts (/webhooks/*, POST /api/v2/alerts); {needs}",
                field="authorization",
            )
        if scope not in found.scopes:
            have = ", ".join(sorted(s.value for s in found.scopes))
            raise Forbidden(f"{found.setting} has scopes {have}; {needs}", field="authorization")
        return found.setting

    def allows(self, request: Request, scope: Scope) -> bool:
        """Whether an API token with ``scope`` came with the request (bearer or basic-auth password); never raises."""
        try:
            self.check(request, scope, basic=True)
        except (Unauthorized, Forbidden):
            return False
        return True


def _match(sent: bytes, candidates: list[Credential]) -> Credential | None:
    found = None
    for candidate in candidates:  # no early exit: every comparison runs, whichever matches
        if hmac.compare_digest(sent, candidate.secret.get_secret_value().encode()) and found is None:
            found = candidate
    return found
