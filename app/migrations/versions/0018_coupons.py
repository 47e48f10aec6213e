"""coupons (优惠券): templates, coupons, leader quotas and grants; orders.coupon_id and coupon_discount

Revision ID: 0018_coupons
Revises: 0017_ship
Create Date: 2026-12-04 15:19:47.651110
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision = '0018_coupons'
down_revision = '0017_ship'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coupon_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('max_discount', sa.BigInteger(), nullable=True),
    sa.Column('min_spend', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('issued', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('per_user_limit', sa.Integer(), nullable=False),
    sa.Column('valid_from', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_to', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_days', sa.Integer(), nullable=True),
    sa.Column('product_ids', sa.JSON(), nullable=True),
    sa.Column('claimable', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('issued >= 0 AND issued <= total', name=op.f('ck_coupon_templates_issued_within_total')),
    sa.CheckConstraint('per_user_limit >= 1', name=op.f('ck_coupon_templates_per_user_limit_positive')),
    sa.CheckConstraint('value > 0', name=op.f('ck_coupon_templates_value_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_templates'))
    )
    op.create_table('coupon_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.Column('segment', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('granted', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_coupon_grants_leader_id_leaders')),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupon_grants_template_id_coupon_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_grants'))
    )
    with op.batch_alter_table('coupon_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_grants_leader_id'), ['leader_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupon_grants_template_id'), ['template_id'], unique=False)

    op.create_table('leader_coupon_quotas',
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.Column('quota', sa.BigInteger(), nullable=False),
    sa.Column('granted', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('granted >= 0 AND granted <= quota', name=op.f('ck_leader_coupon_quotas_granted_within_quota')),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_leader_coupon_quotas_leader_id_leaders')),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_leader_coupon_quotas_template_id_coupon_templates')),
    sa.PrimaryKeyConstraint('template_id', 'leader_id', name=op.f('pk_leader_coupon_quotas'))
    )
    op.create_table('coupons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('grant_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('seq >= 1', name=op.f('ck_coupons_seq_positive')),
    sa.ForeignKeyConstraint(['grant_id'], ['coupon_grants.id'], name=op.f('fk_coupons_grant_id_coupon_grants')),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_coupons_leader_id_leaders')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_coupons_owner_id_users')),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupons_template_id_coupon_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons')),
    sa.UniqueConstraint('template_id', 'owner_id', 'seq', name='uq_coupons_template_owner_seq')
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index('ix_coupons_owner_status', ['owner_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupons_template_id'), ['template_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coupon_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('coupon_discount', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.create_index('uq_orders_live_coupon', ['coupon_id'], unique=True, sqlite_where=sa.text('coupon_id IS NOT NULL AND cancelled_at IS NULL AND refunded_at IS NULL'), postgresql_where=sa.text('coupon_id IS NOT NULL AND cancelled_at IS NULL AND refunded_at IS NULL'))
        batch_op.create_foreign_key(batch_op.f('fk_orders_coupon_id_coupons'), 'coupons', ['coupon_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_orders_coupon_id_coupons'), type_='foreignkey')
        batch_op.drop_index('uq_orders_live_coupon', sqlite_where=sa.text('coupon_id IS NOT NULL AND cancelled_at IS NULL AND refunded_at IS NULL'), postgresql_where=sa.text('coupon_id IS NOT NULL AND cancelled_at IS NULL AND refunded_at IS NULL'))
        batch_op.drop_column('coupon_discount')
        batch_op.drop_column('coupon_id')

    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupons_template_id'))
        batch_op.drop_index('ix_coupons_owner_status')

    op.drop_table('coupons')
    op.drop_table('leader_coupon_quotas')
    with op.batch_alter_table('coupon_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_grants_template_id'))
        batch_op.drop_index(batch_op.f('ix_coupon_grants_leader_id'))

    op.drop_table('coupon_grants')
    op.drop_table('coupon_templates')
