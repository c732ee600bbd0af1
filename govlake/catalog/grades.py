"""Grades (分类分级) and 就高从严: a derived column takes the strictest grade of its inputs."""

from __future__ import annotations

from dataclasses import dataclass

from govlake.catalog.models import CatalogEntry, GradeRules
from lineage.declared import ColumnEdge

Column = tuple[str, str]  # (db.table, column)


class GradeScheme:
    """The configured levels, ordered: national level first, then local level within it."""

    def __init__(self, rules: GradeRules) -> None:
        self.rules = rules
        self._rank: dict[str, tuple[int, int]] = {}
        self._national: dict[str, str] = {}
        for index, local in enumerate(rules.local):
            self._rank[local.level] = (rules.national.index(local.national), index)
            self._national[local.level] = local.national
        for index, name in enumerate(rules.national):
            under = [i for i, x in enumerate(rules.local) if x.national == name]
            # A bare national level counts as the strictest local level under it (就高从严).
            self._rank[name] = (index, max(under, default=-1))
            self._national[name] = name

    @property
    def levels(self) -> list[str]:
        return list(self._rank)

    def known(self, grade: str) -> bool:
        return grade in self._rank

    def national(self, grade: str) -> str:
        return self._national[grade]

    def looser(self, grade: str, than: str) -> bool:
        return self._rank[grade] < self._rank[than]

    def strictest(self, grades: list[str]) -> str | None:
        known = [g for g in grades if g in self._rank]
        return max(known, key=self._rank.__getitem__) if known else None


@dataclass(frozen=True)
class Inherited:
    """The grade a column inherits and the upstream columns it comes from."""

    grade: str
    sources: tuple[str, ...]


def declared_grades(entries: list[CatalogEntry]) -> dict[Column, str]:
    """Grades typed in the entries, per table column."""
    return {
        (table, item.column): item.grade
        for entry in entries
        for table in entry.tables
        for item in entry.items
        if item.grade
    }


def inherit(
    scheme: GradeScheme,
    declared: dict[Column, str],
    edges: list[ColumnEdge],
    fixed: dict[Column, str] | None = None,
) -> dict[Column, Inherited]:
    """Per derived column, the strictest grade of the columns it is built from, through as many
    layers as the lineage has (a theme column from a base column from an ods column).

    `fixed` columns (a count per district declared looser with a reason) pass their own grade
    on to what is computed from them, not the stricter grade of what they count."""
    fixed = fixed or {}
    upstream: dict[Column, set[Column]] = {}
    for e in edges:
        upstream.setdefault((e.target_table, e.target_column), set()).add(
            (e.source_table, e.source_column)
        )
    done: dict[Column, Inherited | None] = {}

    def grade_of(column: Column, seen: frozenset) -> str | None:
        if column in fixed:
            return fixed[column]
        own = declared.get(column)
        above = visit(column, seen)
        candidates = [g for g in (own, above.grade if above else None) if g]
        return scheme.strictest(candidates)

    def visit(column: Column, seen: frozenset) -> Inherited | None:
        if column in done:
            return done[column]
        if column in seen or column not in upstream:
            return None
        graded = [(grade_of(src, seen | {column}), src) for src in sorted(upstream[column])]
        graded = [(g, src) for g, src in graded if g]
        strictest = scheme.strictest([g for g, _ in graded])
        result = None
        if strictest:
            names = (n for g, src in graded if g == strictest for n in typed_at(src, g))
            result = Inherited(strictest, tuple(dict.fromkeys(names)))
        done[column] = result
        return result

    def typed_at(column: Column, grade: str) -> tuple[str, ...]:
        # Name where the grade was typed, not the ungraded layers between (std.<lib>__<input>).
        above = done.get(column)
        if declared.get(column) == grade or above is None or above.grade != grade:
            return (f"{column[0]}.{column[1]}",)
        return above.sources

    return {c: r for c in upstream if (r := visit(c, frozenset())) is not None}
