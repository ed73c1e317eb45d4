"""cases belong to a branch office: the one of the number the citizen wrote to; existing cases to the
default branch (UTAMA)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 02:34:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('branch_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_branch_id'), ['branch_id'], unique=False)
        batch_op.create_foreign_key('fk_cases_branch_id_branches', 'branches', ['branch_id'], ['id'])
    op.execute("UPDATE cases SET branch_id = (SELECT id FROM branches WHERE code = 'UTAMA')")


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint('fk_cases_branch_id_branches', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_cases_branch_id'))
        batch_op.drop_column('branch_id')
