"""Inline SVG bar charts for the statistics page: readable without JS or a chart library."""

from __future__ import annotations

from html import escape

LABEL_W, BAR_W, ROW_H, VALUE_W = 170, 360, 26, 50


def bar_chart(
    title: str, rows: list[tuple[str, float]], series: str = "a", top: float | None = None
) -> str:
    """Horizontal bars, one per (label, value) in the order given; `top` fixes the scale."""
    if not rows:
        return f'<p class="empty">{escape(title)}: 暂无数据</p>'
    top = top or max(v for _, v in rows) or 1
    width, height = LABEL_W + BAR_W + VALUE_W, ROW_H * len(rows) + 8
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
    ]
    for n, (label, value) in enumerate(rows):
        y = 4 + n * ROW_H
        length = max(2, round(BAR_W * value / top)) if value else 0
        out.append(
            f'<g class="bar s-{series}"><title>{escape(label)}: {value}</title>'
            f'<text class="label" x="{LABEL_W - 8}" y="{y + 16}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect x="{LABEL_W}" y="{y + 3}" width="{length}" height="{ROW_H - 8}" rx="3"/>'
            f'<text class="value" x="{LABEL_W + length + 6}" y="{y + 16}">{value}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def counts(values: list[str]) -> list[tuple[str, int]]:
    """(value, count) sorted by count then value."""
    tally: dict[str, int] = {}
    for value in values:
        tally[value] = tally.get(value, 0) + 1
    return sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))


SPARK_W, SPARK_H = 140, 28


def sparkline(title: str, points: list[tuple[str, float]], top: float = 100) -> str:
    """A small line of values over nights (oldest first) on a fixed 0..top scale, each point
    with its label and value as a tooltip; one point is drawn as a dot."""
    if not points:
        return '<span class="empty">—</span>'
    step = (SPARK_W - 8) / max(len(points) - 1, 1)
    xy = [
        (4 + n * step, SPARK_H - 4 - (SPARK_H - 8) * min(max(v, 0), top) / top)
        for n, (_, v) in enumerate(points)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>{escape(label)}: {value:.1f}</title>'
        "</circle>"
        for (x, y), (label, value) in zip(xy, points, strict=True)
    )
    return (
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{SPARK_W}" '
        f'height="{SPARK_H}" viewBox="0 0 {SPARK_W} {SPARK_H}" role="img" '
        f'aria-label="{escape(title)}"><polyline points="{line}"/>{dots}</svg>'
    )
