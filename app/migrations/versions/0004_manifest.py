"""manifests: warehouse and per-point manifests with their lines and pickup lists

Revision ID: 0004_manifest
Revises: 0003_money
Create Date: 2026-11-22 10:37:59.666446
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision = '0004_manifest'
down_revision = '0003_money'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('manifest_lines',
    sa.Column('delivery_date', sa.Date(), nullable=False),
    sa.Column('pickup_point_id', sa.Integer(), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=201), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('delivery_date', 'pickup_point_id', 'sku_id', name=op.f('pk_manifest_lines')),
    sqlite_with_rowid=False
    )
    op.create_table('manifest_pickups',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('delivery_date', sa.Date(), nullable=False),
    sa.Column('pickup_point_id', sa.Integer(), nullable=False),
    sa.Column('buyer', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('phone_tail', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
    sa.Column('added_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_manifest_pickups'))
    )
    with op.batch_alter_table('manifest_pickups', schema=None) as batch_op:
        batch_op.create_index('ix_manifest_pickups_date_point', ['delivery_date', 'pickup_point_id'], unique=False)

    op.create_table('warehouse_manifests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_date', sa.Date(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('built_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('order_count', sa.Integer(), nullable=False),
    sa.Column('point_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warehouse_manifests')),
    sa.UniqueConstraint('delivery_date', name=op.f('uq_warehouse_manifests_delivery_date'))
    )
    op.create_table('point_manifests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_date', sa.Date(), nullable=False),
    sa.Column('pickup_point_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('built_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('order_count', sa.Integer(), nullable=False),
    sa.Column('notified_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['pickup_point_id'], ['pickup_points.id'], name=op.f('fk_point_manifests_pickup_point_id_pickup_points')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_point_manifests')),
    sa.UniqueConstraint('delivery_date', 'pickup_point_id', name=op.f('uq_point_manifests_delivery_date_pickup_point_id'))
    )
    with op.batch_alter_table('point_manifests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_point_manifests_pickup_point_id'), ['pickup_point_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('point_manifests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_point_manifests_pickup_point_id'))

    op.drop_table('point_manifests')
    op.drop_table('warehouse_manifests')
    with op.batch_alter_table('manifest_pickups', schema=None) as batch_op:
        batch_op.drop_index('ix_manifest_pickups_date_point')

    op.drop_table('manifest_pickups')
    op.drop_table('manifest_lines')
