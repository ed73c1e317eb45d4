"""Engine and session per app (flaskr-style ``init_app``), usable from web requests and RQ jobs alike.

Every call to the database has a deadline: connecting (5 s), each statement (30 s), waiting for a row
lock (10 s), and a transaction left idle is ended by the server (5 min); on SQLite, a busy file
is waited for 30 s at most. Statement parameters (citizens' data) never appear in error messages.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from flask import Flask, current_app
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

PING_AFTER_IDLE = 2.0  # seconds


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # web and worker processes share the file
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    deadlines = "-c statement_timeout=30000 -c lock_timeout=10000 -c idle_in_transaction_session_timeout=300000"
    engine = create_engine(url, pool_size=5, max_overflow=5, pool_timeout=10, hide_parameters=True,
                           connect_args={"connect_timeout": 5, "options": deadlines})
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """A pooled connection idle for PING_AFTER_IDLE seconds is pinged before it is handed out, and replaced
    when the server is gone (restarted, failed over). Unlike pinging at every checkout (``pool_pre_ping``:
    one more round trip per transaction, a third of a worker's), a busy process pings nearly never; a
    connection used within the last seconds is as sure as a ping would be."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        idle_since = record.info.pop("idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("ping failed") from exc
        if not alive:
            raise DisconnectionError("ping failed")


class Database:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        self.session = scoped_session(sessionmaker(bind=self.engine, expire_on_commit=False))

    def dispose(self) -> None:
        self.session.remove()
        self.engine.dispose()


def init_app(app: Flask) -> None:
    from sqlalchemy.orm import configure_mappers

    import storage.schema  # noqa: F401  every model registered before any thread queries

    configure_mappers()
    app.extensions["db"] = Database(app.config["SETTINGS"].database_url)

    @app.teardown_appcontext
    def _remove_session(_exc):
        app.extensions["db"].session.remove()


def get_db() -> Database:
    return current_app.extensions["db"]


def session() -> Session:
    """The session of the current app context (one per thread)."""
    return get_db().session()


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit on success, roll back on error; the session stays usable afterwards."""
    s = session()
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
