"""Faults: nothing lost and no duplicate reply when a worker dies mid-job, Redis restarts under
load, the database or the NLU is briefly unreachable."""
from __future__ import annotations

import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis as redis_lib
from sqlalchemy import func, select

from bot import create_app
from storage import db
from storage.models import InboundMessage, InboundStatus, OutboundMessage
from tests.conftest import RASA_TOKEN, free_port, wait_for
from tests.helpers import Chat, inbound_form, post_signed


pytestmark = pytest.mark.one_backend  # one database is enough here


def processed(app) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(InboundMessage)
                                   .where(InboundMessage.status == InboundStatus.PROCESSED))


def replies_to(twilio, phone) -> list[str]:
    return [m["Body"] for m in twilio.messages if m["To"] == f"whatsapp:{phone}"]


class SlowNLU(BaseHTTPRequestHandler):
    """An NLU that takes 4 s to answer: long enough to kill a worker in the middle of a job."""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(4)
        body = b'{"intent": {"name": "greet", "confidence": 0.99}, "intent_ranking": [], "entities": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_kill_9_in_the_middle_of_a_job_loses_nothing_and_replies_once(env, twilio, workers):
    port = free_port()
    nlu = ThreadingHTTPServer(("127.0.0.1", port), SlowNLU)
    threading.Thread(target=nlu.serve_forever, daemon=True).start()
    fault_env = {**env, "RASA_URL": f"http://127.0.0.1:{port}", "CITIZEN_LOCK_TIMEOUT": "20",
                 "MESSAGE_DEADLINE": "4", "MEDIA_TIMEOUT": "2", "SWEEP_GRACE": "1"}
    app = create_app({"ENV": fault_env, "TESTING": True})
    workers.env = fault_env
    workers.start(1, "--no-sweeper")
    time.sleep(2)  # the worker is up
    post_signed(app.test_client(), app, "/whatsapp/inbound", inbound_form(phone="+6281300000001", body="selamat pagi, mau tanya"))
    time.sleep(2)  # the job is now waiting for the NLU
    workers.procs[0].send_signal(signal.SIGKILL)
    workers.procs[0].wait()
    assert processed(app) == 0 and twilio.messages == []
    workers.start(1)  # a new worker with its sweeper: finds the stored message once the dead worker's lock expires
    wait_for(lambda: processed(app) == 1, timeout=60, message=lambda: workers.logs())
    wait_for(lambda: len(twilio.messages) == 1, timeout=20, message=lambda: workers.logs())
    time.sleep(2)
    assert len(replies_to(twilio, "+6281300000001")) == 1
    nlu.shutdown()
    app.extensions["db"].dispose()


def test_redis_restarted_under_load_loses_nothing(env, twilio, workers, tmp_path):
    port = free_port()
    server = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
              "--dir", str(tmp_path)]
    redis_proc = subprocess.Popen(server, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    wait_for(lambda: _answers(url), timeout=10, message="the private Redis")
    fault_env = {**env, "REDIS_URL": url, "SWEEP_GRACE": "1", "SWEEP_INTERVAL": "1"}
    app = create_app({"ENV": fault_env, "TESTING": True})
    workers.env = fault_env
    workers.start(2)
    client = app.test_client()
    phones = [f"+62813000001{i:02d}" for i in range(20)]
    try:
        for i, phone in enumerate(phones):
            assert post_signed(client, app, "/whatsapp/inbound", inbound_form(phone=phone, body="1")).status_code == 200
            if i == 8:  # Redis dies and comes back empty in the middle of the load
                redis_proc.send_signal(signal.SIGKILL)
                redis_proc.wait()
            if i == 12:
                redis_proc = subprocess.Popen(server, stdout=subprocess.DEVNULL)
                wait_for(lambda: _answers(url), timeout=10, message="Redis back")
        wait_for(lambda: processed(app) == 20, timeout=90, message=lambda: workers.logs())
        wait_for(lambda: len(twilio.messages) == 20, timeout=60, message=lambda: workers.logs())
        assert sorted(m["To"] for m in twilio.messages) == sorted(f"whatsapp:{p}" for p in phones)  # once each
    finally:
        workers.stop()
        redis_proc.kill()
        app.extensions["db"].dispose()


def _answers(url: str) -> bool:
    try:
        return redis_lib.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis_lib.ConnectionError:
        return False


def test_database_unreachable_at_the_webhook_asks_twilio_to_retry(env, app, twilio):
    down = create_app({"ENV": {**env, "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"}, "TESTING": True})
    form = inbound_form(phone="+6281300000077", body="halo")
    response = post_signed(down.test_client(), down, "/whatsapp/inbound", form)
    assert response.status_code == 503 and "retry" in response.get_data(as_text=True)
    # Twilio retries the same request once the database is back: stored and answered once.
    chat = Chat(app, twilio, phone="+6281300000077")
    assert post_signed(app.test_client(), app, "/whatsapp/inbound", form).status_code == 200
    assert len(chat.replies()) == 1


def test_nlu_down_then_back(env, rasa_url, twilio):
    down = create_app({"ENV": {**env, "RASA_URL": "http://127.0.0.1:1"}, "TESTING": True})
    chat = Chat(down, twilio, phone="+6281300000088")
    assert "angka" in chat.last("kartu saya tidak aktif kenapa ya")  # the menu: go on with numbers
    down.extensions["db"].dispose()
    back = create_app({"ENV": {**env, "RASA_URL": rasa_url, "RASA_TOKEN": RASA_TOKEN}, "TESTING": True})
    chat = Chat(back, twilio, phone="+6281300000088")
    chat.seen = 1
    assert "Cek status kepesertaan" in chat.last("kartu saya tidak aktif kenapa ya")
    with back.app_context():
        assert db.session().scalar(select(func.count()).select_from(OutboundMessage)) == 2
    back.extensions["db"].dispose()


class TcpProxy:
    """A loopback TCP proxy that can drop every connection and refuse new ones for a while:
    the database 'briefly unreachable' for the processes that connect through it."""

    def __init__(self, target_port: int):
        import socket

        self.target_port, self.up, self.conns = target_port, True, []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        import socket

        self.up = False
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns = []

    def restore(self):
        self.up = True

    def close(self):
        self.cut()
        self.listener.close()


def test_database_briefly_unreachable_for_the_worker_loses_nothing(env, app, twilio, workers, backend):
    from urllib.parse import urlsplit, urlunsplit

    if backend != "postgresql":
        pytest.skip("SQLite is a file: there is no database server to become unreachable")
    parts = urlsplit(env["DATABASE_URL"])
    proxy = TcpProxy(parts.port or 5432)
    via_proxy = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    workers.env = {**env, "DATABASE_URL": via_proxy, "SWEEP_GRACE": "1", "SWEEP_INTERVAL": "1"}
    workers.start(1)
    client = app.test_client()
    post_signed(client, app, "/whatsapp/inbound", inbound_form(phone="+6281300000100", body="1"))
    wait_for(lambda: len(twilio.messages) == 1, timeout=30, message=lambda: workers.logs())
    proxy.cut()  # the worker's connections die; new ones are refused
    for i in range(3):
        post_signed(client, app, "/whatsapp/inbound", inbound_form(phone=f"+62813000002{i:02d}", body="halo"))
    time.sleep(3)
    assert len(twilio.messages) == 1  # nothing could be processed meanwhile
    proxy.restore()
    wait_for(lambda: processed(app) == 4, timeout=90, message=lambda: workers.logs())
    wait_for(lambda: len(twilio.messages) == 4, timeout=30, message=lambda: workers.logs())
    assert len({m["To"] for m in twilio.messages}) == 4  # each citizen answered once
    workers.stop()
    proxy.close()
