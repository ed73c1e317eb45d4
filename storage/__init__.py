"""Storage: SQLAlchemy models, the database session, Alembic migrations and the media store."""
