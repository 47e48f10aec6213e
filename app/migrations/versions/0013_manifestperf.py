"""manifest build performance: pickup lists read from the shipped orders, not copied; HOT shipping

Revision ID: 0013_manifestperf
Revises: 0009_chat
Create Date: 2026-11-22 13:35:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision = '0013_manifestperf'
down_revision = '0012_fans'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A point's pickup list is now its orders shipped up to its manifest's built_at: the copy
    # (one row per shipped order, a third of the nightly build) goes. Nothing is lost: every
    # listed order is a shipped order of that point and date, shipped before the version's build.
    with op.batch_alter_table('manifest_pickups', schema=None) as batch_op:
        batch_op.drop_index('ix_manifest_pickups_date_point')
    op.drop_table('manifest_pickups')

    # The shipping UPDATE (status, shipped_at of every paid order of the date) becomes a HOT
    # update on PostgreSQL: no index names status any more (orders by point and date use
    # uq_orders_point_date_code; the pending index's predicate uses paid_at/cancelled_at), and
    # pages keep room for the new row versions (fillfactor: rows written from now on; VACUUM
    # FULL orders rewrites the old ones at a quiet hour). The build finds a date's orders by
    # ix_orders_delivery_date instead of a scan of every order ever placed.
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_point_date_status')
        batch_op.drop_index('ix_orders_unpaid_pay_before')
        batch_op.create_index('ix_orders_delivery_date', ['delivery_date'], unique=False)
        batch_op.create_index('ix_orders_unpaid_pay_before', ['pay_before'], unique=False,
                              sqlite_where=sa.text('paid_at IS NULL AND cancelled_at IS NULL'),
                              postgresql_where=sa.text('paid_at IS NULL AND cancelled_at IS NULL'))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE orders SET (fillfactor = 50)')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE orders RESET (fillfactor)')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_unpaid_pay_before')
        batch_op.drop_index('ix_orders_delivery_date')
        batch_op.create_index('ix_orders_unpaid_pay_before', ['pay_before'], unique=False,
                              sqlite_where=sa.text("status = 'pending_payment'"),
                              postgresql_where=sa.text("status = 'pending_payment'"))
        batch_op.create_index('ix_orders_point_date_status', ['pickup_point_id', 'delivery_date', 'status'],
                              unique=False)

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
