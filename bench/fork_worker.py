#!/usr/bin/env python3
"""RQ's forking `Worker` (one fork per job) on the bot's queues, for comparison with the
`flask --app bot worker` SimpleWorker (no fork) in bench/end_to_end.py --worker-classes simple,fork.

Best case for forking: the app is created, the job modules imported, the flows loaded and the app context is pushed once in
the parent, so each forked job inherits them (no create_app per job); the database pool is emptied
before forking so no child shares a parent connection. Each job still pays the fork, a fresh
PostgreSQL connection and fresh HTTP connections to Rasa / Twilio.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rq import Worker  # noqa: E402

import importlib  # noqa: E402

from bot import create_app, live, queues, twilio_client  # noqa: E402
from storage import db  # noqa: E402


def main() -> None:
    app = create_app()
    with app.app_context():
        for name in ("bot.jobs", "bot.outbound", "flows.dialogue", "handlers.cases", "handlers.actions"):
            importlib.import_module(name)
        live.refresh(app)
        # twilio.rest loads its API modules lazily on first use: load them here, not once per fork.
        # No connection is opened.
        twilio_client.client().api.v2010.account.messages  # noqa: B018
        db.get_db().engine.dispose()
        w = Worker([queues.queue(n) for n in queues.ALL], connection=queues.redis())
        w.work(with_scheduler=True)


if __name__ == "__main__":
    main()
