"""documents checked by what they show: a perceptual hash of each photo, what OCR read off KTP/KK photos,
and matches between documents of different cases (a reused card)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 07:35:34
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('document_matches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('other_document_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('distance', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['other_document_id'], ['documents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('document_id', 'other_document_id')
    )
    with op.batch_alter_table('document_matches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_matches_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_document_matches_other_document_id'), ['other_document_id'], unique=False)

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phash', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('ocr', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('ocr_nik', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_documents_ocr_nik'), ['ocr_nik'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_phash'), ['phash'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_phash'))
        batch_op.drop_index(batch_op.f('ix_documents_ocr_nik'))
        batch_op.drop_column('ocr_nik')
        batch_op.drop_column('ocr')
        batch_op.drop_column('phash')

    with op.batch_alter_table('document_matches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_matches_other_document_id'))
        batch_op.drop_index(batch_op.f('ix_document_matches_document_id'))

    op.drop_table('document_matches')
