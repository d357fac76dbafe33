"""The incidents' alerts by fingerprint: retention's check that an old inbox row's alert belongs to no live incident.

Why: retention (alertflow/store/retention.py) keeps every inbox row whose
alert is in an incident not yet resolved (or that may reopen). Without this
index that check probed each live incident's alerts for each row, so a batch's
delete held the store's write lock for 170 ms with 500 incidents open; by
fingerprint it finds the few incidents an alert was ever in. One index; no
row changes. On a large store the upgrade takes as long as building the index.

Revision ID: 0007_retention
Revises: 0006_oncall_overrides
Create Date: 2026-12-05 19:31:53.152005
"""

from __future__ import annotations

from alembic import op

revision = "0007_retention"
down_revision = "0006_oncall_overrides"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incident_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_incident_alerts_fingerprint", ["fingerprint"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incident_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_alerts_fingerprint")
