"""fans: users.bound_at (when the pickup point was bound), users (pickup_point_id, id, bound_at) for paging a point's fans

Revision ID: 0012_fans
Revises: 0009_chat
Create Date: 2026-11-22 13:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db

revision = '0012_fans'
down_revision = '0011_share'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bound_at', app.db.UTCDateTime(timezone=True), nullable=True))
        # (pickup_point_id, id, bound_at) serves everything (pickup_point_id) did, pages a point's
        # buyers by id and answers "bound lately?" without reading the rows (bench/fans.py).
        batch_op.drop_index('ix_users_pickup_point_id')
        batch_op.create_index('ix_users_point_id', ['pickup_point_id', 'id', 'bound_at'], unique=False)
    # Users bound before this revision: when they bound is unknown; their sign-up is the earliest it
    # can have been. (Not "now": that would make every existing buyer who never ordered a "new" fan
    # of their leader for a week.)
    op.execute("UPDATE users SET bound_at = created_at WHERE pickup_point_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_point_id')
        batch_op.create_index('ix_users_pickup_point_id', ['pickup_point_id'], unique=False)
        batch_op.drop_column('bound_at')
