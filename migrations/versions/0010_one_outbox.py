"""one outbox for everything delivered later (issue 16): ``mail_outbox`` becomes ``outbox``,
whose rows have a ``kind`` (``mail`` for every existing row) and a ``payload``

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

from idp.db import UTCDateTime


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# Shared by both tables; the copy keeps each message's id, state and encrypted parameters.
_STATE = 'status, attempts, created_at, next_attempt_at, claimed_until, last_error, sent_at'


def upgrade() -> None:
    # A new table and a copy rather than renames: the indexes and constraints get the names
    # the models give them, on SQLite (which can't rename an index) as on PostgreSQL. Nothing
    # references the outbox, so the copy cascades nothing.
    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('realm_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('topic', sa.String(length=64), nullable=False),
        sa.Column('payload', sa.Text(), nullable=True),
        sa.Column('locale', sa.String(length=8), nullable=True),
        sa.Column('status', sa.String(length=8), server_default='pending', nullable=False),
        sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('claimed_until', UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['realm_id'], ['realm.id'], name=op.f('fk_outbox_realm_id_realm'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_outbox_user_id_user_account'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    )
    op.create_index('ix_outbox_due', 'outbox', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_outbox_realm_id'), 'outbox', ['realm_id'], unique=False)
    op.create_index(op.f('ix_outbox_user_id'), 'outbox', ['user_id'], unique=False)
    op.execute(
        "INSERT INTO outbox (id, kind, realm_id, user_id, recipient, topic, payload, locale, "
        f"{_STATE}) SELECT id, 'mail', realm_id, user_id, to_address, template, params, locale, "
        f"{_STATE} FROM mail_outbox"
    )
    _continue_ids('outbox')
    op.drop_index('ix_mail_outbox_user_id', table_name='mail_outbox')
    op.drop_index('ix_mail_outbox_realm_id', table_name='mail_outbox')
    op.drop_index('ix_mail_outbox_due', table_name='mail_outbox')
    op.drop_table('mail_outbox')


def downgrade() -> None:
    # Back to a mail-only outbox: messages of other kinds can't be kept there and are dropped.
    op.create_table(
        'mail_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('realm_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('to_address', sa.String(length=320), nullable=False),
        sa.Column('template', sa.String(length=64), nullable=False),
        sa.Column('params', sa.Text(), nullable=True),
        sa.Column('locale', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=8), server_default='pending', nullable=False),
        sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('claimed_until', UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['realm_id'], ['realm.id'], name=op.f('fk_mail_outbox_realm_id_realm'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_mail_outbox_user_id_user_account'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox')),
    )
    op.create_index('ix_mail_outbox_due', 'mail_outbox', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_mail_outbox_realm_id'), 'mail_outbox', ['realm_id'], unique=False)
    op.create_index(op.f('ix_mail_outbox_user_id'), 'mail_outbox', ['user_id'], unique=False)
    op.execute(
        "INSERT INTO mail_outbox (id, realm_id, user_id, to_address, template, params, locale, "
        f"{_STATE}) SELECT id, realm_id, user_id, recipient, topic, payload, "
        f"COALESCE(locale, 'en'), {_STATE} FROM outbox WHERE kind = 'mail'"
    )
    _continue_ids('mail_outbox')
    op.drop_index(op.f('ix_outbox_user_id'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_realm_id'), table_name='outbox')
    op.drop_index('ix_outbox_due', table_name='outbox')
    op.drop_table('outbox')


def _continue_ids(table: str) -> None:
    """On PostgreSQL, move the table's id sequence past the copied ids (SQLite's rowids
    continue from the largest by themselves)."""
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        )
