"""Security headers on every response: no framing, no type sniffing, scripts only from our own files
(the pages have no inline script), and HTTPS remembered when the site is served over it. Behind
TRUSTED_PROXIES proxies, the client's address is taken from X-Forwarded-For (login throttling,
/metrics), and only then."""
from __future__ import annotations

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def init_app(app: Flask) -> None:
    https = app.config["SETTINGS"].public_base_url.startswith("https://")
    proxies = app.config["SETTINGS"].trusted_proxies
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CSP)
        if https:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
