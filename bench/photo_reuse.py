#!/usr/bin/env python3
"""Reuse benchmark: can a perceptual fingerprint (a DCT hash, pHash: the photo in grayscale scaled to
N x N, the lowest K x K frequencies of its 2-D DCT, one bit each: above their median) tell "the same document photo,
sent again" from "another person's card of the same kind"?

Synthetic KTP-like cards and KK-like tables (bench/blur_threshold.render: the same template for every
card, different text, NIK, photo colour — the hard case: real KTPs all share one layout). For each
document: the original photo and --copies re-photographed copies (rotated up to 4 degrees, re-framed
by up to 8 %, another resolution, uneven light and sensor noise, slight blur, JPEG quality 45-90);
"another document" pairs are every pair of different documents of one kind. Reported per fingerprint
variant: the distance (differing bits) of copies to their original and of different documents, and at
each threshold the share of copies found (recall) and of different documents wrongly matched (false
positives). Never real people's cards.

    .venv/bin/python bench/photo_reuse.py [--documents 40] [--copies 4] [--json PATH]
"""
from __future__ import annotations

import argparse
import io
import math
import random
import statistics
import sys
import time
from pathlib import Path

from functools import lru_cache

from PIL import Image, ImageFilter, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlib import meta, pct, table, write_json  # noqa: E402
from blur_threshold import lighting_and_noise, render  # noqa: E402


# -- the fingerprint: a DCT hash (pHash), Pillow and the standard library only -------------------------
@lru_cache(maxsize=4)
def _cosines(size: int, keep: int) -> tuple[tuple[float, ...], ...]:
    """cos(pi * (2x + 1) * u / 2N) for the kept frequencies u and every pixel x."""
    return tuple(tuple(math.cos(math.pi * (2 * x + 1) * u / (2 * size)) for x in range(size)) for u in range(keep))


def phash(image: Image.Image, size: int = 32, keep: int = 8) -> str:
    """The fingerprint of an image: keep x keep bits, as hex."""
    gray = ImageOps.exif_transpose(image).convert("L").resize((size, size), Image.Resampling.LANCZOS)
    pixels = list(gray.getdata())
    rows = [pixels[y * size:(y + 1) * size] for y in range(size)]
    cos = _cosines(size, keep)
    across = [[sum(p * c for p, c in zip(row, cos[u])) for u in range(keep)] for row in rows]
    coefficients = [sum(across[y][u] * cos[v][y] for y in range(size)) for v in range(keep) for u in range(keep)]
    middle = statistics.median(coefficients[1:])
    bits = sum(1 << i for i, value in enumerate(coefficients) if value > middle)
    return f"{bits:0{keep * keep // 4}x}"


def distance(a: str, b: str) -> int:
    """Differing bits of two fingerprints of the same length."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


VARIANTS = {  # name: (DCT input size, kept frequencies per side) -> bits = keep * keep
    "phash-32/8 (64 bits)": (32, 8),
    "phash-64/16 (256 bits)": (64, 16),
}


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def rephotographed(img: Image.Image, rng: random.Random) -> Image.Image:
    """The same document photographed again: angle, framing, resolution, light, noise, focus, JPEG."""
    w, h = img.size
    background = tuple(rng.randint(60, 160) for _ in range(3))
    out = img.rotate(rng.uniform(-4, 4), resample=Image.Resampling.BICUBIC, expand=True, fillcolor=background)
    dx, dy = int(w * rng.uniform(-0.08, 0.08)), int(h * rng.uniform(-0.08, 0.08))
    grow = rng.uniform(0.92, 1.08)
    frame = Image.new("RGB", (int(out.width * grow), int(out.height * grow)), background)
    frame.paste(out, ((frame.width - out.width) // 2 + dx, (frame.height - out.height) // 2 + dy))
    long_side = rng.choice([900, 1280, 1600, 2048])
    scale = long_side / max(frame.size)
    frame = frame.resize((int(frame.width * scale), int(frame.height * scale)), Image.Resampling.LANCZOS)
    frame = lighting_and_noise(frame, rng, rng.uniform(1.0, 4.0))
    if rng.random() < 0.5:
        frame = frame.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    return jpeg(frame, rng.randint(45, 90))


def forwarded(img: Image.Image, rng: random.Random) -> Image.Image:
    """The same photo forwarded (WhatsApp scales it down and compresses it again), perhaps cropped a little."""
    w, h = img.size
    cut = [int(w * rng.uniform(0, 0.03)), int(h * rng.uniform(0, 0.03))]
    out = img.crop((cut[0], cut[1], w - cut[0], h - cut[1]))
    long_side = rng.choice([800, 1024, 1280, 1600])
    scale = long_side / max(out.size)
    out = out.resize((int(out.width * scale), int(out.height * scale)), Image.Resampling.LANCZOS)
    return jpeg(out, rng.randint(40, 80))


COPIES = {"re-photographed": rephotographed, "forwarded": forwarded}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=40, help="documents per kind (ktp, kk_table)")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--json")
    args = parser.parse_args()
    rng = random.Random(17)
    prints: dict[tuple[str, str], dict[str, list[tuple[str, list[str]]]]] = {}
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for kind, size in (("ktp", (1200, 760)), ("kk_table", (1600, 1100))):
        for seed in range(args.documents):
            original = jpeg(render(kind, *size, seed), 88)
            for how, copy in COPIES.items():
                copies = [copy(original, rng) for _ in range(args.copies)]
                for name, (side, keep) in VARIANTS.items():
                    start = time.perf_counter()
                    first = phash(original, side, keep)
                    seconds[name].append(time.perf_counter() - start)
                    prints.setdefault((name, how), {}).setdefault(kind, []).append(
                        (first, [phash(c, side, keep) for c in copies]))
    results = {}
    for (name, how), by_kind in prints.items():
        keep = VARIANTS[name][1]
        same, other = [], []
        for documents in by_kind.values():
            for i, (first, copies) in enumerate(documents):
                same += [distance(first, c) for c in copies]
                other += [distance(first, documents[j][0]) for j in range(i + 1, len(documents))]
                other += [distance(c, documents[j][0]) for c in copies[:1]
                          for j in range(len(documents)) if j != i]
        bits = keep * keep
        thresholds = sorted({round(bits * f) for f in (0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25)})
        results[f"{name}, {how} copies"] = {
            "bits": bits, "copies": len(same), "different_pairs": len(other),
            "copy_distance": {"median": pct(same, 50), "p95": pct(same, 95), "max": max(same)},
            "different_distance": {"min": min(other), "p1": pct(other, 1), "median": pct(other, 50)},
            "ms_per_photo": 1000 * sum(seconds[name]) / len(seconds[name]),
            "by_threshold": [{"threshold": t, "recall": sum(d <= t for d in same) / len(same),
                              "false_positive_rate": sum(d <= t for d in other) / len(other)} for t in thresholds],
        }
    for name, r in results.items():
        print(f"\n{name}: {r['copies']} copies, {r['different_pairs']} pairs of different documents, "
              f"{r['ms_per_photo']:.1f} ms per photo")
        print(f"copies: median {r['copy_distance']['median']}, p95 {r['copy_distance']['p95']}, max {r['copy_distance']['max']}"
              f" bits; different: min {r['different_distance']['min']}, p1 {r['different_distance']['p1']},"
              f" median {r['different_distance']['median']} bits")
        print(table(["threshold (bits)", "copies found", "false positives"],
                    [[t["threshold"], f"{100 * t['recall']:.1f} %", f"{100 * t['false_positive_rate']:.2f} %"]
                     for t in r["by_threshold"]]))
    write_json(args.json, {"meta": meta(), "args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
