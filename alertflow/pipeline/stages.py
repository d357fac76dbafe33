"""The long-running core of the API process: inbox writer, pipeline, announcer, dispatcher, event emitter and retention, wired.

Every replica writes the inbox and dispatches; only the elected leader runs the
pipeline and the announcer (alertflow/pipeline/leadership.py), and people's
commands reach it through ``Commands`` wherever they were taken.

Each stage wakes the next (a commit nudges the pipeline, queued runs nudge the
dispatcher) so an alert moves through in milliseconds, and each also polls on
a slow tick, so nothing depends on a nudge arriving: work left by a crash or
by Prefect being down is picked up on the next tick. Events for Prefect's
feed and automations leave from the emitter (alertflow/pipeline/events.py),
fed by the pipeline and the announcer after their commits. The leader also
prunes what ``retention:`` lets go (alertflow/pipeline/retention.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from pathlib import Path

from prefect.client.orchestration import PrefectClient, get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from alertflow.config.settings import Settings
from alertflow.errors import ConfigError
from alertflow.metrics import Metrics
from alertflow.paging.announcer import Announcer
from alertflow.pipeline.commands import Commands
from alertflow.pipeline.consumer import Pipeline
from alertflow.pipeline.dispatch import Dispatcher
from alertflow.pipeline.events import EventEmitter
from alertflow.pipeline.inbox import InboxWriter
from alertflow.pipeline.leadership import Leadership
from alertflow.pipeline.retention import Pruner, fenced
from alertflow.rules import RuleSet, parse_rules
from alertflow.store.database import Store
from alertflow.store.wakeups import COMMANDS, INBOX, Listener

log = logging.getLogger("alertflow.pipeline.stages")


def load_rules(path: Path) -> RuleSet:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read rules file: {err.strerror}") from None
    return parse_rules(text, str(path))


def tune_garbage_collector() -> None:
    """The engine keeps many small long-lived objects (groups, members); with Python's default
    thresholds the cyclic collector walks all of them every few thousand allocations, which
    halved engine throughput in bench/engine.py. Freeze what start-up built and collect rarely."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def prefect_client_for(api_url: str) -> Callable[[], PrefectClient]:
    """A client factory for the configured Prefect API, whatever this process's Prefect settings say."""

    def make() -> PrefectClient:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            return get_client()

    return make


class Stages:
    """The background stages of the API process (inbox writer, pipeline, announcer, dispatcher), started and stopped together."""

    def __init__(self, settings: Settings, ruleset: RuleSet) -> None:
        self.settings = settings
        self.store = Store(settings.resolved_database_url)
        self.metrics = Metrics()
        self.events = EventEmitter(prefect_client_for(settings.prefect_api_url), self.metrics)
        self.leadership = Leadership(self.store)
        leading = lambda: self.leadership.is_leader  # noqa: E731
        self.announcer = Announcer(self.store, settings, self.metrics, active=leading, emit=self.events.offer)
        self.events.pages_first = self.announcer.pages_first  # first pages before Prefect's work (paging/announcer.py)
        self.dispatcher = Dispatcher(
            self.store,
            prefect_client_for(settings.prefect_api_url),
            deployment_name=settings.deployment_name,
            ui_url=settings.prefect_ui_url,
            concurrency=settings.dispatch_concurrency,
            pages_first=self.announcer.pages_first,
        )
        self.pipeline = Pipeline(
            self.store, ruleset, on_outbox=self._decided, metrics=self.metrics, leadership=self.leadership,
            emit=self.events.offer, runbooks=settings.runbooks,
        )  # fmt: skip
        self.commands = Commands(self.store, self.pipeline)
        write = fenced(self.store, self.pipeline.lock, self.leadership)
        leading, busy = (lambda: self.leadership.is_leader), (lambda: bool(self.pipeline.handed.alerts))
        self.pruner = Pruner(self.store, settings.retention, write, active=leading, busy=busy, metrics=self.metrics)
        handed = self.pipeline.handed
        self.inbox = InboxWriter(self.store, on_commit=handed.hand_over, make_room=handed.make_room)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.store.check_schema(create_if_empty=True)  # an older schema refuses: `alertflow db upgrade`
        tune_garbage_collector()
        self.inbox.start()
        self._tasks = [
            asyncio.create_task(self.pipeline.run(self._stop), name="pipeline"),
            asyncio.create_task(self.leadership.keep_alive(self._stop), name="lease"),
            asyncio.create_task(self.dispatcher.run(self._stop), name="dispatcher"),
            asyncio.create_task(self.announcer.run(self._stop), name="announcer"),
            asyncio.create_task(self.events.run(self._stop), name="events"),
            asyncio.create_task(self.pruner.run(self._stop), name="retention"),
        ]
        if not self.store.is_sqlite:  # replicas: alerts and commands taken by another process wake this one's pipeline
            listener = Listener(self.store.url, (INBOX, COMMANDS), self.pipeline.nudge)
            self._tasks.append(asyncio.create_task(listener.run(self._stop), name="wake-ups"))
        log.info("alertflow service started (store %s)", self.store.engine.url.render_as_string(hide_password=True))

    def _decided(self) -> None:
        """New outbox rows: first pages leave now (announcer), flow runs follow (dispatcher)."""
        self.announcer.nudge()
        self.dispatcher.nudge()

    async def stop(self) -> None:
        await self.inbox.close()
        self._stop.set()
        self.pipeline.nudge()
        self.dispatcher.nudge()
        self.announcer.nudge()
        self.events.doorbell.ring()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.dispose()
