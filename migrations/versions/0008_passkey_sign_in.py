"""realm setting: passkey-only sign-in (issue 10), on by default

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy), as migrations 0003 and 0004 explain: on SQLite a
    # batch copy of ``realm`` would cascade the delete to every user row.
    op.add_column('realm', sa.Column('passkey_sign_in', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    # Plain DROP COLUMN, for the same reason.
    op.drop_column('realm', 'passkey_sign_in')
