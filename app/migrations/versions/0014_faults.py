"""faults (issue 18): flash-sale reservation numbers granted by the database, so none is reused
after Redis lost its data

Revision ID: 0014_faults
Revises: 0013_manifestperf
Create Date: 2026-12-04 15:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014_faults'
down_revision = '0013_manifestperf'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Redis hands out a sale's reservation numbers up to this ceiling only; a rebuild restarts its
    # counter above it. Existing sales start at 0: their first purchase after the upgrade grants a
    # block above the numbers their orders carry (the rebuild counts those too).
    with op.batch_alter_table('flash_sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq_ceiling', sa.BigInteger(), server_default='0', nullable=False))


    # Pickup points' coordinates to 1e-7 degree (app.pickup.geo.COORD_DECIMALS), as new ones are
    # stored: the nearby search squares coordinate differences, and one like 1e-200 underflows.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE pickup_points SET lat = round(lat::numeric, 7)::double precision, "
                   "lng = round(lng::numeric, 7)::double precision")
    else:
        op.execute("UPDATE pickup_points SET lat = round(lat, 7), lng = round(lng, 7)")


def downgrade() -> None:
    with op.batch_alter_table('flash_sales', schema=None) as batch_op:
        batch_op.drop_column('seq_ceiling')
