"""Downloading and checking the photos and PDFs citizens send (KTP, KK, KIS card, letters).

``fetch_and_check`` handles one inbound MediaUrl{N}: the declared type decides first, without a
download (voice notes, video, vCards: ``not_a_photo``); ``fetch`` downloads only from allowed
hosts, with basic auth on the first request only, redirects followed by hand (each target checked
first), bounded retries on 404, a streaming size cap and a total deadline (a slow or stalled host
can never hold a message longer than it: the citizen is asked to send again); ``check`` decodes (the
real format must be JPEG/PNG/WEBP, or PDF where wanted) and judges size and sharpness. Expected
problems come back as ``Checked(ok=False, problem=...)``. Logs carry a hash of the URL, sizes and
outcomes, never the URL.
"""
from __future__ import annotations

import hashlib
import io
import logging
import struct
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError
from PIL import Image, ImageFilter, ImageStat, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_PDF_BYTES = 16 * 1024 * 1024
MAX_PIXELS = 40_000_000  # decoded size limit (~120 MB as RGB)
# Process-wide: Pillow warns above this and refuses (DecompressionBombError) above twice it.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
MIN_SIDE = 600  # shortest side of a readable document photo, in pixels
SHARPNESS_SIDE = 1024  # sharpness is measured at this long side, so the threshold is resolution-free
SHARPNESS_TILE, SHARPNESS_TOP_SHARE = 128, 0.10  # scored on the most detailed 10% of 128 px tiles
# Tuned with bench/blur_threshold.py (docs/photo-quality.md): sharp synthetic documents at JPEG
# quality >= 60 score >= 1761, GaussianBlur radius >= 3 (at 1024 px) <= 483; geometric mean ~920.
SHARPNESS_THRESHOLD = 920.0
MAX_REDIRECTS, CHUNK_SIZE = 3, 64 * 1024
READ_GAP = 5.0  # seconds a download may wait for its next bytes

IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
IMAGE_TYPES = {"image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/webp"}
NOT_A_PHOTO_TYPES = {"text/vcard", "text/x-vcard", "text/directory"}
SNIFF_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
# Image formats we recognise (to say "unsupported" rather than "unreadable") but do not accept.
OTHER_IMAGE_MAGIC = (b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"\x00\x00\x01\x00")
# Where Twilio redirects media downloads to; a leading dot means "this domain and its subdomains".
TWILIO_HOSTS = ("api.twilio.com", ".twiliocdn.com", "s3.amazonaws.com", "s3-external-1.amazonaws.com",
                ".s3.amazonaws.com")
LAPLACIAN = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128)
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)
_PDF_ERRORS = (PyPdfError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError,
               RecursionError, NotImplementedError, struct.error)


class MediaError(Exception):
    """A download or check failed for an expected reason; ``problem`` is one of Checked's codes."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True)
class Checked:
    ok: bool
    problem: str | None  # None | not_a_photo | unsupported_type | too_large | unreadable | too_small |
    #                      too_blurry | not_found | host_not_allowed | download_failed
    kind: str | None = None  # "image" | "pdf"
    content_type: str | None = None  # the real type, decided from the bytes
    content: bytes | None = None  # set when decoded (also for too_small/too_blurry photos)
    size: int = 0
    width: int | None = None
    height: int | None = None
    sharpness: float | None = None


def _failed(problem: str, size: int = 0) -> Checked:
    return Checked(ok=False, problem=problem, size=size)


# ------------------------------------------------------------------------------ hosts and fetch
def _hostname(url_or_name: str) -> str:
    name = (urlsplit(url_or_name).hostname or "") if "://" in url_or_name else url_or_name
    return name.strip().lower().rstrip(".")


def _credential_hosts(settings) -> set[str]:
    """Hosts that get the account SID / auth token (on the first request only)."""
    return {_hostname(u) for u in ("api.twilio.com", settings.public_base_url, settings.twilio_api_base or "")} - {""}


def allowed_hosts(settings, extra_hosts: Iterable[str] = ()) -> set[str]:
    """Host names media may be fetched from (exact, or ``.domain`` for a domain and subdomains)."""
    configured = tuple(getattr(settings, "media_allowed_hosts", None) or ())  # MEDIA_ALLOWED_HOSTS
    names = {*TWILIO_HOSTS, *_credential_hosts(settings), *configured, *extra_hosts}
    return {h for h in map(_hostname, names) if h.strip(".")}


def _host_allowed(host: str, allowed: set[str]) -> bool:
    return host in allowed or any(a.startswith(".") and (host.endswith(a) or host == a[1:])
                                  for a in allowed)


def _allowed_host_of(url: str, allowed: set[str], ref: str, hop: int = 0) -> str:
    """The URL's host if it may be fetched; logs and raises MediaError("host_not_allowed") otherwise.

    http(s) only, no user info, and Twilio's own hosts over https only."""
    try:
        parts, host = urlsplit(url), (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        parts, host = None, ""
    if (parts is None or parts.scheme not in ("http", "https") or not host or not host.isascii()
            or "@" in parts.netloc or "\\" in url or any(c.isspace() or ord(c) < 32 for c in url)
            or not _host_allowed(host, allowed)
            or (parts.scheme != "https" and _host_allowed(host, set(TWILIO_HOSTS)))):
        log.warning("media ref=%s hop=%d refused: host not allowed", ref, hop)
        raise MediaError("host_not_allowed")
    return host


def _ref(url: str) -> str:  # a short, stable reference for logs (the URL holds account/media ids)
    return hashlib.sha256(url.encode()).hexdigest()[:12]


class Deadline:
    """A point in time (monotonic) after which a download is abandoned."""

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self, url: str) -> float:
        """The seconds left; MediaError("download_failed") when none are."""
        left = self.left()
        if left <= 0:
            log.warning("media ref=%s abandoned: deadline passed", _ref(url))
            raise MediaError("download_failed")
        return left


def fetch(url: str, settings, *, extra_hosts: Iterable[str] = (), max_bytes: int = MAX_PDF_BYTES,
          retries_404: int = 3, sleep: Callable[[float], None] = time.sleep,
          timeout: float = 15, deadline: Deadline | None = None) -> tuple[bytes, str]:
    """Download media within ``deadline`` (default: ``settings.media_timeout`` from now); returns
    ``(content, served content type)`` or raises MediaError."""
    deadline = deadline or Deadline(getattr(settings, "media_timeout", 20.0))
    allowed = allowed_hosts(settings, extra_hosts)
    first_host = _allowed_host_of(url, allowed, _ref(url))
    auth = ((settings.twilio_account_sid, settings.twilio_auth_token)
            if first_host in _credential_hosts(settings) else None)
    with requests.Session() as session:
        session.trust_env = False  # no ~/.netrc credentials on any hop; proxies are passed per hop
        for attempt in range(retries_404 + 1):
            if attempt:
                pause = min(0.5 * 2 ** (attempt - 1), 4.0)
                if pause >= deadline.left():
                    break
                sleep(pause)
            result = _fetch_once(session, url, allowed, auth, max_bytes, timeout, deadline)
            if result is not None:
                return result
    raise MediaError("not_found")


def _timeouts(timeout: float, left: float) -> tuple[float, float]:
    """(connect, read) timeouts: never past the deadline, and at most READ_GAP between two reads, so
    that a stalled body overruns the deadline by READ_GAP at most."""
    return min(timeout, left), min(timeout, left, READ_GAP)


def _fetch_once(session, url, allowed, auth, max_bytes, timeout, deadline: Deadline) -> tuple[bytes, str] | None:
    """One chain of requests: ``(content, served type)``, or None while the media is not there (404)."""
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        try:
            resp = session.get(current, auth=auth if hop == 0 else None, stream=True,
                               allow_redirects=False, timeout=_timeouts(timeout, deadline.check(url)),
                               headers={"Accept-Encoding": "identity"},
                               proxies=requests.utils.get_environ_proxies(current))
        except requests.RequestException as exc:
            log.warning("media ref=%s hop=%d failed: %s", _ref(url), hop, type(exc).__name__)
            raise MediaError("download_failed") from None
        with resp:
            if resp.status_code in REDIRECT_STATUSES:
                target = urljoin(current, resp.headers.get("Location", ""))
                if target == current:
                    break
                _allowed_host_of(target, allowed, _ref(url), hop + 1)
                current = target
                continue
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                log.warning("media ref=%s hop=%d status=%d", _ref(url), hop, resp.status_code)
                raise MediaError("download_failed")
            content = _read_limited(resp, max_bytes, url, deadline)
            served = resp.headers.get("Content-Type", "")
            log.info("media ref=%s downloaded bytes=%d hops=%d", _ref(url), len(content), hop)
            return content, served
    log.warning("media ref=%s refused: too many redirects", _ref(url))
    raise MediaError("download_failed")


def _read_limited(resp: requests.Response, max_bytes: int, url: str, deadline: Deadline) -> bytes:
    """The body, read as it arrives and abandoned as soon as it is known to exceed ``max_bytes`` or the
    deadline has passed (each read returns what has arrived, so a host that trickles bytes is cut too)."""
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise MediaError("too_large")
    body = bytearray()
    try:
        while True:
            deadline.check(url)
            chunk = resp.raw.read1(CHUNK_SIZE)
            if not chunk:
                break
            body += chunk
            if len(body) > max_bytes:
                raise MediaError("too_large")
    except (requests.RequestException, OSError, HTTPError) as exc:
        log.warning("media ref=%s body failed: %s", _ref(url), type(exc).__name__)
        raise MediaError("download_failed") from None
    return bytes(body)


# ------------------------------------------------------------------------------------- checks
def _media_type(declared_type: str | None) -> str:
    return (declared_type or "").split(";")[0].strip().lower()


def declared_problem(declared_type: str | None, want: Iterable[str] = ("image",)) -> str | None:
    """The problem decided from the declared type alone (no download), or None to go on."""
    media_type = _media_type(declared_type)
    if media_type.startswith(("audio/", "video/")) or media_type in NOT_A_PHOTO_TYPES:
        return "not_a_photo"
    if media_type == "application/pdf":
        return None if "pdf" in want else "not_a_photo"
    if media_type in IMAGE_TYPES or media_type in SNIFF_TYPES:
        return None
    return "unsupported_type"


def sharpness(image: Image.Image) -> float:
    """Variance of the Laplacian of the grayscale image (long side scaled down to SHARPNESS_SIDE),
    averaged over the most detailed 10% of SHARPNESS_TILE-px tiles: a card lying on a plain table
    or a page with wide margins is judged by where the print is, not by the empty area around it."""
    gray = image.convert("L")
    long_side = max(gray.size)
    if long_side > SHARPNESS_SIDE:
        scale = SHARPNESS_SIDE / long_side
        size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
        gray = gray.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if min(gray.size) < 3:
        return 0.0
    # Pillow copies the outermost pixels unfiltered: drop them.
    lap = gray.filter(LAPLACIAN).crop((1, 1, gray.width - 1, gray.height - 1))
    step = SHARPNESS_TILE
    variances = sorted((ImageStat.Stat(lap.crop((x, y, min(x + step, lap.width), min(y + step, lap.height)))).var[0]
                        for y in range(0, max(1, lap.height - step // 2), step)
                        for x in range(0, max(1, lap.width - step // 2), step)), reverse=True)
    top = variances[:max(1, round(len(variances) * SHARPNESS_TOP_SHARE))]
    return float(sum(top) / len(top))


def check(content: bytes, declared_type: str | None, *, want: Iterable[str] = ("image",)) -> Checked:
    """Decode and judge downloaded media (the real format decides, not the declared type)."""
    want = tuple(want)
    problem = declared_problem(declared_type, want)
    if problem:
        return _failed(problem, len(content))
    if content.startswith(b"%PDF-"):
        return _check_pdf(content, want)
    return _check_image(content)


def _check_pdf(content: bytes, want: tuple[str, ...]) -> Checked:
    if "pdf" not in want:
        return _failed("not_a_photo", len(content))
    if len(content) > MAX_PDF_BYTES:
        return _failed("too_large", len(content))
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if (reader.is_encrypted and not reader.decrypt("")) or len(reader.pages) < 1:
            return _failed("unreadable", len(content))
    except _PDF_ERRORS as exc:
        log.info("pdf unreadable: %s", type(exc).__name__)
        return _failed("unreadable", len(content))
    return Checked(ok=True, problem=None, kind="pdf", content_type="application/pdf",
                   content=content, size=len(content))


def measure_image(content: bytes) -> tuple[str, int, int, float]:
    """Decode a JPEG/PNG/WEBP fully: ``(real content type, width, height, sharpness)``.

    Raises MediaError: too_large (pixels), unsupported_type (another image format), unreadable.
    """
    formats = tuple(IMAGE_FORMATS)
    try:
        with warnings.catch_warnings():  # a bomb warning (pixels > MAX_PIXELS) becomes an error here
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(content), formats=formats)
        with img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise MediaError("too_large")
            img.verify()
        with Image.open(io.BytesIO(content), formats=formats) as img:
            real_format = img.format
            if real_format == "JPEG":  # let libjpeg decode at a reduced scale (still reads it all)
                long_side = max(width, height)
                img.draft("L", (width * SHARPNESS_SIDE // long_side, height * SHARPNESS_SIDE // long_side))
            img.load()
            return IMAGE_FORMATS[real_format], width, height, sharpness(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError("too_large") from None
    except UnidentifiedImageError:
        other = content.startswith(OTHER_IMAGE_MAGIC)
        raise MediaError("unsupported_type" if other else "unreadable") from None
    except _PILLOW_ERRORS as exc:
        log.info("image unreadable: %s", type(exc).__name__)
        raise MediaError("unreadable") from None


def _check_image(content: bytes) -> Checked:
    size = len(content)
    if size > MAX_IMAGE_BYTES:
        return _failed("too_large", size)
    try:
        content_type, width, height, score = measure_image(content)
    except MediaError as exc:
        return _failed(exc.problem, size)
    problem = None
    if min(width, height) < MIN_SIDE:
        problem = "too_small"
    elif score < SHARPNESS_THRESHOLD:
        problem = "too_blurry"
    return Checked(ok=problem is None, problem=problem, kind="image", content_type=content_type,
                   content=content, size=size, width=width, height=height, sharpness=round(score, 2))


def fetch_and_check(url: str, declared_type: str | None, settings, *, want: Iterable[str] = ("image",),
                    extra_hosts: Iterable[str] = (), sleep: Callable[[float], None] = time.sleep,
                    deadline: Deadline | None = None) -> Checked:
    """Fetch and check one media item; expected problems are returned, never raised."""
    want = tuple(want)
    problem = declared_problem(declared_type, want)
    if problem:
        log.info("media ref=%s not fetched: %s (declared %s)", _ref(url), problem, _media_type(declared_type))
        return _failed(problem)
    pdf_possible = "pdf" in want and _media_type(declared_type) not in IMAGE_TYPES
    limit = MAX_PDF_BYTES if pdf_possible else MAX_IMAGE_BYTES
    try:
        content, _served = fetch(url, settings, extra_hosts=extra_hosts, max_bytes=limit, sleep=sleep,
                                 deadline=deadline)
    except MediaError as exc:
        log.info("media ref=%s not fetched: %s (limit %d bytes)", _ref(url), exc.problem, limit)
        return _failed(exc.problem)
    result = check(content, declared_type, want=want)
    log.info("media ref=%s checked: %s kind=%s bytes=%d size=%sx%s sharpness=%s", _ref(url),
             result.problem or "ok", result.kind, result.size, result.width, result.height, result.sharpness)
    return result
