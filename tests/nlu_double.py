"""A stand-in for the Rasa NLU server, for tests whose subject is not the NLU.

``KeywordNLU`` implements ``nlu.client.NLUClient``'s interface in-process (``parse(text) -> Parse``):
a few keywords per intent, everything else is the fallback. ``NLUServer`` serves the same answers over
HTTP at ``/model/parse`` (Rasa's path and JSON shape) for worker processes, and can hold its answers
until the test releases them, so a test can act while a worker is between reading a conversation
and writing it back. The NLU's own tests and the end-to-end tests use the real Rasa server.
"""
from __future__ import annotations

import json
import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from nlu.client import FALLBACK, Parse

RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("human_agent", ("petugas", "operator", "orang asli")),
    ("complaint", ("calo", "pungli", "bayar", "aduan", "komplain")),
    ("change_nik", ("nik",)),
    ("change_phone", ("nomor hp", "no hp", "ganti nomor")),
    ("reactivation", ("aktifkan", "reaktivasi", "tidak aktif")),
    ("case_status", ("tiket",)),
    ("check_status", ("status", "cek kartu")),
    ("thanks", ("terima kasih", "makasih")),
    ("cancel", ("batal", "gak jadi")),
    ("greet", ("halo", "hai", "selamat pagi", "assalamualaikum")),
    ("out_of_scope", ("daftar bpjs baru", "pinjol", "cuaca")),
)


def classify(text: str) -> Parse:
    lowered = (text or "").lower()
    for intent, words in RULES:
        if any(word in lowered for word in words):
            return Parse(intent, 0.95, [(intent, 0.95), (FALLBACK, 0.05)])
    return Parse(FALLBACK, 0.4, [(FALLBACK, 0.4)])


class KeywordNLU:
    """In-process double with the NLU client's interface; counts the texts it was asked about."""

    def __init__(self):
        self.asked: list[str] = []

    def parse(self, text: str) -> Parse:
        self.asked.append(text)
        return classify(text)


class NLUServer:
    """Rasa's /model/parse over HTTP, answering like KeywordNLU; ``hold()`` makes answers wait."""

    def __init__(self):
        self.asked: list[str] = []
        self.arrived = threading.Event()   # a parse request is waiting for the gate
        self._gate = threading.Event()
        self._gate.set()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def start(self) -> "NLUServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._gate.set()
        self._server.shutdown()
        self._server.server_close()

    def hold(self) -> None:
        """From now on, answers wait until ``release()``."""
        self.arrived.clear()
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        if request.path != "/model/parse" or request.method != "POST":
            return Response("not found", 404)
        text = (request.get_json(silent=True) or {}).get("text", "")
        self.asked.append(text)
        self.arrived.set()
        self._gate.wait(timeout=60)
        parse = classify(text)
        body = {"text": text, "intent": {"name": parse.intent, "confidence": parse.confidence},
                "intent_ranking": [{"name": n, "confidence": c} for n, c in parse.ranking], "entities": []}
        return Response(json.dumps(body), 200, content_type="application/json")
