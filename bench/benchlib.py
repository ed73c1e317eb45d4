"""Shared plumbing for the system benchmarks (webhook_ack, end_to_end, case_to_queue, scale_out).

The load driver and the fake Twilio are in benchdriver.py, CPU accounting in benchcpu.py, the
exactly-once / per-citizen order check in benchcheck.py.

A `Stack` owns everything a benchmark starts: its own PostgreSQL database (created, migrated and
loaded with the demo registry, dropped at the end), its own Redis database index (flushed at start
and end, nothing else touched), a temporary instance/media directory, and every child process
(each in its own session, stopped by its own process-group id on exit, Ctrl-C, SIGTERM or error).

Only loopback addresses are used. Every wait has a deadline.
"""
from __future__ import annotations

import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv" / "bin"
RASA = REPO / ".venv-rasa" / "bin" / "rasa"
sys.path.insert(0, str(REPO))  # tests.twilio_fake, bench.nlu_bench

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
PG_APP = "postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
INBOUND_PATH = "/whatsapp/inbound"
RAISED_TEXT_PER_SECOND = 1000  # replies/s the app may hand to Twilio in the benchmarks (see Stack.env)


# ----------------------------------------------------------------------------- small helpers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, what: str = "") -> None:
    """Poll a GET URL until it answers < 500 (deadline `timeout` s); fail fast if `proc` died."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what or url}: process exited with {proc.returncode} before answering")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{what or url}: no answer within {timeout:.0f}s")


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))]


def fmt(v, nd: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if 0 < abs(v) < 1:
            return f"{v:.3f}"
        return f"{v:.{nd}f}"
    return str(v)


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]])


def git_head(repo: Path = REPO) -> str:
    """The checked-out commit (short), read from .git without running git (which may take the
    index lock while colleagues work in the same tree)."""
    git = repo / ".git"
    if git.is_file():  # a linked work tree: "gitdir: <path>"
        git = Path(git.read_text().split(":", 1)[1].strip())
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:7]
        ref = head[5:]
        common = Path((git / "commondir").read_text().strip()) if (git / "commondir").exists() else Path(".")
        common = common if common.is_absolute() else git / common
        for base in (git, common):
            if (base / ref).exists():
                return (base / ref).read_text().strip()[:7]
        packed = (common / "packed-refs").read_text().splitlines()
        return next(line.split()[0][:7] for line in packed if line.endswith(" " + ref))
    except (OSError, StopIteration, IndexError):
        return "unknown"


def meta() -> dict:
    """Date, commit, machine. `worktree_dirty` comes from `git --no-optional-locks status` (no index
    lock), unless BENCH_NO_GIT=1."""
    dirty = None
    if os.environ.get("BENCH_NO_GIT") != "1":
        try:
            dirty = bool(subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
                                        cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    return {"date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "git_commit": git_head(),
            "worktree_dirty": dirty, "cores": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version()}


def write_json(path: str | None, payload: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"JSON written to {path}")


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP -> SystemExit so that `with Stack()` cleans up like on Ctrl-C."""
    def _exit(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGHUP, _exit)


# ----------------------------------------------------------------------------- Twilio-like inbound
def inbound_form(phone: str, body: str, name: str = "Ibu Sari") -> dict[str, str]:
    """A realistic Twilio WhatsApp inbound form (as tests/helpers.py), with a unique MessageSid."""
    sid = "SM" + secrets.token_hex(16)
    return {
        "SmsMessageSid": sid, "NumMedia": "0", "ProfileName": name, "MessageType": "text",
        "SmsSid": sid, "WaId": phone.lstrip("+"), "SmsStatus": "received", "Body": body,
        "To": "whatsapp:+14155238886", "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32, "From": f"whatsapp:{phone}", "ApiVersion": "2010-04-01",
    }


class Signer:
    def __init__(self, public_base_url: str, auth_token: str):
        from twilio.request_validator import RequestValidator

        self.url = public_base_url.rstrip("/") + INBOUND_PATH
        self.validator = RequestValidator(auth_token)

    def sign(self, form: dict[str, str]) -> tuple[bytes, str]:
        """(url-encoded body, X-Twilio-Signature)."""
        return urlencode(form).encode(), self.validator.compute_signature(self.url, form)


def phone(i: int, base: int = 81200000000) -> str:
    return f"+62{base + i}"


# ----------------------------------------------------------------------------- the stack
class Stack:
    """Database, Redis db, temp dir and child processes of one benchmark run (a context manager)."""

    def __init__(self, redis_db: int = 14, keep: bool = False, log_dir: str | None = None):
        self.redis_db, self.keep = redis_db, keep
        self.db_name = "pandawa_bench_" + secrets.token_hex(4)
        self.tmp = Path(tempfile.mkdtemp(prefix="pandawa-bench-"))
        self.log_dir = Path(log_dir) if log_dir else self.tmp / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.twilio_sid = "AC" + secrets.token_hex(16)
        self.twilio_token = secrets.token_hex(16)
        self.web_port = free_port()
        self.public_base_url = f"http://127.0.0.1:{self.web_port}"
        self.redis_url = f"redis://127.0.0.1:6379/{redis_db}"
        self.rasa_url = "http://127.0.0.1:9"  # replaced by start_rasa(); port 9 refuses at once
        self.twilio_api_base = "http://127.0.0.1:9"
        self._db_created = False

    # -- lifecycle
    def __enter__(self) -> "Stack":
        install_signal_handlers()
        self._redis().flushdb()
        self._admin(f'CREATE DATABASE "{self.db_name}"')
        self._db_created = True
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
        if self._db_created:
            try:
                self._admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            except Exception as e:  # noqa: BLE001
                print(f"warning: could not drop {self.db_name}: {e}", file=sys.stderr)
        try:
            self._redis().flushdb()
        except Exception as e:  # noqa: BLE001
            print(f"warning: could not flush redis db {self.redis_db}: {e}", file=sys.stderr)
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    def _redis(self):
        import redis

        return redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=10)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.db_name}", connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    @property
    def database_url(self) -> str:
        return PG_APP.format(db=self.db_name)

    def env(self, app_pacing: bool = False, **extra: str) -> dict[str, str]:
        """The app's environment; `app_pacing`: keep the app's own pace of replies to Twilio."""
        env = dict(os.environ)
        env.update({
            "SECRET_KEY": "bench-" + "k" * 40, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
            "RASA_URL": self.rasa_url, "TWILIO_ACCOUNT_SID": self.twilio_sid,
            "TWILIO_AUTH_TOKEN": self.twilio_token, "TWILIO_API_BASE": self.twilio_api_base,
            "PUBLIC_BASE_URL": self.public_base_url, "LOG_LEVEL": "WARNING", "SIMULATOR_ENABLED": "0",
            "INSTANCE_PATH": str(self.tmp / "instance"), "MEDIA_DIR": str(self.tmp / "media"),
            "PYTHONUNBUFFERED": "1",
            # The fake Twilio accepts any template: real-looking SIDs so that start-up accepts them.
            "TWILIO_CONTENT_SID_CASE_UPDATE": "HX" + "5e" * 16, "TWILIO_CONTENT_SID_SATISFACTION": "HX" + "6f" * 16,
            "MEDIA_KEYS": "b1:YmVuY2gtbWVkaWEta2V5LTAxMjM0NTY3ODlhYmNkZWY=",  # 32 bytes, the benchmarks' own
        })
        # The app paces replies to Twilio's default 10 msg/s per WhatsApp sender (bot/pacing.py), and every
        # reply here comes from one sender: raised so that the benchmarks measure the app, not the pacing
        # (an OUTBOUND_TEXT_PER_SECOND in the environment wins).
        if not app_pacing:
            env.setdefault("OUTBOUND_TEXT_PER_SECOND", str(RAISED_TEXT_PER_SECOND))
        env.update(extra)
        return env

    def run(self, argv: list[str], timeout: float = 300) -> None:
        r = subprocess.run(argv, cwd=REPO, env=self.env(), capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")

    def prepare_db(self) -> None:
        t = time.monotonic()
        self.run([str(VENV / "flask"), "--app", "bot", "db", "upgrade"])
        self.run([str(VENV / "flask"), "--app", "bot", "registry", "load"])
        print(f"database {self.db_name}: migrated and demo registry loaded in {time.monotonic() - t:.1f}s", flush=True)

    # -- processes
    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, cwd=REPO, env=env or self.env(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        """Stop one child and its process group (it is a session leader we created)."""
        self.stop_many([proc], sig, timeout)

    def stop_many(self, procs: list[subprocess.Popen], sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        """Signal every group first, then wait for each (SIGKILL after `timeout` s): N workers finishing
        their current job stop in parallel."""
        for proc in procs:
            _killpg(proc.pid, sig if proc.poll() is None else signal.SIGKILL)  # leader gone: its group may remain
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.procs = [(n, p) for n, p in self.procs if p not in procs]

    def stop_all(self) -> None:
        self.stop_many([p for _name, p in reversed(self.procs)])

    def log_tail(self, name: str, n: int = 3000) -> str:
        p = self.log_dir / f"{name}.log"
        return p.read_text(errors="replace")[-n:] if p.exists() else ""

    # -- components
    def start_rasa(self, model: str | None = None, timeout: float = 180) -> subprocess.Popen:
        model = model or nlu_model()
        port = free_port()
        self.rasa_url = f"http://127.0.0.1:{port}"
        proc = self.start("rasa", [str(RASA), "run", "--enable-api", "--port", str(port), "--interface", "127.0.0.1",
                                   "--model", model], env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        t = time.monotonic()
        wait_http(self.rasa_url + "/status", timeout, proc, "rasa")
        # /status answers before the model is loaded on some versions: wait for a real parse.
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.post(self.rasa_url + "/model/parse", json={"text": "halo"}, timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("rasa: /model/parse never answered\n" + self.log_tail("rasa"))
        print(f"rasa up on {self.rasa_url} in {time.monotonic() - t:.1f}s (model {Path(model).name})", flush=True)
        return proc

    def start_gunicorn(self, app: str = "bot:create_app()", name: str = "web", workers: int = 2, threads: int = 8,
                       extra_env: dict | None = None) -> subprocess.Popen:
        """Exactly the Procfile's `web` settings (gthread, 2 workers x 8 threads, access log to a file)."""
        argv = [str(VENV / "gunicorn"), "--bind", f"127.0.0.1:{self.web_port}", "--worker-class", "gthread",
                "--workers", str(workers), "--threads", str(threads), "--timeout", "30",
                "--access-logfile", str(self.log_dir / f"{name}.access.log"),
                "--access-logformat", "%(m)s %(U)s %(s)s %(L)ss", app]
        proc = self.start(name, argv, env=self.env(**(extra_env or {})))
        wait_http(self.public_base_url + "/healthz", 60, proc, name)
        return proc

    def start_worker(self, name: str, worker_class: str = "simple", profile_to: str | None = None,
                     app_pacing: bool = False) -> subprocess.Popen:
        """`flask --app bot worker --no-sweeper` (RQ SimpleWorker), or the forking rq.Worker via
        bench/fork_worker.py; optionally under pyinstrument (session file `profile_to`)."""
        if worker_class == "simple":
            target = ["-m", "flask", "--app", "bot", "worker", "--no-sweeper"]
        elif worker_class == "fork":
            target = [str(REPO / "bench" / "fork_worker.py")]
        else:
            raise ValueError(worker_class)
        if profile_to:
            argv = [str(VENV / "pyinstrument"), "-r", "pyinstrument.renderers.session.SessionRenderer", "-o", profile_to, "--interval", "0.001"] + target
        else:
            argv = [str(VENV / "python")] + target
        return self.start(name, argv, env=self.env(app_pacing=app_pacing))

    def wait_workers(self, n: int, timeout: float = 60, procs: list[subprocess.Popen] | None = None) -> None:
        """Until n RQ workers are registered in our Redis db (only those run by `procs` when given: a
        worker killed earlier may still be registered)."""
        from rq import Worker

        conn = self._redis()
        groups = {p.pid for p in procs} if procs else None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self._workers(Worker.all(connection=conn), groups)) >= n:
                return
            for name, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited ({p.returncode}):\n{self.log_tail(name)}")
            time.sleep(0.2)
        raise RuntimeError(f"only {len(self._workers(Worker.all(connection=conn), groups))} of {n} workers registered in {timeout}s")

    @staticmethod
    def _workers(workers: list, groups: set[int] | None) -> list:
        return workers if groups is None else [w for w in workers if _pgid(w.pid) in groups]

    def _queues(self) -> list:
        """Every RQ queue a job was ever put on in our Redis db (RQ registers them), whatever the
        app names them."""
        from rq import Queue

        return Queue.all(connection=self._redis())

    def queue_lengths(self) -> dict[str, int]:
        return {q.name: len(q) for q in self._queues()}

    def failed_jobs(self) -> int:
        return sum(q.failed_job_registry.count for q in self._queues())

    def pending_jobs(self) -> int:
        """Jobs not finished yet: waiting, running, or scheduled (a retry after its backoff)."""
        return sum(len(q) + q.started_job_registry.count + q.scheduled_job_registry.count for q in self._queues())

    def pg_sessions(self) -> dict[str, int]:
        """Connections opened so far per database of the server (pg_stat_database.sessions,
        PostgreSQL >= 14; our count includes this query's own connection)."""
        rows = self.sql("select datname, sessions from pg_stat_database where datname is not null")
        return {name: int(n or 0) for name, n in rows}


def _pgid(pid: int | None) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, TypeError):  # gone, or no pid recorded yet
        return None


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def nlu_model() -> str:
    if os.environ.get("NLU_MODEL"):
        return os.environ["NLU_MODEL"]
    out = subprocess.run(["bash", "-c", "source scripts/lib.sh && ensure_nlu_model && echo $NLU_MODEL"], cwd=REPO,
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError("could not find/train the NLU model:\n" + out.stderr[-2000:])
    return out.stdout.strip().splitlines()[-1]


