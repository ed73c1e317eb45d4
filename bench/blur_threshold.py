"""Tune handlers.media.SHARPNESS_THRESHOLD by measurement on synthetic document photos.

Draws document-like scenes with Pillow (a KTP-like card filling the frame, a KIS-like card lying on
a table, a typed letter, a KK-like table with small print), at several resolutions, with uneven
lighting and sensor noise; then makes blurred versions (GaussianBlur radius 0.5..6 and a motion-like
blur, both expressed at the 1024 px scale the score is measured at and scaled to each resolution),
encodes each as JPEG at several qualities and scores it through the production path
(handlers.media.measure_image, which check() uses; the score is handlers.media.sharpness).
Prints score ranges per group, the separation between sharp photos at JPEG quality >= 60 and
GaussianBlur radius >= 3, and the threshold chosen (geometric mean of the two edges, rounded down
to 2 significant digits).

    .venv/bin/python bench/blur_threshold.py [--seeds 2] [--quick]
"""
from __future__ import annotations

import argparse
import io
import math
import random
import statistics
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont  # noqa: E402

from handlers import media  # noqa: E402

RESOLUTIONS = [(800, 600), (1024, 768), (1280, 960), (1200, 1600), (1600, 1200), (2048, 1536), (3264, 2448)]
QUALITIES = [30, 45, 60, 75, 90]
GAUSS = [0.5, 0.75, 1, 2, 3, 4, 5, 6]
MOTION = [5, 9, 15]  # length in pixels at 1024 px
LAYOUTS = ["ktp", "card_on_table", "letter", "kk_table"]
# Residual sensor noise after a phone's own denoising (std dev, 8-bit levels, at the photo's own
# resolution); STRESS_SIGMA is a dim-room photo without denoising, reported apart (not tuned on).
NOISE_SIGMA = (1.0, 4.0)
STRESS_SIGMA = 8.0


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(8, size))


def _words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice(string.ascii_uppercase + string.ascii_lowercase)
                            for _ in range(rng.randint(2, 9))) for _ in range(n))


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _card(draw, rng, box, u, header_fill):
    """A KTP/KIS-like card: coloured header, label/value lines, a photo box, a signature scrawl."""
    x0, y0, x1, y1 = box
    draw.rounded_rectangle(box, radius=int(3 * u), fill=(196, 222, 236), outline=(90, 110, 130),
                           width=max(1, int(u / 3)))
    draw.rectangle((x0, y0, x1, y0 + 9 * u), fill=header_fill)
    draw.text((x0 + 4 * u, y0 + 2 * u), "PROVINSI " + _words(rng, 2).upper(), fill="white", font=_font(int(4.5 * u)))
    line_font = _font(int(3.6 * u))
    y = y0 + 13 * u
    draw.text((x0 + 4 * u, y), "NIK : " + _digits(rng, 16), fill=(20, 20, 20), font=_font(int(5 * u)))
    y += 8 * u
    while y < y1 - 8 * u:
        label = rng.choice(["Nama", "Tempat/Tgl Lahir", "Alamat", "RT/RW", "Kel/Desa", "Kecamatan", "Agama",
                            "Pekerjaan", "Berlaku Hingga", "Faskes", "No. Kartu"])
        draw.text((x0 + 4 * u, y), label, fill=(30, 30, 30), font=line_font)
        draw.text((x0 + 30 * u, y), ": " + _words(rng, rng.randint(1, 3)).upper(), fill=(30, 30, 30), font=line_font)
        y += 5.5 * u
    px0 = x1 - 28 * u
    draw.rectangle((px0, y0 + 14 * u, x1 - 5 * u, y0 + 46 * u), fill=(rng.randint(120, 200), 90, 80))
    draw.ellipse((px0 + 6 * u, y0 + 18 * u, x1 - 11 * u, y0 + 32 * u), fill=(225, 190, 160))
    points = [(px0 + i * 2 * u, y1 - 10 * u + rng.uniform(-2, 2) * u) for i in range(10)]
    draw.line(points, fill=(20, 20, 60), width=max(1, int(u / 2)))


def render(layout: str, width: int, height: int, seed: int) -> Image.Image:
    rng = random.Random(f"{layout}-{width}x{height}-{seed}")
    u = min(width, height) / 100  # layout unit: 1% of the short side
    if layout in ("ktp", "card_on_table"):
        table = (rng.randint(90, 140), rng.randint(70, 100), rng.randint(50, 80))
        img = Image.new("RGB", (width, height), table)
        draw = ImageDraw.Draw(img)
        for _ in range(int(width / u / 3)):  # wood-like grain
            y = rng.uniform(0, height)
            draw.line((0, y, width, y + rng.uniform(-u, u)), fill=tuple(c - 15 for c in table),
                      width=max(1, int(u / 4)))
        fill = 0.92 if layout == "ktp" else 0.5
        cw = width * fill
        ch = min(cw / 1.586, height * fill)  # ID-1 card aspect ratio
        cw = ch * 1.586
        x0, y0 = (width - cw) / 2, (height - ch) / 2
        cu = ch / 62  # card unit
        _card(draw, rng, (x0, y0, x0 + cw, y0 + ch), cu, (30, 80, 150) if layout == "ktp" else (20, 130, 70))
        return img
    img = Image.new("RGB", (width, height), (236, 234, 226))
    draw = ImageDraw.Draw(img)
    margin = 6 * u
    if layout == "letter":
        draw.text((margin, margin), "SURAT KETERANGAN " + _words(rng, 2).upper(), fill=(10, 10, 10),
                  font=_font(int(4 * u)))
        font, y = _font(int(2.6 * u)), margin + 9 * u
        while y < height - margin:
            text = _words(rng, 30)
            draw.text((margin, y), text, fill=(25, 25, 25), font=font)
            y += 4.2 * u
            if rng.random() < 0.12:
                y += 4 * u  # paragraph break
        return img
    # kk_table: a family card grid with small print
    draw.text((margin, margin), "KARTU KELUARGA  No. " + _digits(rng, 16), fill=(10, 10, 10), font=_font(int(3.5 * u)))
    font, cols, rows = _font(int(2.0 * u)), 8, 14
    top, cell_w = margin + 8 * u, (width - 2 * margin) / cols
    cell_h = (height - top - margin) / rows
    rule = max(1, int(u / 5))
    for r in range(rows + 1):
        draw.line((margin, top + r * cell_h, width - margin, top + r * cell_h), fill=(40, 40, 40), width=rule)
    for c in range(cols + 1):
        draw.line((margin + c * cell_w, top, margin + c * cell_w, height - margin), fill=(40, 40, 40), width=rule)
    for r in range(rows):
        for c in range(cols):
            if rng.random() < 0.8:
                text = _digits(rng, 6) if c in (1, 5) else _words(rng, 1).upper()
                draw.text((margin + c * cell_w + u, top + r * cell_h + cell_h / 4), text, fill=(20, 20, 20), font=font)
    return img


def lighting_and_noise(img: Image.Image, rng: random.Random, sigma: float) -> Image.Image:
    """Uneven lighting (a gradient from one side) and Gaussian sensor noise."""
    shade = Image.linear_gradient("L").rotate(rng.choice([0, 90, 180, 270])).resize(img.size)
    # One depth per photo: drawn once, outside the lambda (point() calls it for each of the 256 levels, so a
    # draw inside it made a new factor per level: stripes 3-4 px wide instead of one smooth gradient).
    depth = rng.uniform(0.15, 0.35)
    shade = shade.point(lambda v: 255 - int(v * depth))
    img = ImageChops.multiply(img, Image.merge("RGB", [shade] * 3))
    noise = Image.effect_noise(img.size, sigma)
    return ImageChops.add(img, Image.merge("RGB", [noise] * 3), scale=1.0, offset=-128)


def motion_blur(img: Image.Image, length: int) -> Image.Image:
    """Average of copies shifted along a diagonal-ish direction (camera shake)."""
    acc = img
    for i in range(1, max(2, length)):
        shifted = ImageChops.offset(img, i - length // 2, (i - length // 2) // 3)
        acc = Image.blend(acc, shifted, 1.0 / (i + 1))
    return acc


def variants(img: Image.Image, long_side: int):
    scale = long_side / media.SHARPNESS_SIDE
    yield "sharp", 0, img
    for r in GAUSS:
        yield "gauss", r, img.filter(ImageFilter.GaussianBlur(r * scale))
    for length in MOTION:
        yield "motion", length, motion_blur(img, max(2, round(length * scale)))


def score(img: Image.Image, quality: int) -> float:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    content_type, _width, _height, sharpness = media.measure_image(buf.getvalue())
    assert content_type == "image/jpeg"
    return sharpness


def summary(values: list[float]) -> str:
    return f"n={len(values):4d} min={min(values):8.1f} median={statistics.median(values):8.1f} max={max(values):8.1f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer resolutions (smoke run)")
    opts = parser.parse_args(argv)
    resolutions = RESOLUTIONS[:3] if opts.quick else RESOLUTIONS
    started = time.monotonic()
    rows: list[tuple[str, int, int, int, str, float]] = []  # variant, param, long side, quality, layout, score
    for seed in range(opts.seeds):
        for layout in LAYOUTS:
            for width, height in resolutions:
                rng = random.Random(f"noise-{layout}-{width}-{seed}")
                base = render(layout, width, height, seed)
                for name, param, blurred in variants(base, max(width, height)):
                    photo = lighting_and_noise(blurred, rng, sigma=rng.uniform(*NOISE_SIGMA))
                    for quality in QUALITIES:
                        rows.append((name, param, max(width, height), quality, layout, score(photo, quality)))
                    if name == "sharp" or (name == "gauss" and param in (3, 4)):  # heavy-noise stress rows
                        noisy = lighting_and_noise(blurred, rng, sigma=STRESS_SIGMA)
                        rows.append(("noisy-" + name, param, max(width, height), 75, layout, score(noisy, 75)))

    def pick(cond):
        return [r[5] for r in rows if cond(r)]

    print(f"images scored: {len(rows)} ({opts.seeds} seeds x {len(LAYOUTS)} layouts x {len(resolutions)} "
          f"resolutions x {1 + len(GAUSS) + len(MOTION)} variants x {len(QUALITIES)} JPEG qualities)")
    print("\nsharp, by JPEG quality:")
    for q in QUALITIES:
        print(f"  q={q:3d}        {summary(pick(lambda r: r[0] == 'sharp' and r[3] == q))}")
    print("\nsharp (q>=60), by layout:")
    for layout in LAYOUTS:
        print(f"  {layout:13s} {summary(pick(lambda r: r[0] == 'sharp' and r[3] >= 60 and r[4] == layout))}")
    print("\nsharp (q>=60), by long side:")
    for long_side in sorted({max(w, h) for w, h in resolutions}):
        values = pick(lambda r: r[0] == "sharp" and r[3] >= 60 and r[2] == long_side)
        print(f"  {long_side:5d} px     {summary(values)}")
    print("\nblurred (all qualities), radius/length at 1024 px:")
    for r in GAUSS:
        print(f"  gauss r={r:<4g} {summary(pick(lambda x: x[0] == 'gauss' and x[1] == r))}")
    for length in MOTION:
        print(f"  motion {length:2d}px  {summary(pick(lambda x: x[0] == 'motion' and x[1] == length))}")

    print(f"\nstress: noise sigma={STRESS_SIGMA:g}, JPEG q=75:")
    for name, param in [("noisy-sharp", 0), ("noisy-gauss", 3), ("noisy-gauss", 4)]:
        print(f"  {name} {param}  {summary(pick(lambda x: x[0] == name and x[1] == param))}")

    sharp = pick(lambda r: r[0] == "sharp" and r[3] >= 60)
    blurred = pick(lambda r: r[0] == "gauss" and r[1] >= 3)
    low, high = max(blurred), min(sharp)
    mid = math.sqrt(low * high)
    digits = 10 ** (int(math.log10(mid)) - 1)
    threshold = math.floor(mid / digits) * digits
    print(f"\nseparation: min sharp(q>=60) = {high:.1f}, max gauss(r>=3) = {low:.1f}, "
          f"ratio = {high / low:.2f}x ({'separated' if high > low else 'OVERLAP'})")
    print(f"chosen threshold (geometric mean, 2 significant digits): {threshold:g}   "
          f"(in use: handlers.media.SHARPNESS_THRESHOLD = {media.SHARPNESS_THRESHOLD:g})")
    for label, cond in [
        ("sharp q>=60 accepted", lambda r: r[0] == "sharp" and r[3] >= 60),
        ("sharp q<60 accepted", lambda r: r[0] == "sharp" and r[3] < 60),
        ("gauss r=0.5 accepted", lambda r: r[0] == "gauss" and r[1] == 0.5),
        ("gauss r=0.75 accepted", lambda r: r[0] == "gauss" and r[1] == 0.75),
        ("gauss r=1 accepted", lambda r: r[0] == "gauss" and r[1] == 1),
        ("gauss r=2 accepted", lambda r: r[0] == "gauss" and r[1] == 2),
        ("gauss r>=3 rejected", lambda r: r[0] == "gauss" and r[1] >= 3),
        ("motion accepted", lambda r: r[0] == "motion"),
    ]:
        values = pick(cond)
        hits = sum((v >= threshold) != label.endswith("rejected") for v in values)
        print(f"  {label:22s} {hits:4d}/{len(values)}")
    print(f"\nelapsed: {time.monotonic() - started:.0f} s")
    return 0 if high > low else 1


if __name__ == "__main__":
    raise SystemExit(main())
