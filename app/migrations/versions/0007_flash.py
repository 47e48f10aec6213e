"""flash sales: their own table, and one order per (source, source_ref)

Revision ID: 0007_flash
Revises: 0006_shortage
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision = '0007_flash'
down_revision = '0006_shortage'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'flash_sales',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id', name=op.f('fk_flash_sales_sku_id_skus')), nullable=False),
        sa.Column('price', sa.BigInteger(), nullable=False),
        sa.Column('stock', sa.BigInteger(), nullable=False),
        sa.Column('per_user_limit', sa.Integer(), nullable=False),
        sa.Column('starts_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('ends_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('held', sa.BigInteger(), nullable=False),
        sa.Column('settled_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('returned_to_sku', sa.BigInteger(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint('held >= 0 AND held <= stock', name=op.f('ck_flash_sales_held_within_stock')),
        sa.CheckConstraint('price >= 0', name=op.f('ck_flash_sales_price_non_negative')),
    )
    op.create_index('ix_flash_sales_sku_id', 'flash_sales', ['sku_id'])
    op.create_index('ix_flash_sales_window', 'flash_sales', ['ends_at', 'settled_at'])
    # A reservation (or a bargain record) becomes at most one order, however often a drain batch
    # runs; a group's ref is shared by its members, so the key is partial.
    one_per_ref = sa.text("source IN ('flash_sale', 'bargain')")
    op.create_index('uq_orders_one_per_ref', 'orders', ['source', 'source_ref'], unique=True,
                    sqlite_where=one_per_ref, postgresql_where=one_per_ref)


def downgrade() -> None:
    op.drop_index('uq_orders_one_per_ref', table_name='orders')
    op.drop_index('ix_flash_sales_window', table_name='flash_sales')
    op.drop_index('ix_flash_sales_sku_id', table_name='flash_sales')
    op.drop_table('flash_sales')
