"""Every table, for Alembic and the tests: importing this module registers all models on Base.metadata."""
from storage import branches, cases, config_versions, membership, models, nlu, staff  # noqa: F401

metadata = models.Base.metadata
