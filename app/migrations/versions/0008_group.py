"""group-buy (campaigns, groups, members) and bargain (campaigns, records, helps)

Revision ID: 0008_group
Revises: 0007_flash
Create Date: 2026-11-22 11:35:30.459353
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision = '0008_group'
down_revision = '0007_flash'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bargains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('start_price', sa.BigInteger(), nullable=False),
    sa.Column('floor_price', sa.BigInteger(), nullable=False),
    sa.Column('helpers_needed', sa.Integer(), nullable=False),
    sa.Column('duration_s', sa.Integer(), nullable=False),
    sa.Column('starts_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stock', sa.BigInteger(), nullable=True),
    sa.Column('stock_left', sa.BigInteger(), nullable=True),
    sa.Column('helps_per_day', sa.Integer(), nullable=True),
    sa.Column('buy_at_any_price', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('stock_left IS NULL OR stock_left >= 0', name=op.f('ck_bargains_stock_left_non_negative')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_bargains_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bargains'))
    )
    with op.batch_alter_table('bargains', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bargains_sku_id'), ['sku_id'], unique=False)

    op.create_table('group_buys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('group_price', sa.BigInteger(), nullable=False),
    sa.Column('opener_price', sa.BigInteger(), nullable=True),
    sa.Column('group_size', sa.Integer(), nullable=False),
    sa.Column('duration_s', sa.Integer(), nullable=False),
    sa.Column('starts_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('per_user_limit', sa.Integer(), nullable=True),
    sa.Column('stock', sa.BigInteger(), nullable=True),
    sa.Column('stock_left', sa.BigInteger(), nullable=True),
    sa.Column('virtual_fill_max_missing', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('stock_left IS NULL OR stock_left >= 0', name=op.f('ck_group_buys_stock_left_non_negative')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_group_buys_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_buys'))
    )
    with op.batch_alter_table('group_buys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_buys_sku_id'), ['sku_id'], unique=False)

    op.create_table('buy_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('opener_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('group_size', sa.Integer(), nullable=False),
    sa.Column('paid_count', sa.Integer(), nullable=False),
    sa.Column('open_slot', sa.Integer(), nullable=True),
    sa.Column('virtual_fill', sa.Boolean(), nullable=False),
    sa.Column('expires_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('paid_count >= 0 AND paid_count <= group_size', name=op.f('ck_buy_groups_paid_count_in_size')),
    sa.ForeignKeyConstraint(['campaign_id'], ['group_buys.id'], name=op.f('fk_buy_groups_campaign_id_group_buys')),
    sa.ForeignKeyConstraint(['opener_id'], ['users.id'], name=op.f('fk_buy_groups_opener_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buy_groups')),
    sa.UniqueConstraint('campaign_id', 'opener_id', 'open_slot', name='uq_buy_groups_one_open')
    )
    with op.batch_alter_table('buy_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_buy_groups_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index('ix_buy_groups_status_expires_at', ['status', 'expires_at'], unique=False)

    op.create_table('bargain_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('start_price', sa.BigInteger(), nullable=False),
    sa.Column('current_price', sa.BigInteger(), nullable=False),
    sa.Column('floor_price', sa.BigInteger(), nullable=False),
    sa.Column('helpers_needed', sa.Integer(), nullable=False),
    sa.Column('helpers_count', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('active_slot', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('current_price >= floor_price', name=op.f('ck_bargain_records_never_below_floor')),
    sa.ForeignKeyConstraint(['campaign_id'], ['bargains.id'], name=op.f('fk_bargain_records_campaign_id_bargains')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_bargain_records_order_id_orders')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_bargain_records_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bargain_records')),
    sa.UniqueConstraint('campaign_id', 'user_id', 'active_slot', name='uq_bargain_records_one_active'),
    sa.UniqueConstraint('order_id', name=op.f('uq_bargain_records_order_id'))
    )
    with op.batch_alter_table('bargain_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bargain_records_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index('ix_bargain_records_status_expires_at', ['status', 'expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_bargain_records_user_id'), ['user_id'], unique=False)

    op.create_table('group_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('is_opener', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['group_buys.id'], name=op.f('fk_group_members_campaign_id_group_buys')),
    sa.ForeignKeyConstraint(['group_id'], ['buy_groups.id'], name=op.f('fk_group_members_group_id_buy_groups')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_group_members_order_id_orders')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_group_members_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_members')),
    sa.UniqueConstraint('group_id', 'user_id', name='uq_group_members_group_user'),
    sa.UniqueConstraint('order_id', name=op.f('uq_group_members_order_id'))
    )
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_members_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_members_user_id'), ['user_id'], unique=False)

    op.create_table('bargain_helps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('helper_id', sa.Integer(), nullable=False),
    sa.Column('cut', sa.BigInteger(), nullable=False),
    sa.Column('help_day', sa.Date(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['helper_id'], ['users.id'], name=op.f('fk_bargain_helps_helper_id_users')),
    sa.ForeignKeyConstraint(['record_id'], ['bargain_records.id'], name=op.f('fk_bargain_helps_record_id_bargain_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bargain_helps')),
    sa.UniqueConstraint('record_id', 'helper_id', name='uq_bargain_helps_record_helper')
    )
    with op.batch_alter_table('bargain_helps', schema=None) as batch_op:
        batch_op.create_index('ix_bargain_helps_helper_day', ['helper_id', 'help_day'], unique=False)
        batch_op.create_index(batch_op.f('ix_bargain_helps_record_id'), ['record_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('bargain_helps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bargain_helps_record_id'))
        batch_op.drop_index('ix_bargain_helps_helper_day')

    op.drop_table('bargain_helps')
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_members_user_id'))
        batch_op.drop_index(batch_op.f('ix_group_members_group_id'))

    op.drop_table('group_members')
    with op.batch_alter_table('bargain_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bargain_records_user_id'))
        batch_op.drop_index('ix_bargain_records_status_expires_at')
        batch_op.drop_index(batch_op.f('ix_bargain_records_campaign_id'))

    op.drop_table('bargain_records')
    with op.batch_alter_table('buy_groups', schema=None) as batch_op:
        batch_op.drop_index('ix_buy_groups_status_expires_at')
        batch_op.drop_index(batch_op.f('ix_buy_groups_campaign_id'))

    op.drop_table('buy_groups')
    with op.batch_alter_table('group_buys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_buys_sku_id'))

    op.drop_table('group_buys')
    with op.batch_alter_table('bargains', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bargains_sku_id'))

    op.drop_table('bargains')
