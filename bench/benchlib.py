"""Shared plumbing for the system benchmarks (webhook_ack, end_to_end, case_to_queue).

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


def meta() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", None
    return {"date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "git_commit": commit,
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

    def env(self, **extra: str) -> dict[str, str]:
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
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
        else:  # leader gone: its group may still hold children
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def stop_all(self) -> None:
        for _name, proc in reversed(list(self.procs)):
            self.stop(proc)

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

    def start_worker(self, name: str, worker_class: str = "simple", profile_to: str | None = None) -> subprocess.Popen:
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
        return self.start(name, argv)

    def wait_workers(self, n: int, timeout: float = 60) -> None:
        """Until n RQ workers are registered in our Redis db."""
        from rq import Worker

        conn = self._redis()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(Worker.all(connection=conn)) >= n:
                return
            for name, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited ({p.returncode}):\n{self.log_tail(name)}")
            time.sleep(0.2)
        raise RuntimeError(f"only {len(Worker.all(connection=conn))} of {n} workers registered in {timeout}s")

    def queue_lengths(self) -> dict[str, int]:
        from rq import Queue

        conn = self._redis()
        return {q: len(Queue(q, connection=conn)) for q in ("inbound", "outbound", "backoffice")}

    def failed_jobs(self) -> int:
        from rq import Queue

        conn = self._redis()
        return sum(Queue(q, connection=conn).failed_job_registry.count for q in ("inbound", "outbound", "backoffice"))


def nlu_model() -> str:
    if os.environ.get("NLU_MODEL"):
        return os.environ["NLU_MODEL"]
    out = subprocess.run(["bash", "-c", "source scripts/lib.sh && ensure_nlu_model && echo $NLU_MODEL"], cwd=REPO,
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError("could not find/train the NLU model:\n" + out.stderr[-2000:])
    return out.stdout.strip().splitlines()[-1]


# ----------------------------------------------------------------------------- conversations driver
class Record:
    __slots__ = ("sender", "body", "t0", "status", "reply_at", "reply_body", "phase")

    def __init__(self, sender: int, body: str, phase: str):
        self.sender, self.body, self.phase = sender, body, phase
        self.t0 = self.reply_at = None
        self.status = None
        self.reply_body = None


class Driver:
    """Citizens talking to the bot over loopback: signed webhooks to gunicorn, replies observed in a
    local Twilio-compatible server (tests/twilio_fake.FakeTwilio, run in this process) at the moment
    it records each created message (`created_at`, time.time()).

    One message in flight per citizen (a citizen waits for the answer); a citizen becomes available
    again `cooldown` s after its first reply, so that any second reply cannot be taken for the next."""

    def __init__(self, stack: Stack, scripts: list[list[str]], post_threads: int = 16, reply_timeout: float = 30,
                 cooldown: float = 0.3, phone_base: int = 81200000000):
        import threading
        from concurrent.futures import ThreadPoolExecutor

        import logging

        from tests.twilio_fake import FakeTwilio

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request
        driver = self

        class RecordingTwilio(FakeTwilio):
            def _create(self, form):
                msg = super()._create(form)
                driver._on_create(msg)
                return msg

        self.twilio = RecordingTwilio(stack.twilio_sid, stack.twilio_token, "127.0.0.1", 0).start()
        stack.twilio_api_base = self.twilio.base_url
        self.stack, self.scripts = stack, scripts
        self.phones = [phone(i, phone_base) for i in range(len(scripts))]
        self.addr = {f"whatsapp:{p}": i for i, p in enumerate(self.phones)}
        self.step = [0] * len(scripts)
        self.inflight: dict[int, Record] = {}
        self.done: list[Record] = []
        self.completions: list[tuple[float, int]] = []  # (available_at, sender)
        self.lock = threading.Lock()
        self.reply_timeout, self.cooldown = reply_timeout, cooldown
        self.pool = ThreadPoolExecutor(post_threads, thread_name_prefix="post")
        self._local = threading.local()
        self.signer = None  # set when the web server's URL is known (start())

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.twilio.stop()

    def _session(self):
        import requests

        if not hasattr(self._local, "s"):
            self._local.s = requests.Session()
        return self._local.s

    def _on_create(self, msg: dict) -> None:
        sender = self.addr.get(msg.get("To"))
        if sender is None:
            return
        with self.lock:
            rec = self.inflight.get(sender)
            if rec is not None and rec.t0 is not None and rec.reply_at is None and msg["created_at"] >= rec.t0:
                rec.reply_at, rec.reply_body = msg["created_at"], msg.get("Body")
                del self.inflight[sender]
                self.done.append(rec)
                self.completions.append((msg["created_at"] + self.cooldown, sender))

    def _post(self, rec: Record) -> None:
        import requests

        if self.signer is None:
            self.signer = Signer(self.stack.public_base_url, self.stack.twilio_token)
        form = inbound_form(self.phones[rec.sender], rec.body, name=f"Warga {rec.sender}")
        body, sig = self.signer.sign(form)  # signing is the client's cost: before t0
        headers = {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}
        rec.t0 = time.time()
        try:
            r = self._session().post(self.signer.url, data=body, headers=headers, timeout=15)
            rec.status = r.status_code
        except requests.RequestException as e:
            rec.status = type(e).__name__
        if rec.status != 200:
            with self.lock:
                if self.inflight.get(rec.sender) is rec:
                    del self.inflight[rec.sender]
                    self.done.append(rec)
                    self.completions.append((time.time() + self.cooldown, rec.sender))

    def send(self, sender: int, phase: str) -> Record:
        script = self.scripts[sender]
        rec = Record(sender, script[self.step[sender] % len(script)], phase)
        self.step[sender] += 1
        with self.lock:
            self.inflight[sender] = rec
        self.pool.submit(self._post, rec)
        return rec

    def wait_reply(self, rec: Record, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or self.reply_timeout)
        while time.monotonic() < deadline:
            if rec.reply_at is not None or (rec.status is not None and rec.status != 200):
                return rec.reply_at is not None
            time.sleep(0.005)
        return False

    def run_load(self, phase: str, senders: list[int], duration: float, warmup: float, concurrency: int | None = None,
                 rate: float | None = None, drain: float = 30, stop=None) -> dict:
        """Closed loop (`concurrency` messages in flight) or open loop (`rate` msg/s, fixed interval) for
        `duration` s (or until the `stop` event is set); statistics over messages sent after `warmup` s.
        Then waits up to `drain` s."""
        import collections

        assert (concurrency is None) != (rate is None)
        idle = collections.deque(senders)
        mine = set(senders)
        skipped = timeouts = 0
        start = time.time()
        end = start + duration
        next_at = start
        sent = 0
        while True:
            now = time.time()
            with self.lock:  # citizens whose reply came back are available again after the cooldown
                ready = [c for c in self.completions if c[0] <= now and c[1] in mine]
                if ready:
                    self.completions = [c for c in self.completions if not (c[0] <= now and c[1] in mine)]
                stale = [r for r in self.inflight.values() if r.sender in mine and r.t0 and now - r.t0 > self.reply_timeout]
                for r in stale:  # no reply in time: counted, the citizen is retired
                    del self.inflight[r.sender]
                    r.status = "no_reply"
                    self.done.append(r)
                    timeouts += 1
                in_flight = sum(1 for s in self.inflight if s in mine)
            idle.extend(s for _, s in ready)
            if stop is not None and stop.is_set() and now < end:
                end = now
                duration = max(now - start, warmup + 1)
            if now >= end:
                if in_flight == 0 or now >= end + drain:
                    break
                time.sleep(0.01)
                continue
            if concurrency is not None:
                while in_flight < concurrency and idle:
                    self.send(idle.popleft(), phase)
                    in_flight += 1
                    sent += 1
                time.sleep(0.002)
            else:
                while next_at <= now:
                    next_at += 1.0 / rate
                    if idle:
                        self.send(idle.popleft(), phase)
                        sent += 1
                    else:
                        skipped += 1
                time.sleep(min(0.002, max(0.0, next_at - time.time())))
        left = [r for r in self.inflight.values() if r.sender in mine]
        t_meas = start + warmup
        recs = [r for r in self.done if r.phase == phase and r.t0 and r.t0 >= t_meas and r.t0 < end]
        lat = [(r.reply_at - r.t0) * 1000 for r in recs if r.reply_at]
        replies_in_window = sum(1 for r in self.done if r.phase == phase and r.reply_at and t_meas <= r.reply_at < end)
        errors = sum(1 for r in recs if r.status not in (200,) and r.status != "no_reply")
        return {
            "phase": phase, "mode": "closed" if concurrency else "open", "concurrency": concurrency, "rate": rate,
            "duration_s": duration, "warmup_s": warmup, "sent": sent, "measured": len(recs),
            "throughput_msg_s": replies_in_window / (duration - warmup),
            "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "p99_ms": pct(lat, 99), "max_ms": max(lat) if lat else None,
            "errors": errors, "no_reply": timeouts, "skipped_no_idle_sender": skipped, "left_in_flight": len(left),
        }


# ----------------------------------------------------------------------------- CPU accounting
def cpu_snapshot(stack: Stack) -> dict[str, float]:
    """CPU seconds (user+system) so far of: each of our process groups by name prefix (web, worker,
    rasa), PostgreSQL backends, Redis, and this process (load driver + fake Twilio). Reads /proc only."""
    tick = os.sysconf("SC_CLK_TCK")
    groups = {p.pid: name.split("-")[0] for name, p in stack.procs}
    out: dict[str, float] = {}
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        pgrp, secs = int(fields[2]), (int(fields[11]) + int(fields[12])) / tick
        if pgrp in groups:
            key = groups[pgrp]
        elif int(entry) == me:
            key = "driver+fake_twilio"
        elif comm.startswith("postgres"):
            key = "postgres"
        elif comm.startswith("redis-server"):
            key = "redis"
        elif comm == "wrk":
            key = "wrk"
        else:
            continue
        out[key] = out.get(key, 0.0) + secs
    with open("/proc/stat") as f:  # whole machine, busy = all but idle and iowait
        v = [int(x) for x in f.readline().split()[1:]]
    out["machine_busy_total"] = (sum(v) - v[3] - v[4]) / tick
    return out


def cpu_share(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """% of one core per group between two snapshots (processes that exited meanwhile are missed:
    short-lived PostgreSQL backends of pool overflow connections, wrk). `machine_busy_total` counts
    everything on the machine, including other people's processes."""
    return {k: round(100 * (after.get(k, 0.0) - before.get(k, 0.0)) / seconds, 1) for k in sorted(after)
            if after.get(k, 0.0) - before.get(k, 0.0) > 0}
