"""resource servers: clients that may introspect every token of their realm (RFC 7662 4)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy), as migrations 0003 and 0004 explain.
    op.add_column('client', sa.Column('resource_server', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    # Plain DROP COLUMN: a batch copy of ``client`` would cascade-delete its codes and tokens.
    op.drop_column('client', 'resource_server')
