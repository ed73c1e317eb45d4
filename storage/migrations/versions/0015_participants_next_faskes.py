"""an approved facility change that applies later (from the 1st of next month): the participant keeps their
facility until next_faskes_from, then next_faskes is theirs (handlers.registry.Member.on)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_faskes', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('next_faskes_from', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_column('next_faskes_from')
        batch_op.drop_column('next_faskes')
