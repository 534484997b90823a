"""The report page's charts, drawn on the server as SVG: no script, no charting library to ship or pin,
and a page that shows its charts to any browser, the API server's proxy notwithstanding.

Every chart is a plain `<svg>` whose marks carry a `<title>` (the browser's tooltip) with the exact
figure; labels are escaped here, since the page inserts the markup as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 44
PALETTE = ("#2f6fdf", "#f0a43a", "#9aa5b1", "#d64545", "#5aa469", "#8e6bd8")


def _svg(label: str, body: list[str], height: int = HEIGHT) -> Markup:
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _nice_top(value: float) -> float:
    """The axis maximum: the next 1, 2 or 5 × 10ⁿ at or above the value."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _y_axis(top: float, height: int) -> list[str]:
    plot = height - TOP - BOTTOM
    marks = []
    for index in range(5):
        value = top * index / 4
        y = TOP + plot - plot * index / 4
        marks.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7ec"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#52606d">'
            f"{value:,.0f}</text>"
        )
    return marks


def _legend(names: Sequence[str], height: int) -> list[str]:
    items, x = [], LEFT
    for index, name in enumerate(names):
        items.append(
            f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{PALETTE[index % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{height - 5}" font-size="11" fill="#323f4b">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return items


def stacked_bars(label: str, categories: Sequence[str], series: dict[str, Sequence[int]]) -> Markup:
    """One bar per category, stacked by series (records per object, by outcome)."""
    height = HEIGHT + 10
    totals = [sum(values[index] for values in series.values()) for index in range(len(categories))]
    top = _nice_top(max(totals, default=0))
    plot = height - TOP - BOTTOM - 10
    slot = (WIDTH - LEFT - RIGHT) / max(len(categories), 1)
    body = _y_axis(top, height - 10)
    for index, category in enumerate(categories):
        x, base = LEFT + slot * index + slot * 0.2, TOP + plot
        for colour, (name, values) in enumerate(series.items()):
            value = values[index]
            if not value:
                continue
            size = plot * value / top
            base -= size
            body.append(
                f'<rect class="mark" x="{x:.1f}" y="{base:.1f}" width="{slot * 0.6:.1f}" height="{size:.1f}" '
                f'fill="{PALETTE[colour % len(PALETTE)]}"><title>{escape(category)}: {value:,} '
                f"{escape(name)}</title></rect>"
            )
        body.append(
            f'<text x="{x + slot * 0.3:.1f}" y="{TOP + plot + 14}" text-anchor="middle" font-size="11" '
            f'fill="#323f4b">{escape(category)}</text>'
        )
    return _svg(label, body + _legend(list(series), height), height)


def horizontal_bars(label: str, items: Sequence[tuple[str, int]]) -> Markup:
    """One bar per labelled count, longest first as given (quarantine reasons)."""
    row, text_width = 22, 300
    height = TOP + row * max(len(items), 1) + 8
    top = max((value for _, value in items), default=0) or 1
    span = WIDTH - text_width - RIGHT - 48
    body = []
    for index, (name, value) in enumerate(items):
        y = TOP + row * index
        shown = name if len(name) <= 48 else name[:47] + "…"
        body.append(
            f'<text x="{text_width - 6}" y="{y + 14}" text-anchor="end" font-size="11" fill="#323f4b">'
            f"{escape(shown)}</text>"
            f'<rect class="mark" x="{text_width}" y="{y + 3}" width="{max(span * value / top, 1):.1f}" '
            f'height="{row - 8}" fill="{PALETTE[3]}"><title>{escape(name)}: {value:,}</title></rect>'
            f'<text x="{text_width + span * value / top + 6:.1f}" y="{y + 14}" font-size="11" '
            f'fill="#52606d">{value:,}</text>'
        )
    return _svg(label, body, height)


def rate_against_budget(label: str, points: Sequence[tuple[datetime, int]], budget: int) -> Markup:
    """Requests per minute over time (every minute from the first to the last, silent ones at 0), and the
    budget as a dashed line."""
    counts = dict(points)
    minutes = []
    if points:
        moment, last = points[0][0], points[-1][0]
        while moment <= last:
            minutes.append(moment)
            moment += timedelta(minutes=1)
    top = _nice_top(max([budget, *counts.values()]) * 1.1)
    plot = HEIGHT - TOP - BOTTOM
    span = WIDTH - LEFT - RIGHT
    step = span / max(len(minutes) - 1, 1)

    def y(value: float) -> float:
        return TOP + plot - plot * value / top

    body = _y_axis(top, HEIGHT)
    line = " ".join(
        f"{LEFT + step * index:.1f},{y(counts.get(minute, 0)):.1f}" for index, minute in enumerate(minutes)
    )
    body.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(budget):.1f}" y2="{y(budget):.1f}" '
        f'stroke="{PALETTE[3]}" stroke-dasharray="6 4"><title>budget: {budget:,} requests/min</title></line>'
    )
    body.append(
        f'<polyline class="mark" points="{line}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>'
    )
    for index, minute in enumerate(minutes):
        value = counts.get(minute, 0)
        body.append(
            f'<circle class="mark" cx="{LEFT + step * index:.1f}" cy="{y(value):.1f}" r="3" '
            f'fill="{PALETTE[0]}"><title>{minute:%H:%M} UTC: {value:,} requests</title></circle>'
        )
    for index in sorted({0, len(minutes) // 2, len(minutes) - 1}) if minutes else []:
        body.append(
            f'<text x="{LEFT + step * index:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'font-size="11" fill="#323f4b">{minutes[index]:%H:%M}</text>'
        )
    return _svg(label, body + _legend(["requests/min", "budget"], HEIGHT), HEIGHT)


LENGTH_EDGES = (1, 2, 3, 4, 5, 6, 11, 21, 51, 101, 201, 501)


def length_buckets(lengths: dict[str, int]) -> list[tuple[str, int]]:
    """Conversations by number of messages: one bucket per length up to 5, then wider ones."""
    counts = [0] * len(LENGTH_EDGES)
    for length, count in lengths.items():
        index = (
            max(i for i, edge in enumerate(LENGTH_EDGES) if int(length) >= edge) if int(length) >= 1 else 0
        )
        counts[index] += count
    labels = []
    for index, edge in enumerate(LENGTH_EDGES):
        upper = LENGTH_EDGES[index + 1] - 1 if index + 1 < len(LENGTH_EDGES) else None
        labels.append(str(edge) if upper == edge else f"{edge}–{upper}" if upper else f"{edge}+")
    last = max((index for index, count in enumerate(counts) if count), default=-1)
    return list(zip(labels[: last + 1], counts[: last + 1], strict=True))


def histogram(label: str, buckets: Sequence[tuple[str, int]], unit: str) -> Markup:
    """Counts per bucket, as adjoining bars."""
    return stacked_bars(label, [name for name, _ in buckets], {unit: [count for _, count in buckets]})
