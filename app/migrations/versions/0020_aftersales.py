"""after-sales (售后): requests per item, decided by the leader first, with their log

Revision ID: 0020_aftersales
Revises: 0019_wallet
Create Date: 2026-12-04 15:40:59.069537
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision = '0020_aftersales'
down_revision = '0019_wallet'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('after_sales',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('pickup_point_id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('images', sa.JSON(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('refunded_amount', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_after_sales_after_sale_amount_non_negative')),
    sa.CheckConstraint('refunded_amount >= 0', name=op.f('ck_after_sales_after_sale_refunded_non_negative')),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_after_sales_buyer_id_users')),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_after_sales_leader_id_leaders')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_after_sales_order_id_orders')),
    sa.ForeignKeyConstraint(['pickup_point_id'], ['pickup_points.id'], name=op.f('fk_after_sales_pickup_point_id_pickup_points')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_after_sales'))
    )
    with op.batch_alter_table('after_sales', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_after_sales_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_after_sales_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_after_sales_point_status', ['pickup_point_id', 'status'], unique=False)
        batch_op.create_index('ix_after_sales_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index('uq_after_sales_one_open_per_order', ['order_id'], unique=True, sqlite_where=sa.text("status IN ('requested', 'escalated', 'approved')"), postgresql_where=sa.text("status IN ('requested', 'escalated', 'approved')"))

    op.create_table('after_sale_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('after_sale_id', sa.Integer(), nullable=False),
    sa.Column('order_item_id', sa.Integer(), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=201), nullable=False),
    sa.Column('qty', sa.BigInteger(), nullable=False),
    sa.Column('unit_price', sa.BigInteger(), nullable=False),
    sa.Column('refunded_qty', sa.BigInteger(), server_default='0', nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_after_sale_items_after_sale_item_qty_positive')),
    sa.ForeignKeyConstraint(['after_sale_id'], ['after_sales.id'], name=op.f('fk_after_sale_items_after_sale_id_after_sales')),
    sa.ForeignKeyConstraint(['order_item_id'], ['order_items.id'], name=op.f('fk_after_sale_items_order_item_id_order_items')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_after_sale_items_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_after_sale_items'))
    )
    with op.batch_alter_table('after_sale_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_after_sale_items_after_sale_id'), ['after_sale_id'], unique=False)

    op.create_table('after_sale_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('after_sale_id', sa.Integer(), nullable=False),
    sa.Column('at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.ForeignKeyConstraint(['after_sale_id'], ['after_sales.id'], name=op.f('fk_after_sale_logs_after_sale_id_after_sales')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_after_sale_logs'))
    )
    with op.batch_alter_table('after_sale_logs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_after_sale_logs_after_sale_id'), ['after_sale_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('after_sale_logs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_after_sale_logs_after_sale_id'))

    op.drop_table('after_sale_logs')
    with op.batch_alter_table('after_sale_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_after_sale_items_after_sale_id'))

    op.drop_table('after_sale_items')
    with op.batch_alter_table('after_sales', schema=None) as batch_op:
        batch_op.drop_index('uq_after_sales_one_open_per_order', sqlite_where=sa.text("status IN ('requested', 'escalated', 'approved')"), postgresql_where=sa.text("status IN ('requested', 'escalated', 'approved')"))
        batch_op.drop_index('ix_after_sales_status_created')
        batch_op.drop_index('ix_after_sales_point_status')
        batch_op.drop_index(batch_op.f('ix_after_sales_order_id'))
        batch_op.drop_index(batch_op.f('ix_after_sales_buyer_id'))

    op.drop_table('after_sales')
