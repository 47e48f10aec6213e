"""notifications carry a title and a body a person reads

Revision ID: 0005_notify
Revises: 0004_manifest
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_notify'
down_revision = '0004_manifest'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.add_column(sa.Column('title', sa.String(length=100), nullable=False, server_default=''))
        batch.add_column(sa.Column('body', sa.String(length=500), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.drop_column('body')
        batch.drop_column('title')
