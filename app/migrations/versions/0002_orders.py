"""one pending leader application per user, enforced by the database

Revision ID: 0002_orders
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002_orders'
down_revision = '0001'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    # Rows written before the rule may break it: keep each user's newest pending application
    # and mark the older ones rejected, so that the index can be built.
    op.execute("""
        UPDATE leader_applications SET status = 'rejected', reason = 'superseded by a newer application'
        WHERE status = 'pending' AND id NOT IN (
            SELECT max_id FROM (SELECT max(id) AS max_id FROM leader_applications
                                WHERE status = 'pending' GROUP BY user_id) AS newest)
    """)
    op.create_index('uq_leader_applications_user_pending', 'leader_applications', ['user_id'], unique=True,
                    sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    op.drop_index('uq_leader_applications_user_pending', table_name='leader_applications')
