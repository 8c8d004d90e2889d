"""single sign-out: the clients' logout URIs, the clients each session signed in to, and
each attempt at delivering an outbox message

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

import idp.db


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy), as migrations 0003 and 0004 explain: on SQLite a batch
    # copy of ``client`` would cascade the delete to the client's codes and tokens.
    op.add_column('client', sa.Column('backchannel_logout_uri', sa.String(length=2000), nullable=True))
    op.add_column('client', sa.Column('backchannel_logout_session_required', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('client', sa.Column('frontchannel_logout_uri', sa.String(length=2000), nullable=True))
    op.add_column('client', sa.Column('frontchannel_logout_session_required', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table('session_client',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('created_at', idp.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], name=op.f('fk_session_client_client_id_client'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sso_session.id'], name=op.f('fk_session_client_session_id_sso_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_client')),
    sa.UniqueConstraint('session_id', 'client_id', name=op.f('uq_session_client_session_id_client_id'))
    )
    with op.batch_alter_table('session_client', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_client_client_id'), ['client_id'], unique=False)

    op.create_table('delivery_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('realm_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('attempted_at', idp.db.UTCDateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=8), nullable=False),
    sa.Column('result', sa.String(length=500), nullable=False),
    sa.Column('duration_ms', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['outbox.id'], name=op.f('fk_delivery_attempt_message_id_outbox'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['realm_id'], ['realm.id'], name=op.f('fk_delivery_attempt_realm_id_realm'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempt'))
    )
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_attempt_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_attempt_realm_id'), ['realm_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_attempt_realm_id'))
        batch_op.drop_index(batch_op.f('ix_delivery_attempt_message_id'))
    op.drop_table('delivery_attempt')
    with op.batch_alter_table('session_client', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_client_client_id'))
    op.drop_table('session_client')
    # Plain DROP COLUMN, for the same reason.
    op.drop_column('client', 'frontchannel_logout_session_required')
    op.drop_column('client', 'frontchannel_logout_uri')
    op.drop_column('client', 'backchannel_logout_session_required')
    op.drop_column('client', 'backchannel_logout_uri')
