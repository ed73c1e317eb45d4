"""Fixtures on real infrastructure: PostgreSQL (or SQLite), Redis, RQ workers, a local Twilio server.

- ``backend``: each app-level test runs on PostgreSQL and on SQLite (PostgreSQL is skipped, with a
  reason, only on machines where none answers).
- ``env``: the environment the app and its worker processes get (fresh database, Redis db 13, a
  local Twilio-compatible server as Twilio's API).
"""
from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis as redis_lib
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from bot import create_app
from handlers.registry import load_csv
from storage.migrate import upgrade
from storage.schema import metadata
from tests.twilio_fake import FakeTwilio

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_BASE_URL = "http://bot.test"
RASA_TOKEN = "test-rasa-token-" + uuid.uuid4().hex[:8]


def _postgres_base() -> str | None:
    """A PostgreSQL server URL (without database) if one answers, else None."""
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    if not url.startswith("postgresql"):
        url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    plain = url.replace("+psycopg", "")
    try:
        psycopg.connect(plain, connect_timeout=2).close()
    except psycopg.OperationalError:
        return None
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def preferred_backend() -> str:
    """For tests that run on one backend only: PostgreSQL where one answers, SQLite elsewhere
    (so a machine without PostgreSQL runs them instead of skipping them)."""
    return "postgresql" if _postgres_base() else "sqlite"


@pytest.fixture(scope="session")
def postgres_db():
    """A fresh database for this test session, migrated once; dropped at the end."""
    base = _postgres_base()
    if base is None:
        yield None
        return
    name = f"pandawa_test_{uuid.uuid4().hex[:8]}"
    admin = base.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(base)._replace(path="/" + name))
    upgrade(url)
    yield url
    create_engine(url).dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def backend(request) -> str:
    """The database a test runs on: both, or the preferred one for a test marked ``one_backend``."""
    return request.param


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        one = metafunc.definition.get_closest_marker("one_backend")
        metafunc.parametrize("backend", [preferred_backend()] if one else ["postgresql", "sqlite"], indirect=True)


def _seed_registry(url: str) -> None:
    """The demo membership registry, as ``scripts/run`` loads it: the cards the conversations use exist."""
    engine = create_engine(url)
    with Session(engine) as session:
        load_csv(session)
        session.commit()
    engine.dispose()


@pytest.fixture
def database_url(backend, postgres_db, tmp_path) -> str:
    if backend == "postgresql":
        if postgres_db is None:
            pytest.skip("no PostgreSQL answers on this machine (set TEST_DATABASE_URL)")
        _truncate(postgres_db)
        _seed_registry(postgres_db)
        return postgres_db
    url = f"sqlite:///{tmp_path / 'pandawa.sqlite3'}"
    upgrade(url)
    _seed_registry(url)
    return url


@pytest.fixture(scope="session")
def redis_url():
    """A Redis database of its own for this test session: test runs side by side (CI and a developer,
    parallel helpers) must not flush each other's queues. Claimed with SET NX in db 0, released at the end."""
    parts = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    base = urlunsplit(parts._replace(path="/0"))
    try:
        registry = redis_lib.Redis.from_url(base, socket_connect_timeout=2)
        registry.ping()
    except redis_lib.ConnectionError:
        pytest.exit(f"no Redis at {base}: run the tests with scripts/test, which starts one", returncode=3)
    for index in range(1, 16):
        key = f"pandawa-tests:db:{index}"
        if registry.set(key, os.getpid(), nx=True, ex=3 * 3600):
            break
    else:
        pytest.exit("all Redis databases 1-15 are claimed by other test runs", returncode=3)
    yield urlunsplit(parts._replace(path=f"/{index}"))
    registry.delete(key)
    registry.close()


@pytest.fixture
def redis_conn(redis_url):
    conn = redis_lib.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture
def twilio():
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def env(database_url, redis_conn, redis_url, twilio, tmp_path) -> dict[str, str]:
    return {
        "SECRET_KEY": "test-secret-key-" + uuid.uuid4().hex,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "MEDIA_DIR": str(tmp_path / "media"),
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_API_BASE": twilio.base_url,
        "TWILIO_WHATSAPP_NUMBER": "whatsapp:+14155238886",
        "TWILIO_CONTENT_SID_CASE_UPDATE": "HX" + "5e" * 16,
        "TWILIO_CONTENT_SID_SATISFACTION": "HX" + "6f" * 16,
        "MEDIA_KEYS": "t1:" + base64.b64encode(b"k" * 32).decode(),
        "TWILIO_TIMEOUT": "2",
        "OUTBOUND_RETRY_INTERVALS": "1,1,1",
        "SWEEP_GRACE": "0",
        "SWEEP_INTERVAL": "1",
        # Twilio's default 10 msg/s per sender would make every test with two replies sleep 0.1 s; the
        # pacing tests (tests/test_pacing.py) set the real defaults back.
        "OUTBOUND_TEXT_PER_SECOND": "1000",
        "OUTBOUND_MEDIA_PER_SECOND": "1000",
        # OCR reads every KTP photo (~1 s; 10-20 s for the tests' text-dense generic photos): off, except in
        # the tests of reading cards (tests/test_ocr.py), which turn it on.
        "OCR_ENABLED": "0",
    }


@pytest.fixture
def app(env):
    app = create_app({"ENV": env, "TESTING": True})
    yield app
    app.extensions["db"].dispose()
    app.extensions["redis"].close()


@pytest.fixture
def photo_app(env):
    """The app fetching photos from the local Twilio server's "CDN" (localhost), as citizens' photos."""
    app = create_app({"ENV": {**env, "MEDIA_ALLOWED_HOSTS": "localhost"}, "TESTING": True})
    yield app
    app.extensions["db"].dispose()
    app.extensions["redis"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM when the test process dies, even by SIGKILL (no orphans
    left consuming another run's queues)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class WorkerProcesses:
    """Real `flask --app bot worker` processes on the test's database and Redis."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env, self.log_dir, self.procs = env, log_dir, []

    def start(self, n: int = 1, *args: str) -> "WorkerProcesses":
        for _ in range(n):
            log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "bot", "worker", *args],
                cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent, start_new_session=True,  # its own group: RQ's scheduler child too
            )
            self.procs.append(proc)
        return self

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop(self) -> None:
        """Stop every worker and whatever it forked (RQ's scheduler outlives a worker killed with -9)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the group outlives its leader
            except ProcessLookupError:
                pass


@pytest.fixture
def workers(env, tmp_path):
    procs = WorkerProcesses(env, tmp_path)
    yield procs
    procs.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1, message="condition"):
    """Poll until ``predicate()`` is truthy; returns its value or fails with ``message`` (a string or a
    callable giving one, e.g. the workers' logs at the time of failure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message() if callable(message) else message}")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (its own browser download is not used)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _nlu_model() -> str:
    """The trained model scripts/test prepared; trains it (via scripts/lib.sh) when run outside it."""
    model = os.environ.get("NLU_MODEL")
    if model and Path(model).is_file():
        return model
    out = subprocess.run(
        ["bash", "-c", 'source scripts/lib.sh && ensure_rasa_venv && ensure_nlu_model && echo "$NLU_MODEL"'],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def rasa_url(tmp_path_factory):
    """The real Rasa server (`rasa run --enable-api`, on loopback, with an auth token) on the trained model,
    started once per session. Apps talking to it need RASA_TOKEN (tests.conftest.RASA_TOKEN)."""
    import requests

    port = free_port()
    log_path = tmp_path_factory.mktemp("rasa") / "rasa.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [str(ROOT / ".venv-rasa/bin/rasa"), "run", "--enable-api", "--interface", "127.0.0.1", "--auth-token",
         RASA_TOKEN, "--port", str(port), "--model", _nlu_model()],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rasa exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.post(url + "/model/parse", params={"token": RASA_TOKEN}, json={"text": "halo"},
                             timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError(f"rasa did not answer in 180 s:\n{log_path.read_text()[-3000:]}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
