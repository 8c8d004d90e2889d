"""pages: realm branding and language, numbered backup codes, session details

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): a SQLite batch copy of ``realm`` would cascade-delete
    # its users, as migration 0003 explains.
    op.add_column('realm', sa.Column('default_locale', sa.String(length=8), server_default='en', nullable=False))
    op.add_column('realm', sa.Column('accent_color', sa.String(length=7), nullable=True))
    op.add_column('realm', sa.Column('logo', sa.LargeBinary(), nullable=True))
    op.add_column('realm', sa.Column('logo_content_type', sa.String(length=32), nullable=True))
    op.add_column('backup_code', sa.Column('number', sa.Integer(), nullable=True))
    op.add_column('sso_session', sa.Column('user_agent', sa.String(length=300), server_default='', nullable=False))
    op.add_column('sso_session', sa.Column('client_address', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('sso_session', 'client_address')
    op.drop_column('sso_session', 'user_agent')
    op.drop_column('backup_code', 'number')
    op.drop_column('realm', 'logo_content_type')
    op.drop_column('realm', 'logo')
    op.drop_column('realm', 'accent_color')
    op.drop_column('realm', 'default_locale')
