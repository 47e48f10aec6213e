"""shortages: the missing units a leader reports per (date, point, SKU), and the units refunded per order item;
orders' unpaid-expiry and source_ref indexes become partial (the shipping UPDATE writes two indexes fewer)

Revision ID: 0006_shortage
Revises: 0005_notify
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db

revision = '0006_shortage'
down_revision = '0005_notify'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery_shortages',
    sa.Column('delivery_date', sa.Date(), nullable=False),
    sa.Column('pickup_point_id', sa.Integer(), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('missing_qty', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pickup_point_id'], ['pickup_points.id'],
                            name=op.f('fk_delivery_shortages_pickup_point_id_pickup_points')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_delivery_shortages_sku_id_skus')),
    sa.PrimaryKeyConstraint('delivery_date', 'pickup_point_id', 'sku_id', name=op.f('pk_delivery_shortages'))
    )
    with op.batch_alter_table('order_items') as batch:
        batch.add_column(sa.Column('refunded_qty', sa.BigInteger(), nullable=False, server_default='0'))
        batch.create_check_constraint('refunded_within_qty', 'refunded_qty >= 0 AND refunded_qty <= qty')
    op.drop_index('ix_orders_status_pay_before', table_name='orders')
    op.create_index('ix_orders_unpaid_pay_before', 'orders', ['pay_before'],
                    sqlite_where=sa.text("status = 'pending_payment'"),
                    postgresql_where=sa.text("status = 'pending_payment'"))
    op.drop_index('ix_orders_source_ref', table_name='orders')
    op.create_index('ix_orders_source_ref', 'orders', ['source_ref'], sqlite_where=sa.text("source_ref IS NOT NULL"),
                    postgresql_where=sa.text("source_ref IS NOT NULL"))


def downgrade() -> None:
    op.drop_index('ix_orders_source_ref', table_name='orders')
    op.create_index('ix_orders_source_ref', 'orders', ['source_ref'])
    op.drop_index('ix_orders_unpaid_pay_before', table_name='orders')
    op.create_index('ix_orders_status_pay_before', 'orders', ['status', 'pay_before'])
    with op.batch_alter_table('order_items') as batch:
        batch.drop_constraint('refunded_within_qty', type_='check')
        batch.drop_column('refunded_qty')
    op.drop_table('delivery_shortages')
