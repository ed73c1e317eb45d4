"""config versions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 05:28:32.506688
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('config_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('digest', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'number', name='uq_config_versions_kind_number')
    )
    with op.batch_alter_table('config_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_config_versions_digest'), ['digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_config_versions_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_config_versions_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('config_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_config_versions_status'))
        batch_op.drop_index(batch_op.f('ix_config_versions_kind'))
        batch_op.drop_index(batch_op.f('ix_config_versions_digest'))

    op.drop_table('config_versions')
