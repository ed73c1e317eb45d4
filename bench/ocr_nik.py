"""OCR benchmark (issue 17): which offline engine reads the 16-digit NIK off a KTP photo well enough?

Synthetic KTP-like cards (drawn here with real TrueType fonts: DejaVu, Liberation and, where Debian's
fonts-ocr-a is installed, OCR-A for the NIK line; a light-blue patterned background, the header, the
"NIK : 3515014505860003" line in a larger bold face, Nama, Tempat/Tgl Lahir and the other fields, a photo
box, a signature) with a generated NIK (real structure: province, regency, district, DDMMYY with day + 40
for women, serial), name and date of birth, never real people's cards. Each card is photographed at one of
four levels:

- clean: upright, the card filling ~92 % of a 1280 px frame, no noise, JPEG 92;
- mild: bench/photo_reuse.rephotographed (rotated up to 4 degrees, re-framed, long side 900-2048 px,
  uneven light and sensor noise sigma 1-4, half of them blurred 0.3-1.2 px, JPEG 45-90);
- cheap-phone: the card filling 60-85 % of the frame on a table, rotated up to 5 degrees, long side
  800-1024 px, a quarter with glare off the laminate, blur 0.5-1.3 px, uneven light and noise sigma 3-6
  (bench/blur_threshold.lighting_and_noise), JPEG 40-70, half of them compressed again (forwarded);
- stress (reported apart, not in "all"; the photo check rejects most of these): 50-75 % of a 640-800 px
  frame, half with glare, blur 1.2-2.2 px, noise sigma 6-10, JPEG 25-45, half compressed again.

Every engine reads the same JPEG bytes, photo by photo in turn (the order rotating), so that other load on
the machine falls on all of them alike. The NIK is the 16-digit run after the "NIK" label on its row (rows
are rebuilt from the engine's boxes after undoing the skew); inside that run only, O/o -> 0, I/l/| -> 1,
S/s -> 5 and B -> 8 are accepted; a run of other than 16 digits is no read. Without a "NIK" label, a lone
16-digit run with at least 14 real digits is taken. The confidence of a read is the lowest confidence of
the words (Tesseract, tsv output, 0-100 scaled to 0-1) or text lines (RapidOCR's score: the mean of its
characters' probabilities) it came from; for RapidOCR also the probability of the weakest character of
the digit run ("char gate", taken from its CTC decoder). Two checks that need no registry are reported
too: the NIK's own structure is plausible, and its DDMMYY agrees with the date of birth read off the card.
Reported per engine and level, at several confidence gates: NIK exact-match rate, false-mismatch rate (a
16-digit NIK read at or above the gate that is not the printed one: the bot would tell the citizen that
their typed NIK differs), no-read rate; the same for the photos handlers.media would accept (short side
>= MIN_SIDE and sharpness >= SHARPNESS_THRESHOLD); name and date of birth exact-match rates; wall and
CPU seconds per image (median, p95; Tesseract: the child process's CPU); the engine's memory and disk
footprint. Engines: tesseract (Debian's CLI, -l ind, --psm 3), tesseract-psm11, tesseract-psm6, rapidocr.

Run with a Python that has the engines (a throwaway venv: nothing here goes into the app's requirements):

    apt-get install -y tesseract-ocr tesseract-ocr-ind fonts-ocr-a
    /work/main/.venv/bin/python -m venv /tmp/ocrvenv
    /tmp/ocrvenv/bin/pip install rapidocr-onnxruntime==1.4.4 pillow==12.3.0 requests==2.34.2 pypdf==7.1.1
    /tmp/ocrvenv/bin/python bench/ocr_nik.py [--per-level 60] [--engines tesseract,rapidocr] [--max-side 1280]
        [--save DIR] [--json PATH]

Image.effect_noise (in lighting_and_noise) is not seeded by the bench; in practice the runs so far gave the
same photos and the same reads.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlib import meta, pct, table, write_json  # noqa: E402
from blur_threshold import lighting_and_noise  # noqa: E402
from photo_reuse import jpeg, rephotographed  # noqa: E402

from handlers import media  # noqa: E402

LEVELS = ["clean", "mild", "cheap-phone", "stress"]
GATES = [0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98]
FONT_DIR = Path("/usr/share/fonts/truetype")
# The NIK line: bold sans faces and, where installed, OCR-A (Debian's fonts-ocr-a).
NIK_FONTS = {
    "dejavu-sans-bold": "dejavu/DejaVuSans-Bold.ttf",
    "liberation-sans-bold": "liberation/LiberationSans-Bold.ttf",
    "dejavu-mono-bold": "dejavu/DejaVuSansMono-Bold.ttf",
    "ocr-a": "ocr-a/OCRA.ttf",
}
BODY_FONTS = {  # name: (regular, bold)
    "liberation-sans": ("liberation/LiberationSans-Regular.ttf", "liberation/LiberationSans-Bold.ttf"),
    "dejavu-sans": ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf"),
    "dejavu-condensed": ("dejavu/DejaVuSansCondensed.ttf", "dejavu/DejaVuSansCondensed-Bold.ttf"),
    "liberation-narrow": ("liberation/LiberationSansNarrow-Regular.ttf", "liberation/LiberationSansNarrow-Bold.ttf"),
}
CARD_W = 1400
CARD_H = round(CARD_W * 53.98 / 85.6)  # ID-1

# -- the synthetic card ---------------------------------------------------------------------------------
PROVINCES = {"11": "ACEH", "12": "SUMATERA UTARA", "13": "SUMATERA BARAT", "14": "RIAU", "16": "SUMATERA SELATAN",
             "18": "LAMPUNG", "31": "DKI JAKARTA", "32": "JAWA BARAT", "33": "JAWA TENGAH", "34": "DI YOGYAKARTA",
             "35": "JAWA TIMUR", "36": "BANTEN", "51": "BALI", "52": "NUSA TENGGARA BARAT", "61": "KALIMANTAN BARAT",
             "64": "KALIMANTAN TIMUR", "71": "SULAWESI UTARA", "73": "SULAWESI SELATAN", "81": "MALUKU", "94": "PAPUA"}
CITIES = ["SIDOARJO", "SURABAYA", "MALANG", "KEDIRI", "BANDUNG", "BEKASI", "BOGOR", "SEMARANG", "SOLO", "KLATEN",
          "YOGYAKARTA", "SLEMAN", "MEDAN", "PADANG", "PALEMBANG", "PEKANBARU", "DENPASAR", "MATARAM", "MAKASSAR",
          "MANADO", "PONTIANAK", "SAMARINDA", "JAYAPURA", "AMBON", "TANGERANG", "SERANG", "CIREBON", "JEMBER",
          "BANYUWANGI", "PROBOLINGGO", "BANDA ACEH", "BANDAR LAMPUNG", "TASIKMALAYA", "PURWOKERTO"]
GIVEN = ["BUDI", "SITI", "AGUS", "DEWI", "RINA", "ANDI", "SRI", "WAHYU", "EKO", "NUR", "PUTRI", "HADI", "YULI",
         "RUDI", "TITIK", "JOKO", "INDAH", "BAMBANG", "LINA", "FAJAR", "MUHAMMAD", "AHMAD", "RATNA", "YUDI",
         "ENDANG", "HERU", "WATI", "DODI", "NOVI", "ARIF", "SUSI", "IWAN", "MEGA", "RIZKY", "AYU", "DIAN"]
FAMILY = ["SANTOSO", "RAHAYU", "WIJAYA", "LESTARI", "HIDAYAT", "SAPUTRA", "KURNIAWAN", "SETIAWAN", "PRATAMA",
          "HANDAYANI", "SUSANTO", "WIBOWO", "NINGSIH", "PURNOMO", "SARI", "GUNAWAN", "MAULANA", "FITRIANI",
          "NASUTION", "SIREGAR", "HASIBUAN", "PANGARIBUAN", "TANJUNG", "SIMANJUNTAK", "LUBIS", "MANURUNG"]
STREETS = ["JL. MERDEKA", "JL. DIPONEGORO", "JL. SUDIRMAN", "JL. MAWAR", "JL. MELATI", "DSN. KRAJAN", "JL. KENANGA",
           "PERUM GRIYA INDAH", "JL. PAHLAWAN", "JL. SILIWANGI", "GG. MANGGA"]
RELIGIONS = ["ISLAM", "KRISTEN", "KATHOLIK", "HINDU", "BUDDHA", "KONGHUCU"]
JOBS = ["KARYAWAN SWASTA", "WIRASWASTA", "PELAJAR/MAHASISWA", "MENGURUS RUMAH TANGGA", "PETANI/PEKEBUN",
        "PEGAWAI NEGERI SIPIL", "BURUH HARIAN LEPAS", "GURU", "PEDAGANG", "NELAYAN/PERIKANAN"]
MARITAL = ["BELUM KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI"]


@dataclass
class Card:
    nik: str
    name: str
    birth_place: str
    birth_date: str  # DD-MM-YYYY, as printed
    nik_font: str
    body_font: str


def _ttf(rel: str, size: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / rel), max(8, round(size)))


def available(fonts: dict) -> list[str]:
    def ok(v):
        return all((FONT_DIR / p).exists() for p in ((v,) if isinstance(v, str) else v))
    return [k for k, v in fonts.items() if ok(v)]


def make_identity(rng: random.Random) -> tuple[str, str, str, str, str]:
    """NIK with the real structure: province, regency, district, DDMMYY (day + 40 for women), serial."""
    province = rng.choice(list(PROVINCES))
    female = rng.random() < 0.5
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 56 * 365))
    nik = (f"{province}{rng.randint(1, 79):02d}{rng.randint(1, 30):02d}"
           f"{born.day + (40 if female else 0):02d}{born.month:02d}{born.year % 100:02d}{rng.randint(1, 250):04d}")
    name = " ".join([rng.choice(GIVEN)] + [rng.choice(GIVEN + FAMILY) for _ in range(rng.choice([0, 1, 1, 2]))]
                    + [rng.choice(FAMILY)] * (rng.random() < 0.6))
    return nik, name, rng.choice(CITIES), born.strftime("%d-%m-%Y"), province


def _background(draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    """Light blue with a guilloche-like pattern of fine sine lines and rings (as the security print)."""
    import math
    top = (rng.randint(178, 200), rng.randint(208, 226), rng.randint(232, 246))
    for y in range(h):  # vertical gradient, lighter in the middle
        t = 1 - abs(y / h - 0.5) * 2
        draw.line((0, y, w, y), fill=tuple(min(255, int(c + 14 * t)) for c in top))
    for k in range(26):
        amp, period, phase = rng.uniform(0.02, 0.08) * h, rng.uniform(0.15, 0.5) * w, rng.uniform(0, 6.3)
        y0 = rng.uniform(0, h)
        shade = tuple(c - rng.randint(10, 28) for c in top)
        points = [(x, y0 + amp * math.sin(phase + 2 * math.pi * x / period)) for x in range(0, w + 8, 8)]
        draw.line(points, fill=shade, width=rng.choice([1, 1, 2]))
    cx, cy = rng.uniform(0.3, 0.5) * w, rng.uniform(0.4, 0.6) * h
    for r in range(int(0.05 * h), int(0.4 * h), int(0.018 * h)):
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=tuple(c - 12 for c in top), width=1)


def render_card(seed: int) -> tuple[Image.Image, Card]:
    rng = random.Random(f"ktp-{seed}")
    nik, name, birth_place, birth_date, province = make_identity(rng)
    nik_font_name = rng.choice(available(NIK_FONTS))
    body_font_name = rng.choice(available(BODY_FONTS))
    regular, bold = BODY_FONTS[body_font_name]
    w, h = CARD_W, CARD_H
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    _background(draw, rng, w, h)
    ink = (rng.randint(10, 35),) * 2 + (rng.randint(20, 45),)
    head = _ttf(bold, 0.05 * h)
    regency = rng.choice(["KABUPATEN ", "KOTA "]) + rng.choice(CITIES)
    for i, text in enumerate(["PROVINSI " + PROVINCES[province], regency]):
        draw.text((w / 2, 0.035 * h + i * 0.065 * h), text, fill=ink, font=head, anchor="mt")
    x_label, x_colon, x_value = 0.035 * w, 0.255 * w, 0.275 * w
    # NIK: label and colon in the body's bold face, the number larger, shrunk to end before the photo box.
    y = 0.19 * h
    label_font = _ttf(bold, 0.058 * h)
    draw.text((x_label, y), "NIK", fill=ink, font=label_font, anchor="lm")
    draw.text((x_colon, y), ":", fill=ink, font=label_font, anchor="lm")
    size = 0.068 * h
    while True:
        nik_font = _ttf(NIK_FONTS[nik_font_name], size)
        if x_value + draw.textlength(nik, font=nik_font) < 0.70 * w:
            break
        size *= 0.96
    draw.text((x_value, y), nik, fill=ink, font=nik_font, anchor="lm")
    sex = "PEREMPUAN" if int(nik[6:8]) > 40 else "LAKI-LAKI"
    fields = [
        ("Nama", name),
        ("Tempat/Tgl Lahir", f"{birth_place}, {birth_date}"),
        ("Jenis Kelamin", sex),
        ("Alamat", f"{rng.choice(STREETS)} NO. {rng.randint(1, 120)}"),
        ("    RT/RW", f"{rng.randint(1, 15):03d}/{rng.randint(1, 12):03d}"),
        ("    Kel/Desa", rng.choice(CITIES)),
        ("    Kecamatan", rng.choice(CITIES)),
        ("Agama", rng.choice(RELIGIONS)),
        ("Status Perkawinan", rng.choice(MARITAL)),
        ("Pekerjaan", rng.choice(JOBS)),
        ("Kewarganegaraan", "WNI"),
        ("Berlaku Hingga", "SEUMUR HIDUP"),
    ]
    body = _ttf(regular, 0.04 * h)
    y = 0.29 * h
    for label, value in fields:
        draw.text((x_label, y), label, fill=ink, font=body, anchor="lm")
        draw.text((x_colon, y), ":", fill=ink, font=body, anchor="lm")
        draw.text((x_value, y), value, fill=ink, font=body, anchor="lm")
        if label == "Jenis Kelamin":
            draw.text((0.48 * w, y), "Gol. Darah : " + rng.choice(["A", "B", "AB", "O", "-"]), fill=ink, font=body,
                      anchor="lm")
        y += 0.0555 * h
    # Photo box (a drawn figure), issuing place and date, signature.
    px0, py0, px1, py1 = round(0.72 * w), round(0.2 * h), round(0.945 * w), round(0.74 * h)
    pw, ph = px1 - px0, py1 - py0
    portrait = Image.new("RGB", (pw, ph), rng.choice([(200, 40, 45), (40, 85, 180)]))
    pdraw = ImageDraw.Draw(portrait)
    skin = (rng.randint(170, 225), rng.randint(130, 180), rng.randint(100, 150))
    pdraw.ellipse((0.12 * pw, 0.62 * ph, 0.88 * pw, 1.5 * ph), fill=(30, 30, 40))  # shoulders
    pdraw.ellipse((0.3 * pw, 0.15 * ph, 0.7 * pw, 0.62 * ph), fill=skin)  # head
    img.paste(portrait, (px0, py0))
    cx = (px0 + px1) / 2
    small = _ttf(regular, 0.034 * h)
    draw.text((cx, 0.78 * h), rng.choice(CITIES), fill=ink, font=small, anchor="mm")
    draw.text((cx, 0.83 * h), f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-{rng.randint(2012, 2024)}",
              fill=ink, font=small, anchor="mm")
    points = [(px0 + 0.02 * w + i * 0.018 * w, 0.9 * h + rng.uniform(-0.03, 0.03) * h) for i in range(10)]
    draw.line(points, fill=(25, 25, 70), width=3)
    return img, Card(nik, name, birth_place, birth_date, nik_font_name, body_font_name)


# -- photographing it -----------------------------------------------------------------------------------
def on_table(card: Image.Image, rng: random.Random, fill: float) -> Image.Image:
    """The card lying on a table, `fill` of the frame's width, a 4:3 frame."""
    table_rgb = (rng.randint(90, 150), rng.randint(70, 110), rng.randint(50, 85))
    fw = round(card.width / fill)
    fh = round(fw * 3 / 4)
    frame = Image.new("RGB", (fw, fh), table_rgb)
    draw = ImageDraw.Draw(frame)
    for _ in range(60):  # wood-like grain
        y = rng.uniform(0, fh)
        draw.line((0, y, fw, y + rng.uniform(-8, 8)), fill=tuple(c - 15 for c in table_rgb), width=2)
    x = round((fw - card.width) / 2 + rng.uniform(-0.4, 0.4) * (fw - card.width))
    y = round((fh - card.height) / 2 + rng.uniform(-0.4, 0.4) * (fh - card.height))
    frame.paste(card, (x, y))
    return frame


def glare(img: Image.Image, rng: random.Random) -> Image.Image:
    """A specular highlight off the laminated card: a soft white ellipse somewhere on the card."""
    w, h = img.size
    mask = Image.new("L", img.size, 0)
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    rx, ry = rng.uniform(0.06, 0.16) * w, rng.uniform(0.08, 0.18) * h
    ImageDraw.Draw(mask).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=rng.randint(150, 235))
    mask = mask.filter(ImageFilter.GaussianBlur(0.4 * min(rx, ry)))
    return Image.composite(Image.new("RGB", img.size, (250, 250, 245)), img, mask)


def photograph(card: Image.Image, level: str, rng: random.Random) -> Image.Image:
    """One photo of the card at a degradation level; a JPEG image opened on its own bytes (photo_reuse.jpeg)."""
    if level == "clean":
        frame = on_table(card, rng, 0.92)
        frame = frame.resize((1280, 960), Image.Resampling.LANCZOS)
        return jpeg(frame, 92)
    if level == "mild":
        return rephotographed(on_table(card, rng, rng.uniform(0.8, 0.92)), rng)
    stress = level == "stress"  # past what the photo check lets through: reported apart
    if rng.random() < (0.5 if stress else 0.25):
        card = glare(card, rng)
    frame = on_table(card, rng, rng.uniform(0.5, 0.75) if stress else rng.uniform(0.6, 0.85))
    frame = frame.rotate(rng.uniform(-5, 5), resample=Image.Resampling.BICUBIC, fillcolor=frame.getpixel((0, 0)))
    long_side = rng.randint(640, 800) if stress else rng.randint(800, 1024)
    frame = frame.resize((long_side, round(long_side * 3 / 4)), Image.Resampling.LANCZOS)
    frame = frame.filter(ImageFilter.GaussianBlur(rng.uniform(1.2, 2.2) if stress else rng.uniform(0.5, 1.3)))
    frame = lighting_and_noise(frame, rng, rng.uniform(6.0, 10.0) if stress else rng.uniform(3.0, 6.0))
    photo = jpeg(frame, rng.randint(25, 45) if stress else rng.randint(40, 70))
    if rng.random() < 0.5:  # forwarded: compressed again
        photo = jpeg(photo, rng.randint(25, 45) if stress else rng.randint(40, 70))
    return photo


def sent_bytes(photo: Image.Image) -> bytes:
    """The JPEG as sent: photo_reuse.jpeg returns an image opened (not yet decoded) on its encoded bytes."""
    assert photo.format == "JPEG" and isinstance(photo.fp, io.BytesIO)
    return photo.fp.getvalue()


# -- engines: each returns text items (text, confidence 0-1, word list, quad) -------------------------------
@dataclass
class Item:
    words: list[tuple[str, float, list[float] | None]]  # (text, confidence 0..1, per-character confidences)
    quad: list[tuple[float, float]]  # TL, TR, BR, BL

    @property
    def text(self) -> str:
        return " ".join(w[0] for w in self.words)


class Tesseract:
    """The Debian tesseract CLI, one process per image (as pytesseract does), tsv output."""

    def __init__(self, lang: str = "ind", psm: int = 3):
        self.name = f"tesseract-{lang}-psm{psm}"
        self.cmd = ["tesseract", "stdin", "stdout", "-l", lang, "--psm", str(psm), "tsv"]

    def version(self) -> str:
        out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=False).stdout
        return out.splitlines()[0]

    def read(self, content: bytes) -> list[Item]:
        out = subprocess.run(self.cmd, input=content, capture_output=True, check=True, timeout=120).stdout
        lines: dict[tuple, list] = {}
        for row in out.decode("utf-8", "replace").splitlines()[1:]:
            cols = row.split("\t")
            if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
                continue
            left, top, width, height, conf = (float(c) for c in cols[6:11])
            lines.setdefault(tuple(cols[1:5]), []).append((cols[11], max(0.0, conf) / 100, left, top, width, height))
        items = []
        for words in lines.values():  # the quad follows the line's slope: first word's left, last word's right
            first, last = words[0], words[-1]
            quad = [(first[2], first[3]), (last[2] + last[4], last[3]), (last[2] + last[4], last[3] + last[5]),
                    (first[2], first[3] + first[5])]
            items.append(Item([(w[0], w[1], None) for w in words], quad))
        return items


class Rapid:
    """RapidOCR (rapidocr-onnxruntime: PP-OCRv4 det/rec + the angle classifier, ONNX models in the wheel)."""

    def __init__(self):
        from rapidocr_onnxruntime import RapidOCR
        self.name = "rapidocr"
        self.engine = RapidOCR()
        # A line's score is the mean of its characters' probabilities; keep the characters' own too (the
        # CTC decoder computes them; asking it for word info returns them), to gate on the weakest digit.
        op = self.engine.text_rec.postprocess_op
        original = op.decode
        self.char_confs: dict[str, list[float]] = {}

        def decode(text_index, text_prob=None, return_word_box=False, is_remove_duplicate=False):
            out = original(text_index, text_prob, True, is_remove_duplicate)
            for text, _mean, info in out:
                self.char_confs[text] = info[4]
            return [(text, mean) for text, mean, _info in out]

        op.decode = decode

    def version(self) -> str:
        from importlib.metadata import version
        return f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')}, onnxruntime {version('onnxruntime')}"

    def read(self, content: bytes) -> list[Item]:
        self.char_confs.clear()
        result, _elapse = self.engine(content)
        items = []
        for box, text, score in result or []:
            chars = self.char_confs.get(text)
            items.append(Item([(text, float(score), chars if chars and len(chars) == len(text) else None)],
                              [tuple(map(float, p)) for p in box]))
        return items


# -- reading the fields ---------------------------------------------------------------------------------
DIGITLIKE = {"O": "0", "o": "0", "I": "1", "l": "1", "|": "1", "S": "5", "s": "5", "B": "8"}
NIK_LABEL = re.compile(r"(?<![A-Za-z])N\s?[I1l|i]\s?K", re.IGNORECASE)
DATE = re.compile(r"([0-9OIlSB]{2})\s?[-./]\s?([0-9OIlSB]{2})\s?[-./]\s?([0-9OIlSB]{4})")


def _rows(items: list[Item]) -> list[list[Item]]:
    """Group items into text rows: undo the median skew of the boxes, then cluster by centre height."""
    import math
    angles = []
    for it in items:
        (x0, y0), (x1, y1) = it.quad[0], it.quad[1]
        if x1 - x0 > 2 * abs(it.quad[3][1] - it.quad[0][1]):  # wide boxes only
            angles.append(math.atan2(y1 - y0, x1 - x0))
    skew = statistics.median(angles) if angles else 0.0
    c, s = math.cos(-skew), math.sin(-skew)
    placed = []
    for it in items:
        xs = [p[0] for p in it.quad]
        ys = [p[1] for p in it.quad]
        cx, cy = sum(xs) / 4, sum(ys) / 4
        height = max(4.0, (abs(it.quad[3][1] - it.quad[0][1]) + abs(it.quad[2][1] - it.quad[1][1])) / 2)
        placed.append((cx * s + cy * c, cx * c - cy * s, height, it))  # rotated centre y, x
    placed.sort(key=lambda p: p[0])
    rows: list[list] = []
    for p in placed:
        if rows and abs(p[0] - rows[-1][0][0]) < 0.5 * max(p[2], rows[-1][0][2]):
            rows[-1].append(p)
        else:
            rows.append([p])
    return [[p[3] for p in sorted(row, key=lambda p: p[1])] for row in rows]


def _digit_run(words: list[tuple[str, float, list[float] | None]], min_real: int) -> tuple[str, float, float] | None:
    """The first digit run in a word sequence, word by word: whole words of digit-like characters (a word may
    start with punctuation such as ':') are added while the run has fewer than 16 digits, so that a trailing
    stray number does not spoil a complete NIK. Returns (digits, lowest confidence of its words, lowest
    confidence of its characters where the engine gives them, else of its words)."""
    digits, confs, char_confs, real = "", [], [], 0
    for text, conf, chars in words:
        body = text.lstrip(":;.,=-'\"\u00bb\uff1a") if not digits else text
        is_digits = (bool(body) and all(ch.isdigit() or ch in DIGITLIKE for ch in body)
                     and any(ch.isdigit() for ch in body))
        if not is_digits:
            if digits:
                break
            continue
        digits += "".join(DIGITLIKE.get(ch, ch) for ch in body)
        confs.append(conf)
        char_confs.append(min(chars[len(text) - len(body):]) if chars else conf)
        real += sum(ch.isdigit() for ch in body)
        if len(digits) >= 16:
            break
    if digits and real >= min_real:
        return digits, min(confs), min(char_confs)
    return None


def _words(row: list[Item]) -> list[tuple[str, float, list[float] | None]]:
    """A row's words (a RapidOCR line is split at spaces; each part keeps the line's confidence and its
    characters' own)."""
    out = []
    for it in row:
        for text, conf, chars in it.words:
            for m in re.finditer(r"\S+", text):
                out.append((m.group(), conf, chars[m.start():m.end()] if chars else None))
    return out


def read_nik(rows: list[list[Item]]) -> tuple[str | None, float, float, str]:
    """(nik or None, confidence, weakest-character confidence, how): the run after the NIK label; else a
    lone 16-digit run."""
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
            digits, conf, char_conf = got
            if len(digits) != 16:
                return None, 0.0, 0.0, f"label, {len(digits)} digits"
            return digits, conf, char_conf, "label"
    for row in rows:
        got = _digit_run(_words(row), min_real=14)
        if got and len(got[0]) == 16:
            return got[0], got[1], got[2], "no label"
        if got:
            return None, 0.0, 0.0, f"no label, {len(got[0])} digits"
    return None, 0.0, 0.0, "none"


def _value_after(rows: list[list[Item]], label: re.Pattern) -> str | None:
    for row in rows:
        text = " ".join(it.text for it in row)
        m = label.search(text)
        if m:
            return text[m.end():]
    return None


def read_name(rows: list[list[Item]]) -> str | None:
    value = _value_after(rows, re.compile(r"\bNa[mn]a\b", re.IGNORECASE))
    if value is None:
        return None
    value = re.sub(r"[^A-Za-z' ]", " ", value)
    return " ".join(value.upper().split()) or None


def read_birth_date(rows: list[list[Item]]) -> str | None:
    value = _value_after(rows, re.compile(r"Lahir", re.IGNORECASE))
    m = DATE.search(value or "")
    if not m:
        return None
    return "-".join("".join(DIGITLIKE.get(ch, ch) for ch in g) for g in m.groups())


# -- the run --------------------------------------------------------------------------------------------
@dataclass
class Photo:
    seed: int
    level: str
    card: Card
    content: bytes
    width: int
    height: int
    sharpness: float
    accepted: bool  # would handlers.media accept it (size and sharpness)?


@dataclass
class Reading:
    nik: str | None
    conf: float
    char_conf: float
    how: str
    name: str | None
    birth_date: str | None
    seconds: float
    cpu_seconds: float


def make_set(per_level: int, save: str | None) -> list[Photo]:
    photos = []
    for level in LEVELS:
        for seed in range(per_level):
            card_img, card = render_card(seed + 1000 * LEVELS.index(level))
            photo = photograph(card_img, level, random.Random(f"{level}-{seed}"))
            content = sent_bytes(photo)
            _type, width, height, sharp = media.measure_image(content)
            accepted = min(width, height) >= media.MIN_SIDE and sharp >= media.SHARPNESS_THRESHOLD
            photos.append(Photo(seed, level, card, content, width, height, sharp, accepted))
            if save:
                Path(save).mkdir(parents=True, exist_ok=True)
                (Path(save) / f"{level}-{seed:03d}-{card.nik}.jpg").write_bytes(content)
    return photos


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def read_one(engine, content: bytes) -> Reading:
    cpu0, child0, t0 = time.process_time(), child_cpu(), time.perf_counter()
    items = engine.read(content)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0 + child_cpu() - child0
    rows = _rows(items)
    nik, conf, char_conf, how = read_nik(rows)
    return Reading(nik, conf, char_conf, how, read_name(rows), read_birth_date(rows), seconds, cpu)


def run_engines(engines: list, photos: list[Photo]) -> dict[str, list[Reading]]:
    """Every photo through every engine in turn (the order rotating), so that other load on the machine
    falls on all engines alike."""
    readings: dict[str, list[Reading]] = {e.name: [] for e in engines}
    for i, photo in enumerate(photos):
        for engine in engines[i % len(engines):] + engines[:i % len(engines)]:
            readings[engine.name].append(read_one(engine, photo.content))
        if (i + 1) % 20 == 0:
            print(f"  {i + 1}/{len(photos)} photos read", flush=True)
    return readings


# Province codes in use (Kemendagri), for the plausibility check of a NIK read.
PROVINCE_CODES = {"11", "12", "13", "14", "15", "16", "17", "18", "19", "21", "31", "32", "33", "34", "35", "36", "51",
                  "52", "53", "61", "62", "63", "64", "65", "71", "72", "73", "74", "75", "76", "81", "82", "91", "92",
                  "94", "95", "96", "97"}


def plausible(nik: str) -> bool:
    """A NIK's own structure: a province in use, regency and district not 00, a real date (day + 40 for
    women), serial not 0000. Costs nothing and needs no registry."""
    day, month, year = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    try:
        dt.date(2000 + year, month, day - 40 if day > 40 else day)
    except ValueError:
        return False
    return nik[:2] in PROVINCE_CODES and nik[2:4] != "00" and nik[4:6] != "00" and nik[12:] != "0000"


def dob_consistent(nik: str, birth_date: str | None) -> bool:
    """The NIK's DDMMYY agrees with the date of birth read off the same card (women: day + 40)."""
    if not birth_date:
        return False
    day, month, year = birth_date.split("-")
    return nik[8:12] == month + year[2:] and int(nik[6:8]) in (int(day), int(day) + 40)


CHECKS = {"gate": lambda r: True, "gate+plausible": lambda r: plausible(r.nik),
          "gate+dob": lambda r: dob_consistent(r.nik, r.birth_date)}


def rates(pairs: list[tuple[Photo, Reading]], gate: float, check: str = "gate", by_char: bool = False) -> dict:
    n = len(pairs)
    taken = [(p, r) for p, r in pairs if r.nik and (r.char_conf if by_char else r.conf) >= gate and CHECKS[check](r)]
    match = sum(1 for p, r in taken if r.nik == p.card.nik)
    wrong = len(taken) - match
    return {"gate": gate, "n": n, "exact": match / n if n else None, "false_mismatch": wrong / n if n else None,
            "no_read": (n - match - wrong) / n if n else None, "false_mismatches": wrong}


def summarize(engine_name: str, photos: list[Photo], readings: list[Reading]) -> dict:
    out = {}
    for level in LEVELS + ["all"]:
        pairs = [(p, r) for p, r in zip(photos, readings)
                 if p.level == level or (level == "all" and p.level != "stress")]
        accepted = [(p, r) for p, r in pairs if p.accepted]
        secs = [r.seconds for _, r in pairs]
        cpus = [r.cpu_seconds for _, r in pairs]
        wrong = [{"printed": p.card.nik, "read": r.nik, "conf": round(r.conf, 3), "char_conf": round(r.char_conf, 3),
                  "plausible": plausible(r.nik), "dob_consistent": dob_consistent(r.nik, r.birth_date),
                  "font": p.card.nik_font,
                  "seed": p.seed, "level": p.level} for p, r in pairs if r.nik and r.nik != p.card.nik]
        out[level] = {
            "images": len(pairs),
            "accepted_by_photo_check": len(accepted),
            "by_gate": [rates(pairs, g) for g in GATES],
            "by_char_gate": [rates(pairs, g, by_char=True) for g in GATES],
            "by_gate_plausible": [rates(pairs, g, "gate+plausible") for g in GATES],
            "by_gate_dob_consistent": [rates(pairs, g, "gate+dob") for g in GATES],
            "accepted_by_gate": [rates(accepted, g) for g in GATES],
            "accepted_by_char_gate": [rates(accepted, g, by_char=True) for g in GATES],
            "name_exact": sum(r.name == p.card.name for p, r in pairs) / len(pairs),
            "name_exact_ignoring_spaces": sum((r.name or "").replace(" ", "") == p.card.name.replace(" ", "")
                                              for p, r in pairs) / len(pairs),
            "birth_date_exact": sum(r.birth_date == p.card.birth_date for p, r in pairs) / len(pairs),
            "nik_found_via": {how: sum(r.how == how for _, r in pairs) for how in sorted({r.how for _, r in pairs})},
            "seconds": {"median": statistics.median(secs), "p95": pct(secs, 95), "max": max(secs)},
            "cpu_seconds": {"median": statistics.median(cpus), "p95": pct(cpus, 95)},
            "wrong_reads": wrong,
            "by_nik_font": {font: [rates([(p, r) for p, r in pairs if p.card.nik_font == font], g) for g in GATES]
                            for font in sorted({p.card.nik_font for p, _ in pairs})},
        }
    return out


def child_peak_rss_mib(cmd: list[str], content: bytes) -> float:
    """Peak RSS (VmHWM) of one engine process, polled from /proc while it runs (getrusage's children
    figure is useless here: a forked child starts with the parent's pages counted)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = Path(f"/proc/{proc.pid}/status")
    peak = 0.0
    proc.stdin.write(content)
    proc.stdin.close()
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    return peak


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dist_size(name: str) -> tuple[int, list[str]]:
    """Bytes on disk of an installed distribution and its dependencies (recursively)."""
    from importlib.metadata import PackageNotFoundError, distribution
    seen, todo, total = set(), [name], 0
    while todo:
        key = re.split(r"[ ;<>=!\[(~]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if key in seen:
            continue
        try:
            d = distribution(key)
        except PackageNotFoundError:
            continue
        seen.add(key)
        for f in d.files or []:
            try:
                total += d.locate_file(f).stat().st_size
            except OSError:
                pass
        todo += [r for r in d.requires or [] if "extra ==" not in r]
    return total, sorted(seen)


def debian_size(packages: list[str]) -> dict:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version} ${Installed-Size}\n", *packages],
                         capture_output=True, text=True, check=False).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return {"packages": {r[0]: {"version": r[1], "installed_kib": int(r[2])} for r in rows},
            "total_mib": sum(int(r[2]) for r in rows) / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-level", type=int, default=60, help="photos per degradation level")
    parser.add_argument("--engines", default="tesseract,rapidocr",
                        help="comma-separated: tesseract (ind, psm 3), tesseract-psm11, tesseract-psm6, rapidocr")
    parser.add_argument("--max-side", type=int, default=0,
                        help="scale photos down to this long side (JPEG q95) before OCR; 0: as sent")
    parser.add_argument("--save", help="also write the generated photos (JPEG) to this folder")
    parser.add_argument("--json")
    args = parser.parse_args()
    started = time.monotonic()
    load_start = os.getloadavg()
    photos = make_set(args.per_level, args.save)
    print(f"{len(photos)} photos ({args.per_level} per level: {', '.join(LEVELS)}), generated in "
          f"{time.monotonic() - started:.0f} s; NIK fonts {available(NIK_FONTS)}, body fonts {available(BODY_FONTS)}")
    for level in LEVELS:
        ps = [p for p in photos if p.level == level]
        sides = [max(p.width, p.height) for p in ps]
        print(f"  {level:12s} long side {min(sides)}-{max(sides)}"
              f" px, JPEG {statistics.median(len(p.content) for p in ps) / 1024:.0f} KiB median, accepted by the "
              f"photo check (size, sharpness >= {media.SHARPNESS_THRESHOLD:g}): "
              f"{sum(p.accepted for p in ps)}/{len(ps)}")
    if args.max_side:
        for photo in photos:
            img = Image.open(io.BytesIO(photo.content))
            if max(img.size) > args.max_side:
                img.thumbnail((args.max_side, args.max_side), Image.Resampling.LANCZOS)
                buf = io.BytesIO()
                img.save(buf, "JPEG", quality=95)
                photo.content = buf.getvalue()
        print(f"photos scaled down to a long side of at most {args.max_side} px before OCR")
    peak_before_engines = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results, footprint, per_image = {}, {}, {}
    engines = []
    for name in args.engines.split(","):
        rss0 = rss_mib()
        t0 = time.perf_counter()
        if name.startswith("tesseract"):
            engine = Tesseract(psm=int(name.split("psm")[1]) if "psm" in name else 3)
        elif name == "rapidocr":
            engine = Rapid()
        else:
            raise SystemExit(f"unknown engine {name}")
        init = time.perf_counter() - t0
        engine.read(photos[0].content)  # warm-up (first ONNX run; page cache for tesseract's model)
        footprint[engine.name] = {"version": engine.version(), "init_seconds": init}
        if name == "rapidocr":
            footprint[engine.name].update({"rss_before_init_mib": rss0, "rss_after_init_and_one_read_mib": rss_mib()})
        engines.append(engine)
    readings = run_engines(engines, photos)
    tesseract_peak = None
    if any(isinstance(e, Tesseract) for e in engines):
        largest = sorted(photos, key=lambda p: p.width * p.height)[-3:]
        tesseract_peak = max(child_peak_rss_mib(next(e for e in engines if isinstance(e, Tesseract)).cmd, p.content)
                             for p in largest)
    for engine in engines:
        if engine.name == "rapidocr":
            size, dists = dist_size("rapidocr-onnxruntime")
            models = Path(sys.modules["rapidocr_onnxruntime"].__file__).parent / "models"
            footprint[engine.name].update({
                "rss_after_run_mib": rss_mib(),
                "process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "process_peak_rss_before_engines_mib": peak_before_engines,
                "wheels_on_disk_mib": size / 2**20, "distributions": dists,
                "models_mib": sum(f.stat().st_size for f in models.glob("*.onnx")) / 2**20})
        else:
            footprint[engine.name].update({
                "child_peak_rss_mib": tesseract_peak,
                "debian": debian_size(["tesseract-ocr", "libtesseract5", "liblept5", "tesseract-ocr-ind",
                                       "tesseract-ocr-eng", "tesseract-ocr-osd"]),
                "models_mib": sum(f.stat().st_size for f in
                                  Path("/usr/share/tesseract-ocr/5/tessdata").glob("*.traineddata")) / 2**20})
        got = readings[engine.name]
        results[engine.name] = summarize(engine.name, photos, got)
        per_image[engine.name] = [{"nik": r.nik, "conf": round(r.conf, 4), "char_conf": round(r.char_conf, 4),
                                   "how": r.how, "name": r.name,
                                   "birth_date": r.birth_date, "seconds": round(r.seconds, 3),
                                   "cpu_seconds": round(r.cpu_seconds, 3)} for r in got]
        print(f"\n== {engine.name}  ({footprint[engine.name]['version']})")
        rows = []
        for level in LEVELS + ["all"]:
            r = results[engine.name][level]
            for g in r["by_gate"]:
                if g["gate"] in (0.0, 0.8, 0.9):
                    rows.append([level, g["gate"], f"{100 * g['exact']:.1f} %", f"{100 * g['false_mismatch']:.1f} %",
                                 f"{100 * g['no_read']:.1f} %",
                                 f"{100 * r['name_exact']:.0f} / {100 * r['name_exact_ignoring_spaces']:.0f} %",
                                 f"{100 * r['birth_date_exact']:.0f} %", f"{r['seconds']['median']:.2f}",
                                 f"{r['seconds']['p95']:.2f}", f"{r['cpu_seconds']['median']:.2f}"])
        print(table(["level", "gate", "NIK exact", "false mismatch", "no read", "name (/ no spaces)", "birth date",
                     "s median", "s p95", "CPU s median"], rows))
        for level in LEVELS:
            for w in results[engine.name][level]["wrong_reads"]:
                print(f"  wrong read ({level}, {w['font']}): printed {w['printed']} read {w['read']} conf {w['conf']}"
                      f" char {w['char_conf']} plausible {w['plausible']} dob-consistent {w['dob_consistent']}")
        if isinstance(engine, Rapid):
            rows = []
            for level in LEVELS + ["all"]:
                for g in results[engine.name][level]["by_char_gate"]:
                    if g["gate"] in (0.8, 0.9, 0.95, 0.98):
                        rows.append([level, g["gate"], f"{100 * g['exact']:.1f} %",
                                     f"{100 * g['false_mismatch']:.1f} %", f"{100 * g['no_read']:.1f} %"])
            print("gated on the weakest digit's probability instead of the line score:")
            print(table(["level", "char gate", "NIK exact", "false mismatch", "no read"], rows))
        print("by NIK font (clean + mild + cheap-phone), no gate:")
        print(table(["font", "n", "NIK exact", "false mismatch", "no read"],
                    [[font, r[0]["n"], f"{100 * r[0]['exact']:.1f} %", f"{100 * r[0]['false_mismatch']:.1f} %",
                      f"{100 * r[0]['no_read']:.1f} %"]
                     for font, r in results[engine.name]["all"]["by_nik_font"].items()]))
    load_end = os.getloadavg()
    print(f"\nload average at start {load_start[0]:.2f}, at end {load_end[0]:.2f} (other work on the machine counts)")
    print(f"elapsed: {time.monotonic() - started:.0f} s")
    write_json(args.json, {
        "meta": meta(), "args": vars(args), "levels": LEVELS, "gates": GATES,
        "loadavg_start": load_start, "loadavg_end": load_end, "footprint": footprint,
        "photos": [{"level": p.level, "seed": p.seed, "nik": p.card.nik, "nik_font": p.card.nik_font,
                    "body_font": p.card.body_font, "width": p.width, "height": p.height, "bytes": len(p.content),
                    "sharpness": round(p.sharpness, 1), "accepted": p.accepted} for p in photos],
        "results": results, "readings": per_image})
    return 0


if __name__ == "__main__":
    sys.exit(main())
