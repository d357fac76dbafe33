"""A storm's digest as it stands: every incident one message carries, drawn again from the store.

A digest page is a page log row like any other, marked ``digest`` and sharing
its message (channel and ts) with the other incidents of that digest. Whoever
brings one of them up to date (an acknowledgement through the paging flow, a
new incident joining through the announcer) draws the whole message again from
the incidents as they are now, so no process needs to remember what it holds.

The announcer decides when a storm goes out as a digest: each target that can
show many incidents in one message has an allowance (``Bucket``) like its
documented rate limit, and a recent digest (``OpenDigest``) takes new
incidents by update.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from alertflow.integrations.notifiers import PageRef
from alertflow.integrations.notifiers.message import Digest, PageMessage
from alertflow.store.database import Store
from alertflow.store.pages import PageLog, PageRecord

DIGEST = "digest"  # the page log's detail for a page sent inside a digest
BURST, PER_SECOND = 3, 1.0  # a digest-capable target's allowance: below Slack's, which threads and later steps share
JOIN_SECONDS = 60.0  # a digest this recent takes new incidents by update, not a new message


@dataclass
class Bucket:
    tokens: float = BURST
    at: float = field(default_factory=time.monotonic)

    def available(self) -> float:
        now = time.monotonic()
        self.tokens, self.at = min(BURST, self.tokens + (now - self.at) * PER_SECOND), now
        return self.tokens


@dataclass
class OpenDigest:
    ref: PageRef
    pages: list[PageMessage]
    opened: float = field(default_factory=time.monotonic)


async def digest_now(store: Store, record: PageRecord) -> Digest:
    """The digest ``record`` went out in, with each of its incidents' current status."""
    assert record.channel and record.ts, "a digest page has its message's place"
    members = await PageLog(store).shared(record.notifier, record.channel, record.ts)
    pages = []
    for member in members:
        incident = await store.get_incident(member.incident_id)
        pages.append(PageMessage.for_incident(incident, page_id=member.id))
    return Digest(pages=pages)
