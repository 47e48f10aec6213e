"""manifest build performance: pickup lists read from the shipped orders, not copied

Revision ID: 0014_manifestperf
Revises: 0009_chat
Create Date: 2026-11-22 13:35:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db


revision = '0014_manifestperf'
down_revision = '0009_chat'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A point's pickup list is now its orders shipped up to its manifest's built_at: the copy
    # (one row per shipped order, a third of the nightly build) goes. Nothing is lost: every
    # listed order is a shipped order of that point and date, shipped before the version's build.
    with op.batch_alter_table('manifest_pickups', schema=None) as batch_op:
        batch_op.drop_index('ix_manifest_pickups_date_point')
    op.drop_table('manifest_pickups')


def downgrade() -> None:
    op.create_table('manifest_pickups',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('delivery_date', sa.Date(), nullable=False),
    sa.Column('pickup_point_id', sa.Integer(), nullable=False),
    sa.Column('buyer', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('phone_tail', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
    sa.Column('added_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_manifest_pickups'))
    )
    with op.batch_alter_table('manifest_pickups', schema=None) as batch_op:
        batch_op.create_index('ix_manifest_pickups_date_point', ['delivery_date', 'pickup_point_id'], unique=False)
