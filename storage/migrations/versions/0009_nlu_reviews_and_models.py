"""what the bot learns from: messages it misunderstood (reviewed and labelled by admins) and the NLU
models retrained from them (at most one published, one running)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 00:24:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('nlu_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('running', sa.Boolean(), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=40), nullable=True),
    sa.Column('examples', sa.Integer(), nullable=False),
    sa.Column('data_digest', sa.String(length=16), nullable=True),
    sa.Column('path', sa.String(length=500), nullable=True),
    sa.Column('baseline', sa.String(length=500), nullable=True),
    sa.Column('scores', sa.JSON(), nullable=True),
    sa.Column('train_seconds', sa.Float(), nullable=True),
    sa.Column('error', sa.String(length=40), nullable=True),
    sa.Column('replaced_id', sa.Integer(), nullable=True),
    sa.Column('load_failures', sa.Integer(), nullable=False),
    sa.Column('load_error', sa.String(length=40), nullable=True),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('published_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['published_by'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['replaced_id'], ['nlu_models.id'], ),
    sa.ForeignKeyConstraint(['requested_by'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('nlu_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nlu_models_status'), ['status'], unique=False)
        batch_op.create_index('uq_nlu_models_published', ['status'], unique=True, postgresql_where=sa.text("status = 'published'"), sqlite_where=sa.text("status = 'published'"))
        batch_op.create_index('uq_nlu_models_running', ['running'], unique=True, postgresql_where=sa.text('running'), sqlite_where=sa.text('running'))

    op.create_table('nlu_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('intent', sa.String(length=40), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('runner_up', sa.String(length=40), nullable=True),
    sa.Column('runner_up_confidence', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=40), nullable=True),
    sa.Column('labelled_by', sa.Integer(), nullable=True),
    sa.Column('labelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['labelled_by'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    with op.batch_alter_table('nlu_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nlu_reviews_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index('ix_nlu_reviews_status_created', ['status', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('nlu_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_nlu_reviews_status_created')
        batch_op.drop_index(batch_op.f('ix_nlu_reviews_citizen_id'))

    op.drop_table('nlu_reviews')
    with op.batch_alter_table('nlu_models', schema=None) as batch_op:
        batch_op.drop_index('uq_nlu_models_running', postgresql_where=sa.text('running'), sqlite_where=sa.text('running'))
        batch_op.drop_index('uq_nlu_models_published', postgresql_where=sa.text("status = 'published'"), sqlite_where=sa.text("status = 'published'"))
        batch_op.drop_index(batch_op.f('ix_nlu_models_status'))

    op.drop_table('nlu_models')
