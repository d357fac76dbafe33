"""Local stand-ins for Slack, a traffic switch and health endpoints, over real HTTP.

A fresh checkout has no Slack workspace and no load balancer, yet a new user
should see the whole loop work (``alertflow up --sandbox``), and tests must talk
to real servers rather than mocks. This one small server is both: slack-sdk
reaches it through ``base_url`` (a workspace as strict as Slack's, with its
rate limits: alertflow/cli/slack_standin.py), the HTTP traffic switch and runbooks through
URLs, and everything it receives is recorded. ``/_sandbox/...`` endpoints let a
test inject failures (the next N Slack calls answer 500, 429 with a
Retry-After, ``invalid_auth``, or answer late; a switch that ignores shifts, a
front end that answers late, a health endpoint that goes down). ``/slack/actions/...`` records what the app
tells a person who clicked a button (a click's ``response_url``). ``/front/{name}`` plays the switched
service's public side, answering ``X-Served-By: <active target>``, so failover
is verified through "traffic" here too.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qsl

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from alertflow.cli.slack_standin import SlackWorkspace


@dataclass
class SlackFailure:
    """One scripted Slack answer: ``(200, "invalid_auth")``, ``(429, "ratelimited", 2)``, or a slow 500."""

    status: int
    error: str
    retry_after: float = 1  # sent on a 429
    delay: float = 0.0  # answer this many seconds late (longer than the client's timeout: a timeout)


@dataclass
class SandboxState:
    slack_token: str | None = None
    slack_calls: list[dict[str, Any]] = field(default_factory=list)
    slack_failures: list[SlackFailure] = field(default_factory=list)
    # Do the call, then answer this many seconds late: a sender killed meanwhile never hears that it went through.
    slack_stalls: list[float] = field(default_factory=list)
    slack: SlackWorkspace = field(default_factory=SlackWorkspace)
    slack_responses: list[dict[str, Any]] = field(default_factory=list)  # what the app posted to a click's response_url
    switches: dict[str, str] = field(default_factory=dict)
    switch_calls: list[dict[str, Any]] = field(default_factory=list)
    switch_failures: dict[str, list[int]] = field(default_factory=dict)
    stuck_switches: set[str] = field(default_factory=set)
    slow_fronts: dict[str, float] = field(default_factory=dict)  # front end name -> seconds it answers late
    down: set[str] = field(default_factory=set)
    restarts: list[str] = field(default_factory=list)

    def messages(self, method: str = "chat.postMessage") -> list[dict[str, Any]]:
        return [call["body"] for call in self.slack_calls if call["method"] == method and call["ok"]]


def build_app(state: SandboxState) -> Starlette:
    async def slack_api(request: Request) -> JSONResponse:
        method = request.path_params["method"]
        raw = await request.body()
        body = (
            orjson.loads(raw) if request.headers.get("content-type", "").startswith("application/json") else dict(parse_qsl(raw.decode()))
        )
        call = {"method": method, "body": body, "at": time.time(), "ok": False}
        state.slack_calls.append(call)
        if state.slack_failures:
            failure = state.slack_failures.pop(0)
            await asyncio.sleep(failure.delay)
            headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.status == 429 else {}
            return JSONResponse({"ok": False, "error": failure.error}, status_code=failure.status, headers=headers)
        if state.slack_token and request.headers.get("authorization") != f"Bearer {state.slack_token}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        answer = state.slack.answer(method, body)
        call["ok"] = answer.body["ok"]
        call["answer"] = answer.body
        if state.slack_stalls:
            await asyncio.sleep(state.slack_stalls.pop(0))
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)

    async def slack_response(request: Request) -> JSONResponse:
        """A click's ``response_url`` (Slack's hooks.slack.com/actions/...): messages to the person who clicked."""
        state.slack_responses.append({"path": request.path_params["path"], "body": await request.json(), "at": time.time()})
        return JSONResponse({"ok": True})

    async def switch(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        body = await request.json() if request.method != "GET" else None
        call = {
            "name": name,
            "method": request.method,
            "body": body,
            "at": time.time(),
            "authorization": request.headers.get("authorization"),
        }
        state.switch_calls.append(call)
        failures = state.switch_failures.get(name)
        if failures:
            return JSONResponse({"error": "injected failure"}, status_code=failures.pop(0))
        if request.method != "GET":
            if not isinstance(body, dict) or not isinstance(body.get("active"), str):
                return JSONResponse({"error": 'body must be {"active": name}'}, status_code=400)
            if name not in state.stuck_switches:
                state.switches[name] = body["active"]
        return JSONResponse({"active": state.switches.get(name, "primary")})

    async def front(request: Request) -> JSONResponse:
        """The switched service's public side: answered by whichever target the switch serves."""
        await asyncio.sleep(state.slow_fronts.get(request.path_params["name"], 0))
        active = state.switches.get(request.path_params["name"], "primary")
        return JSONResponse({"served_by": active}, headers={"X-Served-By": active})

    async def health(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        if name in state.down:
            return JSONResponse({"status": "down"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def restart(request: Request) -> JSONResponse:
        """A service restart endpoint: brings the named health endpoint back up."""
        name = request.path_params["name"]
        state.restarts.append(name)
        state.down.discard(name)
        return JSONResponse({"restarted": name})

    async def control(request: Request) -> JSONResponse:
        """Failure injection for tests and demos."""
        what, body = request.path_params["what"], await request.json()
        if what == "slack-fail":
            failure = SlackFailure(
                body.get("status", 500), body.get("error", "internal_error"), body.get("retry_after", 1), body.get("delay", 0)
            )
            state.slack_failures.extend([failure] * body.get("times", 1))
        elif what == "switch-fail":
            state.switch_failures.setdefault(body["name"], []).extend([body.get("status", 503)] * body.get("times", 1))
        elif what == "switch-stuck":
            (state.stuck_switches.add if body.get("stuck", True) else state.stuck_switches.discard)(body["name"])
        elif what == "front-slow":
            state.slow_fronts[body["name"]] = body.get("seconds", 0)
        elif what == "health":
            (state.down.discard if body.get("up", True) else state.down.add)(body["name"])
        else:
            return JSONResponse({"error": f"unknown control {what}"}, status_code=404)
        return JSONResponse({"ok": True})

    async def calls(request: Request) -> JSONResponse:
        return JSONResponse({"slack": state.slack_calls, "switch": state.switch_calls})

    return Starlette(
        routes=[
            Route("/slack/api/{method}", slack_api, methods=["POST"]),
            Route("/slack/actions/{path:path}", slack_response, methods=["POST"]),
            Route("/switch/{name}", switch, methods=["GET", "POST", "PUT"]),
            Route("/front/{name}", front, methods=["GET"]),
            Route("/health/{name}", health, methods=["GET"]),
            Route("/restart/{name}", restart, methods=["POST"]),
            Route("/_sandbox/calls", calls, methods=["GET"]),
            Route("/_sandbox/{what}", control, methods=["POST"]),
        ]
    )


class LoopbackServer:
    """Runs an ASGI app on loopback, in a thread (tests) or as a task (``alertflow up``)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def serve(self) -> None:
        await self.server.serve()

    def start_in_thread(self) -> Self:
        self._thread = threading.Thread(target=asyncio.run, args=(self.serve(),), daemon=True, name=type(self).__name__)
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"{type(self).__name__} failed to start (is the port taken?)")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread:
            self._thread.join(timeout=5)


class SandboxServer(LoopbackServer):
    """The sandbox on loopback; ``state`` is what it received and what it is scripted to do."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, slack_token: str | None = None) -> None:
        self.state = SandboxState(slack_token=slack_token)
        super().__init__(build_app(self.state), host, port)
