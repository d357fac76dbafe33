"""``alertflow notify preview --incident ID [--notifier NAME]``: what each notifier's page would say now.

A template is checked when the config loads, but only real data shows what it
renders (a label some alerts lack, a long title): this renders the pages of a
real incident with the same code the announcer and the paging flow use
(alertflow/paging/recipients.py, integrations/notifiers/rendering.py), from
the store, sending nothing. A template that fails at render time is shown as
the default message that would be sent instead, with why, and the command
exits 1.
"""

from __future__ import annotations

from typing import Annotated

import typer

from alertflow.cli.client import ConfigOption, cli_settings
from alertflow.cli.db import with_store
from alertflow.config.notifiers import BUILT_IN
from alertflow.errors import NotFound

notify_app = typer.Typer(help="Notifiers: preview what their pages say.", no_args_is_help=True)


@notify_app.command("preview")
def preview(
    incident: Annotated[int, typer.Option("--incident", "-i", help="incident id")],
    notifier: Annotated[str | None, typer.Option(help="only this notifier (slack, pagerduty or one under notifiers:)")] = None,
    step: Annotated[str | None, typer.Option(help='the escalation step the page belongs to, e.g. "step 1/2"')] = None,
    config: ConfigOption = None,
) -> None:
    """Render the page each notifier would send for an incident now, through its template (or the default)."""
    settings = cli_settings(config)
    configured = ["slack", *(["pagerduty"] if settings.pagerduty else []), *settings.notifiers]
    names = configured if notifier is None else [notifier]
    if notifier is not None and notifier not in (*BUILT_IN, *settings.notifiers):
        typer.secho(
            f"no notifier {notifier!r}: slack, pagerduty or one under notifiers: ({', '.join(settings.notifiers)})", fg="red", err=True
        )
        raise typer.Exit(2)
    from alertflow.integrations.notifiers.registry import display_name  # after the checks: these import Prefect
    from alertflow.integrations.notifiers.rendering import for_notifier, template_of
    from alertflow.models import PagingParams
    from alertflow.paging.recipients import current_message
    from alertflow.store.pages import PageLog

    async def message(store):  # type: ignore[no-untyped-def]
        return await current_message(PageLog(store), await store.get_incident(incident), PagingParams(), step)

    try:
        base = with_store(settings, message)
    except NotFound as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1) from None
    failed = False
    for name in names:
        shaped, why = for_notifier(base, name, settings)
        typer.secho(f"== {display_name(name, settings)}: {'its template' if template_of(name, settings) else 'the default'}", bold=True)
        if why:
            failed = True
            typer.secho(f"template failed at render time, the default message is sent: {why}", fg="yellow")
        typer.echo(f"title: {shaped.headline()}")
        typer.echo("text:")
        typer.echo("\n".join(f"  {line}" for line in shaped.text().splitlines()))
    raise typer.Exit(1 if failed else 0)
