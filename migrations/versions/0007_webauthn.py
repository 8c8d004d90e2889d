"""webauthn: security keys as authenticator rows, single-use WebAuthn challenges

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa

from idp.db import UTCDateTime


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy), as migrations 0003 and 0004 explain; the per-realm
    # uniqueness of credential ids is a unique index, which SQLite creates without a copy.
    op.add_column('authenticator', sa.Column('credential_id', sa.String(length=1400), nullable=True))
    op.add_column('authenticator', sa.Column('public_key', sa.Text(), nullable=True))
    op.add_column('authenticator', sa.Column('sign_count', sa.Integer(), nullable=True))
    op.add_column('authenticator', sa.Column('name', sa.String(length=100), nullable=True))
    op.add_column('authenticator', sa.Column('transports', sa.JSON(), nullable=True))
    op.create_index(
        'ix_authenticator_realm_credential', 'authenticator', ['realm_id', 'credential_id'], unique=True
    )
    op.create_table(
        'webauthn_challenge',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('realm_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('binding_digest', sa.String(length=64), nullable=False),
        sa.Column('challenge_digest', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['realm_id'], ['realm.id'], name=op.f('fk_webauthn_challenge_realm_id_realm'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_webauthn_challenge_user_id_user_account'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webauthn_challenge')),
        sa.UniqueConstraint('challenge_digest', name=op.f('uq_webauthn_challenge_challenge_digest')),
    )
    op.create_index(op.f('ix_webauthn_challenge_expires_at'), 'webauthn_challenge', ['expires_at'], unique=False)
    op.create_index(op.f('ix_webauthn_challenge_realm_id'), 'webauthn_challenge', ['realm_id'], unique=False)
    op.create_index(op.f('ix_webauthn_challenge_user_id'), 'webauthn_challenge', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_webauthn_challenge_user_id'), table_name='webauthn_challenge')
    op.drop_index(op.f('ix_webauthn_challenge_realm_id'), table_name='webauthn_challenge')
    op.drop_index(op.f('ix_webauthn_challenge_expires_at'), table_name='webauthn_challenge')
    op.drop_table('webauthn_challenge')
    op.drop_index('ix_authenticator_realm_credential', table_name='authenticator')
    op.drop_column('authenticator', 'transports')
    op.drop_column('authenticator', 'name')
    op.drop_column('authenticator', 'sign_count')
    op.drop_column('authenticator', 'public_key')
    op.drop_column('authenticator', 'credential_id')
