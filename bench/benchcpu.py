"""CPU accounting for the system benchmarks, from /proc only: CPU seconds per component of a
`benchlib.Stack` (snapshots), % of one core between two snapshots, and CPU milliseconds per message.

Components: our process groups by name prefix (`web` = gunicorn, `worker`, `rasa`), PostgreSQL,
Redis, this process (`driver+fake_twilio`: load driver and the fake Twilio), `wrk`, and the whole
machine (`machine_busy_total`: all but idle and iowait, other people's processes included).

Exited processes: a child's CPU moves into its parent's cumulative children time (`cutime`/`cstime`)
when the parent reaps it, so every process counts its own time plus its reaped children's. So a
PostgreSQL backend that closed between two snapshots (the app's pool overflow connections) is still
counted: through the postmaster (`postgres:exited_backends`), as are RQ's forked work horses through
their worker. This process's reaped children are apart (`driver_children`: the wrk run that ended
between two snapshots in webhook_ack). A process seen in the first snapshot and gone by the second
keeps its component; only its time after the first snapshot moves to the one that reaped it.

PostgreSQL is split by process title: `postgres:our_backends` (connections to this run's database,
autovacuum of it included), `postgres:server` (postmaster, checkpointer, WAL and background writers),
`postgres:exited_backends` (connections closed: the postmaster does not know to which database, so
other databases' closed connections count too) and `postgres:other_databases` (live connections to
other databases: not ours, left out of `postgres`). `postgres` = the first three. Redis is shared in
the same way (one server for every db index).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

APP_COMPONENTS = ("web", "worker", "rasa", "postgres", "redis")  # the app's own CPU
DRIVER, DRIVER_CHILDREN = "driver+fake_twilio", "driver_children"
MACHINE = "machine_busy_total"
PG_OURS, PG_SERVER, PG_EXITED, PG_OTHER = ("postgres:our_backends", "postgres:server", "postgres:exited_backends",
                                           "postgres:other_databases")
PG_PARTS = (PG_OURS, PG_SERVER, PG_EXITED)  # = postgres
POSTMASTER = "postmaster"  # counted as PG_SERVER (own time) and PG_EXITED (what it reaped)
_CLIENT_ADDRESS = re.compile(r"\(\d+\)|\[local\]")  # a backend's title names its client: "127.0.0.1(5432)"


class Snapshot(dict):
    """CPU seconds so far per component; `procs`: (pid, start time) -> (component, CPU seconds, the
    component its time goes to when it exits)."""

    def __init__(self):
        super().__init__()
        self.procs: dict[tuple[int, int], tuple[str, float, str]] = {}

    def add(self, key: str, secs: float) -> None:
        self[key] = self.get(key, 0.0) + secs


def _stat(pid: str) -> tuple[str, int, int, int, float, float] | None:
    """(command name, parent, process group, start time, own CPU s, reaped children's CPU s) of a
    process; None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    f = raw[raw.rindex(")") + 2:].split()
    return comm, int(f[1]), int(f[2]), int(f[19]), (int(f[11]) + int(f[12])) / tick, (int(f[13]) + int(f[14])) / tick


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _postgres_part(pid: str, db_name: str) -> str | None:
    """The part of PostgreSQL a process is; None for the postmaster (which keeps its command line)."""
    title = _cmdline(pid)
    if not title.startswith("postgres:"):
        return None
    if db_name in title.split():
        return PG_OURS
    if _CLIENT_ADDRESS.search(title):
        return PG_OTHER
    return PG_SERVER  # checkpointer, walwriter, background writer, launchers


def _classify(pid: str, comm: str, ppid: int, pgrp: int, groups: dict[int, str], db_name: str) -> tuple[str, str] | None:
    """(component, component that gets its time when it exits) of a process; None: not counted."""
    me = os.getpid()
    if int(pid) == me:
        return DRIVER, DRIVER
    if pgrp in groups:
        return groups[pgrp], DRIVER_CHILDREN if ppid == me else groups[pgrp]
    if comm == "postgres":
        part = _postgres_part(pid, db_name)
        return (POSTMASTER, PG_SERVER) if part is None else (part, PG_EXITED)
    if comm.startswith("redis-server"):
        return "redis", "redis"
    if comm == "wrk":
        return "wrk", DRIVER_CHILDREN
    return None


def cpu_snapshot(stack) -> Snapshot:
    """CPU seconds so far per component (see the module docstring) of a benchlib.Stack."""
    groups = {p.pid: name.split("-")[0] for name, p in stack.procs}
    snap = Snapshot()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or (st := _stat(entry)) is None:
            continue
        comm, ppid, pgrp, start, own, children = st
        kind = _classify(entry, comm, ppid, pgrp, groups, stack.db_name)
        if kind is None:
            continue
        key, heir = kind
        if key == DRIVER:  # its reaped children belong to other components
            snap.add(DRIVER, own)
            snap.add(DRIVER_CHILDREN, children)
            children = 0.0
        elif key == POSTMASTER:  # what it reaped are closed connections
            key = PG_SERVER
            snap.add(PG_SERVER, own)
            snap.add(PG_EXITED, children)
            children = 0.0
        else:
            snap.add(key, own + children)
        snap.procs[(int(entry), start)] = (key, own + children, heir)
    snap["postgres"] = sum(snap.get(k, 0.0) for k in PG_PARTS)
    with open("/proc/stat") as f:  # whole machine, busy = all but idle and iowait
        v = [int(x) for x in f.readline().split()[1:]]
    snap[MACHINE] = (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
    return snap


def cpu_deltas(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds per component between two snapshots. A process gone meanwhile: the time it had at
    the first snapshot is taken back from the component that reaped it (it was before the window)."""
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in set(before) | set(after)}
    for ident, (key, secs, heir) in before.procs.items():
        if ident not in after.procs and heir != key:
            d[key] = d.get(key, 0.0) + secs
            d[heir] = d.get(heir, 0.0) - secs
    d["postgres"] = sum(d.get(k, 0.0) for k in PG_PARTS)
    return d


def cpu_share(before: Snapshot, after: Snapshot, seconds: float) -> dict[str, float]:
    """% of one core per component between two snapshots (200 % = both cores of a 2-core machine)."""
    return {k: round(100 * v / seconds, 1) for k, v in sorted(cpu_deltas(before, after).items()) if v > 0}


def cpu_ms_per_message(before: Snapshot, after: Snapshot, messages: int) -> dict[str, float] | None:
    """CPU milliseconds per message answered between two snapshots, per component, plus `app_total`
    (every component but the driver) and the whole machine's busy time. None without messages."""
    if not messages:
        return None
    d = cpu_deltas(before, after)
    per = {k: round(1000 * d.get(k, 0.0) / messages, 2) for k in (*APP_COMPONENTS, DRIVER, *PG_PARTS, MACHINE)}
    per["app_total"] = round(sum(per[k] for k in APP_COMPONENTS), 2)
    return per


def cpu_ms_line(per: dict[str, float] | None) -> str:
    if not per:
        return "no message answered"
    parts = [f"{k} {per[k]:.1f}" for k in (*APP_COMPONENTS, DRIVER)]
    pg = f"(postgres = our backends {per[PG_OURS]:.1f} + server {per[PG_SERVER]:.1f} + exited backends {per[PG_EXITED]:.1f})"
    return f"app total {per['app_total']:.1f} ms/msg: " + ", ".join(parts) + f"; machine {per[MACHINE]:.1f} {pg}"
