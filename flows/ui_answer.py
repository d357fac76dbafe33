"""Acknowledge from the Prefect UI: a waiting paging run is paused for input.

While an escalation step waits, its flow run is *Paused* in Prefect with a
small form (acknowledge or resolve, and who you are), so someone looking at
the run in the Prefect UI can answer with **Resume**. The flow keeps polling
the store at the same time (Prefect's own ``pause_flow_run`` would block it),
so an answer from Slack, the CLI or the API still ends the wait at once; the
flow then resumes itself with "no answer". An answer from the UI is applied
through the API, like ``alertflow ack``, so the API process that owns the rule
engine records it: one meaning, whatever the channel.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.responses import OrchestrationResult, SetStateStatus
from prefect.context import FlowRunContext
from prefect.input import RunInput
from prefect.input.run_input import Keyset, keyset_from_paused_state
from prefect.states import Paused, Running
from prefect.utilities.engine import propose_state
from pydantic import Field
from tenacity import wait_incrementing

from alertflow.errors import IntegrationError
from alertflow.flows.runtime import settings
from alertflow.retries import retrying

GRACE_SECONDS = 300  # Prefect fails a run paused past its timeout: ours resumes itself long before
CLOSE_ATTEMPTS = 4  # waits of 1, 2, 3 s between them: Prefect restarting, not Prefect down
log = logging.getLogger(__name__)


class PageAnswer(RunInput):
    acknowledge: bool = Field(True, description="acknowledge the incident: escalation stops, the pages say who and when")
    resolve: bool = Field(False, description="resolve it instead")
    by: str = Field("prefect-ui", min_length=1, max_length=200, description="your name, as the timeline should show it")


_NO_ANSWER: dict[str, Any] = {"acknowledge": False, "resolve": False, "by": "alertflow"}


class UiPrompt:
    """One pause of the current paging run, waiting for an answer from the Prefect UI."""

    def __init__(self, flow_run_id: uuid.UUID, keyset: Keyset) -> None:
        self.flow_run_id, self.keyset, self.closed = flow_run_id, keyset, False

    @classmethod
    async def open(cls, seconds: float, incident_id: int) -> UiPrompt | None:
        """Pause the run with the answer form; None outside a flow run or when Prefect refuses."""
        context = FlowRunContext.get()
        if context is None or context.flow_run is None:
            return None
        state = Paused(timeout_seconds=int(seconds) + GRACE_SECONDS, reschedule=False, pause_key=f"page-{uuid.uuid4().hex[:12]}")
        keyset = keyset_from_paused_state(state)
        state.state_details.run_input_keyset = keyset
        form = PageAnswer.with_initial_data(description=f"Incident #{incident_id} is paging: resume to acknowledge it (or resolve it).")
        run_id = context.flow_run.id
        try:
            async with get_client() as client:
                if not (await propose_state(client, state, flow_run_id=run_id)).is_paused():
                    return None
                try:  # after the pause, as Prefect does: entering it clears its keys
                    await form.asave(keyset, flow_run_id=run_id)
                except Exception:  # without the form nobody could resume it, not even us: leave the pause by force
                    await client.set_flow_run_state(run_id, Running(), force=True)
                    raise
        except Exception as err:  # the UI is a convenience: paging goes on without it
            log.warning("paging: cannot pause for a Prefect UI answer (%s); waiting without", err)
            return None
        return cls(run_id, keyset)

    async def answer(self) -> PageAnswer | None:
        """The UI's answer, once someone resumed the run."""
        if self.closed:  # answered (or resumed without one) already: no need to ask Prefect at every poll
            return None
        try:
            async with get_client() as client:
                run = await client.read_flow_run(self.flow_run_id)
        except Exception as err:
            log.warning("paging: cannot read the run's state (%s); asking again at the next poll", err)
            return None
        if run.state is not None and run.state.is_paused():
            return None
        try:
            answer = await self._load()
        except Exception as err:  # as above: a Prefect hiccup must not end the escalation
            log.warning("paging: cannot read the Prefect UI answer (%s); asking again at the next poll", err)
            return None
        self.closed = True
        return answer

    async def close(self) -> PageAnswer | None:
        """Resume the run ourselves (tasks cannot run in a paused run); if someone beat us to it, their answer."""
        if self.closed:
            return None

        async def resume() -> OrchestrationResult[Any]:
            async with get_client() as client:
                return await client.resume_flow_run(self.flow_run_id, run_input=_NO_ANSWER)

        response = await retrying(attempts=CLOSE_ATTEMPTS, wait=wait_incrementing(start=1, increment=1))(resume)
        self.closed = True
        return None if response.status is SetStateStatus.ACCEPT else await self._load()

    async def _load(self) -> PageAnswer | None:
        answer = await PageAnswer.aload(self.keyset, flow_run_id=self.flow_run_id)
        return answer if answer.acknowledge or answer.resolve else None


async def apply_answer(incident_id: int, answer: PageAnswer) -> str:
    """Acknowledge or resolve through the API (``alertflow ack``'s path); returns the verb."""
    config = settings()
    verb = "resolve" if answer.resolve else "ack"
    headers = {"Authorization": f"Bearer {config.api_token.get_secret_value()}"} if config.api_token else {}
    url = f"{config.resolved_api_url}/incidents/{incident_id}/{verb}"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(url, json={"actor": answer.by}, headers=headers)
    except httpx.HTTPError as err:
        raise IntegrationError(f"API at {config.resolved_api_url} unreachable: {type(err).__name__}") from None
    if response.status_code >= 400 and response.status_code != 409:  # 409: resolved meanwhile, which ends paging too
        raise IntegrationError(f"API answered HTTP {response.status_code} to {verb}")
    return verb
