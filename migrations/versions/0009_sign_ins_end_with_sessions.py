"""sign-ins end with the user's sessions (SPEC V1): a credential generation on the user,
recorded on the interaction that identified them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy), as migrations 0003 and 0004 explain: on SQLite a
    # batch copy of ``user_account`` would cascade the delete to the user's rows. A sign-in in
    # progress during the upgrade has no generation and ends (it is at most
    # IDP_INTERACTION_TTL old).
    op.add_column('user_account', sa.Column('credential_generation', sa.Integer(), server_default='0', nullable=False))
    op.add_column('interaction', sa.Column('credential_generation', sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN, for the same reason.
    op.drop_column('interaction', 'credential_generation')
    op.drop_column('user_account', 'credential_generation')
