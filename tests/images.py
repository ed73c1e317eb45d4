"""Synthetic document photos for tests: a card-like layout with many 'text' strokes."""
from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter


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
