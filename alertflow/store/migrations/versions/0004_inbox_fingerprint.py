"""The inbox by fingerprint: each alert's latest version, found without reading the whole inbox.

Why: the Alertmanager API (``GET /api/v2/alerts``, alertflow/store/firing.py)
lists the alerts firing now with their labels and annotations as last
received; the engine's state knows which fingerprints fire, the inbox has
their bodies. One index on (fingerprint, id); no row changes. On a large inbox
the upgrade takes as long as building the index.

Revision ID: 0004_inbox_fingerprint
Revises: 0003_timeline_final_read
Create Date: 2026-12-05 16:35:50.291354
"""

from __future__ import annotations

from alembic import op

revision = "0004_inbox_fingerprint"
down_revision = "0003_timeline_final_read"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_fingerprint", ["fingerprint", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_fingerprint")
