"""earnings: one ledger per leader (accounts, entries unique per movement) and withdrawals paid by
WeChat Pay merchant transfer bills

Revision ID: 0015_earn
Revises: 0014_faults
Create Date: 2026-12-04 14:52:09.077587
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision = '0015_earn'
down_revision = '0014_faults'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('earnings_accounts',
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.Column('available', sa.BigInteger(), nullable=False),
    sa.Column('frozen', sa.BigInteger(), nullable=False),
    sa.Column('withdrawn', sa.BigInteger(), nullable=False),
    sa.Column('clawback_owed', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('available >= 0', name=op.f('ck_earnings_accounts_available_not_negative')),
    sa.CheckConstraint('clawback_owed >= 0', name=op.f('ck_earnings_accounts_clawback_not_negative')),
    sa.CheckConstraint('frozen >= 0', name=op.f('ck_earnings_accounts_frozen_not_negative')),
    sa.CheckConstraint('withdrawn >= 0', name=op.f('ck_earnings_accounts_withdrawn_not_negative')),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_earnings_accounts_leader_id_leaders')),
    sa.PrimaryKeyConstraint('leader_id', name=op.f('pk_earnings_accounts'))
    )
    op.create_table('earnings_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('balance_after >= 0', name=op.f('ck_earnings_entries_balance_after_not_negative')),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_earnings_entries_leader_id_leaders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_earnings_entries')),
    sa.UniqueConstraint('kind', 'source', name='uq_earnings_entries_kind_source')
    )
    with op.batch_alter_table('earnings_entries', schema=None) as batch_op:
        batch_op.create_index('ix_earnings_entries_leader_id_id', ['leader_id', 'id'], unique=False)

    op.create_table('withdrawals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('transfer_amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('out_bill_no', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('transfer_bill_no', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('bill_state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('package_info', sa.Text(), nullable=True),
    sa.Column('fail_reason', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('reject_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('requested_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reviewed_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('bill_created_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_withdrawals_amount_positive')),
    sa.CheckConstraint('transfer_amount > 0', name=op.f('ck_withdrawals_transfer_amount_positive')),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_withdrawals_leader_id_leaders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_withdrawals')),
    sa.UniqueConstraint('out_bill_no', name=op.f('uq_withdrawals_out_bill_no'))
    )
    with op.batch_alter_table('withdrawals', schema=None) as batch_op:
        batch_op.create_index('ix_withdrawals_leader_id_id', ['leader_id', 'id'], unique=False)
        batch_op.create_index('ix_withdrawals_status_updated_at', ['status', 'updated_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('withdrawals', schema=None) as batch_op:
        batch_op.drop_index('ix_withdrawals_status_updated_at')
        batch_op.drop_index('ix_withdrawals_leader_id_id')

    op.drop_table('withdrawals')
    with op.batch_alter_table('earnings_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_earnings_entries_leader_id_id')

    op.drop_table('earnings_entries')
    op.drop_table('earnings_accounts')
