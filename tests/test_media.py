"""Media download and checks (handlers.media) over real HTTP, and the content-addressed store."""
from __future__ import annotations

import io
import threading

import pytest
import urllib3.response
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from pypdf import PdfWriter
from requests.auth import _basic_auth_str
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bot.settings import load_settings
from handlers import media
from handlers.media import MediaError, check, fetch, fetch_and_check
from storage.media import MediaStore

CDN = ("localhost",)  # FakeTwilio's "CDN" host name (Twilio's real CDN hosts are allowed by default)


# ------------------------------------------------------------------------------------ helpers
def document(width=1200, height=800, blur=0.0, fmt="JPEG", quality=85) -> bytes:
    """A synthetic document photo: a header and lines of text on paper."""
    img = Image.new("RGB", (width, height), (236, 234, 226))
    draw = ImageDraw.Draw(img)
    unit = min(width, height) / 100
    draw.text((5 * unit, 4 * unit), "SURAT KETERANGAN TIDAK MAMPU", fill=(10, 10, 10),
              font=ImageFont.load_default(size=int(5 * unit)))
    font, y = ImageFont.load_default(size=int(3 * unit)), 14 * unit
    while y < height - 5 * unit:
        draw.text((5 * unit, y), "Yang bertanda tangan di bawah ini menerangkan bahwa warga", fill=(25, 25, 25),
                  font=font)
        y += 5 * unit
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": quality} if fmt in ("JPEG", "WEBP") else {}))
    return buf.getvalue()


def pdf_bytes(pages=1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


class LocalServer:
    """A tiny threaded HTTP server on ``host`` that records the requests it gets."""

    def __init__(self, host: str, handler):
        self.requests, self.sent = [], 0
        self._handler = handler
        self._server = make_server(host, 0, self._wsgi, threaded=True)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @Request.application
    def _wsgi(self, request):
        self.requests.append((request.path, request.headers.get("Authorization")))
        return self._handler(self, request)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _routes(server: LocalServer, request):
    path = request.path
    if path == "/doc.jpg":
        return Response(document(), 200, content_type="image/jpeg")
    if path.startswith("/away"):  # redirect to the URL in ?to=
        return Response("", 307, {"Location": request.args["to"]})
    if path.startswith("/loop/"):
        return Response("", 302, {"Location": f"/loop/{int(path.rsplit('/', 1)[1]) + 1}"})
    if path == "/big-declared":  # 6 MB with a Content-Length header
        return Response(b"\xff\xd8\xff" + b"\0" * (6 * 1024 * 1024), 200, content_type="image/jpeg")
    if path == "/big-stream":  # 64 MB, no Content-Length: must be cut off at the limit

        def body():
            for _ in range(1024):
                server.sent += 65536
                yield b"\xff" * 65536

        return Response(body(), 200, content_type="image/jpeg", direct_passthrough=True)
    return Response("nope", 404)


@pytest.fixture
def settings(twilio, tmp_path):
    return load_settings({
        "SECRET_KEY": "test-secret-key-media-0123456789",
        "PUBLIC_BASE_URL": "http://bot.test",
        "MEDIA_DIR": str(tmp_path / "media"),
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_API_BASE": twilio.base_url,
        "MEDIA_KEYS": "t1:" + "a" * 43 + "=",
    }, instance_path=str(tmp_path / "instance"))


@pytest.fixture
def allowed_server():  # 127.0.0.1 is allowed: the host of TWILIO_API_BASE
    server = LocalServer("127.0.0.1", _routes)
    yield server
    server.stop()


@pytest.fixture
def foreign_server():  # 127.0.0.2 also routes to loopback on Linux, but is no allowed host name
    server = LocalServer("127.0.0.2", _routes)
    yield server
    server.stop()


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def read_counter(monkeypatch):
    """Counts body bytes the client consumed (the media client reads with urllib3's read1)."""
    counted = {"bytes": 0}
    original = urllib3.response.HTTPResponse.read1

    def counting(self, *args, **kwargs):
        chunk = original(self, *args, **kwargs)
        counted["bytes"] += len(chunk)
        return chunk

    monkeypatch.setattr(urllib3.response.HTTPResponse, "read1", counting)
    return counted


# ------------------------------------------------------------------------------- fetch (HTTP)
def test_fetch_through_twilio_sends_credentials_only_to_the_first_host(twilio, settings):
    content = document()
    url = twilio.add_media(content, "image/jpeg")
    body, served = fetch(url, settings, extra_hosts=CDN)
    assert body == content and served == "image/jpeg"
    media_requests = [r for r in twilio.requests_log if "/Media/" in r["path"]]
    cdn_requests = [r for r in twilio.requests_log if r["path"].startswith("/cdn/")]
    assert len(media_requests) == 1 and media_requests[0]["headers"]["Authorization"].startswith("Basic ")
    assert media_requests[0]["headers"]["Host"].startswith("127.0.0.1")
    assert len(cdn_requests) == 1 and cdn_requests[0]["headers"]["Host"].startswith("localhost")
    assert twilio.cdn_auth_headers_seen == []


def test_fetch_and_check_accepts_a_sharp_photo_via_twilio(twilio, settings):
    result = fetch_and_check(twilio.add_media(document(), "image/jpeg"), "image/jpeg", settings, extra_hosts=CDN)
    assert result.ok and result.problem is None and result.kind == "image"
    assert (result.content_type, result.width, result.height) == ("image/jpeg", 1200, 800)
    assert result.sharpness >= media.SHARPNESS_THRESHOLD and result.size == len(result.content)
    assert twilio.cdn_auth_headers_seen == []


def test_wrong_credentials_are_download_failed(twilio, settings):
    from dataclasses import replace

    url = twilio.add_media(document(), "image/jpeg")
    with pytest.raises(MediaError) as err:
        fetch(url, replace(settings, twilio_auth_token="wrong-token-0000"), extra_hosts=CDN)
    assert err.value.problem == "download_failed"
    result = fetch_and_check(url, "image/jpeg", replace(settings, twilio_auth_token="x"), extra_hosts=CDN)
    assert (result.ok, result.problem) == (False, "download_failed")


def test_media_not_ready_is_retried(twilio, settings):
    content, sleeps = document(), Sleeps()
    url = twilio.add_media(content, "image/jpeg", not_found_first=2)
    assert fetch(url, settings, extra_hosts=CDN, sleep=sleeps)[0] == content
    assert len(sleeps) == 2 and all(0 < s <= 4 for s in sleeps)


def test_media_never_ready_is_not_found_after_the_bound(twilio, settings):
    sleeps = Sleeps()
    url = twilio.add_media(document(), "image/jpeg", not_found_first=10)
    result = fetch_and_check(url, "image/jpeg", settings, extra_hosts=CDN, sleep=sleeps)
    assert (result.ok, result.problem) == (False, "not_found")
    assert sleeps == [0.5, 1.0, 2.0]  # 3 retries, backing off
    assert len([r for r in twilio.requests_log if "/Media/" in r["path"]]) == 4


def test_simulator_media_on_public_base_url_gets_credentials(tmp_path):
    """Local mode: the simulator at PUBLIC_BASE_URL serves media behind the (local) SID/token."""
    server = LocalServer("127.0.0.3", _routes)
    try:
        local = load_settings({"SECRET_KEY": "test-secret-key-media-0123456789", "PUBLIC_BASE_URL": server.url},
                              instance_path=str(tmp_path))
        assert local.local_mode and local.twilio_api_base is None
        result = fetch_and_check(server.url + "/doc.jpg", "image/jpeg", local)
        assert result.ok and result.content == document()
        expected = _basic_auth_str(local.twilio_account_sid, local.twilio_auth_token)
        assert server.requests == [("/doc.jpg", expected)]
    finally:
        server.stop()


def test_host_not_allowed_is_never_requested(settings, foreign_server):
    with pytest.raises(MediaError) as err:
        fetch(foreign_server.url + "/doc.jpg", settings)
    assert err.value.problem == "host_not_allowed"
    result = fetch_and_check(foreign_server.url + "/doc.jpg", "image/jpeg", settings)
    assert result.problem == "host_not_allowed"
    assert foreign_server.requests == []


def test_redirect_to_a_host_not_allowed_is_refused_before_requesting_it(settings, allowed_server, foreign_server):
    url = f"{allowed_server.url}/away?to={foreign_server.url}/doc.jpg"
    assert fetch_and_check(url, "image/jpeg", settings).problem == "host_not_allowed"
    assert [p for p, _auth in allowed_server.requests] == ["/away"]
    assert foreign_server.requests == []
    # The allowed host got the credentials; a redirect to file:// or ftp:// is refused as well.
    assert allowed_server.requests[0][1].startswith("Basic ")
    for target in ("file:///etc/passwd", "ftp://127.0.0.1/x"):
        assert fetch_and_check(f"{allowed_server.url}/away?to={target}", "image/jpeg", settings).problem \
            == "host_not_allowed"


def test_twilio_cdn_redirect_needs_its_host_allowed(twilio, settings):
    url = twilio.add_media(document(), "image/jpeg")
    assert fetch_and_check(url, "image/jpeg", settings).problem == "host_not_allowed"  # no extra_hosts
    assert not [r for r in twilio.requests_log if r["path"].startswith("/cdn/")]


@pytest.mark.parametrize("url", [
    "http://eviltwiliocdn.com/x", "http://api.twilio.com.evil.example/x", "ftp://api.twilio.com/x",
    "http://api.twilio.com@127.0.0.2/x", "https://user:pw@api.twilio.com/x", "https://169.254.169.254/latest",
    "http://api.twilio.com/2010-04-01/x",  # Twilio's own hosts: https only
])
def test_urls_outside_the_allowlist_are_refused_without_a_request(settings, url):
    assert fetch_and_check(url, "image/jpeg", settings).problem == "host_not_allowed"


def test_allowed_hosts(settings):
    hosts = media.allowed_hosts(settings, extra_hosts=("Media.Example.ORG.",))
    assert {"api.twilio.com", "127.0.0.1", "bot.test", ".twiliocdn.com", "media.example.org"} <= hosts
    assert media._host_allowed("mms.twiliocdn.com", hosts) and not media._host_allowed("xtwiliocdn.com", hosts)


def test_at_most_three_redirects_are_followed(settings, allowed_server):
    assert fetch_and_check(allowed_server.url + "/loop/0", "image/jpeg", settings).problem == "download_failed"
    assert [p for p, _a in allowed_server.requests] == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]
    assert [a is not None for _p, a in allowed_server.requests] == [True, False, False, False]


def test_too_large_by_content_length_reads_no_body(settings, allowed_server, read_counter):
    result = fetch_and_check(allowed_server.url + "/big-declared", "image/jpeg", settings)
    assert (result.ok, result.problem) == (False, "too_large")
    assert read_counter["bytes"] == 0


def test_too_large_stream_stops_at_the_limit(settings, allowed_server, read_counter):
    result = fetch_and_check(allowed_server.url + "/big-stream", "image/jpeg", settings)
    assert result.problem == "too_large"
    assert media.MAX_IMAGE_BYTES < read_counter["bytes"] <= media.MAX_IMAGE_BYTES + media.CHUNK_SIZE
    assert allowed_server.sent < 32 * 1024 * 1024  # the server was not drained of its 64 MB


def test_too_large_via_twilio(twilio, settings):
    url = twilio.add_media(b"\xff\xd8\xff" + b"\1" * (6 * 1024 * 1024), "image/jpeg")
    assert fetch_and_check(url, "image/jpeg", settings, extra_hosts=CDN).problem == "too_large"


@pytest.mark.parametrize("declared, problem", [
    ("audio/ogg", "not_a_photo"), ("audio/ogg; codecs=opus", "not_a_photo"), ("video/mp4", "not_a_photo"),
    ("text/vcard", "not_a_photo"), ("text/x-vcard", "not_a_photo"), ("application/zip", "unsupported_type"),
    ("image/gif", "unsupported_type"), ("application/pdf", "not_a_photo"),
])
def test_declared_types_refused_without_any_request(twilio, settings, declared, problem):
    url = twilio.add_media(b"whatever", declared)
    result = fetch_and_check(url, declared, settings, extra_hosts=CDN)
    assert (result.ok, result.problem, result.size) == (False, problem, 0)
    assert twilio.requests_log == []


def test_pdf_letter_via_twilio_when_wanted(twilio, settings):
    content = pdf_bytes()
    url = twilio.add_media(content, "application/pdf")
    result = fetch_and_check(url, "application/pdf", settings, want=("image", "pdf"), extra_hosts=CDN)
    assert (result.ok, result.kind, result.content_type, result.content) == (True, "pdf", "application/pdf", content)


# ----------------------------------------------------------------------------- check (no HTTP)
def test_real_format_decides_not_the_header():
    gif = io.BytesIO()
    Image.new("RGB", (800, 800), "white").save(gif, "GIF")
    assert check(gif.getvalue(), "image/jpeg").problem == "unsupported_type"
    assert check(b"hello, this is not a photo\n" * 50, "image/jpeg").problem == "unreadable"
    png = check(document(fmt="PNG"), "image/jpeg")
    assert (png.ok, png.content_type) == (True, "image/png")
    webp = check(document(fmt="WEBP", quality=80), "application/octet-stream")
    assert (webp.ok, webp.content_type) == (True, "image/webp")


def test_pdf_accepted_only_when_wanted():
    content = pdf_bytes(2)
    assert check(content, "application/pdf", want=("image", "pdf")).ok
    assert check(content, "application/pdf").problem == "not_a_photo"
    assert check(content, "image/jpeg").problem == "not_a_photo"  # real type wins over the header
    assert check(content, "image/jpeg", want=("image", "pdf")).kind == "pdf"
    assert check(b"%PDF-1.7\n" + b"garbage " * 100, "application/pdf", want=("image", "pdf")).problem == "unreadable"


def test_truncated_jpeg_is_unreadable():
    content = document()
    assert check(content[: len(content) // 2], "image/jpeg").problem == "unreadable"


def test_too_small_and_sticker():
    result = check(document(400, 300), "image/jpeg")
    assert (result.ok, result.problem, result.width, result.height) == (False, "too_small", 400, 300)
    sticker = check(document(512, 512, fmt="WEBP"), "image/webp")
    assert (sticker.problem, sticker.content_type) == ("too_small", "image/webp")


def test_blurred_document_is_too_blurry():
    result = check(document(1200, 800, blur=4), "image/jpeg")
    assert (result.ok, result.problem) == (False, "too_blurry")
    assert result.sharpness < media.SHARPNESS_THRESHOLD


def test_sharp_document_is_ok_at_jpeg_quality_60():
    result = check(document(1600, 1200, quality=60), "image/jpeg")
    assert result.ok and (result.width, result.height) == (1600, 1200) and result.sharpness > 0


def test_decompression_bomb_and_byte_limits():
    bomb = io.BytesIO()
    Image.new("1", (10000, 10000)).save(bomb, "PNG")  # 100 Mpx, a few KB
    assert check(bomb.getvalue(), "image/png").problem == "too_large"
    assert check(b"\xff\xd8\xff" + b"\0" * media.MAX_IMAGE_BYTES, "image/jpeg").problem == "too_large"


# --------------------------------------------------------------------------------- MediaStore
def test_store_saves_same_content_once(tmp_path):
    store = MediaStore(tmp_path / "media")
    sha, path = store.save(b"KTP photo bytes")
    sha2, path2 = store.save(b"KTP photo bytes")
    assert (sha, path) == (sha2, path2) and len(sha) == 64
    assert path == tmp_path / "media" / sha[:2] / sha[2:4] / sha
    assert store.read(sha) == store.read(sha.upper()) == b"KTP photo bytes"
    assert [p for p in (tmp_path / "media").rglob("*") if p.is_file()] == [path]


@pytest.mark.parametrize("bad", ["../x", "../" + "a" * 61, "a" * 63, "g" * 64, "a" * 64 + "\n", "", "/etc/passwd"])
def test_store_rejects_names_that_are_not_a_sha256(tmp_path, bad):
    with pytest.raises(ValueError):
        MediaStore(tmp_path).path(bad)


def test_store_write_is_atomic(tmp_path, monkeypatch):
    store = MediaStore(tmp_path)
    store.save(b"one")
    assert not list(tmp_path.rglob(".tmp-*"))

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("storage.media.os.replace", broken_replace)
    with pytest.raises(OSError):
        store.save(b"two")
    assert not list(tmp_path.rglob(".tmp-*"))
    assert not store.exists(__import__("hashlib").sha256(b"two").hexdigest())
