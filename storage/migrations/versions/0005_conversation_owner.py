"""conversation version (compare-and-set), failed messages, citizens without a number, wider document names,
cases keep their service title

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('failure_reason', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column('enqueued_at')

    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.alter_column('phone', existing_type=sa.String(length=20), nullable=True)
        batch_op.add_column(sa.Column('wa_user_id', sa.String(length=160), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_citizens_wa_user_id'), ['wa_user_id'])

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=sa.String(length=16), type_=sa.String(length=64),
                              existing_nullable=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service_title', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('service_title')

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=sa.String(length=64), type_=sa.String(length=16),
                              existing_nullable=False)

    # citizens.phone stays nullable: citizens known only by their WhatsApp user id cannot get a number back.
    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_citizens_wa_user_id'), type_='unique')
        batch_op.drop_column('wa_user_id')

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column('failed_at')
        batch_op.drop_column('failure_reason')
        batch_op.drop_column('attempts')

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('version')
