"""What every CLI command shares: the config and --json options, settings for this process, the API, exit codes.

Commands that change incidents talk to the API (one process owns the rule
engine's state); this is their one way to it, with the API token when set and
errors printed the way people read them. Exit codes mean the same in every
command (docs/cli.md): 0 done; 1 not found, nothing matched, a check failed,
or refused in the incident's current state (409); 2 bad input or config
(usage errors, a refused request: 400, 401, 403, 413, 422); 3 the API, the
database or Prefect cannot be reached (or answers 5xx).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from alertflow.config.settings import Settings, load_settings, prefect_environment
from alertflow.errors import ConfigError

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="config file (default: $ALERTFLOW_CONFIG)", exists=True, dir_okay=False)
]
ActorOption = Annotated[str, typer.Option("--by", help="who acts (recorded in the timeline)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON: one object per line for a list, one document for a show")]
NOT_FOUND, BAD_INPUT, UNREACHABLE = 1, 2, 3


def exit_code(status: int) -> int:
    """The exit code for an API answer of ``status`` (400 and above)."""
    if status in (404, 409):
        return NOT_FOUND
    return UNREACHABLE if status >= 500 else BAD_INPUT


def cli_settings(config: Path | None) -> Settings:
    """Load settings and export what child processes and Prefect need, before Prefect is imported."""
    try:
        settings = load_settings(config)
    except ConfigError as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(BAD_INPUT) from None
    if config:
        os.environ["ALERTFLOW_CONFIG"] = str(config.resolve())
    os.environ.update(prefect_environment(settings))
    return settings


def api_headers(settings: Settings) -> dict[str, str]:
    """The CLI's credential: ``api_token`` (every scope), from the config or ALERTFLOW_API_TOKEN."""
    return {"Authorization": f"Bearer {settings.api_token.get_secret_value()}"} if settings.api_token else {}


def call_api(settings: Settings, method: str, path: str, options: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """The API's answer as JSON. A refusal exits with its code (docs/cli.md); one naming a field in ``options``
    (the API's field -> the command's option or argument, e.g. ``{"end": "--to"}``) is a usage error on that option."""
    url = f"{settings.resolved_api_url}{path}"
    try:
        response = httpx.request(method, url, headers=api_headers(settings), timeout=30, **kwargs)
    except httpx.TransportError as err:
        typer.secho(
            f"cannot reach the alertflow API at {settings.resolved_api_url} ({err}); is `alertflow up` running?", fg="red", err=True
        )
        raise typer.Exit(UNREACHABLE) from None
    if response.status_code >= 400:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        answer = answer if isinstance(answer, dict) else {}
        message = answer.get("error") or response.text
        field = str(answer.get("field") or "").rpartition(".")[2]  # "body.start" (a validation error) or "start"
        if options and field in options and exit_code(response.status_code) == BAD_INPUT:
            raise typer.BadParameter(message, param_hint=options[field])
        typer.secho(f"HTTP {response.status_code}: {message}", fg="red", err=True)
        raise typer.Exit(exit_code(response.status_code))
    return response.json() if response.content else None


def incident_pages(settings: Settings, incident_id: int, limit: int, cursor: int | None = None) -> Iterator[dict[str, Any]]:
    """``GET /incidents/{id}`` page after page of its timeline, from ``cursor`` (the start when None) to the end."""
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor is not None else {})
        detail = call_api(settings, "GET", f"/incidents/{incident_id}", params=params)
        yield detail
        cursor = detail.get("next_cursor")
        if cursor is None:
            return
