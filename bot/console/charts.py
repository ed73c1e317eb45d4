"""Small server-side SVG charts (no JavaScript, no libraries): vertical bars (stacked when there are several
series) and horizontal bars. Each chart has a <title>/<desc> for screen readers, a <title> on every bar
(the browser's tooltip), values written on the bars, tick labels and axis titles.

The SVG scales to its container (``viewBox``; width set by CSS); sizes below are in viewBox units.
"""
from __future__ import annotations

import math
import re
import textwrap
from typing import Sequence

from markupsafe import Markup, escape

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
DARK_TEXT_ON = {"#E69F00", "#56B4E9", "#F0E442"}  # light fills: values written in dark ink
CHAR_W = 6.8  # average width of a 12-unit system-ui character, for layout estimates
AXIS, GRID, INK, MUTED = "#5b6b7a", "#e3e7eb", "#1c2430", "#5b6b7a"


def _e(value) -> str:
    return str(escape(str(value)))


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "chart"


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """0 .. a round number >= maximum, in at most ``count`` + 1 steps of 1, 2 or 5 x 10^k (whole numbers)."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(1, step)
    top = math.ceil(maximum / step) * step
    return [i * step for i in range(int(round(top / step)) + 1)]


def _open(chart_id: str, width: float, height: float, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d" font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{chart_id}-t">{_e(title)}</title>',
        f'<desc id="{chart_id}-d">{_e(desc)}</desc>',
    ]


def _legend(names: Sequence[str], x0: float, width: float) -> tuple[list[str], float]:
    """Swatches and names, wrapped over lines; returns the parts and the height used."""
    parts, x, y = [], x0, 14
    for i, name in enumerate(names):
        item_w = 18 + len(name) * CHAR_W + 18
        if x > x0 and x + item_w > width:
            x, y = x0, y + 18
        parts.append(f'<rect x="{_n(x)}" y="{_n(y - 10)}" width="12" height="12" rx="2" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{_n(x + 17)}" y="{_n(y)}" fill="{INK}">{_e(name)}</text>')
        x += item_w
    return ['<g class="legend">', *parts, "</g>"], y + 10


def bar_chart(categories: Sequence[str | Sequence[str]], series: Sequence[tuple[str, Sequence[float]]], *,
              title: str, desc: str = "", x_label: str = "", y_label: str = "", width: float = 900,
              height: float = 320, chart_id: str | None = None, legend: bool | None = None) -> Markup:
    """Vertical bars, one per category; several series are stacked, with the total above each bar.

    ``categories``: a label per bar (a string, or a sequence of lines); ``series``: (name, values)."""
    chart_id = chart_id or _slug(title)
    labels = [[c] if isinstance(c, str) else list(c) for c in categories]
    n = max(1, len(labels))
    legend = len(series) > 1 if legend is None else legend
    out = _open(chart_id, width, height, title, desc)
    left, right, bottom = 54, 14, 26 + 14 * max((len(lines) for lines in labels), default=1)
    top = 14
    if legend:
        parts, used = _legend([name for name, _ in series], left, width - right)
        out += parts
        top = used + 14
    plot_w, plot_h = width - left - right, height - top - bottom - (14 if x_label else 0)
    totals = [sum(values[i] for _name, values in series) for i in range(len(labels))]
    ticks = nice_ticks(max(totals, default=0))
    scale = plot_h / ticks[-1]
    base = top + plot_h

    out.append('<g class="axis">')
    for tick in ticks:
        y = base - tick * scale
        out.append(f'<line x1="{left}" x2="{_n(width - right)}" y1="{_n(y)}" y2="{_n(y)}" stroke="{GRID}"/>')
        out.append(f'<text x="{left - 6}" y="{_n(y + 4)}" text-anchor="end" fill="{MUTED}">{_n(tick)}</text>')
    out.append(f'<line x1="{left}" x2="{_n(width - right)}" y1="{_n(base)}" y2="{_n(base)}" stroke="{AXIS}"/>')
    if y_label:
        out.append(f'<text transform="translate(14 {_n(top + plot_h / 2)}) rotate(-90)" text-anchor="middle" '
                   f'fill="{MUTED}">{_e(y_label)}</text>')
    if x_label:
        out.append(f'<text x="{_n(left + plot_w / 2)}" y="{_n(height - 4)}" text-anchor="middle" '
                   f'fill="{MUTED}">{_e(x_label)}</text>')
    out.append("</g>")

    band = plot_w / n
    bar_w = min(64, band * 0.7)
    every = max(1, math.ceil(n / max(1, plot_w // 44)))  # thin the labels when bars are narrow
    for i, lines in enumerate(labels):
        cx = left + band * (i + 0.5)
        x, y = cx - bar_w / 2, base
        category = " ".join(lines)
        out.append('<g class="bar">')
        for s, (name, values) in enumerate(series):
            value = values[i]
            if not value:
                continue
            h = value * scale
            y -= h
            color = PALETTE[s % len(PALETTE)]
            tip = f"{category}: {name} {_n(value)}" if len(series) > 1 else f"{category}: {_n(value)}"
            out.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(bar_w)}" height="{_n(h)}" fill="{color}">'
                       f"<title>{_e(tip)}</title></rect>")
            if len(series) > 1 and h >= 16 and bar_w >= 18:
                ink = INK if color in DARK_TEXT_ON else "#fff"
                out.append(f'<text x="{_n(cx)}" y="{_n(y + h / 2 + 4)}" text-anchor="middle" fill="{ink}" '
                           f'font-size="11" aria-hidden="true">{_n(value)}</text>')
        total = _n(totals[i])
        if band >= len(total) * CHAR_W + 4 and (totals[i] or band >= 18):  # no crowding when bars are narrow
            out.append(f'<text x="{_n(cx)}" y="{_n(y - 5)}" text-anchor="middle" fill="{INK}" font-weight="600">'
                       f"{total}</text>")
        if i % every == 0:
            for j, line in enumerate(lines):
                out.append(f'<text x="{_n(cx)}" y="{_n(base + 16 + 14 * j)}" text-anchor="middle" '
                           f'fill="{INK if j == 0 else MUTED}">{_e(line)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("\n".join(out))


def hbar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, desc: str = "", x_label: str = "",
               width: float = 560, row: float = 36, chart_id: str | None = None, color: str = PALETTE[0]) -> Markup:
    """Horizontal bars, one row per label (long labels wrap over two lines), the value after each bar."""
    chart_id = chart_id or _slug(title)
    wrapped = [textwrap.wrap(label, 30, max_lines=2, placeholder="…") or [""] for label in labels]
    left = min(width * 0.45, max((len(line) for lines in wrapped for line in lines), default=4) * CHAR_W + 14)
    right, top, bottom = 40, 8, 30 + (16 if x_label else 0)
    plot_w = width - left - right
    height = top + row * max(1, len(labels)) + bottom
    base = height - bottom
    ticks = nice_ticks(max(values, default=0), count=4)
    scale = plot_w / ticks[-1]
    out = _open(chart_id, width, height, title, desc)
    out.append('<g class="axis">')
    for tick in ticks:
        x = left + tick * scale
        out.append(f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{top}" y2="{_n(base)}" stroke="{GRID}"/>')
        out.append(f'<text x="{_n(x)}" y="{_n(base + 16)}" text-anchor="middle" fill="{MUTED}">{_n(tick)}</text>')
    out.append(f'<line x1="{_n(left)}" x2="{_n(left)}" y1="{top}" y2="{_n(base)}" stroke="{AXIS}"/>')
    if x_label:
        out.append(f'<text x="{_n(left + plot_w / 2)}" y="{_n(height - 4)}" text-anchor="middle" '
                   f'fill="{MUTED}">{_e(x_label)}</text>')
    out.append("</g>")
    for i, (lines, value) in enumerate(zip(wrapped, values)):
        y = top + row * i
        cy = y + row / 2
        w = value * scale
        out.append('<g class="bar">')
        first = cy + 4 - 7 * (len(lines) - 1)
        for j, line in enumerate(lines):
            out.append(f'<text x="{_n(left - 8)}" y="{_n(first + 14 * j)}" text-anchor="end" fill="{INK}">'
                       f"{_e(line)}</text>")
        out.append(f'<rect x="{_n(left)}" y="{_n(y + row * 0.18)}" width="{_n(w)}" height="{_n(row * 0.64)}" '
                   f'fill="{color}"><title>{_e(labels[i])}: {_n(value)}</title></rect>')
        out.append(f'<text x="{_n(left + w + 6)}" y="{_n(cy + 4)}" fill="{INK}" font-weight="600">{_n(value)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("\n".join(out))
