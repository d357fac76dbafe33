"""One exception tree for alertflow, so callers catch by meaning, not by vendor.

Every error we raise on purpose derives from ``AlertflowError``; vendor and
library errors are translated at the edge (integrations, store) into one of
these, so a flow's retry condition and the API's error mapping each look at a
single hierarchy::

    AlertflowError
    ├── ConfigError                 settings or rules file is invalid (with line)
    │   └── SchemaMismatch          the database is not at this version's schema: `alertflow db upgrade`
    ├── InputError                  a request we refuse: maps to 4xx (422 by default), names the field
    │   ├── MalformedBody           not parseable as JSON at all (400)
    │   ├── PayloadTooLarge         body over the documented limit (413)
    │   ├── UnsupportedMediaType    content type we do not parse (415)
    │   ├── Unauthorized            missing or wrong bearer token (401)
    │   ├── Forbidden               credentials present but refused: bad signature, replay, untrusted signer (403)
    │   ├── Expired                 a signed link past its expiry (410)
    │   └── Conflict                the incident's state forbids it, e.g. ack after resolve (409)
    ├── NotFound                    unknown source, incident or flow (404)
    ├── NotLeader                   this process lost the pipeline lease: its write was rolled back
    ├── NoLeader                    no pipeline leader took a command in time; nothing changed (503)
    ├── StoreError                  the database refused a write (e.g. a constraint)
    │   └── StoreUnavailable        the database cannot be reached or is locked: try again later
    └── IntegrationError            an outside system failed
        ├── RetryableIntegrationError   worth retrying (5xx, 429, timeout, refused)
        └── PermanentIntegrationError   retrying will not help (4xx, invalid_auth)

Messages never contain secrets: integrations build them from status codes and
vendor error names, never from request headers or settings.
"""

from __future__ import annotations


class AlertflowError(Exception):
    """Base of every error alertflow raises on purpose."""


class ConfigError(AlertflowError):
    """A settings or rules file is invalid; the message says where."""


class SchemaMismatch(ConfigError):
    """The database's schema is not the one this alertflow was built for; the message says what to run."""


class InputError(AlertflowError):
    """A request we refuse; ``field`` names what was wrong (4xx)."""

    status_code = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MalformedBody(InputError):
    status_code = 400


class PayloadTooLarge(InputError):
    status_code = 413


class UnsupportedMediaType(InputError):
    status_code = 415


class Unauthorized(InputError):
    status_code = 401


class Forbidden(InputError):
    status_code = 403


class Expired(InputError):
    status_code = 410


class Conflict(InputError):
    status_code = 409


class NotFound(AlertflowError):
    """An unknown source, incident or flow name."""


class NotLeader(AlertflowError):
    """This process no longer leads the pipeline (alertflow/pipeline/leadership.py); its write did not land."""


class NoLeader(AlertflowError):
    """No pipeline leader applied a person's command in time; it was withdrawn, nothing changed."""


class StoreError(AlertflowError):
    """The database refused a write or cannot be reached."""


class StoreUnavailable(StoreError):
    """The database cannot be reached, or stayed locked past the busy timeout."""


class IntegrationError(AlertflowError):
    """An outside system (Slack, a traffic switch, a runbook endpoint) failed."""


class RetryableIntegrationError(IntegrationError):
    """A failure worth retrying: 5xx, 429, timeouts, refused connections.

    ``retry_after`` is the vendor's own advice (a 429's Retry-After, in seconds),
    for a caller's retry policy to wait at least that long.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentIntegrationError(IntegrationError):
    """A failure retrying will not fix: bad credentials, unknown channel, 4xx."""
