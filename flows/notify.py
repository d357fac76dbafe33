"""News to the people already paged, and the tasks that reach them.

Who a step reaches and the message it gets are in alertflow/paging/recipients.py,
shared with the announcer that sends each incident's first page at decision time.
After someone answers, every page already sent hears it through its
notifier's ``update`` (Slack in place, PagerDuty acknowledge/resolve by the
same dedup key, a webhook POST of the new status; a storm's digest is drawn
again with every incident it carries), and major timeline events go to the
threads of the notifiers that keep one. Notifiers are looked up by name in the
one registry (integrations/notifiers/registry.py): nothing here branches on a kind.
Each page sent is an ``alertflow.page.sent`` event too, from the task that sent it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

from prefect.context import TaskRunContext

from alertflow.errors import RetryableIntegrationError
from alertflow.events import PAGE_SENT
from alertflow.flows.runtime import emit, io_task, settings, store
from alertflow.integrations.notifiers import Notifier, PageRef
from alertflow.integrations.notifiers.message import PageMessage
from alertflow.models import TimelineEntry, TimelineKind
from alertflow.paging.digest import DIGEST, digest_now
from alertflow.paging.recipients import notifier_for
from alertflow.store.pages import PageRecord

T = TypeVar("T")
MAX_RETRY_AFTER = 60.0  # a receiver asking for longer is not waited for: the attempt fails and the policy decides


def news(entry: TimelineEntry) -> str | None:
    """What a major timeline event says in the page's thread (failover done, recovery failed, resolved...)."""
    if entry.kind is TimelineKind.resolve:
        return f":large_green_circle: {entry.summary}"
    if entry.kind is TimelineKind.rollback or entry.data.get("major"):
        return entry.summary
    return None


async def wait_out_retry_after(call: Awaitable[T]) -> T:
    """A retryable failure that came with Retry-After waits it out before failing the attempt, so the task's next try
    (Prefect's retry, per the action's policy) is no sooner than the receiver asked; a last attempt fails at once."""
    try:
        return await call
    except RetryableIntegrationError as err:
        context = TaskRunContext.get()
        if err.retry_after and context is not None and context.task_run.run_count <= context.task.retries:
            await asyncio.sleep(min(err.retry_after, MAX_RETRY_AFTER))
        raise


def ref(record: PageRecord) -> PageRef:
    return PageRef(channel=record.channel, ts=record.ts)


async def notifier(name: str, address: str) -> Notifier:
    return await notifier_for(name, address, settings())


@io_task
async def send_page(name: str, address: str, message: PageMessage) -> PageRef:
    sent = await wait_out_retry_after((await notifier(name, address)).send(message, address))
    await emit(message.incident_id, PAGE_SENT, notifier=name, step=message.step, reason=message.reason)
    return sent


@io_task
async def update_page(record: PageRecord, message: PageMessage) -> None:
    """Bring one sent page up to date with an acknowledgement or a resolve (a digest: all of its incidents)."""
    shown = await digest_now(store(), record) if record.detail == DIGEST else message
    await wait_out_retry_after((await notifier(record.notifier, record.address)).update(ref(record), shown))  # type: ignore[arg-type]


@io_task
async def reply_page(record: PageRecord, text: str) -> PageRef | None:
    return await wait_out_retry_after((await notifier(record.notifier, record.address)).reply(ref(record), text))


@io_task
async def find_page(name: str, address: str, message: PageMessage, since: datetime) -> PageRef | None:
    """Whether a page whose sender died went out after all (``Notifier.find``); None: send it."""
    return await (await notifier(name, address)).find(message, address, since)
