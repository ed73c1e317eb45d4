"""Shared by the browser tests: Debian's Chromium for Playwright, a live threaded server for an app,
screenshots kept in test-artifacts/."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from bot import create_app
from tests.conftest import ROOT, free_port
from tests.helpers import STAFF_PASSWORD, add_staff

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"browser tests need Debian's Chromium at {CHROMIUM} (scripts/test installs it)")


@contextmanager
def serving(app, port: int):
    """Serve the app on 127.0.0.1:port in a thread; stop it and release its connections after."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        app.extensions["db"].dispose()
        app.extensions["redis"].close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.is_file() and path.stat().st_size > 10 * 1024, (path, path.stat().st_size)
    return path


@contextmanager
def live_app(env: dict, *staff: tuple[str, str], local: bool = False, **settings: str):
    """The app on a real threaded server with these staff ``(name, role)``; ``local``: without Twilio
    credentials (local mode: the simulator may be on). Yields ``(app, base_url)``."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in env.items() if not (local and k.startswith("TWILIO_"))}
    app = create_app({"ENV": {**env, "PUBLIC_BASE_URL": base, **settings}, "TESTING": True})
    add_staff(app, *staff)
    with serving(app, port):
        yield app, base


@contextmanager
def browser_page(browser, width: int = 1280, height: int = 800):
    """A page in a fresh context (Indonesian locale, 15 s timeouts); ``page.errors`` collects script
    errors and 4xx/5xx responses."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="id-ID")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(f"script error: {exc}"))
    page.on("response", lambda r: page.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    try:
        yield page
    finally:
        context.close()


def console_login(page, base: str, name: str) -> None:
    """Through the real login form, as a person would."""
    page.goto(base + "/console/login")
    page.get_by_label("Nama pengguna").fill(name)
    page.get_by_label("Kata sandi").fill(STAFF_PASSWORD)
    page.locator("form.login button[type=submit]").click()
    page.wait_for_url(base + "/console/")


def doc_screenshot(page, name: str, full_page: bool = False) -> Path | None:
    """The page as it is in view, into $SCREENSHOTS_DIR (e.g. docs/console-screens) when that is set."""
    target = os.environ.get("SCREENSHOTS_DIR")
    if not target:
        return None
    folder = Path(target) if Path(target).is_absolute() else ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=full_page)
    assert (folder / name).stat().st_size > 10 * 1024
    return folder / name
