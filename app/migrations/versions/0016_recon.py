"""recon: reconciliation runs per bill date and the discrepancies each found

Revision ID: 0016_recon
Revises: 0015_earn
Create Date: 2026-12-04 15:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision = '0016_recon'
down_revision = '0015_earn'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reconcile_runs',
    sa.Column('bill_date', sa.Date(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('totals', sa.JSON(), nullable=False),
    sa.Column('started_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('bill_date', name=op.f('pk_reconcile_runs'))
    )
    with op.batch_alter_table('reconcile_runs', schema=None) as batch_op:
        batch_op.create_index('ix_reconcile_runs_state_next', ['state', 'next_attempt_at'], unique=False)

    op.create_table('reconcile_discrepancies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bill_date', sa.Date(), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ours', sa.BigInteger(), nullable=True),
    sa.Column('wechat', sa.BigInteger(), nullable=True),
    sa.Column('expected', sa.BigInteger(), nullable=True),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['bill_date'], ['reconcile_runs.bill_date'],
                            name=op.f('fk_reconcile_discrepancies_bill_date_reconcile_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconcile_discrepancies'))
    )
    with op.batch_alter_table('reconcile_discrepancies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconcile_discrepancies_bill_date'), ['bill_date'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reconcile_discrepancies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconcile_discrepancies_bill_date'))
    op.drop_table('reconcile_discrepancies')
    with op.batch_alter_table('reconcile_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_reconcile_runs_state_next')
    op.drop_table('reconcile_runs')
