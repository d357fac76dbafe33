"""People's commands (ack, resolve, runs, silences), taken by any API replica, applied by the pipeline leader.

``Commands`` is what the API calls: it queues the command in the store
(alertflow/store/commands.py), rings the local pipeline in case this process
leads, and waits for the result; the leader applies queued commands before
each drain, each in its own fenced transaction together with its result. The
waiter polls the row (every 20 ms at first), so a leader on another machine
answers within a round trip or two. If no leader applies it within
``COMMAND_TIMEOUT_SECONDS`` (a takeover takes at most about 4 s) the command
is withdrawn and the caller gets a 503 saying nothing changed.

Refusals travel back as themselves: a 404 or 409 from the leader is the same
404 or 409 at the replica that took the request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alertflow.durations import utcnow
from alertflow.errors import AlertflowError, Conflict, InputError, NoLeader, NotFound, NotLeader, StoreUnavailable
from alertflow.models import FlowName, Incident, Silence
from alertflow.rules import Matcher
from alertflow.store.commands import Command, CommandQueue, Withdrawn
from alertflow.store.database import Store

if TYPE_CHECKING:
    from alertflow.pipeline.consumer import Pipeline

log = logging.getLogger(__name__)
COMMAND_TIMEOUT_SECONDS = 10.0
REFUSALS: dict[str, type[AlertflowError]] = {"NotFound": NotFound, "Conflict": Conflict, "InputError": InputError}


def check_matchers(matchers: list[str]) -> None:
    for text in matchers:
        try:
            Matcher.parse(text)
        except ValueError as err:
            raise InputError(str(err), field="matchers") from None


class Commands:
    """The API's way to change incidents and silences, wherever the pipeline leader runs."""

    def __init__(self, store: Store, pipeline: Pipeline, timeout_seconds: float = COMMAND_TIMEOUT_SECONDS) -> None:
        self.queue = CommandQueue(store)
        self.pipeline = pipeline
        self.timeout = timeout_seconds

    async def acknowledge(self, incident_id: int, actor: str) -> Incident:
        return Incident.model_validate(await self._run("acknowledge", {"incident_id": incident_id, "actor": actor}))

    async def resolve(self, incident_id: int, actor: str) -> Incident:
        return Incident.model_validate(await self._run("resolve", {"incident_id": incident_id, "actor": actor}))

    async def request_run(self, incident_id: int, flow: FlowName, actor: str, dry_run: bool = False) -> int:
        payload = {"incident_id": incident_id, "flow": flow.value, "actor": actor, "dry_run": dry_run}
        return int(await self._run("request_run", payload))

    async def add_silence(self, matchers: list[str], starts_at: datetime, ends_at: datetime, author: str, comment: str) -> Silence:
        check_matchers(matchers)  # a 422 at once, without a round trip to the leader
        payload = {"matchers": matchers, "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(), "author": author}
        return Silence.model_validate(await self._run("add_silence", {**payload, "comment": comment}))

    async def expire_silence(self, silence_id: int) -> None:
        await self._run("expire_silence", {"silence_id": silence_id})

    async def _run(self, kind: str, payload: dict[str, Any]) -> Any:
        command_id = await self.queue.submit(kind, payload, utcnow())
        self.pipeline.nudge()
        deadline, pause = time.monotonic() + self.timeout, 0.005
        while (result := await self.queue.result(command_id)) is None:
            if time.monotonic() >= deadline:
                withdrawn = {"error": "NoLeader", "message": "no pipeline leader applied it in time"}
                if await self.queue.withdraw(command_id, utcnow(), withdrawn):
                    raise NoLeader(f"no pipeline leader applied the {kind} within {self.timeout:.0f} s; nothing was changed, try again")
                continue  # the leader applied it just now: read its result
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
        if "error" in result:
            error = REFUSALS.get(result["error"])
            if error is InputError:
                raise InputError(result["message"], field=result.get("field"))
            raise (error or AlertflowError)(result["message"])
        return result.get("value")


async def apply_pending(pipeline: Pipeline, queue: CommandQueue) -> int:
    """The leader's side: apply every queued command, oldest first; returns how many."""
    commands = await queue.pending()
    for command in commands:
        await _apply(pipeline, command)
    return len(commands)


async def _apply(pipeline: Pipeline, command: Command) -> None:
    p, key = command.payload, command.id
    try:
        if command.kind == "acknowledge":
            await pipeline.acknowledge(p["incident_id"], p["actor"], command=key)
        elif command.kind == "resolve":
            await pipeline.resolve(p["incident_id"], p["actor"], command=key)
        elif command.kind == "request_run":
            await pipeline.request_run(p["incident_id"], FlowName(p["flow"]), p["actor"], p["dry_run"], command=key)
        elif command.kind == "add_silence":
            starts, ends = datetime.fromisoformat(p["starts_at"]), datetime.fromisoformat(p["ends_at"])
            await pipeline.add_silence(p["matchers"], starts, ends, p["author"], p["comment"], command=key)
        elif command.kind == "expire_silence":
            await pipeline.expire_silence(p["silence_id"], command=key)
        else:
            raise InputError(f"unknown command {command.kind!r}", field="kind")
    except (NotLeader, StoreUnavailable):
        raise
    except Withdrawn:
        log.info("command %d (%s) was withdrawn by its waiter before it was applied", key, command.kind)
    except (NotFound, InputError) as err:  # refused: say so to whoever waits; nothing changed
        kind = "Conflict" if isinstance(err, Conflict) else "InputError" if isinstance(err, InputError) else "NotFound"
        await pipeline.finish_command(key, {"error": kind, "message": str(err), "field": getattr(err, "field", None)})
    except Exception as err:  # a bug must not wedge the queue behind this command
        log.exception("command %d (%s) failed", key, command.kind)
        await pipeline.finish_command(key, {"error": "Failed", "message": f"{type(err).__name__}: {err}"})
