"""A local, Twilio-compatible HTTP server for tests and benchmarks.

Implements the slice of Twilio's 2010-04-01 REST API the bot uses: create /
list / fetch Messages, inbound media download (basic auth, then a 307 redirect
to a "CDN" on a different host name) and signed status callbacks, plus fault
injection (errors, 429 throttling, slow responses).  Point the official
``twilio`` client at ``FakeTwilio.base_url`` instead of https://api.twilio.com.

Standalone:  python -m tests.twilio_fake --port 8899 [--account-sid AC...] [--auth-token ...] [--quiet]
"""
import argparse
import collections
import datetime as dt
import email.utils
import json
import logging
import re
import secrets
import threading
import time
from urllib.parse import urlencode

import requests
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fedcba9876543210" * 2
API = "/2010-04-01"
MESSAGE_FIELDS = ("To", "From", "Body", "StatusCallback", "ContentSid",
                  "ContentVariables", "MessagingServiceSid")
FINAL_SENT = {"sent", "delivered", "read"}  # statuses that set date_sent
ROUTES = [  # (name, regex on the path)
    ("messages", re.compile(API + r"/Accounts/(AC\w+)/Messages\.json$")),
    ("message", re.compile(API + r"/Accounts/(AC\w+)/Messages/(\w+)\.json$")),
    ("media", re.compile(API + r"/Accounts/(AC\w+)/Messages/(MM\w+)/Media/(ME\w+)$")),
    ("cdn", re.compile(r"/cdn/(\w+)$")),
]


def _sid(prefix):
    return prefix + secrets.token_hex(16)


def _rfc2822(when):
    return email.utils.format_datetime(when) if when else None  # "Thu, 24 Aug 2023 05:01:45 +0000"


def _form_dict(multi):
    """MultiDict -> dict; repeated keys (e.g. MediaUrl) become lists."""
    return {k: (v[0] if len(v) == 1 else v) for k, v in multi.lists()}


def twilio_error(status, code, message, headers=None, **extra):
    """A response shaped like Twilio's error JSON."""
    body = {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status, **extra}
    return Response(json.dumps(body), status, headers, content_type="application/json")


def _parse_date_filter(value):
    """Twilio accepts YYYY-MM-DD (the python client sends YYYY-MM-DDTHH:MM:SSZ)."""
    value = value.strip().rstrip("Z")
    fmt = "%Y-%m-%d" if len(value) == 10 else "%Y-%m-%dT%H:%M:%S"
    return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.timezone.utc)


def _num_segments(to, body):
    if to.startswith("whatsapp:") or not body:
        return 1
    single, multi = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


class FakeTwilio:
    """Fake Twilio API server; see the module docstring.  Use start()/stop() or `with`."""

    def __init__(self, account_sid=DEFAULT_ACCOUNT_SID, auth_token=DEFAULT_AUTH_TOKEN,
                 host="127.0.0.1", port=0):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.host, self.port = host, port
        self.messages = []            # dicts: form fields + sid/status/date_* (see _create)
        self.requests_log = []        # dicts: method, path, args, headers, form, time
        self.cdn_auth_headers_seen = []  # Authorization headers that reached the CDN (should stay empty)
        self.cdn_requests = 0            # media downloads served (to count what a worker fetched)
        self._faults = collections.deque()  # ("fail"|"throttle"|"delay", kwargs), one per POST
        self._media = {}              # (MM sid, ME sid) -> {"content", "content_type", "not_found", "token"}
        self._cdn = {}                # token -> (content, content_type)
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._server = self._thread = None
        self.base_url = self.cdn_base_url = None

    # ----------------------------------------------------------------- lifecycle
    def start(self):
        self._stopping.clear()
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True)
        self.port = self._server.server_port
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        # The CDN must be a *different host name* so `requests` drops basic auth on redirect.
        cdn_host = "localhost" if host != "localhost" else "127.0.0.1"
        self.base_url = f"http://{host}:{self.port}"
        self.cdn_base_url = f"http://{cdn_host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"FakeTwilio:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()  # wakes handlers sleeping in delay_next
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ test helpers
    def wait_for_messages(self, n, timeout=10.0):
        """Block until at least n messages were created; return a copy of the list."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= n, timeout):
                got = [(m["sid"], m["To"], m["Body"]) for m in self.messages]
                raise AssertionError(f"expected >= {n} messages within {timeout}s, got {len(got)}: {got}")
            return list(self.messages)

    def fail_next(self, n=1, status=500, code=20500, message="Internal Server Error"):
        self._add_faults(n, "fail", status=status, code=code, message=message)

    def throttle_next(self, n=1, retry_after=1):
        self._add_faults(n, "throttle", retry_after=retry_after)

    def delay_next(self, n=1, seconds=2.0, create=True):
        """Sleep before answering.  create=True: message is created (then 201 after the
        sleep); create=False: nothing is created and a 500 (20500) follows the sleep."""
        self._add_faults(n, "delay", seconds=seconds, create=create)

    def _add_faults(self, n, kind, **kwargs):
        with self._cond:
            self._faults.extend([(kind, kwargs)] * n)

    def add_media(self, content, content_type, not_found_first=0, stall=0.0, trickle=False):
        """Register inbound media; returns its Twilio media URL (needs basic auth).  stall: the CDN
        waits this long before answering; trickle: it then sends the body one byte every 0.2 s."""
        msg_sid, media_sid = _sid("MM"), _sid("ME")
        with self._cond:
            self._media[(msg_sid, media_sid)] = {"content": content, "content_type": content_type,
                                                 "not_found": not_found_first, "stall": stall, "trickle": trickle}
        return f"{self.base_url}{API}/Accounts/{self.account_sid}/Messages/{msg_sid}/Media/{media_sid}"

    def send_status_callback(self, sid, status, url=None, error_code=None):
        """POST a signed Twilio-style status callback for message `sid`; returns the HTTP status.
        Also updates the stored message's status (and date_sent/error_code)."""
        now = dt.datetime.now(dt.timezone.utc)
        with self._cond:
            msg = next((m for m in self.messages if m["sid"] == sid), None)
            if msg is None:
                raise KeyError(f"unknown message {sid}")
            msg.update(status=status, date_updated=now)
            if status in FINAL_SENT and msg["date_sent"] is None:
                msg["date_sent"] = now
            if error_code is not None:
                msg["error_code"] = int(error_code)
            url = url or msg["StatusCallback"]
            params = {"MessageSid": sid, "MessageStatus": status, "SmsSid": sid, "SmsStatus": status,
                      "AccountSid": self.account_sid, "From": msg["From"] or "", "To": msg["To"],
                      "ApiVersion": "2010-04-01"}
        if not url:
            raise ValueError(f"message {sid} has no StatusCallback and no url was given")
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        resp = requests.post(url, data=params, timeout=10,
                             headers={"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"})
        return resp.status_code

    # ------------------------------------------------------------------- server
    @Request.application
    def _wsgi(self, request):
        entry = {"method": request.method, "path": request.path, "args": _form_dict(request.args),
                 "headers": dict(request.headers), "form": _form_dict(request.form), "time": time.time()}
        with self._cond:
            self.requests_log.append(entry)
        for name, regex in ROUTES:
            match = regex.match(request.path)
            if not match:
                continue
            allowed = "POST" if name == "messages" and request.method == "POST" else "GET"
            if request.method != allowed:
                return twilio_error(405, 20004, "Method not allowed")
            if name == "cdn":
                return self._cdn_get(request, match.group(1))
            if not self._authorised(request, match.group(1)):
                return twilio_error(401, 20003, "Authenticate",
                                    {"WWW-Authenticate": 'Basic realm="Twilio API"'},
                                    detail="Your AccountSid or AuthToken was incorrect.")
            handler = {"messages": self._list if request.method == "GET" else self._post,
                       "message": self._fetch, "media": self._media_get}[name]
            return handler(request, *match.groups()[1:])
        return self._not_found(request)

    def _authorised(self, request, path_sid):
        auth = request.authorization
        return (auth is not None and auth.type == "basic" and path_sid == self.account_sid
                and auth.username == self.account_sid and auth.password == self.auth_token)

    @staticmethod
    def _not_found(request):
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")

    def _post(self, request):
        with self._cond:
            kind, fault = self._faults.popleft() if self._faults else (None, {})
        if kind == "fail":
            return twilio_error(fault["status"], fault["code"], fault["message"])
        if kind == "throttle":
            return twilio_error(429, 20429, "Too Many Requests",
                                {"Retry-After": str(fault["retry_after"])})
        error = self._validate(request.form)
        if kind == "delay" and not fault["create"]:
            self._stopping.wait(fault["seconds"])
            return twilio_error(500, 20500, "Internal Server Error")
        msg = None if error else self._create(request.form)
        if kind == "delay":  # created (if valid) *before* the sleep: the client may time out
            self._stopping.wait(fault["seconds"])
        return error or Response(json.dumps(self._to_json(msg)), 201, content_type="application/json")

    @staticmethod
    def _validate(form):
        if not form.get("To"):
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not (form.get("Body") or form.getlist("MediaUrl") or form.get("ContentSid")):
            return twilio_error(400, 21602, "Message body is required.")
        if len(form.get("Body", "")) > 1600:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        return None

    def _create(self, form):
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        msg = {field: form.get(field) for field in MESSAGE_FIELDS}
        msg.update({k: v for k, v in _form_dict(form).items() if k not in msg})  # unknown extras
        msg.update(MediaUrl=form.getlist("MediaUrl"), sid=_sid("SM"),
                   # Twilio answers "accepted" while a Messaging Service still picks the sender.
                   status="accepted" if msg["MessagingServiceSid"] and not msg["From"] else "queued",
                   date_created=now, date_updated=now, date_sent=None, error_code=None,
                   created_at=time.time())
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()
        return msg

    def _to_json(self, msg):
        uri = f"{API}/Accounts/{self.account_sid}/Messages/{msg['sid']}"
        return {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": msg["Body"] or "",
            "date_created": _rfc2822(msg["date_created"]), "date_sent": _rfc2822(msg["date_sent"]),
            "date_updated": _rfc2822(msg["date_updated"]), "direction": "outbound-api",
            "error_code": msg["error_code"], "error_message": None, "from": msg["From"],
            "messaging_service_sid": msg["MessagingServiceSid"],
            "num_media": str(len(msg["MediaUrl"])),
            "num_segments": str(_num_segments(msg["To"], msg["Body"] or "")),
            "price": None, "price_unit": "USD", "sid": msg["sid"], "status": msg["status"],
            "subresource_uris": {"media": f"{uri}/Media.json"}, "to": msg["To"], "uri": uri + ".json",
        }

    def _fetch(self, request, sid):
        with self._cond:
            msg = next((m for m in self.messages if m["sid"] == sid), None)
            body = msg and self._to_json(msg)
        if msg is None:
            return self._not_found(request)
        return Response(json.dumps(body), 200, content_type="application/json")

    def _list(self, request):
        """Newest first; filters To, From, DateSent, DateSent<, DateSent> (inclusive, UTC);
        a message not yet sent is filtered by its date_created (Twilio sends at once)."""
        args = request.args
        try:
            bounds = {op: _parse_date_filter(args[key])
                      for op, key in (("=", "DateSent"), ("<", "DateSent<"), (">", "DateSent>")) if args.get(key)}
            page, size = int(args.get("Page", 0)), min(int(args.get("PageSize", 50)), 1000)
        except ValueError as exc:
            return twilio_error(400, 20001, f"Invalid parameter: {exc}")

        def keep(m):
            sent = m["date_sent"] or m["date_created"]
            return ((not args.get("To") or m["To"] == args["To"])
                    and (not args.get("From") or m["From"] == args["From"])
                    and ("=" not in bounds or sent.date() == bounds["="].date())
                    and ("<" not in bounds or sent <= bounds["<"])
                    and (">" not in bounds or sent >= bounds[">"]))

        with self._cond:
            found = sorted((m for m in reversed(self.messages) if keep(m)),
                           key=lambda m: m["date_created"], reverse=True)  # stable: newest first
            chunk = [self._to_json(m) for m in found[page * size:(page + 1) * size]]
        filters = {k: v for k, v in args.items() if k in ("To", "From", "DateSent", "DateSent<", "DateSent>")}
        base = f"{API}/Accounts/{self.account_sid}/Messages.json?"
        page_uri = lambda p: base + urlencode({**filters, "PageSize": size, "Page": p})  # noqa: E731
        body = {"messages": chunk, "end": page * size + max(len(chunk) - 1, 0),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if len(found) > (page + 1) * size else None,
                "page": page, "page_size": size,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "start": page * size, "uri": page_uri(page)}
        return Response(json.dumps(body), 200, content_type="application/json")

    def _media_get(self, request, msg_sid, media_sid):
        with self._cond:
            media = self._media.get((msg_sid, media_sid))
            if media is None or media["not_found"] > 0:  # unknown, or "not ready yet"
                if media is not None:
                    media["not_found"] -= 1
                return self._not_found(request)
            token = secrets.token_urlsafe(24).replace("-", "").replace("_", "")
            self._cdn[token] = (media["content"], media["content_type"], media["stall"], media["trickle"])
        return Response("", 307, {"Location": f"{self.cdn_base_url}/cdn/{token}"})

    def _cdn_get(self, request, token):
        """The 'CDN' (pre-signed URL, no auth needed).  Records any Authorization it gets."""
        with self._cond:
            if "Authorization" in request.headers:
                self.cdn_auth_headers_seen.append(request.headers["Authorization"])
            item = self._cdn.get(token)
        if item is None:
            return Response("<Error><Code>AccessDenied</Code></Error>", 403, content_type="application/xml")
        content, content_type, stall, trickle = item
        self.cdn_requests += 1
        if stall:
            self._stopping.wait(stall)
        if trickle:
            def drip():
                for i in range(len(content)):
                    if self._stopping.wait(0.2):
                        return
                    yield content[i:i + 1]
            return Response(drip(), 200, content_type=content_type, direct_passthrough=True)
        return Response(content, 200, content_type=content_type)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Local fake of Twilio's Messages API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--quiet", action="store_true", help="no per-request access log")
    opts = parser.parse_args(argv)
    if opts.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fake = FakeTwilio(opts.account_sid, opts.auth_token, opts.host, opts.port).start()
    print(f"FakeTwilio serving at {fake.base_url} (CDN {fake.cdn_base_url}), account {fake.account_sid}",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
