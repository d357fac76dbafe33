"""On-call overrides stored in the database: a swap added from the CLI or the API without editing the config.

Why: people cover for each other at short notice (``alertflow oncall override
add``); paging, ``oncall who|show`` and the calendar feed read these rows on
top of the config's schedules. A new table only; no existing row changes.
Rows are never deleted: a removal stamps ``removed_*``, so the audit keeps it.

Revision ID: 0006_oncall_overrides
Revises: 0005_outbox_unsettled
Create Date: 2026-12-05 19:04:53.090129
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_oncall_overrides"
down_revision = "0005_outbox_unsettled"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oncall_overrides",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("schedule", sa.String(length=200), nullable=False),
        sa.Column("person", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_via", sa.String(length=256), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(length=256), nullable=True),
        sa.Column("removed_via", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("oncall_overrides", schema=None) as batch_op:
        batch_op.create_index(
            "ix_oncall_overrides_live",
            ["ends_at"],
            unique=False,
            sqlite_where=sa.text("removed_at IS NULL"),
            postgresql_where=sa.text("removed_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("oncall_overrides", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_oncall_overrides_live", sqlite_where=sa.text("removed_at IS NULL"), postgresql_where=sa.text("removed_at IS NULL")
        )

    op.drop_table("oncall_overrides")
