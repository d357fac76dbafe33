"""The outbox's unsettled rows by flow: a failover decision finds the run it can join without reading the outbox.

Why: incidents failing over one switch share a failover run while it has not
settled its move (alertflow/store/shared_runs.py); each failover decision
looks for such a run and for failbacks queued after it. A partial index on
(flow, id) where ``final_read_at`` is null; no row changes. On a large outbox
the upgrade takes as long as building the index.

Revision ID: 0005_outbox_unsettled
Revises: 0004_inbox_fingerprint
Create Date: 2026-12-05 19:15:58.804439
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_outbox_unsettled"
down_revision = "0004_inbox_fingerprint"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_unsettled",
            ["flow", "id"],
            unique=False,
            sqlite_where=sa.text("final_read_at IS NULL"),
            postgresql_where=sa.text("final_read_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_unsettled", sqlite_where=sa.text("final_read_at IS NULL"), postgresql_where=sa.text("final_read_at IS NULL")
        )
