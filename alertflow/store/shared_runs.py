"""One run per response that many incidents need at once: a failover of one switch, a runbook that does the same.

In a big outage many incidents fail over the same switch (every service
behind one front end) and restart the same thing. Each once got its own run:
100 incidents made 100 failover runs taking turns on the switch's lease
(flows/traffic.py), the last Running minutes late, all but the first finding
nothing to do, and 100 runs of one runbook restarting one service a hundred
times. Now a response that a queued or running run is about to carry out
joins that run: the incident's timeline names the run's incident and outbox
row, and no run is queued. What "the same" means:

- failover: the same switch and target, not a dry run, and no failback of
  that switch queued after the run (it would undo the move);
- recovery: the same runbook, not a dry run, and a runbook that would do
  exactly the same for both incidents: it names no ``{incident_id}``, and
  names ``{service}`` only if both incidents are of one service
  (``runbook_sharing``).

The run marks its row when it is settled (a move verified or rolled back, a
runbook done or handed to people: ``Tx.close_run``); a response decided after
that gets a run of its own, and so does one a person asks for (``alertflow
run``). A recovery run tells the incidents that joined it how it ended, and
mitigates them with its own (flows/recovery.py).

Failing back follows: an incident that resolves while another open incident
still relies on the switch (its own failover run, or one it joined) does not
fail the switch back; its timeline says which incidents hold it, and the last
of them to resolve fails back by its own rule.

All of it runs inside the deciding transaction (``Tx``), with the rows read
``FOR UPDATE`` on PostgreSQL (SQLite has one writer), so a run settling and an
incident joining it cannot cross.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alertflow.models import Action, FailoverAction, FlowName, IncidentStatus, RecoveryAction, TimelineEntry, TimelineKind
from alertflow.store import tables as t
from alertflow.templates import PLACEHOLDER

if TYPE_CHECKING:
    from alertflow.config.responses import Runbook
    from alertflow.store.tx import Tx

# A run that never settles (cancelled in Prefect, its database wiped) stops being joined after this long: longer
# than a failover may wait for the switch (a holder's lease, flows/traffic.py LOCK_TTL_SECONDS, is 15 minutes) or a
# runbook may take, plus their retries.
RUN_LOST_AFTER = timedelta(minutes=30)

Sharing = Literal["all", "service"]


def runbook_sharing(runbook: Runbook) -> Sharing | None:
    """Which incidents a run of this runbook can serve: all (it names neither), those of one service (it names
    ``{service}``), or only its own (it names ``{incident_id}``)."""
    names = set(PLACEHOLDER.findall(runbook.model_dump_json()))
    return None if "incident_id" in names else "service" if "service" in names else "all"


def _params(row: Any) -> dict[str, Any]:
    return row.parameters["action"]["params"]


async def join_run(tx: Tx, incident_id: int, action: Action, at: datetime, sharing: dict[str, Sharing]) -> int | None:
    """Join a run (of any incident) that is yet to carry out this same response: a timeline entry for this incident
    naming that run's incident and row; that row's id. None if there is no such run. ``sharing``: each runbook's
    ``runbook_sharing`` (a runbook not in it is never shared)."""
    if isinstance(action, FailoverAction) and not action.params.dry_run:
        return await _join_failover(tx, incident_id, action, at)
    if isinstance(action, RecoveryAction) and not action.params.dry_run and action.params.runbook in sharing:
        return await _join_recovery(tx, incident_id, action, at, sharing[action.params.runbook])
    return None


def _unsettled(flow: FlowName, at: datetime) -> Any:
    o = t.outbox.c
    return (
        select(o.id, o.incident_id, o.parameters)
        .where(o.flow == flow.value, o.final_read_at.is_(None))
        .where(or_(o.dispatched_at.is_(None), o.dispatched_at > at - RUN_LOST_AFTER))
        .order_by(o.id)
        .with_for_update()
    )


async def _joined(tx: Tx, incident_id: int, row: Any, kind: TimelineKind, what: str, at: datetime, **data: Any) -> int:
    whose = "this incident's own run" if row.incident_id == incident_id else f"the run of incident #{row.incident_id}"
    summary = f"{what} is already under way in {whose}: joined it, no run queued"
    data |= {"joined_incident": row.incident_id, "outbox_id": row.id}
    await tx.add_timeline([TimelineEntry(incident_id=incident_id, at=at, kind=kind, summary=summary, data=data)])
    return int(row.id)


async def _join_failover(tx: Tx, incident_id: int, action: FailoverAction, at: datetime) -> int | None:
    wanted = action.params
    o = t.outbox.c
    for row in await tx.conn.execute(_unsettled(FlowName.failover, at)):
        params = _params(row)
        if params["switch"] != wanted.switch or params["to"] != wanted.to or params.get("dry_run"):
            continue
        later_failbacks = select(o.parameters).where(o.flow == FlowName.failback.value, o.id > row.id)
        if any(_params(r)["switch"] == wanted.switch for r in await tx.conn.execute(later_failbacks)):
            continue  # the failback queued after that run undoes its move: a later run, or one of its own
        what = f"failover of switch {wanted.switch} to {wanted.to}"
        return await _joined(tx, incident_id, row, TimelineKind.failover, what, at, switch=wanted.switch, to=wanted.to)
    return None


async def _join_recovery(tx: Tx, incident_id: int, action: RecoveryAction, at: datetime, sharing: Sharing) -> int | None:
    runbook = action.params.runbook
    rows = [r for r in await tx.conn.execute(_unsettled(FlowName.recovery, at)) if _params(r)["runbook"] == runbook]
    rows = [r for r in rows if not _params(r).get("dry_run")]
    if rows and sharing == "service":
        i = t.incidents.c
        ids = {incident_id, *(r.incident_id for r in rows)}
        services = dict((await tx.conn.execute(select(i.id, i.service).where(i.id.in_(ids)))).all())
        rows = [r for r in rows if services.get(r.incident_id) == services.get(incident_id)]
    if not rows:
        return None
    return await _joined(tx, incident_id, rows[0], TimelineKind.recovery, f"runbook {runbook}", at, runbook=runbook)


async def joined_incidents(conn: AsyncConnection, idempotency_key: str) -> list[int]:
    """The incidents that joined the run of this outbox row (their timelines name it), oldest first."""
    o, tl = t.outbox.c, t.timeline.c
    row = (await conn.execute(select(o.id, o.flow, o.created_at).where(o.idempotency_key == idempotency_key))).first()
    if row is None:
        return []
    kind = TimelineKind.recovery if row.flow == FlowName.recovery.value else TimelineKind.failover
    entries = await conn.execute(select(tl.incident_id, tl.data).where(tl.kind == kind.value, tl.at >= row.created_at).order_by(tl.id))
    return list(dict.fromkeys(e.incident_id for e in entries if e.data.get("outbox_id") == row.id and "joined_incident" in e.data))


async def still_relying(tx: Tx, incident_id: int, switch: str) -> list[int]:
    """Open incidents other than this one that failed the switch over, by a run of their own or one they joined."""
    i, o, tl = t.incidents.c, t.outbox.c, t.timeline.c
    still_open = i.status != IncidentStatus.resolved.value
    own = select(o.incident_id, o.parameters).join(t.incidents, i.id == o.incident_id)
    own = own.where(o.flow == FlowName.failover.value, still_open, o.incident_id != incident_id)
    joined = select(tl.incident_id, tl.data).join(t.incidents, i.id == tl.incident_id)
    joined = joined.where(tl.kind == TimelineKind.failover.value, still_open, tl.incident_id != incident_id)
    found = {r.incident_id for r in await tx.conn.execute(own) if _params(r)["switch"] == switch and not _params(r).get("dry_run")}
    found |= {r.incident_id for r in await tx.conn.execute(joined) if r.data.get("switch") == switch and "joined_incident" in r.data}
    return sorted(found)
