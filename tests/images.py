"""Synthetic document photos for tests: a card-like layout with many 'text' strokes."""
from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont


def document_photo(width: int = 1200, height: int = 800, seed: int = 1, blur: float = 0.0, fmt: str = "JPEG") -> bytes:
    rnd = random.Random(seed)
    image = Image.new("RGB", (width, height), (236, 240, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, width - 20, height - 20), outline=(30, 60, 120), width=6)
    y = 80
    while y < height - 60:
        x = 60
        while x < width - 120:
            word = rnd.randint(20, 90)
            draw.rectangle((x, y, x + word, y + 14), fill=(20, 20, 20))
            for gap in range(x + 4, x + word, 9):  # letter gaps make it look (and score) like print
                draw.line((gap, y, gap, y + 14), fill=(236, 240, 245), width=2)
            x += word + rnd.randint(10, 20)
        y += 38
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    out = io.BytesIO()
    image.save(out, fmt, quality=85) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu (Debian's fonts-dejavu-core) where installed, else Pillow's own scalable font."""
    path = Path("/usr/share/fonts/truetype/dejavu") / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size)


def ktp_photo(nik: str, name: str = "BUDI SANTOSO", birth: str = "BANDUNG, 12-04-1978", width: int = 1400,
              seed: int = 1, quality: int = 88) -> bytes:
    """A KTP-like card (not a real one: the layout only) with ``nik`` printed on its NIK line, photographed
    square-on: sharp enough for handlers.media and plain enough for OCR to read the NIK with confidence."""
    rnd = random.Random(seed)
    height = round(width * 0.63)
    image = Image.new("RGB", (width, height), (214, 228, 240))
    draw = ImageDraw.Draw(image)
    for k in range(12):  # a faint pattern, as the security print
        y0 = rnd.uniform(0, height)
        draw.line([(x, y0 + 12 * ((x // 40) % 2)) for x in range(0, width + 40, 40)], fill=(200, 216, 232), width=1)
    ink, unit = (25, 25, 35), height / 100
    draw.text((width / 2, 4 * unit), "PROVINSI JAWA BARAT", fill=ink, font=_font(round(5 * unit), True), anchor="mt")
    draw.text((width / 2, 10.5 * unit), "KOTA BANDUNG", fill=ink, font=_font(round(5 * unit), True), anchor="mt")
    label, value = 0.04 * width, 0.26 * width
    draw.text((label, 21 * unit), "NIK", fill=ink, font=_font(round(6 * unit), True), anchor="lm")
    draw.text((value - 0.025 * width, 21 * unit), ":", fill=ink, font=_font(round(6 * unit), True), anchor="lm")
    draw.text((value, 21 * unit), nik, fill=ink, font=_font(round(6.5 * unit), True), anchor="lm")
    body = _font(round(4 * unit))
    rows = [("Nama", name), ("Tempat/Tgl Lahir", birth), ("Jenis Kelamin", "LAKI-LAKI"),
            ("Alamat", "JL. MERDEKA NO. 10"), ("Agama", "ISLAM"), ("Pekerjaan", "WIRASWASTA"),
            ("Kewarganegaraan", "WNI"), ("Berlaku Hingga", "SEUMUR HIDUP")]
    for i, (name_, text) in enumerate(rows):
        y = (31 + 7 * i) * unit
        draw.text((label, y), name_, fill=ink, font=body, anchor="lm")
        draw.text((value - 0.025 * width, y), ":", fill=ink, font=body, anchor="lm")
        draw.text((value, y), text, fill=ink, font=body, anchor="lm")
    draw.rectangle((0.74 * width, 20 * unit, 0.95 * width, 75 * unit), fill=(190, 45, 50))
    draw.ellipse((0.79 * width, 28 * unit, 0.9 * width, 52 * unit), fill=(205, 160, 125))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def kk_photo(number: str, members: list[tuple[str, str]], width: int = 1600) -> bytes:
    """A Kartu Keluarga-like table (not a real one: the layout only): its number, then a row per member
    (name, NIK)."""
    height = round(width * 0.6)
    image = Image.new("RGB", (width, height), (246, 246, 240))
    draw = ImageDraw.Draw(image)
    ink, unit = (20, 20, 30), height / 100
    draw.text((width / 2, 5 * unit), "KARTU KELUARGA", fill=ink, font=_font(round(6 * unit), True), anchor="mt")
    draw.text((width / 2, 14 * unit), f"No. {number}", fill=ink, font=_font(round(4.5 * unit), True), anchor="mt")
    body, top = _font(round(3.4 * unit)), 28 * unit
    columns = [(0.03, "No"), (0.09, "Nama Lengkap"), (0.45, "NIK"), (0.75, "Jenis Kelamin")]
    for x, title in columns:
        draw.text((x * width, top), title, fill=ink, font=_font(round(3.4 * unit), True), anchor="lm")
    draw.line((0.02 * width, top + 4 * unit, 0.98 * width, top + 4 * unit), fill=ink, width=2)
    for i, (name, nik) in enumerate(members, start=1):
        y = top + (4 + 8 * i) * unit
        for x, text in zip((c[0] for c in columns), (str(i), name, nik, "LAKI-LAKI" if int(nik[6:8]) < 40 else "PEREMPUAN")):
            draw.text((x * width, y), text, fill=ink, font=body, anchor="lm")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()
