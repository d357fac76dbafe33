"""What every CLI command shares: the config option, settings for this process, the API.

Commands that change incidents talk to the API (one process owns the rule
engine's state); this is their one way to it, with the API token when set and
errors printed the way people read them.
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


def cli_settings(config: Path | None) -> Settings:
    """Load settings and export what child processes and Prefect need, before Prefect is imported."""
    try:
        settings = load_settings(config)
    except ConfigError as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(2) from None
    if config:
        os.environ["ALERTFLOW_CONFIG"] = str(config.resolve())
    os.environ.update(prefect_environment(settings))
    return settings


def api_headers(settings: Settings) -> dict[str, str]:
    """The CLI's credential: ``api_token`` (every scope), from the config or ALERTFLOW_API_TOKEN."""
    return {"Authorization": f"Bearer {settings.api_token.get_secret_value()}"} if settings.api_token else {}


def call_api(settings: Settings, method: str, path: str, **kwargs: Any) -> Any:
    url = f"{settings.resolved_api_url}{path}"
    try:
        response = httpx.request(method, url, headers=api_headers(settings), timeout=30, **kwargs)
    except httpx.TransportError as err:
        typer.secho(
            f"cannot reach the alertflow API at {settings.resolved_api_url} ({err}); is `alertflow up` running?", fg="red", err=True
        )
        raise typer.Exit(3) from None
    if response.status_code >= 400:
        try:
            message = response.json().get("error") or response.text
        except ValueError:
            message = response.text
        typer.secho(f"HTTP {response.status_code}: {message}", fg="red", err=True)
        raise typer.Exit(1)
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
