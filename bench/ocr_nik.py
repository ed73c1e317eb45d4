"""OCR benchmark (issue 17): how well does the NIK reader that ships (handlers.ocr) read the 16-digit NIK off
a KTP photo, and what does a KK photo cost it?

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

And --kk KK-like photos (bench/blur_threshold.render's kk_table: a title with a 16-digit number over an 8 x 14
grid of small print, 1600 x 1200, photographed again by photo_reuse.rephotographed): how long one takes
and how many text boxes it has, against the chat's OCR_TIMEOUT (the product reads only KTPs in the chat).

What is measured is the product's own code: every photo goes through handlers.ocr.Reader.read (decode, EXIF
orientation, scaled to ocr.MAX_SIDE, the one background thread, read_fields with the NIK_GATE), RapidOCR
as the product loads it (its decoder hook giving each character's probability). Tesseract, the comparison
engine, sits behind the same Reader (a subclass whose ``items`` runs Debian's tesseract CLI, -l ind, on the
same scaled image as PNG, and returns handlers.ocr.Item lists); it gives no per-character confidences, so a
word's confidence stands for its characters (what handlers.ocr._digit_run does when chars are None). To
score other gates than the one that ships, the bench keeps the boxes of each read and runs
handlers.ocr.read_nik on handlers.ocr.text_rows of them (ungated); for RapidOCR also with the characters'
probabilities left out, i.e. gated on the line score (the mean of its characters'), as a comparison.

Every engine reads the same JPEG bytes, photo by photo in turn (the order rotating), so that other load on
the machine falls on all of them alike. Reported per engine and level: NIK exact-match rate, false-mismatch
rate (a confident NIK that is not the printed one: the bot would put a wrong number to the citizen), no-read
rate, at the gate that ships and at other gates; the same for the photos handlers.media would accept
(short side >= MIN_SIDE and sharpness >= SHARPNESS_THRESHOLD); name and date of birth exact-match rates;
wall and CPU seconds per image (median, p95; Tesseract: the child process's CPU included); the share of
reads longer than the chat's OCR_TIMEOUT; the engine's memory and disk footprint; and a probe of the
deadline behaviour (a read abandoned at its deadline, then the next read).

Run with the app's venv (rapidocr-onnxruntime is an app dependency); Tesseract is for the bench only:

    apt-get install -y tesseract-ocr tesseract-ocr-ind fonts-ocr-a fonts-liberation
    .venv/bin/python bench/ocr_nik.py [--per-level 60] [--kk 20] [--engines tesseract,rapidocr]
        [--save DIR] [--json PATH]

Image.effect_noise (in lighting_and_noise) is not seeded by the bench: the noise differs between runs (the
rest of each photo does not).
"""
from __future__ import annotations

import argparse
import dataclasses
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
from blur_threshold import lighting_and_noise, render  # noqa: E402
from photo_reuse import jpeg, rephotographed  # noqa: E402

from bot.settings import Settings  # noqa: E402
from handlers import media, ocr  # noqa: E402

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



# -- the readers: handlers.ocr.Reader as it ships, and Tesseract behind the same Reader -------------------
# The chat's budget for one photo (bot.settings: OCR_TIMEOUT; the message's deadline may leave less).
CHAT_TIMEOUT = {f.name: f.default for f in dataclasses.fields(Settings)}["ocr_timeout"]


class Rapid(ocr.Reader):
    """handlers.ocr.Reader unchanged (RapidOCR with the decoder hook, the thread, the scaling, read_fields);
    the bench only keeps the boxes of the last read, to score them at other gates."""

    name = "rapidocr"

    def __init__(self):
        super().__init__()
        self.last: list[ocr.Item] = []

    def items(self, image: Image.Image) -> list[ocr.Item]:
        self.last = super().items(image)
        return self.last

    def version(self) -> str:
        from importlib.metadata import version
        return f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')}, onnxruntime {version('onnxruntime')}"


class Tesseract(ocr.Reader):
    """Debian's tesseract CLI in place of RapidOCR behind the product's Reader (same decode, scaling, thread
    and read_fields): one process per photo, as pytesseract does, the scaled image as PNG on stdin, tsv out.
    Its words carry no per-character confidences (chars None)."""

    def __init__(self, lang: str = "ind", psm: int = 3):
        super().__init__()
        self.name = f"tesseract-{lang}-psm{psm}"
        self.cmd = ["tesseract", "stdin", "stdout", "-l", lang, "--psm", str(psm), "tsv"]
        self.last: list[ocr.Item] = []
        self.last_png = b""

    def version(self) -> str:
        out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=False).stdout
        return out.splitlines()[0]

    def items(self, image: Image.Image) -> list[ocr.Item]:
        buf = io.BytesIO()
        image.save(buf, "PNG")
        self.last_png = buf.getvalue()
        out = subprocess.run(self.cmd, input=self.last_png, capture_output=True, check=True, timeout=300).stdout
        lines: dict[tuple, list] = {}
        for row in out.decode("utf-8", "replace").splitlines()[1:]:
            cols = row.split("\t")
            if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
                continue
            left, top, width, height, conf = (float(c) for c in cols[6:11])
            lines.setdefault(tuple(cols[1:5]), []).append((cols[11], max(0.0, conf) / 100, left, top, width, height))
        found = []
        for words in lines.values():  # the quad follows the line's slope: first word's left, last word's right
            first, last = words[0], words[-1]
            quad = [(first[2], first[3]), (last[2] + last[4], last[3]), (last[2] + last[4], last[3] + last[5]),
                    (first[2], first[3] + first[5])]
            found.append(ocr.Item([(w[0], w[1], None) for w in words], quad))
        self.last = found
        return found


# -- the run --------------------------------------------------------------------------------------------
@dataclass
class Photo:
    seed: int
    level: str
    card: Card | None  # None: a KK-like photo
    content: bytes
    width: int
    height: int
    sharpness: float
    accepted: bool  # would handlers.media accept it (size and sharpness)?
    number: str | None = None  # a KK-like photo's 16-digit number


@dataclass
class Read:
    status: str              # handlers.ocr.Reading.status, as the product decides it
    shipped_nik: str | None  # Reading.nik: the NIK the product would use (confident reads only)
    nik: str | None          # handlers.ocr.read_nik on the boxes, before the gate
    conf: float              # its confidence: the weakest digit's (Tesseract: the weakest word's)
    line_conf: float         # RapidOCR: the same NIK's confidence from the line scores alone (else = conf)
    how: str
    niks: list[str]          # Reading.niks: every confident 16-digit number on the photo
    name: str | None
    birth_date: str | None
    boxes: int
    seconds: float           # Reading.seconds: from the hand-over to the Reader's thread to the fields
    cpu_seconds: float


def measured(content: bytes) -> tuple[int, int, float, bool]:
    _type, width, height, sharp = media.measure_image(content)
    return width, height, sharp, min(width, height) >= media.MIN_SIDE and sharp >= media.SHARPNESS_THRESHOLD


def make_set(per_level: int, kk: int, save: str | None) -> list[Photo]:
    photos = []
    for level in LEVELS:
        for seed in range(per_level):
            card_img, card = render_card(seed + 1000 * LEVELS.index(level))
            photo = photograph(card_img, level, random.Random(f"{level}-{seed}"))
            content = sent_bytes(photo)
            photos.append(Photo(seed, level, card, content, *measured(content)))
            if save:
                Path(save).mkdir(parents=True, exist_ok=True)
                (Path(save) / f"{level}-{seed:03d}-{card.nik}.jpg").write_bytes(content)
    for seed in range(kk):
        table_img = render("kk_table", 1600, 1200, seed)
        title = random.Random(f"kk_table-1600x1200-{seed}")  # render's own draws: the title's number comes first
        number = "".join(title.choice("0123456789") for _ in range(16))
        content = sent_bytes(rephotographed(table_img, random.Random(f"kk-{seed}")))
        photos.append(Photo(seed, "kk", None, content, *measured(content), number=number))
        if save:
            (Path(save) / f"kk-{seed:03d}.jpg").write_bytes(content)
    return photos


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def read_one(engine: ocr.Reader, content: bytes, timeout: float, kind: str) -> Read:
    engine.last = []
    cpu0, child0 = time.process_time(), child_cpu()
    reading = engine.read(content, timeout, kind)
    cpu = time.process_time() - cpu0 + child_cpu() - child0
    items = list(engine.last)
    nik, conf, how = ocr.read_nik(ocr.text_rows(items))
    line_conf = conf
    if isinstance(engine, Rapid):  # the same boxes without the characters' probabilities: the line score
        lines = [ocr.Item([(t, c, None) for t, c, _chars in it.words], it.quad) for it in items]
        line_nik, line, _how = ocr.read_nik(ocr.text_rows(lines))
        line_conf = line if line_nik == nik else 0.0
    return Read(reading.status, reading.nik, nik, conf, line_conf, how, list(reading.niks), reading.name,
                reading.birth_date, len(items), reading.seconds, cpu)


def interleaved(photos: list[Photo]) -> list[int]:
    """The reading order: the levels (and the KK-like photos) interleaved evenly, so that a change of load on
    the machine during the run falls on every level alike."""
    position: dict[str, int] = {}
    sizes = {level: sum(p.level == level for p in photos) for level in {p.level for p in photos}}
    keys = []
    for i, p in enumerate(photos):
        k = position[p.level] = position.get(p.level, -1) + 1
        keys.append(((k + 0.5) / sizes[p.level], i))
    return [i for _key, i in sorted(keys)]


def run_engines(engines: list, photos: list[Photo], timeout: float) -> dict[str, list[Read]]:
    """Every photo through every engine in turn (the order rotating), so that other load on the machine
    falls on all engines alike; the photos in an interleaved order (the results in the photos' order)."""
    readings: dict[str, list[Read | None]] = {e.name: [None] * len(photos) for e in engines}
    for n, i in enumerate(interleaved(photos)):
        photo = photos[i]
        for engine in engines[n % len(engines):] + engines[:n % len(engines)]:
            kind = "kk" if photo.level == "kk" else "ktp"
            readings[engine.name][i] = read_one(engine, photo.content, timeout, kind)
        if (n + 1) % 20 == 0:
            print(f"  {n + 1}/{len(photos)} photos read", flush=True)
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


def rates(pairs: list[tuple[Photo, Read]], gate: float, by_line: bool = False) -> dict:
    n = len(pairs)
    taken = [(p, r) for p, r in pairs if r.nik and (r.line_conf if by_line else r.conf) >= gate]
    match = sum(1 for p, r in taken if r.nik == p.card.nik)
    wrong = len(taken) - match
    return {"gate": gate, "n": n, "exact": match / n if n else None, "false_mismatch": wrong / n if n else None,
            "no_read": (n - match - wrong) / n if n else None, "false_mismatches": wrong}


def shipped(pairs: list[tuple[Photo, Read]]) -> dict:
    """What the product decides: Reading.status == read and Reading.nik."""
    n = len(pairs)
    read = [(p, r) for p, r in pairs if r.status == ocr.READ]
    match = sum(1 for p, r in read if r.shipped_nik == p.card.nik)
    wrong = len(read) - match
    return {"gate": ocr.NIK_GATE, "n": n, "exact": match / n if n else None,
            "false_mismatch": wrong / n if n else None, "no_read": (n - len(read)) / n if n else None,
            "false_mismatches": wrong,
            "statuses": {s: sum(r.status == s for _, r in pairs) for s in sorted({r.status for _, r in pairs})}}


def seconds_summary(reads: list[Read]) -> dict:
    secs, cpus = [r.seconds for r in reads], [r.cpu_seconds for r in reads]
    return {"median": statistics.median(secs), "p95": pct(secs, 95), "max": max(secs),
            "cpu_median": statistics.median(cpus), "cpu_p95": pct(cpus, 95),
            "over_chat_timeout": sum(s > CHAT_TIMEOUT for s in secs) / len(secs)}


def summarize(photos: list[Photo], readings: list[Read]) -> dict:
    out = {}
    for level in LEVELS + ["all"]:
        pairs = [(p, r) for p, r in zip(photos, readings)
                 if p.level == level or (level == "all" and p.level in LEVELS and p.level != "stress")]
        accepted = [(p, r) for p, r in pairs if p.accepted]
        wrong = [{"printed": p.card.nik, "read": r.nik, "conf": round(r.conf, 3), "line_conf": round(r.line_conf, 3),
                  "plausible": plausible(r.nik), "dob_consistent": dob_consistent(r.nik, r.birth_date),
                  "font": p.card.nik_font, "seed": p.seed, "level": p.level} for p, r in pairs
                 if r.nik and r.nik != p.card.nik]
        out[level] = {
            "images": len(pairs),
            "accepted_by_photo_check": len(accepted),
            "shipped": shipped(pairs),
            "accepted_shipped": shipped(accepted),
            "by_gate": [rates(pairs, g) for g in GATES],
            "by_line_gate": [rates(pairs, g, by_line=True) for g in GATES],
            "accepted_by_gate": [rates(accepted, g) for g in GATES],
            "name_exact": sum(r.name == p.card.name for p, r in pairs) / len(pairs),
            "name_exact_ignoring_spaces": sum((r.name or "").replace(" ", "") == p.card.name.replace(" ", "")
                                              for p, r in pairs) / len(pairs),
            "birth_date_exact": sum(r.birth_date == p.card.birth_date for p, r in pairs) / len(pairs),
            "nik_found_via": {how: sum(r.how == how for _, r in pairs) for how in sorted({r.how for _, r in pairs})},
            "boxes_median": statistics.median(r.boxes for _, r in pairs),
            "seconds": seconds_summary([r for _, r in pairs]),
            "wrong_reads": wrong,
            "by_nik_font": {font: {"shipped": shipped([(p, r) for p, r in pairs if p.card.nik_font == font]),
                                   "no_gate": rates([(p, r) for p, r in pairs if p.card.nik_font == font], 0.0)}
                            for font in sorted({p.card.nik_font for p, _ in pairs})},
        }
    return out


def summarize_kk(photos: list[Photo], readings: list[Read]) -> dict | None:
    pairs = [(p, r) for p, r in zip(photos, readings) if p.level == "kk"]
    if not pairs:
        return None
    reads = [r for _, r in pairs]
    return {"images": len(pairs), "accepted_by_photo_check": sum(p.accepted for p, _ in pairs),
            "boxes": {"median": statistics.median(r.boxes for r in reads), "max": max(r.boxes for r in reads)},
            "seconds": seconds_summary(reads),
            "number_read_confidently": sum(p.number in r.niks for p, r in pairs) / len(pairs),
            "number_kept_as_nik": sum(r.shipped_nik == p.number for p, r in pairs) / len(pairs),
            "wrong_nik_kept": sum(bool(r.shipped_nik) and r.shipped_nik != p.number for p, r in pairs),
            "statuses": {s: sum(r.status == s for r in reads) for s in sorted({r.status for r in reads})}}


def deadline_probe(engine: Rapid, kk: bytes, ktp: bytes) -> dict:
    """The product's deadline behaviour, measured with Reader.read itself: a read not started (less than
    MIN_TIMEOUT left); the run's slowest KK read abandoned at a 1 s deadline; right after it a KTP read with
    1 s (it waits behind the abandoned read, which still holds the one OCR thread); then a KTP read with the
    chat's timeout, and another one."""
    out = {}
    for label, content, kind, timeout in (
            ("ktp, 0.5 s left: not started", ktp, "ktp", 0.5), ("kk, 1 s deadline", kk, "kk", 1.0),
            ("ktp right after, 1 s", ktp, "ktp", 1.0), (f"ktp right after, {CHAT_TIMEOUT:g} s", ktp, "ktp", CHAT_TIMEOUT),
            (f"ktp next, {CHAT_TIMEOUT:g} s", ktp, "ktp", CHAT_TIMEOUT)):
        reading = engine.read(content, timeout, kind)
        out[label] = {"status": reading.status, "seconds": round(reading.seconds, 2)}
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


def code_measured() -> dict:
    """The product code this run imported (others edit the tree while benches run): SHA-256 and mtime."""
    import hashlib
    out = {}
    for module in (ocr, media):
        path = Path(module.__file__)
        out[str(path.relative_to(Path(__file__).resolve().parent.parent))] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "mtime_utc": dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).isoformat(timespec="seconds")}
    return out


def pc(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-level", type=int, default=60, help="KTP photos per degradation level")
    parser.add_argument("--kk", type=int, default=20, help="KK-like photos (time per photo; 0: none)")
    parser.add_argument("--engines", default="tesseract,rapidocr",
                        help="comma-separated: tesseract (ind, psm 3), tesseract-psm11, tesseract-psm6, rapidocr")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="Reader.read's timeout in the bench (long: every read is let finish and timed)")
    parser.add_argument("--save", help="also write the generated photos (JPEG) to this folder")
    parser.add_argument("--json")
    args = parser.parse_args()
    started = time.monotonic()
    load_start = os.getloadavg()
    code = code_measured()
    photos = make_set(args.per_level, args.kk, args.save)
    print(f"{len(photos)} photos ({args.per_level} per level: {', '.join(LEVELS)}; {args.kk} KK-like), generated in "
          f"{time.monotonic() - started:.0f} s; NIK fonts {available(NIK_FONTS)}, body fonts {available(BODY_FONTS)}")
    for level in LEVELS + (["kk"] if args.kk else []):
        ps = [p for p in photos if p.level == level]
        sides = [max(p.width, p.height) for p in ps]
        print(f"  {level:12s} long side {min(sides)}-{max(sides)}"
              f" px, JPEG {statistics.median(len(p.content) for p in ps) / 1024:.0f} KiB median, accepted by the "
              f"photo check (size, sharpness >= {media.SHARPNESS_THRESHOLD:g}): "
              f"{sum(p.accepted for p in ps)}/{len(ps)}")
    print(f"every photo read through handlers.ocr.Reader.read (scaled to a long side of {ocr.MAX_SIDE} px, "
          f"NIK_GATE {ocr.NIK_GATE}); the chat's OCR_TIMEOUT is {CHAT_TIMEOUT:g} s")
    peak_before_engines = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results, footprint, per_image = {}, {}, {}
    engines = []
    for name in args.engines.split(","):
        rss0 = rss_mib()
        if name.startswith("tesseract"):
            engine = Tesseract(psm=int(name.split("psm")[1]) if "psm" in name else 3)
        elif name == "rapidocr":
            engine = Rapid()
        else:
            raise SystemExit(f"unknown engine {name}")
        first = engine.read(photos[0].content, args.timeout, "ktp")  # loads the engine (RapidOCR), warms it up
        footprint[engine.name] = {"version": engine.version(), "first_read_seconds": first.seconds}
        if name == "rapidocr":
            footprint[engine.name].update({"rss_before_load_mib": rss0, "rss_after_load_and_one_read_mib": rss_mib()})
        engines.append(engine)
    readings = run_engines(engines, photos, args.timeout)
    tesseract = next((e for e in engines if isinstance(e, Tesseract)), None)
    tesseract_peak = None
    if tesseract:
        peaks = []
        for p in sorted(photos, key=lambda p: p.width * p.height)[-3:]:
            tesseract.read(p.content, args.timeout)
            peaks.append(child_peak_rss_mib(tesseract.cmd, tesseract.last_png))
        tesseract_peak = max(peaks)
    probe = None
    rapid = next((e for e in engines if isinstance(e, Rapid)), None)
    kks = [p for p in photos if p.level == "kk"]
    if rapid and kks:
        slowest = max((r.seconds, i) for i, r in enumerate(readings[rapid.name]) if photos[i].level == "kk")[1]
        probe = deadline_probe(rapid, photos[slowest].content, next(p for p in photos if p.level == "clean").content)
    for engine in engines:
        if isinstance(engine, Rapid):
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
        ktp_photos = [p for p in photos if p.level != "kk"]
        ktp_reads = [r for p, r in zip(photos, got) if p.level != "kk"]
        # The product's decision and the ungated read agree (read_fields gates read_nik's result).
        disagree = sum((r.status == ocr.READ) != (r.nik is not None and r.conf >= ocr.NIK_GATE)
                       or (r.status == ocr.READ and r.shipped_nik != r.nik) for r in ktp_reads)
        results[engine.name] = summarize(ktp_photos, ktp_reads)
        results[engine.name]["kk"] = summarize_kk(photos, got)
        results[engine.name]["gate_check_disagreements"] = disagree
        per_image[engine.name] = [{"status": r.status, "nik": r.nik, "conf": round(r.conf, 4),
                                   "line_conf": round(r.line_conf, 4), "how": r.how, "name": r.name,
                                   "birth_date": r.birth_date, "niks": r.niks, "boxes": r.boxes,
                                   "seconds": round(r.seconds, 3), "cpu_seconds": round(r.cpu_seconds, 3)} for r in got]
        print(f"\n== {engine.name}  ({footprint[engine.name]['version']}); product decision vs ungated read "
              f"at the gate: {disagree} disagreements")
        rows = []
        for level in LEVELS + ["all"]:
            r = results[engine.name][level]
            cells = [(f"shipped ({ocr.NIK_GATE})", r["shipped"])] + [
                (g["gate"], g) for g in r["by_gate"] if g["gate"] in (0.0, 0.8)]
            for label, g in cells:
                rows.append([level, label, pc(g["exact"]), pc(g["false_mismatch"]), pc(g["no_read"]),
                             f"{100 * r['name_exact']:.0f} / {100 * r['name_exact_ignoring_spaces']:.0f} %",
                             f"{100 * r['birth_date_exact']:.0f} %", f"{r['seconds']['median']:.2f}",
                             f"{r['seconds']['p95']:.2f}", f"{r['seconds']['cpu_median']:.2f}"])
        print(table(["level", "gate", "NIK exact", "false mismatch", "no read", "name (/ no spaces)", "birth date",
                     "s median", "s p95", "CPU s median"], rows))
        a = results[engine.name]["all"]["accepted_shipped"]
        print(f"photos the photo check accepts ({a['n']}), as shipped: exact {pc(a['exact'])}, false mismatch "
              f"{pc(a['false_mismatch'])}, no read {pc(a['no_read'])}")
        for level in LEVELS:
            for w in results[engine.name][level]["wrong_reads"]:
                print(f"  wrong read ({level}, {w['font']}): printed {w['printed']} read {w['read']} conf {w['conf']}"
                      f" line {w['line_conf']} plausible {w['plausible']} dob-consistent {w['dob_consistent']}")
        if isinstance(engine, Rapid):
            rows = []
            for level in LEVELS + ["all"]:
                for g in results[engine.name][level]["by_line_gate"]:
                    if g["gate"] in (0.8, 0.9, 0.95):
                        rows.append([level, g["gate"], pc(g["exact"]), pc(g["false_mismatch"]), pc(g["no_read"])])
            print("for comparison, gated on the line score (mean of the characters') instead of the weakest digit:")
            print(table(["level", "line gate", "NIK exact", "false mismatch", "no read"], rows))
        print("by NIK font (clean + mild + cheap-phone), as shipped / no gate (exact, false mismatch):")
        print(table(["font", "n", "shipped exact", "shipped false mm", "no gate exact", "no gate false mm"],
                    [[font, r["shipped"]["n"], pc(r["shipped"]["exact"]), pc(r["shipped"]["false_mismatch"]),
                      pc(r["no_gate"]["exact"]), pc(r["no_gate"]["false_mismatch"])]
                     for font, r in results[engine.name]["all"]["by_nik_font"].items()]))
        kk = results[engine.name]["kk"]
        if kk:
            s = kk["seconds"]
            print(f"KK-like photos ({kk['images']}, {kk['accepted_by_photo_check']} accepted by the photo check): "
                  f"{kk['boxes']['median']:.0f} boxes median (KTP all three: "
                  f"{results[engine.name]['all']['boxes_median']:.0f}); s median {s['median']:.2f}, p95 {s['p95']:.2f},"
                  f" max {s['max']:.2f}; CPU s median {s['cpu_median']:.2f}; longer than the chat's {CHAT_TIMEOUT:g} s:"
                  f" {pc(s['over_chat_timeout'])} (KTP all three: {pc(results[engine.name]['all']['seconds']['over_chat_timeout'])});"
                  f" its 16-digit number read confidently: {pc(kk['number_read_confidently'])}, kept as the"
                  f" KK's nik (kind kk): {pc(kk['number_kept_as_nik'])}, a wrong one kept: {kk['wrong_nik_kept']}")
    if probe:
        print("\ndeadline probe (handlers.ocr.Reader.read, one OCR thread):")
        for label, r in probe.items():
            print(f"  {label:28s} {r['status']:9s} {r['seconds']:.2f} s")
    load_end = os.getloadavg()
    print(f"\nload average at start {load_start[0]:.2f}, at end {load_end[0]:.2f} (other work on the machine counts)")
    print(f"elapsed: {time.monotonic() - started:.0f} s")
    write_json(args.json, {
        "meta": meta(), "code_measured": code, "args": vars(args), "levels": LEVELS, "gates": GATES,
        "nik_gate": ocr.NIK_GATE,
        "max_side": ocr.MAX_SIDE, "chat_timeout": CHAT_TIMEOUT,
        "loadavg_start": load_start, "loadavg_end": load_end, "footprint": footprint, "deadline_probe": probe,
        "photos": [{"level": p.level, "seed": p.seed, "nik": p.card.nik if p.card else None,
                    "number": p.number, "nik_font": p.card.nik_font if p.card else None,
                    "body_font": p.card.body_font if p.card else None, "width": p.width, "height": p.height,
                    "bytes": len(p.content), "sharpness": round(p.sharpness, 1), "accepted": p.accepted}
                   for p in photos],
        "results": results, "readings": per_image})
    return 0


if __name__ == "__main__":
    sys.exit(main())
