"""wallet (储值 · 会员 · 付款码): accounts with principal and bonus, the chained ledger, recharge
packages and recharges, member levels and growth, pay codes and counter charges; orders.member_discount;
payments and refunds may pay a recharge instead of an order

Revision ID: 0019_wallet
Revises: 0018_coupons
Create Date: 2026-12-04 15:20:53.252653
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision = '0019_wallet'
down_revision = '0018_coupons'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('member_levels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('min_growth', sa.BigInteger(), nullable=False),
    sa.Column('discount_percent', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('discount_percent >= 0 AND discount_percent <= 30', name=op.f('ck_member_levels_discount_in_range')),
    sa.CheckConstraint('min_growth >= 0', name=op.f('ck_member_levels_min_growth_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_levels')),
    sa.UniqueConstraint('min_growth', name=op.f('uq_member_levels_min_growth'))
    )
    op.create_table('recharge_packages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('pay_amount', sa.BigInteger(), nullable=False),
    sa.Column('bonus_amount', sa.BigInteger(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('bonus_amount >= 0', name=op.f('ck_recharge_packages_bonus_amount_not_negative')),
    sa.CheckConstraint('pay_amount > 0', name=op.f('ck_recharge_packages_pay_amount_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recharge_packages'))
    )
    op.create_table('pay_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('expires_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_pay_codes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pay_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_pay_codes_code'))
    )
    with op.batch_alter_table('pay_codes', schema=None) as batch_op:
        batch_op.create_index('ix_pay_codes_user_id_status', ['user_id', 'status'], unique=False)

    op.create_table('wallet_accounts',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('bonus', sa.BigInteger(), nullable=False),
    sa.Column('growth', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('bonus >= 0', name=op.f('ck_wallet_accounts_bonus_not_negative')),
    sa.CheckConstraint('growth >= 0', name=op.f('ck_wallet_accounts_growth_not_negative')),
    sa.CheckConstraint('principal >= 0', name=op.f('ck_wallet_accounts_principal_not_negative')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_wallet_accounts_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_wallet_accounts'))
    )
    op.create_table('wallet_recharges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('pay_amount', sa.BigInteger(), nullable=False),
    sa.Column('bonus_amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refunded_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('bonus_amount >= 0', name=op.f('ck_wallet_recharges_bonus_amount_not_negative')),
    sa.CheckConstraint('pay_amount > 0', name=op.f('ck_wallet_recharges_pay_amount_positive')),
    sa.ForeignKeyConstraint(['package_id'], ['recharge_packages.id'], name=op.f('fk_wallet_recharges_package_id_recharge_packages')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_wallet_recharges_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_recharges'))
    )
    with op.batch_alter_table('wallet_recharges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_recharges_user_id'), ['user_id'], unique=False)

    op.create_table('pay_code_charges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pay_code_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.Column('pickup_point_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('bonus', sa.BigInteger(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('refunded_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_pay_code_charges_amount_positive')),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_pay_code_charges_buyer_id_users')),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_pay_code_charges_leader_id_leaders')),
    sa.ForeignKeyConstraint(['pay_code_id'], ['pay_codes.id'], name=op.f('fk_pay_code_charges_pay_code_id_pay_codes')),
    sa.ForeignKeyConstraint(['pickup_point_id'], ['pickup_points.id'], name=op.f('fk_pay_code_charges_pickup_point_id_pickup_points')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pay_code_charges')),
    sa.UniqueConstraint('pay_code_id', name=op.f('uq_pay_code_charges_pay_code_id'))
    )
    with op.batch_alter_table('pay_code_charges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pay_code_charges_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index('ix_pay_code_charges_leader_id_id', ['leader_id', 'id'], unique=False)

    op.create_table('wallet_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('bonus', sa.BigInteger(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount = principal + bonus', name=op.f('ck_wallet_entries_amount_is_parts')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_wallet_entries_order_id_orders')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_wallet_entries_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_entries')),
    sa.UniqueConstraint('kind', 'ref', name='uq_wallet_entries_kind_ref')
    )
    with op.batch_alter_table('wallet_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_entries_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_wallet_entries_user_id_id', ['user_id', 'id'], unique=False)

    op.create_table('wallet_growth_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_wallet_growth_entries_order_id_orders')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_wallet_growth_entries_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_growth_entries')),
    sa.UniqueConstraint('order_id', 'kind', name='uq_wallet_growth_entries_order_kind')
    )
    with op.batch_alter_table('wallet_growth_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_growth_entries_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_discount', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.create_check_constraint(op.f('ck_orders_member_discount_non_negative'), 'member_discount >= 0')

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recharge_id', sa.Integer(), nullable=True))
        batch_op.alter_column('order_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_payments_recharge_id'), ['recharge_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_payments_recharge_id_wallet_recharges'), 'wallet_recharges', ['recharge_id'], ['id'])
        batch_op.create_check_constraint(op.f('ck_payments_pays_one_thing'), '(order_id IS NULL) <> (recharge_id IS NULL)')

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recharge_id', sa.Integer(), nullable=True))
        batch_op.alter_column('order_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_refunds_recharge_id'), ['recharge_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_refunds_recharge_id_wallet_recharges'), 'wallet_recharges', ['recharge_id'], ['id'])
        batch_op.create_check_constraint(op.f('ck_refunds_refunds_one_thing'), '(order_id IS NULL) <> (recharge_id IS NULL)')



def downgrade() -> None:
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_refunds_refunds_one_thing'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_refunds_recharge_id_wallet_recharges'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_refunds_recharge_id'))
        batch_op.alter_column('order_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('recharge_id')

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payments_pays_one_thing'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_payments_recharge_id_wallet_recharges'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_payments_recharge_id'))
        batch_op.alter_column('order_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('recharge_id')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_orders_member_discount_non_negative'), type_='check')
        batch_op.drop_column('member_discount')

    with op.batch_alter_table('wallet_growth_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_growth_entries_user_id'))

    op.drop_table('wallet_growth_entries')
    with op.batch_alter_table('wallet_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_wallet_entries_user_id_id')
        batch_op.drop_index(batch_op.f('ix_wallet_entries_order_id'))

    op.drop_table('wallet_entries')
    with op.batch_alter_table('pay_code_charges', schema=None) as batch_op:
        batch_op.drop_index('ix_pay_code_charges_leader_id_id')
        batch_op.drop_index(batch_op.f('ix_pay_code_charges_buyer_id'))

    op.drop_table('pay_code_charges')
    with op.batch_alter_table('wallet_recharges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_recharges_user_id'))

    op.drop_table('wallet_recharges')
    op.drop_table('wallet_accounts')
    with op.batch_alter_table('pay_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_pay_codes_user_id_status')

    op.drop_table('pay_codes')
    op.drop_table('recharge_packages')
    op.drop_table('member_levels')
