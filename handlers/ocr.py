"""Reading the NIK (and, where legible, the name and date of birth) off a KTP or KK photo.

The engine is RapidOCR (PP-OCR detection and recognition models shipped in its wheel, run by
onnxruntime): on generated KTP-like photos it read 79 % of NIKs exactly with no false mismatch at the
gate below, where Tesseract read 29 % (docs/photo-quality.md, bench/ocr_nik.py — which measures this
module's own reader). A read is *confident* when the weakest of its 16 digits was recognised with a
probability of at least NIK_GATE; only a confident read is ever put to the citizen or fills a step.

OCR never refuses a photo: the size and sharpness checks (handlers.media) decide that; a card that cannot
be read is "not read" and the officer reads it. The engine is loaded on first use (~0.5 s, ~0.6 GiB) and
runs in one background thread per process, so a read that overruns its deadline is abandoned (reported
as ``timeout``) instead of holding the citizen's message; a read that fails is reported as ``failed``.
Nothing read is logged: only the outcome, the time taken and the confidence.
"""
from __future__ import annotations

import io
import logging
import math
import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from PIL import Image, ImageOps

log = logging.getLogger(__name__)

NIK_GATE = 0.9  # weakest digit's probability for a confident NIK (bench/ocr_nik.py: no false mismatch)
MAX_SIDE = 1280  # photos are scaled down to this long side first (as measured: faster, no less exact)
MIN_TIMEOUT = 1.0  # seconds: with less left of the message's deadline, the photo is not read
# Document kinds read while the citizen waits: a KTP (one card, ~30 text boxes, median 1.5 s on a busy 2-core
# machine). A KK is a dense table (~90 boxes on a generated one, median 3.2 s and up to 7.7 s there; a real KK
# is denser): read in the chat it would hold the citizen's reply (bench/ocr_nik.py --kk).
READABLE = ("ktp",)
READ_LATER = ("kk",)  # read in the background once the case is in (bot.reading); its NIKs are listed for the officer

# Statuses of a reading.
READ = "read"          # a NIK was read with confidence
NOT_READ = "not_read"  # the engine ran; no 16-digit NIK it is sure of
TIMEOUT = "timeout"    # abandoned at its deadline
FAILED = "failed"      # the engine raised (a bug or a broken install): set aside, the photo still counts
OFF = "off"            # OCR is switched off (OCR_ENABLED=0)

DIGITLIKE = {"O": "0", "o": "0", "I": "1", "l": "1", "|": "1", "S": "5", "s": "5", "B": "8"}
NIK_LABEL = re.compile(r"(?<![A-Za-z])N\s?[I1l|i]\s?K", re.IGNORECASE)
NAME_LABEL = re.compile(r"\bNa[mn]a\b", re.IGNORECASE)
BIRTH_LABEL = re.compile(r"Lahir", re.IGNORECASE)
DATE = re.compile(r"([0-9OIlSB]{2})\s?[-./]\s?([0-9OIlSB]{2})\s?[-./]\s?([0-9OIlSB]{4})")
LEADING = ":;.,=-'\"\u00bb\uff1a"
TOKEN = re.compile(r"[A-Za-z]{1,3}[.:](?=\d)|\S+")  # a word; a short label glued to a number is apart

Word = tuple[str, float, "list[float] | None"]  # text, confidence 0..1, per-character confidences


@dataclass
class Item:
    """One text box of an engine: its words and its corners (TL, TR, BR, BL)."""

    words: list[Word]
    quad: list[tuple[float, float]]

    @property
    def text(self) -> str:
        return " ".join(w[0] for w in self.words)


@dataclass(frozen=True)
class Reading:
    status: str
    nik: str | None = None          # the NIK printed on the card (on a KK: the first confident one)
    confidence: float = 0.0         # the weakest digit's probability
    niks: tuple[str, ...] = ()      # every confident 16-digit number (a KK lists its number and each member)
    name: str | None = None
    birth_date: str | None = None   # DD-MM-YYYY as printed
    seconds: float = 0.0
    how: str = ""                   # where the NIK was found: "label", "no label", or why not

    @property
    def confident(self) -> bool:
        return self.status == READ and self.nik is not None and self.confidence >= NIK_GATE

    def as_json(self) -> dict:
        """What is kept on the document (storage.cases.Document.ocr)."""
        return {"status": self.status, "nik": self.nik, "confidence": round(self.confidence, 3),
                "niks": list(self.niks), "name": self.name, "birth_date": self.birth_date,
                "seconds": round(self.seconds, 2)}


# ------------------------------------------------------------------------------ the engine
class Reader:
    """RapidOCR, loaded on first use, run in one background thread (one read at a time)."""

    def __init__(self):
        self._engine = None
        self._chars: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr")

    def _load(self):
        from rapidocr_onnxruntime import RapidOCR  # noqa: PLC0415  (third-party, heavy: loaded on first use)

        engine = RapidOCR()
        # A line's score is the mean of its characters' probabilities; the CTC decoder also returns each
        # character's own when asked for word info: keep them, to gate on the weakest digit.
        op = engine.text_rec.postprocess_op
        original = op.decode

        def decode(text_index, text_prob=None, return_word_box=False, is_remove_duplicate=False):
            out = original(text_index, text_prob, True, is_remove_duplicate)
            for text, _mean, info in out:
                self._chars[text] = info[4]
            return [(text, mean) for text, mean, _info in out]

        op.decode = decode
        return engine

    def items(self, image: Image.Image) -> list[Item]:
        with self._lock:
            if self._engine is None:
                self._engine = self._load()
            self._chars.clear()
            result, _elapsed = self._engine(image)
            found = []
            for box, text, score in result or []:
                chars = self._chars.get(text)
                found.append(Item([(text, float(score), chars if chars and len(chars) == len(text) else None)],
                                  [tuple(map(float, p)) for p in box]))
            return found

    def read(self, content: bytes, timeout: float, kind: str = "ktp") -> Reading:
        """Read a photo of a ``kind`` of document within ``timeout`` seconds; never raises."""
        started = time.monotonic()
        if timeout < MIN_TIMEOUT:  # not worth starting: it would only hold the thread for the next photo
            return Reading(TIMEOUT)
        future = self._pool.submit(self._read, content, kind)
        try:
            reading = future.result(timeout=max(timeout, 0.0))
        except FutureTimeout:
            future.cancel()  # still waiting behind another read: never run it for nobody
            log.warning("ocr abandoned after %.1f s (deadline)", time.monotonic() - started)
            return Reading(TIMEOUT, seconds=time.monotonic() - started)
        except Exception as exc:  # the engine is a black box: any error is one failed read, shown as such
            log.error("ocr failed: %s", type(exc).__name__)
            return Reading(FAILED, seconds=time.monotonic() - started)
        reading = Reading(**{**reading.__dict__, "seconds": time.monotonic() - started})
        log.info("ocr %s confidence=%.2f in %.2f s", reading.status, reading.confidence, reading.seconds)
        return reading

    def _read(self, content: bytes, kind: str) -> Reading:
        with Image.open(io.BytesIO(content)) as img:
            image = ImageOps.exif_transpose(img).convert("RGB")
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        return read_fields(self.items(image), kind)


# ------------------------------------------------------------------------------ the fields
def read_fields(items: list[Item], kind: str = "ktp") -> Reading:
    """The fields of a card. A KTP: its NIK (after the label), name and date of birth. A KK: every 16-digit
    number, the first (top) one being the family card's own number, kept as ``nik`` for spotting reuse."""
    rows = text_rows(items)
    found = all_niks(rows)
    niks = tuple(dict.fromkeys(n for n, c in found if c >= NIK_GATE))
    if kind != "ktp":
        first = found[0] if found else (None, 0.0)
        return Reading(READ if niks and first[1] >= NIK_GATE else NOT_READ, nik=first[0] if first[1] >= NIK_GATE else None,
                       confidence=first[1], niks=niks, how="first number")
    nik, confidence, how = read_nik(rows)
    if len(niks) > 1:  # a KTP shows one number: several are a KK (its own number first) or another document
        nik, confidence, how = None, 0.0, "several numbers"
    confident = nik is not None and confidence >= NIK_GATE
    return Reading(READ if confident else NOT_READ, nik=nik if confident else None,
                   confidence=confidence if nik else 0.0, niks=niks, name=read_name(rows),
                   birth_date=read_birth_date(rows), how=how)


def text_rows(items: list[Item]) -> list[list[Item]]:
    """Group boxes into text rows: undo the median skew of the wide boxes, then cluster by centre height."""
    angles = [math.atan2(it.quad[1][1] - it.quad[0][1], it.quad[1][0] - it.quad[0][0]) for it in items
              if it.quad[1][0] - it.quad[0][0] > 2 * abs(it.quad[3][1] - it.quad[0][1])]
    skew = statistics.median(angles) if angles else 0.0
    cos, sin = math.cos(-skew), math.sin(-skew)
    placed = []
    for it in items:
        cx, cy = sum(p[0] for p in it.quad) / 4, sum(p[1] for p in it.quad) / 4
        height = max(4.0, (abs(it.quad[3][1] - it.quad[0][1]) + abs(it.quad[2][1] - it.quad[1][1])) / 2)
        placed.append((cx * sin + cy * cos, cx * cos - cy * sin, height, it))
    placed.sort(key=lambda p: p[0])
    rows: list[list] = []
    for p in placed:
        if rows and abs(p[0] - rows[-1][0][0]) < 0.5 * max(p[2], rows[-1][0][2]):
            rows[-1].append(p)
        else:
            rows.append([p])
    return [[p[3] for p in sorted(row, key=lambda p: p[1])] for row in rows]


def _words(row: list[Item]) -> list[Word]:
    """A row's words (a line is split at spaces; each part keeps the line's confidence and its characters')."""
    out = []
    for it in row:
        for text, conf, chars in it.words:
            for m in TOKEN.finditer(text):  # "No.3201…" is a label and a number
                out.append((m.group(), conf, chars[m.start():m.end()] if chars else None))
    return out


def _digit_run(words: list[Word], min_real: int) -> tuple[str, float] | None:
    """The first run of digit words (a word may start with ':'), added while it has fewer than 16 digits so
    a stray number after a complete NIK does not spoil it: (digits, weakest character's confidence —
    the word's where the engine gives no characters). Digit-like letters count only inside the run, and
    it needs ``min_real`` real digits."""
    digits, confs, real = "", [], 0
    for text, conf, chars in words:
        body = text.lstrip(LEADING) if not digits else text
        if not _digit_word(body):
            if digits:
                break
            continue
        digits += "".join(DIGITLIKE.get(ch, ch) for ch in body)
        confs.append(min(chars[len(text) - len(body):]) if chars else conf)
        real += sum(ch.isdigit() for ch in body)
        if len(digits) >= 16:
            break
    return (digits, min(confs)) if digits and real >= min_real else None


def read_nik(rows: list[list[Item]]) -> tuple[str | None, float, str]:
    """(NIK or None, weakest digit's confidence, how): the run after the "NIK" label; else a lone 16-digit run."""
    for row in rows:
        words = _words(row)
        for k, (text, conf, chars) in enumerate(words):
            m = NIK_LABEL.search(text)
            if not m:
                continue
            rest = [w for w in [(text[m.end():], conf, chars[m.end():] if chars else None)] + words[k + 1:] if w[0]]
            got = _digit_run(rest, min_real=8)
            if got is None:
                break  # the number went to another row: look for it alone below
            if len(got[0]) != 16:
                return None, 0.0, f"label, {len(got[0])} digits"
            return got[0], got[1], "label"
    for row in rows:
        got = _digit_run(_words(row), min_real=14)
        if got and len(got[0]) == 16:
            return got[0], got[1], "no label"
        if got:
            return None, 0.0, f"no label, {len(got[0])} digits"
    return None, 0.0, "none"


def _digit_word(body: str) -> bool:
    """Digits and digit-like letters only, with at least one real digit."""
    return bool(body) and all(ch.isdigit() or ch in DIGITLIKE for ch in body) and any(ch.isdigit() for ch in body)


def _is_digits(text: str) -> bool:
    return _digit_word(text.lstrip(LEADING))


def all_niks(rows: list[list[Item]]) -> list[tuple[str, float]]:
    """Every 16-digit number on the photo with its confidence (a KK: its own number and each member's NIK)."""
    found = []
    for row in rows:
        words = _words(row)
        for k in range(len(words)):
            if k and _is_digits(words[k - 1][0]):
                continue  # inside a run already tried
            got = _digit_run(words[k:], min_real=14)
            if got and len(got[0]) == 16:
                found.append(got)
    return found


def _value_after(rows: list[list[Item]], label: re.Pattern) -> str | None:
    for row in rows:
        text = " ".join(it.text for it in row)
        m = label.search(text)
        if m:
            return text[m.end():]
    return None


def read_name(rows: list[list[Item]]) -> str | None:
    value = _value_after(rows, NAME_LABEL)
    if value is None:
        return None
    return " ".join(re.sub(r"[^A-Za-z' ]", " ", value).upper().split()) or None


def read_birth_date(rows: list[list[Item]]) -> str | None:
    m = DATE.search(_value_after(rows, BIRTH_LABEL) or "")
    if not m:
        return None
    return "-".join("".join(DIGITLIKE.get(ch, ch) for ch in g) for g in m.groups())


_reader: Reader | None = None
_reader_lock = threading.Lock()


def reader() -> Reader:
    """This process's Reader, made on first use."""
    global _reader
    with _reader_lock:
        if _reader is None:
            _reader = Reader()
        return _reader
