"""One failover run per move of a switch, however many incidents need it; no failback while another still does.

In a big outage many incidents fail over the same switch (every service
behind one front end). Each once got its own run, and the runs took turns on
the switch's lease (flows/traffic.py): 100 incidents made 100 runs, the last
Running minutes late, all but the first finding nothing to do. Now a failover
that a queued or running run is about to make (the same switch and target,
not a dry run) joins that run: the incident's timeline names the run's
incident and outbox row, and no run is queued. The run marks its row when its
move is settled, verified or rolled back and handed to people
(``Tx.close_run``); a failover decided after that gets a run of its own, and
so does one decided after a failback of the switch was queued (that failback
would undo the run it joined). A person's ``alertflow run failover`` always
runs.

Failing back follows: an incident that resolves while another open incident
still relies on the switch (its own failover run, or one it joined) does not
fail the switch back; its timeline says which incidents hold it, and the last
of them to resolve fails back by its own rule.

Both run inside the deciding transaction (``Tx``), with the rows read ``FOR
UPDATE`` on PostgreSQL (SQLite has one writer), so a run settling its move
and an incident joining it cannot cross.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from alertflow.models import FailoverAction, FlowName, IncidentStatus, TimelineEntry, TimelineKind
from alertflow.store import tables as t

if TYPE_CHECKING:
    from alertflow.store.tx import Tx

# A failover run that never settles its move (cancelled in Prefect, its database wiped) stops being joined after
# this long: longer than it may wait for the switch (a holder's lease, flows/traffic.py LOCK_TTL_SECONDS, is 15
# minutes) plus its retries.
FAILOVER_RUN_LOST_AFTER = timedelta(minutes=30)


def _params(row: Any) -> dict[str, Any]:
    return row.parameters["action"]["params"]


async def join_failover(tx: Tx, incident_id: int, action: FailoverAction, at: datetime) -> int | None:
    """Join a failover run (of any incident) that is yet to settle this same move: a timeline entry for this
    incident naming that run's incident and row; that row's id. None if there is no such run."""
    wanted = action.params
    if wanted.dry_run:
        return None
    o = t.outbox.c
    unsettled = (
        select(o.id, o.incident_id, o.parameters)
        .where(o.flow == FlowName.failover.value, o.final_read_at.is_(None))
        .where(or_(o.dispatched_at.is_(None), o.dispatched_at > at - FAILOVER_RUN_LOST_AFTER))
        .order_by(o.id)
        .with_for_update()
    )
    for row in await tx.conn.execute(unsettled):
        params = _params(row)
        if params["switch"] != wanted.switch or params["to"] != wanted.to or params.get("dry_run"):
            continue
        later_failbacks = select(o.parameters).where(o.flow == FlowName.failback.value, o.id > row.id)
        if any(_params(r)["switch"] == wanted.switch for r in await tx.conn.execute(later_failbacks)):
            continue  # the failback queued after that run undoes its move: a later run, or one of its own
        whose = "this incident's own run" if row.incident_id == incident_id else f"the run of incident #{row.incident_id}"
        summary = f"failover of switch {wanted.switch} to {wanted.to} is already under way in {whose}: joined it, no run queued"
        data = {"switch": wanted.switch, "to": wanted.to, "joined_incident": row.incident_id, "outbox_id": row.id}
        await tx.add_timeline([TimelineEntry(incident_id=incident_id, at=at, kind=TimelineKind.failover, summary=summary, data=data)])
        return int(row.id)
    return None


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
