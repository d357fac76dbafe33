"""Request and response plumbing shared by every router of the API.

Each router (webhooks, Slack clicks, responses, silences, inbox) reads bodies
under the same limit, parses JSON the same way, checks the same bearer token
in constant time and answers refusals in one shape,
``{"error": ..., "field": ...}``. They live here, apart from the app that
mounts the routers, so routers import them without importing the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, Field, SecretStr

from alertflow.auth import check_bearer
from alertflow.errors import (
    AlertflowError,
    InputError,
    MalformedBody,
    NoLeader,
    NotFound,
    PayloadTooLarge,
    RetryableIntegrationError,
    StoreError,
    UnsupportedMediaType,
)
from alertflow.metrics import Metrics

# curl -d sends form-urlencoded by default; its body is still the JSON we parse.
JSON_TYPES = ("application/json", "text/json", "application/x-www-form-urlencoded")


class Accepted(BaseModel):
    accepted: int
    alert_ids: list[int]


class Actor(BaseModel):
    actor: str = Field("api", min_length=1, max_length=256, description="who acts: a person or a system")


class RunRequest(Actor):
    dry_run: bool = Field(False, description="failover, failback, recovery: record the plan and current state, change nothing")


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def error_response(status: int, message: str, field: str | None = None) -> Response:
    response = json_response({"error": message, "field": field}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def error_for(err: AlertflowError, metrics: Metrics) -> Response:
    """The answer to a refusal or failure, for every route (the app's exception handler and the webhook path)."""
    if isinstance(err, InputError):
        metrics.rejected.labels(err.status_code).inc()
        return error_response(err.status_code, str(err), err.field)
    if isinstance(err, NotFound):
        return error_response(404, str(err))
    if isinstance(err, NoLeader):
        return error_response(503, str(err))
    if isinstance(err, StoreError):
        return error_response(503, f"storage unavailable, nothing was accepted: {err}")
    if isinstance(err, RetryableIntegrationError):  # e.g. SNS's certificate host did not answer: send again later
        return error_response(503, f"{err}; nothing was accepted, try again later")
    return error_response(500, f"{type(err).__name__}: {err}")


def require_token(request: Request, token: SecretStr | None) -> None:
    if token is not None:
        check_bearer(token, request.headers)


def check_content_type(value: str | None, also: tuple[str, ...] = ()) -> None:
    media = (value or "application/json").split(";")[0].strip().lower()
    if media not in JSON_TYPES and media not in also and not media.endswith("+json"):
        raise UnsupportedMediaType(f"content type {media!r} is not supported; send application/json", field="content-type")


async def read_body(request: Request, limit: int) -> bytes:
    return await read_stream(request.stream(), request.headers.get("content-length"), limit)


async def read_stream(stream: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The whole body of ``stream``, or ``PayloadTooLarge`` as soon as it is over ``limit`` (declared or sent)."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {limit}-byte limit", field="body")
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the {limit}-byte limit", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise MalformedBody("empty body; expected a JSON object", field="body")
    if b"\\u0000" in body:  # valid JSON, but PostgreSQL cannot store NUL in text
        raise InputError("body contains a NUL character (\\u0000), which cannot be stored", field="body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise MalformedBody(f"malformed JSON: {err}", field="body") from None
