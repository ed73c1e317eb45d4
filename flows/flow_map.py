"""The map of a flow the editor draws: every step as a box and every way on (``next``, ``on_no``, each
outcome of an action) as an arrow, laid out top to bottom.

The layout is a small layered drawing: steps are ranked by the longest way to them from ``start``
(ways back to an earlier step are left out of the ranking), an arrow that skips rows passes through
reserved places in them, rows are ordered by where their steps come from, and arrows back to an
earlier step run along the side of the map. The result is plain geometry; the page draws it as SVG.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from flows.flow_labels import EDGE_LABELS, handler_label, outcome_label, step_type_label, validator_label

BOX_W, BOX_H, DUMMY_W = 150, 44, 16
GAP_X, GAP_Y, MARGIN = 18, 58, 16
LANE_GAP = 12


@dataclass(frozen=True)
class Way:
    """One way on from a step: ``key`` is ``next``, ``on_no`` or ``outcome:<name>``."""
    source: str
    target: str
    key: str
    label: str


@dataclass
class Box:
    id: str
    type: str
    kind_label: str
    detail: str
    ends: bool
    x: float = 0.0
    y: float = 0.0


@dataclass
class Arrow:
    source: str
    target: str
    keys: list[str]
    labels: list[str]
    back: bool
    path: str = ""
    label_x: float = 0.0
    label_y: float = 0.0


@dataclass
class FlowMap:
    boxes: list[Box]
    arrows: list[Arrow]
    width: float
    height: float
    box_w: int = BOX_W
    box_h: int = BOX_H
    ways: list[Way] = field(default_factory=list)


def _steps(raw: dict) -> dict:
    steps = raw.get("steps") if isinstance(raw, dict) else None
    return steps if isinstance(steps, dict) else {}


def ways(raw: dict) -> list[Way]:
    """Every way on from every step, to steps that exist."""
    steps, found = _steps(raw), []
    for step_id, step in steps.items():
        if not isinstance(step, dict):
            continue
        kind = str(step.get("type"))
        for key in ("next", "on_no"):
            if step.get(key) in steps:
                found.append(Way(str(step_id), str(step[key]), key, EDGE_LABELS.get((kind, key), "")))
        outcomes = step.get("outcomes")
        for outcome, target in (outcomes.items() if isinstance(outcomes, dict) else []):
            if target in steps:
                found.append(Way(str(step_id), str(target), f"outcome:{outcome}", outcome_label(outcome)))
    return found


def step_order(raw: dict) -> list[str]:
    """Steps in the order a conversation meets them (breadth first from ``start``), then the others."""
    steps, links = _steps(raw), {}
    for way in ways(raw):
        links.setdefault(way.source, []).append(way.target)
    order, seen, todo = [], set(), [raw.get("start")] if isinstance(raw, dict) else []
    while todo:
        current = todo.pop(0)
        if current in steps and current not in seen:
            seen.add(current)
            order.append(current)
            todo += links.get(current, [])
    return order + [str(s) for s in steps if s not in seen]


def _back_edges(order: list[str], links: dict[str, list[str]]) -> set[tuple[str, str]]:
    """Edges to a step still open on the depth-first walk from the start (what makes a loop)."""
    back, state = set(), {}
    for root in order:
        if root in state:
            continue
        stack = [(root, iter(links.get(root, [])))]
        state[root] = "open"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
            elif state.get(child) == "open":
                back.add((node, child))
            elif child not in state:
                state[child] = "open"
                stack.append((child, iter(links.get(child, []))))
    return back


def _ranks(order: list[str], forward: list[tuple[str, str]]) -> dict[str, int]:
    rank = {node: 0 for node in order}
    incoming = {node: 0 for node in order}
    for _, target in forward:
        incoming[target] += 1
    ready = [node for node in order if incoming[node] == 0]
    while ready:
        node = ready.pop(0)
        for source, target in forward:
            if source == node:
                rank[target] = max(rank[target], rank[node] + 1)
                incoming[target] -= 1
                if incoming[target] == 0:
                    ready.append(target)
    return rank


def _describe(step: dict) -> str:
    if step.get("type") == "text":
        return validator_label(str(step.get("validator")))
    if step.get("type") == "action":
        return handler_label(str(step.get("handler")))
    if step.get("type") == "photo":
        return f"dokumen: {step.get('document')}"
    return str(step.get("label") or "")


def _order_rows(rows: list[list[str]], preds: dict[str, list[str]]) -> None:
    """Order each row by the mean place of what leads to it (a few sweeps down)."""
    for _ in range(3):
        for above, row in pairwise(rows):
            place = {node: i for i, node in enumerate(above)}
            keys = {}
            for i, node in enumerate(row):
                seen = [place[p] for p in preds.get(node, []) if p in place]
                keys[node] = (sum(seen) / len(seen) if seen else i, i)
            row.sort(key=keys.__getitem__)


def _width(node: str) -> float:
    return DUMMY_W if node.startswith("~") else BOX_W


def _x_positions(rows: list[list[str]], preds: dict[str, list[str]]) -> dict[str, float]:
    """Centre x of every node: under what leads to it, pushed apart to not overlap."""
    x: dict[str, float] = {}
    for row in rows:
        wanted = []
        for i, node in enumerate(row):
            seen = [x[p] for p in preds.get(node, []) if p in x]
            wanted.append(sum(seen) / len(seen) if seen else i * (BOX_W + GAP_X))
        placed = list(wanted)
        for i in range(1, len(row)):
            least = placed[i - 1] + (_width(row[i - 1]) + _width(row[i])) / 2 + GAP_X
            placed[i] = max(placed[i], least)
        shift = (sum(wanted) - sum(placed)) / len(row)
        for node, value in zip(row, placed):
            x[node] = value + shift
    return x


def _curve(points: list[tuple[float, float]]) -> str:
    """Through the points top to bottom, leaving and arriving vertically."""
    d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
    for (ax, ay), (bx, by) in pairwise(points):
        k = (by - ay) / 2
        d += f" C{ax:.1f},{ay + k:.1f} {bx:.1f},{by - k:.1f} {bx:.1f},{by:.1f}"
    return d


def build(raw: dict) -> FlowMap:
    steps, order = _steps(raw), step_order(raw)
    all_ways = ways(raw)
    links: dict[str, list[str]] = {}
    for way in all_ways:
        links.setdefault(way.source, []).append(way.target)
    back = _back_edges(order, links)
    pairs = list(dict.fromkeys((w.source, w.target) for w in all_ways))
    forward = [pair for pair in pairs if pair not in back]
    rank = _ranks(order, forward)
    rows: list[list[str]] = [[] for _ in range(max(rank.values(), default=0) + 1)]
    for node in order:
        rows[rank[node]].append(node)
    preds: dict[str, list[str]] = {}
    via: dict[tuple[str, str], list[str]] = {}
    for source, target in forward:  # an arrow skipping rows reserves a place in each
        chain, previous = [], source
        for r in range(rank[source] + 1, rank[target]):
            dummy = f"~{source}~{target}~{r}"
            rows[r].append(dummy)
            preds[dummy] = [previous]
            chain.append(dummy)
            previous = dummy
        via[(source, target)] = chain
        preds.setdefault(target, []).append(previous)
    _order_rows(rows, preds)
    x = _x_positions(rows, preds)
    lanes = {"left": 0, "right": 0}
    for source, target in pairs:
        if (source, target) in back or rank[target] <= rank[source]:
            lanes["left" if x[source] < sum(x.values()) / len(x) else "right"] += 1
    left_room = MARGIN + lanes["left"] * LANE_GAP + (MARGIN if lanes["left"] else 0)
    low = min(x[n] - _width(n) / 2 for n in x) if x else 0
    for node in x:
        x[node] += left_room - low
    top = MARGIN + 12 + 5 * min(len(back), 4)
    y = {node: top + r * (BOX_H + GAP_Y) for r, row in enumerate(rows) for node in row}
    right_edge = max((x[n] + _width(n) / 2 for n in x), default=0)
    boxes = []
    for node in order:
        step = steps[node] if isinstance(steps[node], dict) else {}
        ends = step.get("type") == "message" and not step.get("next")
        boxes.append(Box(node, str(step.get("type")), step_type_label(str(step.get("type")), ends), _describe(step),
                         ends, x[node] - BOX_W / 2, y[node]))
    arrows = _arrows(all_ways, back, rank, rows, x, y, via, right_edge)
    width = right_edge + MARGIN + lanes["right"] * LANE_GAP + (MARGIN if lanes["right"] else 0)
    height = max(y.values(), default=0) + BOX_H + MARGIN + 5 * min(len(back), 4)
    return FlowMap(boxes, arrows, round(width), round(height), ways=all_ways)


def _arrows(all_ways, back, rank, rows, x, y, via, right_edge) -> list[Arrow]:
    merged: dict[tuple[str, str], Arrow] = {}
    for way in all_ways:
        pair = (way.source, way.target)
        arrow = merged.get(pair)
        if arrow is None:
            is_back = pair in back or rank[way.target] <= rank[way.source]
            arrow = merged[pair] = Arrow(way.source, way.target, [], [], is_back)
        arrow.keys.append(way.key)
        if way.label and way.label not in arrow.labels:
            arrow.labels.append(way.label)
    centre = sum(x.values()) / len(x) if x else 0
    left_edge = min((x[n] - _width(n) / 2 for n in x), default=0)
    count = {"left": 0, "right": 0}
    # inner lanes for the shorter ways back, so that they do not cross the longer ones
    for arrow in sorted(merged.values(), key=lambda a: (a.back, rank[a.source] - rank[a.target])):
        s, t = arrow.source, arrow.target
        if not arrow.back:
            points = [(x[s], y[s] + BOX_H)]
            for dummy in via[(s, t)]:
                points += [(x[dummy], y[dummy]), (x[dummy], y[dummy] + BOX_H)]
            points.append((x[t], y[t]))
            arrow.path = _curve(points)
            if via[(s, t)]:  # beside the boxes of the first row it passes
                arrow.label_x, arrow.label_y = points[1][0], points[1][1] + BOX_H / 2
            else:  # just above the arrowhead, one line per answer
                arrow.label_x, arrow.label_y = points[-1][0], points[-1][1] - 10 - 12 * (len(arrow.labels) - 1)
            continue
        side = "left" if x[s] < centre else "right"
        i = count[side]
        count[side] += 1
        sign = -1 if side == "left" else 1
        lane = left_edge - MARGIN - i * LANE_GAP if side == "left" else right_edge + MARGIN + i * LANE_GAP
        row_s, row_t = rows[rank[s]], rows[rank[t]]
        out_side = row_s[0 if side == "left" else -1] == s
        in_side = row_t[0 if side == "left" else -1] == t
        if out_side:
            start = [(x[s] + sign * BOX_W / 2, y[s] + BOX_H / 2)]
            exit_y = y[s] + BOX_H / 2
        else:
            exit_y = y[s] + BOX_H + 8 + 5 * (i % 4)
            start = [(x[s], y[s] + BOX_H), (x[s], exit_y)]
        if in_side:
            end = [(lane, y[t] + BOX_H / 2), (x[t] + sign * BOX_W / 2, y[t] + BOX_H / 2)]
        else:
            enter_y = y[t] - 8 - 5 * (i % 4)
            end = [(lane, enter_y), (x[t], enter_y), (x[t], y[t])]
        points = start + [(lane, exit_y)] + end
        arrow.path = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in points)
        arrow.label_x, arrow.label_y = (start[-1][0] + lane) / 2, exit_y - 4
    return list(merged.values())
