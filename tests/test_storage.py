"""Migrations from empty, on SQLite and PostgreSQL; the schema they build is the models' schema."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.migrate import downgrade, upgrade
from storage.models import Citizen, InboundMessage
from storage.schema import metadata
from tests.conftest import _postgres_base


@pytest.fixture
def empty_database(backend, tmp_path):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    base = _postgres_base()
    if base is None:
        pytest.skip("no PostgreSQL answers on this machine (set TEST_DATABASE_URL)")
    name = f"pandawa_mig_{uuid.uuid4().hex[:8]}"
    admin = base.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_up_from_empty_match_the_models_and_go_down_and_up_again(empty_database):
    upgrade(empty_database)
    engine = create_engine(empty_database)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    assert {"citizens", "inbound_messages", "outbound_messages", "conversations"} <= set(inspect(engine).get_table_names())

    downgrade(empty_database, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_database)
    assert "citizens" in inspect(engine).get_table_names()
    engine.dispose()


def test_database_refuses_a_second_citizen_with_the_same_number_and_a_repeated_message_sid(empty_database):
    upgrade(empty_database)
    engine = create_engine(empty_database)
    with Session(engine) as session:
        session.add(Citizen(phone="+6281234567890"))
        session.commit()
        session.add(Citizen(phone="+6281234567890"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(InboundMessage(message_sid="SM1", sender="whatsapp:+6281234567890"))
        session.commit()
        session.add(InboundMessage(message_sid="SM1", sender="whatsapp:+6281234567890"))
        with pytest.raises(IntegrityError):
            session.commit()
    engine.dispose()
