"""The database schema, one place, for SQLite and PostgreSQL alike.

- ``inbox``: every accepted alert, raw and parsed, before anything else happens
  (the 2xx means this row is committed). ``processed_at`` marks the pipeline's
  progress, so a crash re-reads exactly what was not yet decided; by fingerprint
  it gives each alert's latest version (what ``GET /api/v2/alerts`` shows).
- ``incidents`` / ``incident_alerts``: what the engine decided, and the state it
  rebuilds from at start-up. A partial unique index allows one open incident
  per key: a bug or a race can never open the same incident twice.
- ``timeline``: every event and action of an incident, for people and artifacts.
- ``engine_state`` / ``silences``: the rule engine's memory and people's silences.
- ``locks``: named leases (e.g. one failover per switch at a time) with an
  expiry, so a holder that died frees its lock by itself.
- ``pages``: every notification the paging flow claimed, one row per step,
  target and notifier, unique per incident and escalation episode: a retried
  or restarted paging run finds the row and does not page twice.
- ``leases``: who leads the pipeline now, and under which term; every write of
  the leader checks its term in the same transaction (fencing), so a leader
  that lost its lease cannot commit (alertflow/pipeline/leadership.py).
- ``commands``: people's commands (ack, resolve, runs, silences) on their way
  from whichever API replica took them to the pipeline leader, with the result.
- ``outbox``: flow runs decided but maybe not yet created in Prefect, in decision
  order; each row's random ``idempotency_key`` goes to Prefect, so a re-send
  after a crash creates nothing new. A timeline row's ``final_read_at`` says
  when its run took its last look at the store: until then, the run will show
  any later change, so a change queues no second timeline run (tx.py).
- ``oncall_overrides``: on-call overrides people added through the API, on top
  of the config's schedules. A removal stamps ``removed_*`` and keeps the row,
  so who added and removed what, when and with which credential stays on the
  record (the audit list, alertflow/store/overrides.py).

Every change here is also an Alembic revision (alertflow/store/migrations/).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    insert_sentinel,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

metadata = MetaData()

Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY
Json = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite too (which has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; alertflow uses aware datetimes only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


inbox = Table(
    "inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("alert", Json, nullable=False),
    Column("raw", Json, nullable=False),
    Column("processed_at", UTCDateTime),
    Column("error", Text),
    insert_sentinel("insert_order"),  # lets one INSERT ... RETURNING give ids in order (else one statement per row)
    Index(
        "ix_inbox_pending",
        "id",
        sqlite_where=text("processed_at IS NULL"),
        postgresql_where=text("processed_at IS NULL"),
    ),
    Index("ix_inbox_failed", "id", sqlite_where=text("error IS NOT NULL"), postgresql_where=text("error IS NOT NULL")),
    Index("ix_inbox_fingerprint", "fingerprint", "id"),  # an alert's latest version (the Alertmanager API lists alerts)
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("acknowledged_at", UTCDateTime),
    Column("acknowledged_by", String(256)),
    Column("resolved_at", UTCDateTime),
    Column("resolved_by", String(256)),
    Column("flapping", Boolean, nullable=False, server_default=false()),
    Index(
        "ux_incidents_open_key",
        "key",
        unique=True,
        sqlite_where=text("status != 'resolved'"),
        postgresql_where=text("status != 'resolved'"),
    ),
    Index("ix_incidents_status", "status"),
)

incident_alerts = Table(
    "incident_alerts",
    metadata,
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("fingerprint", String(128), primary_key=True),
    Column("name", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Index("ix_incident_alerts_fingerprint", "fingerprint"),  # retention: is an old inbox row's alert in a live incident? (revision 0005)
)

timeline = Table(
    "timeline",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("summary", Text, nullable=False),
    Column("data", Json, nullable=False),
    Column("actor", String(256), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # dispatch order = decision order
    Column("idempotency_key", String(36), nullable=False, unique=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("flow", String(32), nullable=False),
    Column("priority", Integer, nullable=False, server_default="1"),  # lower dispatches first (paging)
    Column("parameters", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("dispatched_at", UTCDateTime),
    Column("flow_run_id", String(36)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("final_read_at", UTCDateTime),  # timeline rows: the run's last look at the store (revision 0003)
    Index(
        "ix_outbox_pending",
        "priority",
        "id",
        sqlite_where=text("dispatched_at IS NULL"),
        postgresql_where=text("dispatched_at IS NULL"),
    ),
    # A failover decision looks for an unsettled failover run and later failbacks of the switch (store/shared_runs.py).
    Index("ix_outbox_unsettled", "flow", "id", sqlite_where=text("final_read_at IS NULL"), postgresql_where=text("final_read_at IS NULL")),
)

# The rule engine's memory (rules/state.py): groups, their members, suppressed
# alerts and heartbeats, one JSON row each, written with the decisions that
# changed them so a restart resumes windows and timers where they were.
engine_state = Table(
    "engine_state",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("state", Json, nullable=False),
)

silences = Table(
    "silences",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("matchers", Json, nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False, index=True),
    Column("author", String(256), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

workers = Table(
    "workers",  # each in-process worker's heartbeat and the flow runs it is running, so a dead one's runs are taken over
    metadata,
    Column("id", String(32), primary_key=True),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("runs", Json, nullable=False),  # flow run ids
)

announcements = Table(
    "announcements",  # a paging decision's first notification, queued with the decision, sent without Prefect
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("outbox_id", Id, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("episode", String(32), nullable=False),  # the page log's episode: the paging run that follows shares it
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    Index("ix_announcements_pending", "id", sqlite_where=text("done_at IS NULL"), postgresql_where=text("done_at IS NULL")),
)

pages = Table(
    "pages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("episode", String(32), nullable=False),  # the paging decision (hex of its outbox key): announcer and run share it
    Column("step", String(64), nullable=False),  # e.g. "1.2.0.slack": pass, step, target, notifier
    Column("notifier", String(16), nullable=False),  # its name: slack, pagerduty or one under notifiers: (at most 16)
    Column("recipient", String(256), nullable=False),  # who or where, as people read it
    Column("address", String(256), nullable=False),  # Slack channel/user id, person:NAME, or where a routing key is configured
    Column("status", String(16), nullable=False),  # sending | sent | failed
    Column("channel", String(64)),
    Column("ts", String(64)),
    Column("detail", Text),
    Column("claimed_at", UTCDateTime, nullable=False),
    UniqueConstraint("incident_id", "episode", "step", name="ux_pages_step"),
)

leases = Table(
    "leases",  # one row per elected role ("pipeline"): the holder, its term, and until when (epoch seconds, database clock)
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("term", BigInteger, nullable=False),
    Column("expires_at", Float, nullable=False),
)

commands = Table(
    "commands",  # a person's command, queued by any API replica and applied once by the pipeline leader
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("payload", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    Column("result", Json),  # {"value": ...} or {"error": kind, "message": ..., "field": ...}
    Index("ix_commands_pending", "id", sqlite_where=text("done_at IS NULL"), postgresql_where=text("done_at IS NULL")),
)

oncall_overrides = Table(
    "oncall_overrides",  # who covers a schedule from when to when, added and maybe removed by whom (never deleted)
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # creation order: the latest of overlapping overrides wins
    Column("schedule", String(200), nullable=False),
    Column("person", String(200), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(256), nullable=False),  # the person the caller named (the CLI's --by)
    Column("created_via", String(256), nullable=False),  # the credential that made the request, by its setting's name
    Column("removed_at", UTCDateTime),
    Column("removed_by", String(256)),
    Column("removed_via", String(256)),
    Index("ix_oncall_overrides_live", "ends_at", sqlite_where=text("removed_at IS NULL"), postgresql_where=text("removed_at IS NULL")),
)
