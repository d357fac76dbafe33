"""outbox.final_read_at: when a timeline run took its last look at the store.

Why: a change to an incident queues no second timeline run while one is still
to read the store (alertflow/store/tx.py ``queue_action``). Timeline runs
dispatched before this column existed ran long ago: they count as having read
(backfilled from ``dispatched_at``), so the next change queues a new run.

Revision ID: 0003_timeline_final_read
Revises: 0002_leases_commands
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_timeline_final_read"
down_revision = "0002_leases_commands"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("final_read_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE outbox SET final_read_at = dispatched_at WHERE dispatched_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("final_read_at")
