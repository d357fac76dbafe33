"""What fires now, read from the store, for the Alertmanager API (``GET /api/v2/alerts``, ``/alerts/groups``).

Why here: amtool, Grafana and people ask "which alerts fire?" of any replica,
and only the leader holds the engine in memory. The store has the same answer:
the engine's state rows (written with every decision) say which fingerprints
fire in which group (an incident, or a pattern still pending) and which are
held back (silenced, in a maintenance window, inhibited); the inbox has each
alert's latest version, by fingerprint (``ix_inbox_fingerprint``); inbox rows
not yet decided are Alertmanager's "unprocessed". Alerts no rule took, and
resolved ones, are not listed.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alertflow.models import Alert, AlertStatus, Severity
from alertflow.store import tables as t

LIVE_PHASES = ("pending", "open", "resolving")  # a group in these still holds firing alerts (rules/state.py Phase)
LOOKUP_CHUNK = 500  # fingerprints per IN (...) query
UNPROCESSED_LIMIT = 1000  # undecided inbox rows looked at; a backlog beyond shows up once decided


@dataclass(frozen=True)
class Firing:
    alert: Alert  # as last received
    state: str  # active | suppressed | unprocessed (Alertmanager's words)
    updated_at: datetime  # when it was last received
    rule_id: str | None = None  # the rule whose group holds it (its incident, or a pattern not yet complete)
    group_key: str | None = None
    held: str | None = None  # suppressed: silence | maintenance | inhibited
    inhibited_by: str | None = None  # inhibited: the inhibiting alert's fingerprint


class FiringReads:
    """The firing-alert reads of ``Store`` (alertflow/store/database.py), which provides ``read()``."""

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        raise NotImplementedError

    async def firing_alerts(self) -> list[Firing]:
        """Every firing alert alertflow holds, ordered by fingerprint."""
        async with self.read() as conn:
            kinds = t.engine_state.c.kind.in_(("group", "member", "suppressed"))
            rows = (await conn.execute(select(t.engine_state).where(kinds))).all()
            groups = {row.key: row.state for row in rows if row.kind == "group" and row.state["phase"] in LIVE_PHASES}
            members: dict[str, tuple[str, dict[str, Any]]] = {}
            for row in rows:
                if row.kind == "member":
                    group_key, _, fingerprint = row.key.partition("\x1f")
                    if group_key in groups and row.state["firing"]:
                        members[fingerprint] = (group_key, row.state)
            suppressed = {row.key: row.state for row in rows if row.kind == "suppressed"}
            latest = await _latest(conn, [*members, *suppressed])
            pending = await _undecided(conn)
        found: dict[str, Firing] = {}
        for fingerprint, (group_key, member) in members.items():
            group = groups[group_key]
            alert, at = latest.get(fingerprint) or _remembered(fingerprint, member, group)
            found[fingerprint] = Firing(alert, "active", at, group["rule_id"], group_key)
        for fingerprint, state in suppressed.items():
            alert, at = latest.get(fingerprint) or (Alert.model_validate(state["alert"]), _received(state["alert"]))
            found[fingerprint] = Firing(alert, "suppressed", at, held=state["kind"], inhibited_by=state["source"])
        for alert, at in pending:
            if alert.fingerprint not in found:
                found[alert.fingerprint] = Firing(alert, "unprocessed", at)
        return [found[key] for key in sorted(found)]


async def _latest(conn: AsyncConnection, fingerprints: list[str]) -> dict[str, tuple[Alert, datetime]]:
    """Each fingerprint's latest inbox row (firing or not: the engine's state says whether it fires)."""
    found: dict[str, tuple[Alert, datetime]] = {}
    for start in range(0, len(fingerprints), LOOKUP_CHUNK):
        chunk = fingerprints[start : start + LOOKUP_CHUNK]
        newest = select(func.max(t.inbox.c.id)).where(t.inbox.c.fingerprint.in_(chunk)).group_by(t.inbox.c.fingerprint)
        query = select(t.inbox.c.fingerprint, t.inbox.c.alert, t.inbox.c.received_at).where(t.inbox.c.id.in_(newest))
        for row in await conn.execute(query):
            found[row.fingerprint] = (Alert.model_validate(row.alert), row.received_at)
    return found


async def _undecided(conn: AsyncConnection) -> list[tuple[Alert, datetime]]:
    """Alerts in the inbox the pipeline has not decided yet whose latest version fires."""
    query = (
        select(t.inbox.c.alert, t.inbox.c.received_at)
        .where(t.inbox.c.processed_at.is_(None))
        .order_by(t.inbox.c.id.desc())
        .limit(UNPROCESSED_LIMIT)
    )
    newest: dict[str, tuple[Alert, datetime]] = {}
    for row in await conn.execute(query):
        alert = Alert.model_validate(row.alert)
        newest.setdefault(alert.fingerprint, (alert, row.received_at))
    return [(alert, at) for alert, at in newest.values() if alert.status is AlertStatus.firing]


def _remembered(fingerprint: str, member: dict[str, Any], group: dict[str, Any]) -> tuple[Alert, datetime]:
    """An alert the inbox never saw (a heartbeat's "missing" alert, made by the engine): what its state remembers."""
    seen = datetime.fromisoformat(member["seen"])
    alert = Alert(
        source="alertflow",
        fingerprint=fingerprint,
        name=member["name"],
        service=group["service"],
        severity=Severity(member["severity"]),
        status=AlertStatus.firing,
        labels={"alertname": member["name"]},
        starts_at=seen,
        received_at=seen,
    )
    return alert, seen


def _received(alert: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(alert["received_at"])
