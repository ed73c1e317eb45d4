#!/usr/bin/env python3
"""Reuse benchmark: can a perceptual fingerprint (a DCT hash, pHash: the photo in grayscale scaled to
N x N, the lowest K x K frequencies of its 2-D DCT, one bit each: above their median) tell "the same document photo,
sent again" from "another person's card of the same kind"?

Synthetic KTP-like cards and KK-like tables (bench/blur_threshold.render: the same template for every
card, different text, NIK, photo colour — the hard case: real KTPs all share one layout). For each
document: the original photo (JPEG 88) and --copies copies of each kind: "re-photographed" (rotated up to 4
degrees, re-framed by up to 8 %, another resolution, uneven light and sensor noise, slight blur, JPEG
quality 45-90) and "forwarded" (cropped by up to 3 %, rescaled to a long side of 800-1600 px, JPEG 40-80);
"another document" pairs are every pair of different documents of one kind. Reported per fingerprint
variant: the distance (differing bits) of copies to their original and of different documents, and at
each threshold the share of copies found (recall) and of different documents wrongly matched (false
positives). Never real people's cards.

Then the rule that ships (handlers.reuse._match, with handlers.reuse.hash_of and, for KTPs, the NIK read by
handlers.ocr.Reader as the chat reads it), on three sets, each photo once as the "original" and
--rule-copies copies of each kind (forwarded, re-photographed, as above):

- ktp: --cards KTP-like cards drawn by bench/ocr_nik.render_card (one layout, but each card draws its own
  fonts and its own background pattern, so two cards differ more than two real KTPs do), photographed
  upright on a table (bench/ocr_nik.photograph, clean level);
- ktp_template: --template-cards cards of blur_threshold.render's one template (only the text, the NIK and
  the photo colour differ: the hard case for a global hash), read by OCR too;
- kk_table: --cards KK-like tables (blur_threshold.render), not read by OCR: the chat reads KTPs only, so a
  KK's ocr_nik is empty when its case is queued (pHash alone). The product reads KKs later in the
  background (handlers.ocr.READ_LATER, bot/reading.py); that read is not measured here.

Each photo becomes what a Document holds (sha256 of its bytes, phash = reuse.hash_of, ocr_nik = the NIK of
a confident read). Reported for pHash alone (within reuse.SAME_PHOTO_BITS), OCR NIK alone (both read with
confidence, equal) and the shipped rule (reuse._match): recall per kind of copy (a copy against its
original) and the false-positive rate over every pair of photos of different cards (originals and copies;
the pairs share photos, so they are not independent trials).

    .venv/bin/python bench/photo_reuse.py [--documents 40] [--copies 4] [--cards 30] [--template-cards 15]
        [--rule-copies 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import math
import random
import statistics
import sys
import time
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

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


def _bytes(img: Image.Image) -> bytes:
    """The JPEG bytes an image returned by jpeg() was opened on."""
    return img.fp.getvalue()


def template_card(seed: int) -> tuple[Image.Image, str]:
    """A KTP-like card of blur_threshold.render's one template (filling a 1200 x 760 frame), JPEG 88, and the
    NIK printed on it (its first 16-digit draw, caught on the way)."""
    import blur_threshold  # noqa: PLC0415

    drawn, original = [], blur_threshold._digits

    def digits(rng: random.Random, n: int) -> str:
        drawn.append(original(rng, n))
        return drawn[-1]

    blur_threshold._digits = digits
    try:
        img = render("ktp", 1200, 760, seed)
    finally:
        blur_threshold._digits = original
    return jpeg(img, 88), next(d for d in drawn if len(d) == 16)


def production_rule(cards: int, template_cards: int, copies: int) -> dict:
    """The shipped rule (handlers.reuse._match) on KTP-like cards read by handlers.ocr (bench/ocr_nik's cards,
    and blur_threshold's one template), and on KK-like tables (not read in the chat: pHash alone)."""
    import ocr_nik  # noqa: PLC0415  (here: ocr_nik imports this module)

    from handlers import media, ocr, reuse  # noqa: PLC0415

    code = {}  # the product code this run imported (others edit the tree while benches run)
    for module in (ocr, reuse):
        path = Path(module.__file__)
        code[f"handlers/{path.name}"] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                         "mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(path.stat().st_mtime))}
    reader = ocr.Reader()
    rng = random.Random(1717)
    photos: list[SimpleNamespace] = []  # what a Document holds, plus the bench's own labels
    started = time.monotonic()
    read_seconds = []

    def add(kind: str, card: int, how: str, content: bytes, printed: str | None, font: str | None) -> None:
        ocr_nik = None
        if kind.startswith("ktp"):  # the chat reads KTPs only (ocr.READABLE); a KK's ocr_nik stays empty
            reading = reader.read(content, 600, "ktp")
            read_seconds.append(reading.seconds)
            ocr_nik = reading.nik if reading.confident else None
        _type, width, height, sharp = media.measure_image(content)
        photos.append(SimpleNamespace(
            id=len(photos) + 1, sha256=hashlib.sha256(content).hexdigest(), phash=reuse.hash_of(content),
            ocr_nik=ocr_nik, kind=kind, card=card, how=how, printed=printed, font=font,
            accepted=min(width, height) >= media.MIN_SIDE and sharp >= media.SHARPNESS_THRESHOLD))

    sets = [("ktp", cards), ("ktp_template", template_cards), ("kk_table", cards)]
    for kind, n in sets:
        for i in range(n):
            if kind == "ktp":
                card_img, card = ocr_nik.render_card(7000 + i)
                original = ocr_nik.photograph(card_img, "clean", random.Random(f"reuse-ktp-{i}"))
                printed, font = card.nik, card.nik_font
            elif kind == "ktp_template":
                (original, printed), font = template_card(7000 + i), "pillow-default"
            else:
                original, printed, font = jpeg(render("kk_table", 1600, 1100, 7000 + i), 88), None, None
            add(kind, i, "original", _bytes(original), printed, font)
            for how, copy in COPIES.items():
                for _ in range(copies):
                    add(kind, i, how, _bytes(copy(original, rng)), printed, font)
            if (i + 1) % 10 == 0:
                print(f"  production rule, {kind}: {i + 1}/{n} cards photographed and read", flush=True)

    rules = {
        f"pHash alone (<= {reuse.SAME_PHOTO_BITS} bits)":
            lambda a, b: reuse.distance(a.phash, b.phash) <= reuse.SAME_PHOTO_BITS,
        "OCR NIK alone": lambda a, b: bool(a.ocr_nik) and a.ocr_nik == b.ocr_nik,
        "shipped rule (reuse._match)": lambda a, b: reuse._match(a, b) is not None,
    }
    out: dict = {"seconds": time.monotonic() - started, "code_measured": code, "cards": cards,
                 "template_cards": template_cards,
                 "copies_per_kind": copies,
                 "same_photo_bits": reuse.SAME_PHOTO_BITS, "nik_gate": ocr.NIK_GATE, "kinds": {}}
    def read(a, b) -> str:
        return ("none read", "one read", "both read")[bool(a.ocr_nik) + bool(b.ocr_nik)]

    for kind, _n in sets:
        mine = [p for p in photos if p.kind == kind]
        if not mine:
            continue
        originals = {p.card: p for p in mine if p.how == "original"}
        same = {how: [(originals[p.card], p) for p in mine if p.how == how] for how in COPIES}
        different = [(a, b) for k, a in enumerate(mine) for b in mine[k + 1:] if a.card != b.card]
        both_accepted = [(a, b) for a, b in different if a.accepted and b.accepted]
        entry: dict = {
            "photos": len(mine), "accepted_by_photo_check": sum(p.accepted for p in mine),
            "different_pairs": len(different), "different_pairs_both_accepted": len(both_accepted),
            "ocr": None if not kind.startswith("ktp") else {
                how: {"photos": len(ps), "read_confidently": sum(bool(p.ocr_nik) for p in ps) / len(ps),
                      "read_wrong": sum(bool(p.ocr_nik) and p.ocr_nik != p.printed for p in ps)}
                for how, ps in [(h, [p for p in mine if p.how == h]) for h in ["original", *COPIES]]},
            "copy_distance": {how: {"median": pct([reuse.distance(a.phash, b.phash) for a, b in pairs], 50),
                                    "max": max(reuse.distance(a.phash, b.phash) for a, b in pairs)}
                              for how, pairs in same.items()},
            "different_distance": {"min": min((reuse.distance(a.phash, b.phash) for a, b in different), default=None),
                                   "p1": pct([reuse.distance(a.phash, b.phash) for a, b in different], 1)},
            "rules": {}}
        for name, rule in rules.items():
            if not kind.startswith("ktp") and name == "OCR NIK alone":
                continue
            hits = [(a, b) for a, b in different if rule(a, b)]
            flagged = {p.id for pair in hits for p in pair}
            entry["rules"][name] = {
                "recall": {how: sum(rule(a, b) for a, b in pairs) / len(pairs) for how, pairs in same.items()},
                # copies found, split by whether OCR read both photos of the pair with confidence: [found, pairs]
                "recall_by_ocr": {how: {state: [sum(rule(a, b) for a, b in pairs if read(a, b) == state),
                                                sum(1 for a, b in pairs if read(a, b) == state)]
                                        for state in ("both read", "one read", "none read")}
                                  for how, pairs in same.items()},
                "false_positives_by_ocr": {state: sum(1 for a, b in hits if read(a, b) == state)
                                           for state in ("both read", "one read", "none read")},
                # the officer's view: photos flagged against at least one photo of another card
                "photos_with_a_false_match": len(flagged) / len(mine),
                "recall_accepted_copies": {how: (sum(rule(a, b) for a, b in pairs if b.accepted)
                                                 / max(1, sum(b.accepted for _, b in pairs))) for how, pairs in same.items()},
                "false_positives": len(hits), "false_positive_rate": len(hits) / max(1, len(different)),
                "false_positive_rate_95_upper": (3 / max(1, len(different))) if not hits else None,
                "false_positive_rate_both_accepted": sum(rule(a, b) for a, b in both_accepted) / max(1, len(both_accepted)),
                "false_positive_examples": [{"a": (a.card, a.how), "b": (b.card, b.how), "bits": reuse.distance(a.phash, b.phash),
                                             "ocr_nik": [a.ocr_nik, b.ocr_nik]} for a, b in hits[:10]],
            }
        reasons: dict = {}
        for how, pairs in same.items():
            for a, b in pairs:
                m = reuse._match(a, b)
                key = m.reason if m else "no match"
                reasons.setdefault(how, {}).setdefault(key, 0)
                reasons[how][key] += 1
        entry["shipped_reasons_on_copies"] = reasons
        entry["near_but_contradicted"] = sum(
            1 for a, b in different if reuse.distance(a.phash, b.phash) <= reuse.SAME_PHOTO_BITS
            and a.ocr_nik and b.ocr_nik and a.ocr_nik != b.ocr_nik)
        if kind == "ktp":
            entry["ocr_by_nik_font"] = {font: {"photos": len(ps), "read_confidently": sum(bool(p.ocr_nik) for p in ps) / len(ps)}
                                        for font, ps in [(f, [p for p in mine if p.font == f])
                                                         for f in sorted({p.font for p in mine})]}
        out["kinds"][kind] = entry
    out["read_seconds"] = {"median": statistics.median(read_seconds), "p95": pct(read_seconds, 95)} if read_seconds else None
    out["seconds"] = time.monotonic() - started
    out["photos"] = [{"kind": p.kind, "card": p.card, "how": p.how, "accepted": p.accepted, "phash": p.phash,
                      "ocr_nik": p.ocr_nik, "printed": p.printed, "font": p.font} for p in photos]
    return out


def print_rule(out: dict) -> None:
    print(f"\n== the shipped rule: {out['cards']} cards (ktp, kk_table), {out['template_cards']} (ktp_template),"
          f" {out['copies_per_kind']} copies per kind of copy,"
          f" SAME_PHOTO_BITS {out['same_photo_bits']}, NIK_GATE {out['nik_gate']} ({out['seconds']:.0f} s)")
    for kind, entry in out["kinds"].items():
        print(f"\n{kind}: {entry['photos']} photos ({entry['accepted_by_photo_check']} accepted by the photo check),"
              f" {entry['different_pairs']} pairs of photos of different cards; pHash distance of copies to their"
              f" original {entry['copy_distance']}, of different cards min {entry['different_distance']['min']},"
              f" p1 {entry['different_distance']['p1']} bits")
        if entry["ocr"]:
            print("  OCR (confident reads / wrong confident reads): " + ", ".join(
                f"{how} {100 * o['read_confidently']:.0f} % / {o['read_wrong']}" for how, o in entry["ocr"].items()))
        rows = []
        for name, r in entry["rules"].items():
            fp = f"{100 * r['false_positive_rate']:.2f} % ({r['false_positives']})"
            if r["false_positive_rate_95_upper"] is not None:
                fp += f", < {100 * r['false_positive_rate_95_upper']:.2f} %"
            rows.append([name] + [f"{100 * v:.1f} %" for v in r["recall"].values()] + [fp])
        print(table(["rule"] + [f"recall, {how}" for how in COPIES] + ["false positives"], rows))
        for name, r in entry["rules"].items():
            print(f"  {name}: photos with a false match {100 * r['photos_with_a_false_match']:.1f} %; false positives"
                  f" by OCR state {r['false_positives_by_ocr']}; copies found by OCR state (found/pairs) "
                  + "; ".join(f"{how}: " + ", ".join(f"{state} {v[0]}/{v[1]}" for state, v in by.items() if v[1])
                              for how, by in r["recall_by_ocr"].items()))
        if entry.get("ocr_by_nik_font"):
            print("  confident reads by NIK font: " + ", ".join(
                f"{font} {100 * o['read_confidently']:.0f} % of {o['photos']}" for font, o in entry["ocr_by_nik_font"].items()))
        print(f"  shipped rule's reasons on copies: {entry['shipped_reasons_on_copies']}; different cards within"
              f" the pHash threshold but with two different OCR NIKs (cleared): {entry['near_but_contradicted']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=40, help="documents per kind (ktp, kk_table)")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--cards", type=int, default=30, help="the shipped rule: cards per kind (0: skip)")
    parser.add_argument("--template-cards", type=int, default=15,
                        help="the shipped rule: KTP-like cards of blur_threshold's one template, read by OCR too")
    parser.add_argument("--rule-copies", type=int, default=3, help="the shipped rule: copies per kind of copy")
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
    rule = production_rule(args.cards, args.template_cards, args.rule_copies) if args.cards else None
    if rule:
        print_rule(rule)
    write_json(args.json, {"meta": meta(), "args": vars(args), "results": results, "production_rule": rule})
    return 0


if __name__ == "__main__":
    sys.exit(main())
