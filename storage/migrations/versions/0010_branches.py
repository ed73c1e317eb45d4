"""branch offices: their WhatsApp numbers and officers; every install starts with one default branch
(UTAMA) that every existing officer works for, so nothing changes until a second branch is added

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:14:00
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('branches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('contact', sa.String(length=256), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.create_index('uq_branches_default', ['is_default'], unique=True, postgresql_where=sa.text('is_default'), sqlite_where=sa.text('is_default'))

    op.create_table('branch_numbers',
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], ),
    sa.PrimaryKeyConstraint('number')
    )
    with op.batch_alter_table('branch_numbers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_branch_numbers_branch_id'), ['branch_id'], unique=False)

    op.create_table('staff_branches',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('staff_id', 'branch_id')
    )
    now = datetime.now(timezone.utc)
    branches = sa.table('branches', sa.column('code', sa.String), sa.column('name', sa.String),
                        sa.column('holidays', sa.JSON), sa.column('is_default', sa.Boolean),
                        sa.column('created_at', sa.DateTime(timezone=True)),
                        sa.column('updated_at', sa.DateTime(timezone=True)))
    op.bulk_insert(branches, [{'code': 'UTAMA', 'name': 'Kantor utama', 'holidays': [], 'is_default': True,
                               'created_at': now, 'updated_at': now}])
    op.execute("INSERT INTO staff_branches (staff_id, branch_id) "
               "SELECT staff.id, branches.id FROM staff, branches WHERE branches.code = 'UTAMA'")


def downgrade() -> None:
    op.drop_table('staff_branches')
    with op.batch_alter_table('branch_numbers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_branch_numbers_branch_id'))

    op.drop_table('branch_numbers')
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.drop_index('uq_branches_default', postgresql_where=sa.text('is_default'), sqlite_where=sa.text('is_default'))

    op.drop_table('branches')
