"""money: 64-bit money and stock columns; refunds that are durable (attempts, last change,
the payment they draw on, a caller's idempotency reference) and never exceed what was paid

Revision ID: 0003_money
Revises: 0002_orders
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision = '0003_money'
down_revision = '0002_orders'
branch_labels = None
depends_on = None

# On SQLite INTEGER is already 64-bit; there batch mode copies the tables to the same types.
MONEY_COLUMNS = {
    'skus': ('price', 'stock'),
    'orders': ('total',),
    'order_items': ('qty', 'unit_price', 'amount'),
    'payments': ('amount',),
    'refunds': ('amount', 'total'),
    'commissions': ('amount',),
}


def _retype(old, new) -> None:
    for table, columns in MONEY_COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=old(), type_=new(), existing_nullable=False)


def upgrade() -> None:
    _retype(sa.Integer, sa.BigInteger)

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refunded_amount', sa.BigInteger(), server_default='0', nullable=False))
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('idempotency_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=True))

    # Existing refunds: tie each to the payment it gives back, and count it against that payment.
    op.execute("UPDATE refunds SET updated_at = created_at")
    op.execute("UPDATE refunds SET payment_id = (SELECT p.id FROM payments p WHERE p.provider = refunds.provider "
               "AND p.transaction_id = refunds.transaction_id)")
    op.execute("UPDATE payments SET refunded_amount = (SELECT COALESCE(SUM(r.amount), 0) FROM refunds r "
               "WHERE r.payment_id = payments.id)")

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.alter_column('updated_at', existing_type=app.db.UTCDateTime(timezone=True), nullable=False)
        batch_op.create_index(batch_op.f('ix_refunds_payment_id'), ['payment_id'], unique=False)
        batch_op.create_index('ix_refunds_status_updated_at', ['status', 'updated_at'], unique=False)
        batch_op.create_unique_constraint('uq_refunds_order_ref', ['order_id', 'idempotency_ref'])
        batch_op.create_foreign_key(batch_op.f('fk_refunds_payment_id_payments'), 'payments', ['payment_id'], ['id'])
        batch_op.create_check_constraint('amount_within_total', 'amount > 0 AND amount <= total')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_check_constraint('refunded_within_amount',
                                         'refunded_amount >= 0 AND refunded_amount <= amount')


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint('refunded_within_amount', type_='check')
        batch_op.drop_column('refunded_amount')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_constraint('amount_within_total', type_='check')
        batch_op.drop_constraint(batch_op.f('fk_refunds_payment_id_payments'), type_='foreignkey')
        batch_op.drop_constraint('uq_refunds_order_ref', type_='unique')
        batch_op.drop_index('ix_refunds_status_updated_at')
        batch_op.drop_index(batch_op.f('ix_refunds_payment_id'))
        batch_op.drop_column('updated_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('idempotency_ref')
        batch_op.drop_column('payment_id')
    _retype(sa.BigInteger, sa.Integer)
