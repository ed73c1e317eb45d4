"""Engine and session per app (flaskr-style ``init_app``), usable from web requests and RQ jobs alike.

Every call to the database has a deadline: connecting (5 s), each statement (30 s), waiting for a row
lock (10 s), and a transaction left idle is ended by the server (5 min); on SQLite, a busy file
is waited for 30 s at most. Statement parameters (citizens' data) never appear in error messages.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

from flask import Flask, current_app
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import Session, scoped_session, sessionmaker


def make_engine(url: str, ping_after_idle: Callable[[], float] = lambda: 0.0) -> Engine:
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
    _ping(engine, ping_after_idle)
    return engine


def _ping(engine: Engine, after_idle: Callable[[], float]) -> None:
    """A pooled connection is pinged before it is handed out — each time (0, as ``pool_pre_ping``), or only
    when it has been idle ``after_idle()`` seconds — and the pool is replaced when the server is gone
    (restarted, failed over). Web processes ping each time: a request must not fail because the server
    restarted a second ago (Twilio does not retry a webhook). A worker's job that fails that way is
    retried, so workers ping only idle connections: a ping per transaction was a third of a worker's
    round trips, and a connection used within the last seconds is as sure as a ping would be."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        idle_since, threshold = record.info.pop("idle_since", None), after_idle()
        if threshold > 0 and idle_since is not None and time.monotonic() - idle_since < threshold:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise InvalidatePoolError("ping failed") from exc
        if not alive:
            raise InvalidatePoolError("ping failed")


class Database:
    def __init__(self, url: str):
        self.ping_after_idle = 0.0  # seconds; 0: a ping at every checkout (see _ping)
        self.engine = make_engine(url, lambda: self.ping_after_idle)
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
