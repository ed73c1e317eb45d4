"""A bare Flask app for the webhook baseline: the same route as the real webhook, answering the same
empty TwiML, with nothing else (no signature check, no form parsing, no database, no Redis).

Served exactly like the real app by bench/webhook_ack.py:
    gunicorn --worker-class gthread --workers 2 --threads 8 --timeout 30 'bench.hello_app:create_app()'
"""
from flask import Flask, Response

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/whatsapp/inbound")
    def inbound():
        return Response(EMPTY_TWIML, mimetype="text/xml")

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    return app
