"""branches serve regencies (NIK digits 1-4: routing on a shared national number) and may have their own
working hours and SLA targets; national supervisors see every branch

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 04:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('regencies', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('hours', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('sla_hours', sa.JSON(), nullable=True))
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('national', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('national')
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.drop_column('sla_hours')
        batch_op.drop_column('hours')
        batch_op.drop_column('regencies')
