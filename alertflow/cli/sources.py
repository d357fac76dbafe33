"""``alertflow sources``: which senders this config accepts, at which URL, and how each must prove itself.

Read from the config alone (no API call), so it answers the question people
ask while setting a sender up: "what URL, and what auth do I configure on the
other side?" Secrets are never printed, only which kind of auth is in force.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

import typer

from alertflow.cli.client import ConfigOption, JsonOption, cli_settings
from alertflow.config.settings import Settings


def sources(
    config: ConfigOption = None,
    base_url: Annotated[str | None, typer.Option(help="the URL senders reach alertflow at (default: api_url)")] = None,
    json_: JsonOption = False,
) -> None:
    """List the webhook sources, their URLs and auth state (docs/sources.md shows each sender's side; --json: one per line)."""
    from alertflow.auth import BearerAuth, NoAuth
    from alertflow.cli.render import print_json_lines, print_tables
    from alertflow.integrations.sources.registry import alerts_api_source, build_endpoints, enqueue_source

    settings = cli_settings(config)
    base = (base_url or settings.resolved_api_url).rstrip("/")
    endpoints = build_endpoints(settings)
    enqueue, alerts_api = enqueue_source(endpoints), alerts_api_source(endpoints)
    found, rows = [], []
    for endpoint in endpoints.values():
        urls = [f"{base}{endpoint.path}"] + ([f"{base}/v2/enqueue"] if endpoint.name == enqueue else [])
        auth = endpoint.auth.describe()
        if endpoint.name == alerts_api:  # Prometheus' alerting.alertmanagers: the Alertmanager API path, basic auth too
            urls.append(f"{base}/api/v2/alerts")
            auth += " (or as basic auth password)" if isinstance(endpoint.auth, BearerAuth) else ""
        open_to_all = isinstance(endpoint.auth, NoAuth) and not endpoint.proof
        found.append(
            {"name": endpoint.name, "kind": endpoint.kind, "urls": urls, "auth": auth, "proof": endpoint.proof, "open": open_to_all}
        )
        rows.append([endpoint.name, endpoint.kind, "\n".join(urls), f"[red]{auth}[/]" if open_to_all else auth, endpoint.proof or "-"])
    if json_:
        print_json_lines(found)
        return
    print_tables([("", ["Source", "Kind", "URL", "Request auth", "The body must carry"], rows)], width=200)


def source_auth_headers(settings: Settings, source: str, body: bytes) -> dict[str, str]:
    """What ``alertflow fire --source`` sends to authenticate as ``source``'s sender."""
    from alertflow.auth import sender_headers
    from alertflow.integrations.sources.registry import build_endpoints, default_auth

    endpoint = build_endpoints(settings).get(source)
    return sender_headers(endpoint.auth if endpoint else default_auth(settings), body, datetime.now(timezone.utc))
