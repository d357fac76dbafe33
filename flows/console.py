"""The ``open-incidents`` table artifact: the Prefect UI's Artifacts page as the console of incidents not yet resolved.

Each row is an open, acknowledged or mitigated incident with a link to its
timeline artifact and to its response flows' latest runs. Every timeline run
refreshes it, so it stays current; but a storm opens hundreds of incidents a
minute and each version is a row in Prefect's database, so runs take turns
(alertflow/store/summary.py ``take_turn``): at most one version every
``reports.open_incidents_seconds`` (5 s) across every worker. A run whose change
the last version may not show waits for the next turn before it ends, unless a
turn that began after its change already covers it. A refresh that fails is
logged and dropped: the console is a view, never a reason to fail a timeline.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timezone

from prefect.artifacts import acreate_table_artifact

from alertflow.flows.runtime import artifact_key, artifact_link, run_link, settings, store
from alertflow.models import timestamp
from alertflow.store.summary import open_incidents, take_turn

KEY = "open-incidents"
log = logging.getLogger(__name__)


async def publish_open_incidents() -> int:
    """Publish the table now; returns how many incidents it lists."""
    found = await open_incidents(store())
    rows = [
        {
            "incident": f"#{o.incident.id}",
            "status": o.incident.status.value,
            "severity": o.incident.severity.value,
            "service": o.incident.service,
            "title": o.incident.title,
            "opened (UTC)": timestamp(o.incident.opened_at)[:19].replace("T", " "),
            "acknowledged by": o.incident.acknowledged_by or "",
            "timeline": artifact_link(artifact_key(o.incident.id)),
            "runs": " ".join(f"{flow}: {run_link(run)}" for flow, run in o.runs.items()),
        }
        for o in found
    ]
    now = datetime.now(timezone.utc)
    description = f"{len(rows)} open incident{'s' if len(rows) != 1 else ''} as of {timestamp(now)}"
    await acreate_table_artifact(rows or [{"incident": "none open"}], key=KEY, description=description)
    return len(rows)


async def refresh_open_incidents(changed_at: datetime, wait: bool) -> bool:
    """Publish, unless a turn that began at or after ``changed_at`` covers the change; ``wait`` for the next turn
    when another run holds this one (else leave the change to a later refresh). True when this call published."""
    every, me = settings().reports.open_incidents_seconds, uuid.uuid4().hex
    try:
        while True:
            ours, began = await take_turn(store(), KEY, me, datetime.now(timezone.utc), every)
            if ours:
                await publish_open_incidents()
                return True
            if began >= changed_at or not wait:
                return False
            await asyncio.sleep(max((began - datetime.now(timezone.utc)).total_seconds() + every, 0.0) + 0.05)
    except Exception as err:  # a view: never fail a timeline for it
        log.warning("open-incidents artifact not refreshed: %s: %s", type(err).__name__, err)
        return False
