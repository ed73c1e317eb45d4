"""The load driver of the system benchmarks: citizens talking to the bot over loopback, signed
webhooks to gunicorn, replies observed in a local Twilio-compatible server (tests/twilio_fake.FakeTwilio,
run in this process) at the moment it records each created message (`created_at`, time.time()).

A citizen sends one message (or a burst of several, each POST after the previous one's answer) and
waits for as many replies before writing again; it becomes available again `cooldown` s after its
last awaited reply, so that a late extra reply cannot be taken for the next message's. Every message
sent is kept in `Driver.sent` (in send order, with its MessageSid) for benchcheck.DeliveryCheck.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from benchlib import Signer, Stack, inbound_form, pct, phone


class Record:
    """One message sent: who, what, when, the webhook's answer, the first reply taken for it."""

    __slots__ = ("sender", "body", "phase", "seq", "sid", "t0", "status", "reply_at", "reply_body")

    def __init__(self, sender: int, body: str, phase: str, seq: int):
        self.sender, self.body, self.phase, self.seq = sender, body, phase, seq
        self.sid = self.t0 = self.status = self.reply_at = self.reply_body = None


class Driver:
    def __init__(self, stack: Stack, scripts: list[list[str]], post_threads: int = 16, reply_timeout: float = 30,
                 cooldown: float = 0.3, phone_base: int = 81200000000):
        from tests.twilio_fake import FakeTwilio

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request
        driver = self

        class RecordingTwilio(FakeTwilio):
            def _create(self, form):
                msg = super()._create(form)
                driver._on_create(msg)
                return msg

        self.twilio = RecordingTwilio(stack.twilio_sid, stack.twilio_token, "127.0.0.1", 0).start()
        stack.twilio_api_base = self.twilio.base_url
        self.stack, self.scripts = stack, scripts
        self.phones = [phone(i, phone_base) for i in range(len(scripts))]
        self.addresses = [f"whatsapp:{p}" for p in self.phones]
        self.addr = {a: i for i, a in enumerate(self.addresses)}
        self.step = [0] * len(scripts)
        self.sent: list[Record] = []                   # every message, in send order (Record.seq = index)
        self.inflight: dict[int, list[Record]] = {}    # citizen -> messages awaiting a reply, oldest first
        self.done: list[Record] = []                   # replied, refused by the webhook, or no reply in time
        self.completions: list[tuple[float, int]] = []  # (available_at, citizen)
        self.lock = threading.Lock()
        self.reply_timeout, self.cooldown = reply_timeout, cooldown
        self.pool = ThreadPoolExecutor(post_threads, thread_name_prefix="post")
        self._local = threading.local()
        self.signer = None  # set when the web server's URL is known (first POST)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.twilio.stop()

    def fake_messages(self) -> list[dict]:
        """What the fake Twilio recorded so far, in the order it created them."""
        with self.twilio._cond:
            return list(self.twilio.messages)

    def _session(self):
        import requests

        if not hasattr(self._local, "s"):
            self._local.s = requests.Session()
        return self._local.s

    # -- replies and webhook answers
    def _finish(self, rec: Record, available_at: float) -> None:
        """Under the lock: `rec` needs nothing more; the citizen is free when nothing else is awaited."""
        waiting = self.inflight.get(rec.sender)
        if waiting is None or rec not in waiting:
            return
        waiting.remove(rec)
        self.done.append(rec)
        if not waiting:
            del self.inflight[rec.sender]
            self.completions.append((available_at, rec.sender))

    def _on_create(self, msg: dict) -> None:
        sender = self.addr.get(msg.get("To"))
        if sender is None:
            return
        with self.lock:
            # the reply may come before the webhook's answer reaches us: status still None
            rec = next((r for r in self.inflight.get(sender, ()) if r.t0 is not None and r.reply_at is None
                        and r.status in (None, 200) and msg["created_at"] >= r.t0), None)
            if rec is not None:
                rec.reply_at, rec.reply_body = msg["created_at"], msg.get("Body")
                self._finish(rec, msg["created_at"] + self.cooldown)

    def _post(self, rec: Record) -> None:
        import requests

        if self.signer is None:
            self.signer = Signer(self.stack.public_base_url, self.stack.twilio_token)
        form = inbound_form(self.phones[rec.sender], rec.body, name=f"Warga {rec.sender}")
        body, sig = self.signer.sign(form)  # signing is the client's cost: before t0
        headers = {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}
        rec.sid, rec.t0 = form["MessageSid"], time.time()
        try:
            r = self._session().post(self.signer.url, data=body, headers=headers, timeout=15)
            status = r.status_code
        except requests.RequestException as e:
            status = type(e).__name__
        with self.lock:
            rec.status = status
            if status != 200:
                self._finish(rec, time.time() + self.cooldown)

    def _post_in_order(self, recs: list[Record]) -> None:
        for rec in recs:  # one after the other, like a phone: each POST after the previous one's answer
            self._post(rec)

    # -- sending
    def send_burst(self, sender: int, phase: str, n: int = 1) -> list[Record]:
        """`n` messages from one citizen, POSTed in order without waiting for replies."""
        script = self.scripts[sender]
        with self.lock:
            recs = []
            for _ in range(n):
                recs.append(Record(sender, script[self.step[sender] % len(script)], phase, len(self.sent)))
                self.step[sender] += 1
                self.sent.append(recs[-1])
            self.inflight.setdefault(sender, []).extend(recs)
        self.pool.submit(self._post_in_order, recs)
        return recs

    def send(self, sender: int, phase: str) -> Record:
        return self.send_burst(sender, phase, 1)[0]

    def wait_reply(self, rec: Record, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or self.reply_timeout)
        while time.monotonic() < deadline:
            if rec.reply_at is not None or (rec.status is not None and rec.status != 200):
                return rec.reply_at is not None
            time.sleep(0.005)
        return False

    def answered(self, phase: str) -> int:
        """Messages of a phase that got their reply."""
        with self.lock:
            return sum(1 for r in self.done if r.phase == phase and r.reply_at is not None)

    # -- load
    def _tick(self, mine: set[int], now: float) -> tuple[list[int], int, int]:
        """Citizens available again, messages retired for want of a reply (their citizen is retired
        too), and citizens still waiting."""
        with self.lock:
            ready = [c for c in self.completions if c[0] <= now and c[1] in mine]
            if ready:
                self.completions = [c for c in self.completions if not (c[0] <= now and c[1] in mine)]
            stale = [r for s in mine for r in self.inflight.get(s, ()) if r.t0 and now - r.t0 > self.reply_timeout]
            for r in stale:
                r.status = "no_reply"
                waiting = self.inflight[r.sender]
                waiting.remove(r)
                self.done.append(r)
                if not waiting:
                    del self.inflight[r.sender]
            busy = sum(1 for s in self.inflight if s in mine)
        return [s for _, s in ready], len(stale), busy

    def run_load(self, phase: str, senders: list[int], duration: float, warmup: float, concurrency: int | None = None,
                 rate: float | None = None, drain: float = 30, stop=None, burst: int = 1) -> dict:
        """Closed loop (`concurrency` citizens in flight) or open loop (`rate` citizens' turns per s,
        fixed interval) for `duration` s (or until the `stop` event is set); each turn is `burst`
        messages. Statistics over messages sent after `warmup` s. Then waits up to `drain` s."""
        assert (concurrency is None) != (rate is None)
        idle, mine = collections.deque(senders), set(senders)
        skipped = timeouts = sent = 0
        start = time.time()
        end, next_at = start + duration, start
        while True:
            now = time.time()
            ready, retired, busy = self._tick(mine, now)
            idle.extend(ready)
            timeouts += retired
            if stop is not None and stop.is_set() and now < end:
                end, duration = now, max(now - start, warmup + 1)
            if now >= end:
                if busy == 0 or now >= end + drain:
                    break
                time.sleep(0.01)
                continue
            if concurrency is not None:
                while busy < concurrency and idle:
                    self.send_burst(idle.popleft(), phase, burst)
                    busy, sent = busy + 1, sent + burst
                time.sleep(0.002)
            else:
                while next_at <= now:
                    next_at += 1.0 / rate
                    if idle:
                        self.send_burst(idle.popleft(), phase, burst)
                        sent += burst
                    else:
                        skipped += 1
                time.sleep(min(0.002, max(0.0, next_at - time.time())))
        with self.lock:
            left = sum(len(self.inflight.get(s, ())) for s in mine)
            recs = [r for r in self.done if r.phase == phase and r.t0 and start + warmup <= r.t0 < end]
            replies = sum(1 for r in self.done if r.phase == phase and r.reply_at and start + warmup <= r.reply_at < end)
        lat = [(r.reply_at - r.t0) * 1000 for r in recs if r.reply_at]
        return {
            "phase": phase, "mode": "closed" if concurrency else "open", "concurrency": concurrency, "rate": rate,
            "burst": burst, "duration_s": duration, "warmup_s": warmup, "sent": sent, "measured": len(recs),
            "throughput_msg_s": replies / (duration - warmup),
            "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "p99_ms": pct(lat, 99), "max_ms": max(lat) if lat else None,
            "errors": sum(1 for r in recs if r.status not in (200, "no_reply")), "no_reply": timeouts,
            "skipped_no_idle_sender": skipped, "left_in_flight": left,
        }
