"""The Twilio REST client, optionally pointed at TWILIO_API_BASE (a local Twilio-compatible server),
with every outbound HTTP call logged without personal fields (no To, From, Body)."""
from __future__ import annotations

import logging
import re
import time

from flask import current_app
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)
_TWILIO_HOST = re.compile(r"^https://[a-z0-9.-]+\.twilio\.com")


class RoutingHttpClient(TwilioHttpClient):
    """Sends Twilio's requests to ``api_base`` instead of https://*.twilio.com when one is configured."""

    def __init__(self, api_base: str | None, timeout: float):
        super().__init__(timeout=timeout, pool_connections=True)
        self.api_base = api_base

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False):
        if self.api_base:
            url = _TWILIO_HOST.sub(self.api_base, url)
        started = time.monotonic()
        path = url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
        try:
            response = super().request(method, url, params, data, headers, auth, timeout, allow_redirects)
        except Exception as exc:
            log.warning("twilio %s /%s failed after %.0f ms: %s", method, path, (time.monotonic() - started) * 1000, type(exc).__name__)
            raise
        log.info("twilio %s /%s -> %s in %.0f ms", method, path, response.status_code, (time.monotonic() - started) * 1000)
        return response


def client() -> Client:
    """One client per process (it keeps a connection pool)."""
    app = current_app._get_current_object()
    if "twilio" not in app.extensions:
        s = app.config["SETTINGS"]
        app.extensions["twilio"] = Client(
            s.twilio_account_sid, s.twilio_auth_token, http_client=RoutingHttpClient(s.twilio_api_base, s.twilio_timeout)
        )
    return app.extensions["twilio"]
