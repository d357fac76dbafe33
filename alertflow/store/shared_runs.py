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

A batch of decisions queues its runs together (alertflow/store/run_queue.py):
the stored runs are read once, and an incident may join a run queued earlier
in the same batch. The run marks its row when it is settled (a move verified or rolled back, a
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

from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass
class Run:
    """A failover or recovery run that incidents may join: a stored outbox row, or one this batch is queuing
    (``row`` is then the row being inserted, its ``id`` filled in once it is)."""

    row: dict[str, Any]
    service: str | None
    blocked: bool = False  # a failback of its switch was queued after it: it would undo the move

    @property
    def params(self) -> dict[str, Any]:
        return self.row["parameters"]["action"]["params"]


def may_join(action: Action, sharing: Mapping[str, Sharing]) -> bool:
    """Whether this action could be served by another incident's run (so the batch looks for runs to join)."""
    if isinstance(action, FailoverAction):
        return not action.params.dry_run
    return isinstance(action, RecoveryAction) and not action.params.dry_run and action.params.runbook in sharing


async def unsettled_runs(tx: Tx, at: datetime) -> list[Run]:
    """The stored failover and recovery runs yet to settle, oldest first, locked until the transaction ends."""
    o, i = t.outbox.c, t.incidents.c
    flows = (FlowName.failover.value, FlowName.recovery.value)
    query = (
        select(o.id, o.incident_id, o.flow, o.parameters, i.service)
        .join(t.incidents, i.id == o.incident_id)
        .where(o.flow.in_(flows), o.final_read_at.is_(None))
        .where(or_(o.dispatched_at.is_(None), o.dispatched_at > at - RUN_LOST_AFTER))
        .order_by(o.id)
        .with_for_update(of=t.outbox)
    )
    runs = [Run(dict(r._mapping), r.service) for r in await tx.conn.execute(query)]
    failovers = [run for run in runs if run.row["flow"] == FlowName.failover.value]
    if failovers:
        later = select(o.id, o.parameters).where(o.flow == FlowName.failback.value, o.id > failovers[0].row["id"])
        failbacks = [(r.id, _params(r)["switch"]) for r in await tx.conn.execute(later)]
        for run in failovers:
            switched_back = [switch for failback, switch in failbacks if failback > run.row["id"]]
            run.blocked = run.params["switch"] in switched_back
    return runs


def run_to_join(runs: list[Run], action: Action, service: str | None, sharing: Mapping[str, Sharing]) -> Run | None:
    """The first run among ``runs`` that carries out this same response (module docstring), if any."""
    if not may_join(action, sharing):
        return None
    for run in runs:
        if run.row["flow"] != action.flow.value or run.params.get("dry_run") or run.blocked:
            continue
        move = (action.params.switch, action.params.to) if isinstance(action, FailoverAction) else None
        if move is not None and (run.params["switch"], run.params["to"]) == move:
            return run
        shared = (
            sharing.get(run.params["runbook"])
            if isinstance(action, RecoveryAction) and run.params["runbook"] == action.params.runbook
            else None
        )
        if shared == "all" or (shared == "service" and run.service == service):
            return run
    return None


def joined_entry(incident_id: int, run: Run, action: Action, at: datetime) -> TimelineEntry:
    """The joining incident's timeline entry: which run (its incident and outbox row) does the work for it."""
    owner = run.row["incident_id"]
    whose = "this incident's own run" if owner == incident_id else f"the run of incident #{owner}"
    data: dict[str, Any]
    if isinstance(action, FailoverAction):
        what, kind = f"failover of switch {action.params.switch} to {action.params.to}", TimelineKind.failover
        data = {"switch": action.params.switch, "to": action.params.to}
    else:
        assert isinstance(action, RecoveryAction)
        what, kind, data = f"runbook {action.params.runbook}", TimelineKind.recovery, {"runbook": action.params.runbook}
    summary = f"{what} is already under way in {whose}: joined it, no run queued"
    data |= {"joined_incident": owner, "outbox_id": run.row["id"]}
    return TimelineEntry(incident_id=incident_id, at=at, kind=kind, summary=summary, data=data)


async def joined_incidents(conn: AsyncConnection, idempotency_key: str) -> list[int]:
    """The incidents that joined the run of this outbox row (their timelines name it), oldest first."""
    o, tl = t.outbox.c, t.timeline.c
    row = (await conn.execute(select(o.id, o.flow, o.created_at).where(o.idempotency_key == idempotency_key))).first()
    if row is None:
        return []
    kind = TimelineKind.recovery if row.flow == FlowName.recovery.value else TimelineKind.failover
    query = select(tl.incident_id, tl.data).where(tl.kind == kind.value, tl.at >= row.created_at).order_by(tl.id)
    joined = [e.incident_id for e in await conn.execute(query) if e.data.get("outbox_id") == row.id and "joined_incident" in e.data]
    return list(dict.fromkeys(joined))


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
