"""Column lineage of one table as an SVG drawn in Python: no JS library, nothing fetched.

Tables are boxes listing their columns, placed in columns by distance from the table asked
about (the department systems end up leftmost); each edge joins a source column to the
column computed from it, with its transformation as a tooltip.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from html import escape

from govlake.site.model import SystemInfo, slug
from lineage.declared import ColumnEdge

BOX_W, GAP_X, HEADER_H, ROW_H, GAP_Y, PAD = 290, 90, 40, 20, 24, 10
SYSTEM_PREFIX = "system:"


def upstream(edges: list[ColumnEdge], table: str) -> list[ColumnEdge]:
    """Every edge on a path from a column of `table` back to where its data comes from."""
    by_target = defaultdict(list)
    for edge in edges:
        by_target[(edge.target_table, edge.target_column)].append(edge)
    todo = [key for key in by_target if key[0] == table]
    seen, found = set(todo), []
    while todo:
        for edge in by_target.get(todo.pop(), []):
            found.append(edge)
            key = (edge.source_table, edge.source_column)
            if key not in seen:
                seen.add(key)
                todo.append(key)
    return sorted(set(found))


def downstream_tables(edges: list[ColumnEdge], table: str) -> list[str]:
    """Tables computed directly from `table`."""
    return sorted({e.target_table for e in edges if e.source_table == table} - {table})


def _ranks(edges: list[ColumnEdge], table: str) -> dict[str, int]:
    """Longest distance of each table from `table` (bounded, so a cycle cannot loop forever)."""
    rank = {table: 0}
    for _ in range(len(edges) + 1):
        changed = False
        for e in edges:
            if e.target_table in rank and rank.get(e.source_table, -1) < rank[e.target_table] + 1:
                rank[e.source_table] = rank[e.target_table] + 1
                changed = True
        if not changed:
            break
    return rank


@dataclass
class _Box:
    table: str
    columns: list[str]
    x: int
    y: int

    @property
    def height(self) -> int:
        return HEADER_H + ROW_H * len(self.columns) + PAD

    def column_y(self, column: str) -> int:
        return self.y + HEADER_H + ROW_H * self.columns.index(column) + ROW_H // 2


def _columns(edges: list[ColumnEdge], table: str, columns: list[str]) -> dict[str, list[str]]:
    """The columns drawn in each box: the asked table's own, then those on an edge."""
    cols: dict[str, list[str]] = defaultdict(list)
    cols[table] = list(dict.fromkeys(columns))
    for e in edges:
        for t, c in ((e.target_table, e.target_column), (e.source_table, e.source_column)):
            if c not in cols[t]:
                cols[t].append(c)
    return cols


def _centre(targets: list[tuple[str, str]], ys: dict[tuple[str, str], int]) -> float:
    placed = [ys[t] for t in targets if t in ys]
    return sum(placed) / len(placed) if placed else float("inf")


def _layout(edges: list[ColumnEdge], table: str, columns: list[str]) -> dict[str, _Box]:
    """Boxes by rank, right to left; each box and column placed near what it feeds (fewer
    crossings: the barycentre heuristic)."""
    rank = _ranks(edges, table)
    deepest = max(rank.values())
    cols = _columns(edges, table, columns)
    feeds = defaultdict(list)
    for e in edges:
        feeds[(e.source_table, e.source_column)].append((e.target_table, e.target_column))
    boxes: dict[str, _Box] = {}
    ys: dict[tuple[str, str], int] = {}
    for r in range(deepest + 1):
        names = [t for t in cols if rank.get(t, 0) == r]
        for t in names:
            cols[t].sort(key=lambda c, t=t: _centre(feeds[(t, c)], ys))
        names.sort(key=lambda t: (_centre([x for c in cols[t] for x in feeds[(t, c)]], ys), t))
        y = PAD
        for t in names:
            boxes[t] = _Box(t, cols[t], PAD + (deepest - r) * (BOX_W + GAP_X), y)
            y += boxes[t].height + GAP_Y
            ys.update({(t, c): boxes[t].column_y(c) for c in cols[t]})
    return boxes


def _fit(text: str, width: int) -> str:
    """Cut text to about `width` pixels at 12px (CJK characters count double)."""
    used, out = 0, []
    for ch in text:
        used += 12 if ord(ch) > 0x2E80 else 7
        if used > width:
            return "".join(out) + "…"
        out.append(ch)
    return text


def _title(table: str, systems: dict[str, SystemInfo]) -> tuple[str, str, str]:
    """(css kind, first line, second line) of a box header."""
    if table.startswith(SYSTEM_PREFIX):
        system, _, source_table = table.removeprefix(SYSTEM_PREFIX).partition(".")
        info = systems.get(system)
        if info:
            return "system", info.department, f"{info.information_system} · {source_table}"
        return "system", system, source_table
    return table.split(".")[0], table, ""


def _box_svg(box: _Box, kind: str, lines: tuple[str, str], href: str | None, target: bool) -> str:
    css = f"node {kind}" + (" target" if target else "")
    parts = [
        f'<g class="{css}" data-table="{escape(box.table)}">',
        f"<title>{escape(box.table)}</title>",
        f'<rect x="{box.x}" y="{box.y}" width="{BOX_W}" height="{box.height - PAD}" rx="6"/>',
    ]
    first, second = (escape(_fit(line, BOX_W - 16)) for line in lines)
    head = f'<text class="head" x="{box.x + 8}" y="{box.y + 16}">{first}</text>'
    if href:
        head = f'<a href="{escape(href)}">{head}</a>'
    parts.append(head)
    if lines[1]:
        parts.append(f'<text class="sub" x="{box.x + 8}" y="{box.y + 32}">{second}</text>')
    for column in box.columns:
        y = box.column_y(column)
        ident = escape(f"{box.table}.{column}")
        parts.append(
            f'<g class="col" data-id="{ident}"><rect x="{box.x + 4}" y="{y - ROW_H // 2 + 1}" '
            f'width="{BOX_W - 8}" height="{ROW_H - 2}" rx="3"/>'
            f'<text x="{box.x + 12}" y="{y + 4}">{escape(_fit(column, BOX_W - 24))}</text></g>'
        )
    parts.append("</g>")
    return "".join(parts)


def _edge_svg(edge: ColumnEdge, boxes: dict[str, _Box]) -> str:
    src, dst = boxes[edge.source_table], boxes[edge.target_table]
    x1, y1 = src.x + BOX_W, src.column_y(edge.source_column)
    x2, y2 = dst.x, dst.column_y(edge.target_column)
    mid = (x1 + x2) // 2
    source = f"{edge.source_table}.{edge.source_column}"
    target = f"{edge.target_table}.{edge.target_column}"
    tip = f"{source} → {target}: {edge.transformation}"
    return (
        f'<path class="edge" data-from="{escape(source)}" data-to="{escape(target)}" '
        f'd="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"><title>{escape(tip)}</title></path>'
    )


def lineage_svg(
    edges: list[ColumnEdge],
    table: str,
    columns: list[str],
    systems: dict[str, SystemInfo],
    link: dict[str, str],
) -> str:
    """The upstream column graph of `table`; `link` maps a table to its page (relative URL)."""
    path = _merged(upstream(edges, table))
    boxes = _layout(path, table, columns)
    width = max(b.x for b in boxes.values()) + BOX_W + PAD
    height = max(b.y + b.height for b in boxes.values()) + PAD
    out = [
        f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="lineage of {escape(table)}" data-table="{escape(table)}">'
    ]
    out += [_edge_svg(e, boxes) for e in path]
    for box in boxes.values():
        kind, first, second = _title(box.table, systems)
        out.append(_box_svg(box, kind, (first, second), link.get(box.table), box.table == table))
    out.append("</svg>")
    return "\n".join(out)


def _merged(edges: list[ColumnEdge]) -> list[ColumnEdge]:
    """One line per pair of columns; declared and recorded ways of saying it joined by '; '."""
    how: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for e in edges:
        how[(e.target_table, e.target_column, e.source_table, e.source_column)].append(
            e.transformation
        )
    return [ColumnEdge(*key, "; ".join(sorted(set(ways)))) for key, ways in sorted(how.items())]


def page_name(table: str) -> str:
    return f"{slug(table)}.html"
