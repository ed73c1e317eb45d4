"""Running RQ jobs inside the app context, for modules the inbound job itself calls (bot.outbound):
importing bot.jobs from them would be circular."""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

from flask import has_app_context

import bot

F = TypeVar("F", bound=Callable)
_worker_app = None


def in_app_context(func: F) -> F:
    """Run a job inside the app context (the worker command pushes one; a bare `rq worker` does not)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)
        global _worker_app
        if _worker_app is None:
            _worker_app = bot.create_app()
        with _worker_app.app_context():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
