"""Command-line: `flask --app bot db upgrade|downgrade`, `flask --app bot worker`, `flask --app bot sweep`."""
from __future__ import annotations

import logging
import threading

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from rq import SimpleWorker

from bot import lifecycle, queues
from bot import sweeper as sweeper_mod
from bot.branches_cli import branches_cli
from bot.registry_cli import registry_cli
from storage import db
from storage.migrate import downgrade, upgrade

WORKER_PING_AFTER_IDLE = 2.0  # seconds a pooled connection may idle before a worker pings it (storage.db)

db_cli = AppGroup("db", help="Database migrations (Alembic).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    upgrade(current_app.config["SETTINGS"].database_url, revision)
    click.echo(f"database at {revision}")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    downgrade(current_app.config["SETTINGS"].database_url, revision)
    click.echo(f"database at {revision}")


@click.command("worker")
@click.option("--queues", "queue_names", default=",".join(queues.ALL), show_default=True, help="Comma-separated queues.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--sweeper/--no-sweeper", default=True, show_default=True, help="Run the sweeper thread.")
@with_appcontext
def worker(queue_names: str, burst: bool, sweeper: bool) -> None:
    """An RQ worker that runs jobs in this process (no fork per job), with RQ's scheduler for retries."""
    app = current_app._get_current_object()
    stop = threading.Event()
    if sweeper:
        sweeper_mod.start_thread(app, stop)
    names = [name.strip() for name in queue_names.split(",") if name.strip()]
    db.get_db().ping_after_idle = WORKER_PING_AFTER_IDLE  # a job failing on a dead connection is retried
    w = SimpleWorker([queues.queue(name) for name in names], connection=queues.redis())
    try:
        # RQ logs every job at INFO unless told otherwise: the process's own level (LOG_LEVEL) applies to it too.
        w.work(burst=burst, with_scheduler=True, logging_level=logging.getLevelName(logging.getLogger().level))
    finally:
        stop.set()


@click.command("purge")
@with_appcontext
def purge_command() -> None:
    """Remove personal data past its retention now (the sweeper does it once a day)."""
    click.echo(lifecycle.purge())


media_cli = AppGroup("media", help="Citizens' stored documents (encrypted at rest).")


@media_cli.command("rekey")
def media_rekey() -> None:
    """Encrypt every stored document under the first key of MEDIA_KEYS (after a key rotation)."""
    changed = current_app.config["SETTINGS"].media_store().rekey()
    click.echo(f"re-encrypted {changed} file(s) under key {current_app.config['SETTINGS'].media_keys[0][0]!r}")


@click.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """One sweeper pass: enqueue stored work that is on no queue; remind / put aside idle flow runs."""
    click.echo({**sweeper_mod.sweep(), **sweeper_mod.sweep_conversations()})


def init_app(app: Flask) -> None:
    app.cli.add_command(registry_cli)
    app.cli.add_command(branches_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(worker)
    app.cli.add_command(sweep_command)
    app.cli.add_command(purge_command)
    app.cli.add_command(media_cli)
