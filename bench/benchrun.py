"""Steps shared by the end-to-end benchmarks (end_to_end, case_to_queue, scale_out): the whole app
running with the load driver, a set of RQ workers for one step, and a load run with its CPU cost."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from benchcpu import MACHINE, cpu_ms_line, cpu_ms_per_message, cpu_share, cpu_snapshot
from benchdriver import Driver
from benchlib import Stack


@contextmanager
def running_app(scripts: list[list[str]], redis_db: int, post_threads: int = 24) -> Iterator[tuple[Stack, Driver]]:
    """Own database (migrated, demo registry), real Rasa, the driver with the fake Twilio, gunicorn
    with the real app; no worker yet. Everything stopped and dropped on exit."""
    with Stack(redis_db=redis_db) as stack:
        stack.prepare_db()
        stack.start_rasa()
        driver = Driver(stack, scripts, post_threads=post_threads)
        try:
            stack.start_gunicorn("bot:create_app()", name="web")
            yield stack, driver
        finally:
            driver.close()


@contextmanager
def worker_pool(stack: Stack, label: str, n: int, worker_class: str = "simple", app_pacing: bool = False) -> Iterator[list]:
    """`n` workers (`flask --app bot worker --no-sweeper`, or bench/fork_worker.py), registered
    before the body runs, stopped together after it (warm shutdown: each finishes its job);
    `app_pacing`: with the app's own pace of replies to Twilio (see benchlib.Stack.env)."""
    procs = [stack.start_worker(f"worker-{label}-{i}", worker_class, app_pacing=app_pacing) for i in range(n)]
    try:
        stack.wait_workers(n, timeout=30 + 10 * n, procs=procs)
        yield procs
    finally:
        stack.stop_many(procs, timeout=30)


def measured_load(stack: Stack, driver: Driver, phase: str, senders: list[int], duration: float, warmup: float,
                  **load) -> dict:
    """driver.run_load (closed loop with concurrency=, or open loop with rate=), plus the CPU it
    cost: % of one core and CPU ms per message answered, per component, over the whole run (warm-up
    and drain included, like the messages counted), and the PostgreSQL connections opened meanwhile
    (ours include the two queries that count them)."""
    sessions = stack.pg_sessions()
    before, t0 = cpu_snapshot(stack), time.monotonic()
    result = driver.run_load(phase, senders, duration, warmup, **load)
    after, seconds = cpu_snapshot(stack), time.monotonic() - t0
    answered = driver.answered(phase)
    result.update(cpu_seconds_wall=seconds, messages_answered=answered,
                  cpu_pct_of_one_core=cpu_share(before, after, seconds),
                  cpu_ms_per_message=cpu_ms_per_message(before, after, answered),
                  machine_busy_pct=round(100 * (after[MACHINE] - before[MACHINE]) / seconds, 1),
                  pg_sessions_opened=sessions_opened(stack.db_name, sessions, stack.pg_sessions()))
    return result


def sessions_opened(db_name: str, before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """PostgreSQL connections opened between two counts, to our database and to the others (a database
    dropped meanwhile is not counted)."""
    delta = {name: n - before.get(name, 0) for name, n in after.items()}
    return {"ours": delta.get(db_name, 0), "other_databases": sum(n for name, n in delta.items() if name != db_name)}


def describe_cpu(label: str, run: dict) -> str:
    pg = run["pg_sessions_opened"]
    return (f"CPU during {label}: machine busy {run['machine_busy_pct']:.0f} % of one core; "
            f"{cpu_ms_line(run['cpu_ms_per_message'])}; PostgreSQL connections opened: {pg['ours']} to our database, "
            f"{pg['other_databases']} to others (their closed connections count as our exited backends)")
