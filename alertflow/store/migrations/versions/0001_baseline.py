"""Baseline: the schema as alertflow made it with ``metadata.create_all`` up to commit 12326c7.

Why: until then the tables were created at start-up and never altered, so a
database made before a column was added never got it. This revision is that
schema exactly (every table, index, partial index and constraint, with the
names the databases already have), so a database made by create_all is
stamped here (alertflow/store/legacy.py) and every later change is a
revision on top.

Types are spelled as DDL, not imported from tables.py (which changes): the
ids are BIGINT (INTEGER on SQLite, which autoincrements only an INTEGER
PRIMARY KEY), JSON is JSONB on PostgreSQL, and tables.UTCDateTime is
DateTime(timezone=True). Constraints the old schema left unnamed stay
unnamed, so PostgreSQL names them as it named them then (``outbox_pkey``,
``outbox_idempotency_key_key``, ``timeline_incident_id_fkey``, ...).

One function per table: alertflow/store/legacy.py creates a table that an
old database lacks with the same function.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
AT = sa.DateTime(timezone=True)


def where(condition: str) -> dict[str, sa.TextClause]:
    """A partial index's predicate, on both databases."""
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def create_inbox() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", AT, nullable=False),
        sa.Column("alert", JSON, nullable=False),
        sa.Column("raw", JSON, nullable=False),
        sa.Column("processed_at", AT, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("insert_order", sa.Integer(), nullable=True),  # tables.py's insert_sentinel
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inbox_pending", "inbox", ["id"], **where("processed_at IS NULL"))
    op.create_index("ix_inbox_failed", "inbox", ["id"], **where("error IS NOT NULL"))


def create_incidents() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("opened_at", AT, nullable=False),
        sa.Column("acknowledged_at", AT, nullable=True),
        sa.Column("acknowledged_by", sa.String(256), nullable=True),
        sa.Column("resolved_at", AT, nullable=True),
        sa.Column("resolved_by", sa.String(256), nullable=True),
        sa.Column("flapping", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_incidents_open_key", "incidents", ["key"], unique=True, **where("status != 'resolved'"))
    op.create_index("ix_incidents_status", "incidents", ["status"])


def create_incident_alerts() -> None:
    op.create_table(
        "incident_alerts",
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_seen", AT, nullable=False),
        sa.Column("last_seen", AT, nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("incident_id", "fingerprint"),
    )


def create_timeline() -> None:
    op.create_table(
        "timeline",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("at", AT, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_timeline_incident_id", "timeline", ["incident_id"])


def create_outbox() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(36), nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="1", nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("dispatched_at", AT, nullable=True),
        sa.Column("flow_run_id", sa.String(36), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", AT, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_outbox_incident_id", "outbox", ["incident_id"])
    op.create_index("ix_outbox_pending", "outbox", ["priority", "id"], **where("dispatched_at IS NULL"))


def create_engine_state() -> None:
    op.create_table(
        "engine_state",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )


def create_silences() -> None:
    op.create_table(
        "silences",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("matchers", JSON, nullable=False),
        sa.Column("starts_at", AT, nullable=False),
        sa.Column("ends_at", AT, nullable=False),
        sa.Column("author", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def create_locks() -> None:
    op.create_table(
        "locks",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", AT, nullable=False),
        sa.Column("expires_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def create_workers() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("heartbeat_at", AT, nullable=False),
        sa.Column("runs", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def create_announcements() -> None:
    op.create_table(
        "announcements",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("outbox_id", ID, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("episode", sa.String(32), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("done_at", AT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outbox_id"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_announcements_pending", "announcements", ["id"], **where("done_at IS NULL"))


def create_pages() -> None:
    op.create_table(
        "pages",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("episode", sa.String(32), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("notifier", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(256), nullable=False),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("ts", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("claimed_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "episode", "step", name="ux_pages_step"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
    )


# In creation order: a table after the tables it references.
TABLES = {
    "inbox": create_inbox,
    "incidents": create_incidents,
    "incident_alerts": create_incident_alerts,
    "timeline": create_timeline,
    "outbox": create_outbox,
    "engine_state": create_engine_state,
    "silences": create_silences,
    "locks": create_locks,
    "workers": create_workers,
    "announcements": create_announcements,
    "pages": create_pages,
}


def upgrade() -> None:
    for create in TABLES.values():
        create()


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)  # its indexes go with it
