"""shipping sync (发货信息录入): one row per WeChat Pay payment to report, and the pushes received

Revision ID: 0017_ship
Revises: 0016_recon
Create Date: 2026-12-04 15:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision = '0017_ship'
down_revision = '0016_recon'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('shipping_syncs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('transaction_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('out_trade_no', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('openid', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('logistics_type', sa.Integer(), nullable=False),
    sa.Column('item_desc', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('errcode', sa.Integer(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('wechat_state', sa.Integer(), nullable=True),
    sa.Column('upload_time', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('paid_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('uploaded_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('estimated_settlement_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('settled_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_shipping_syncs_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipping_syncs')),
    sa.UniqueConstraint('order_id', name='uq_shipping_syncs_order_id'),
    sa.UniqueConstraint('transaction_id', name='uq_shipping_syncs_transaction_id')
    )
    with op.batch_alter_table('shipping_syncs', schema=None) as batch_op:
        batch_op.create_index('ix_shipping_syncs_state_due', ['state', 'due_at'], unique=False)

    op.create_table('shipping_pushes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('transaction_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('create_time', sa.Integer(), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('received_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipping_pushes')),
    sa.UniqueConstraint('event', 'transaction_id', 'create_time', 'digest', name='uq_shipping_pushes_event')
    )


def downgrade() -> None:
    op.drop_table('shipping_pushes')
    with op.batch_alter_table('shipping_syncs', schema=None) as batch_op:
        batch_op.drop_index('ix_shipping_syncs_state_due')
    op.drop_table('shipping_syncs')
