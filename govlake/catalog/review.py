"""Review of catalog entries (退回纠正): every failure with the entry, field, rule and fix."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass

from govlake.catalog.grades import GradeScheme, declared_grades, inherit
from govlake.catalog.models import CatalogEntry, CatalogRules
from govlake.catalog.schemas import Lakehouse
from govlake.errors import GovlakeError
from govlake.lakehouse import APP_DATABASE, Table


@dataclass(frozen=True, order=True)
class Finding:
    """One reason an entry is returned to its department."""

    entry: str
    field: str
    rule: str
    fix: str
    # Work for a draft's department, not a failure: the draft itself, or a grade finding that
    # only a draft's stand-in (strictest) grades cause downstream.
    draft: bool = False


@dataclass
class Review:
    """What the checks need, prepared once."""

    entries: list[CatalogEntry]
    rules: CatalogRules
    lake: Lakehouse
    scheme: GradeScheme

    @property
    def declared(self) -> dict:
        """Grades typed in the entries and in theme models (a model's wins for its column)."""
        models = {column: g.grade for column, g in self.lake.grades.items()}
        return declared_grades(self.entries) | models

    @property
    def reasoned(self) -> dict:
        """Theme columns declared looser than inherited, with the reason: kept as declared."""
        return {column: g.grade for column, g in self.lake.grades.items() if g.reason}

    @property
    def draft_tables(self) -> set[str]:
        return {t for e in self.entries if e.status == "draft" for t in e.tables}

    @property
    def inherited(self):
        return inherit(self.scheme, self.declared, self.lake.edges, self.reasoned)


def check_code(review: Review, entry: CatalogEntry) -> list[Finding]:
    """The code follows the configured structure and agrees with the classification."""
    rule = review.rules.code
    match = re.match(rule.pattern, entry.code)
    if not match:
        return [
            Finding(
                entry.resource,
                "code",
                f"资源代码格式 the code '{entry.code}' does not follow {rule.pattern}",
                f"write it like {rule.example} (类+项+目+细目-序号).",
            )
        ]
    found = []
    parts = match.groupdict()
    for level in ("lei", "xiang", "mu", "ximu"):
        declared = getattr(entry.classification, level).code
        if level in parts and (parts[level] or "") != declared:
            found.append(
                Finding(
                    entry.resource,
                    f"classification.{level}",
                    f"the code's {level} part '{parts[level]}' differs from the classification "
                    f"code '{declared}'",
                    "make the code and the classification (类/项/目/细目) agree.",
                )
            )
    for table in entry.tables:
        database = Table.parse(table).database
        lei = rule.lei_by_database.get(database)
        if lei and entry.classification.lei.code != lei:
            found.append(
                Finding(
                    entry.resource,
                    "classification.lei",
                    f"类 of a {database} table is {lei}, not {entry.classification.lei.code}",
                    f"register {table} under 类 {lei} (conf/catalog.yaml code.lei_by_database).",
                )
            )
    return found


def check_duplicates(entries: list[CatalogEntry]) -> list[Finding]:
    """Codes are unique, and each table is described by one entry."""
    found = []
    codes = Counter(e.code for e in entries)
    tables = Counter(t for e in entries for t in e.tables)
    for entry in entries:
        if codes[entry.code] > 1:
            others = [e.resource for e in entries if e.code == entry.code and e is not entry]
            found.append(
                Finding(
                    entry.resource,
                    "code",
                    f"资源代码唯一 the code '{entry.code}' is also used by {', '.join(others)}",
                    "give each resource its own sequence number.",
                )
            )
        for table in entry.tables:
            if tables[table] > 1:
                found.append(
                    Finding(
                        entry.resource,
                        "tables",
                        f"{table} is described by more than one entry",
                        "describe each table in exactly one entry (一本账).",
                    )
                )
    return found


def check_attributes(entry: CatalogEntry) -> list[Finding]:
    """Sharing and open attributes: conditions and legal basis where the rules ask for them."""
    found = []
    share, opened = entry.sharing, entry.open
    if share.type == "有条件共享" and not (share.condition or "").strip():
        found.append(
            Finding(
                entry.resource,
                "sharing.condition",
                "有条件共享 requires its sharing condition",
                "state the condition, e.g. 仅限政务服务事项办理使用, 需经提供部门审核.",
            )
        )
    if share.type == "不予共享" and not (entry.legal_basis or "").strip():
        found.append(
            Finding(
                entry.resource,
                "legal_basis",
                "不予共享 requires the law or regulation it rests on",
                "cite the legal basis (法律法规或国务院决定) in legal_basis.",
            )
        )
    if share.type == "不予共享" and opened.type != "不予开放":
        found.append(
            Finding(
                entry.resource,
                "open.type",
                f"不予共享 forces 不予开放, not {opened.type}",
                "set open.type: 不予开放.",
            )
        )
    if opened.type == "有条件开放" and not (opened.condition or "").strip():
        found.append(
            Finding(
                entry.resource,
                "open.condition",
                "有条件开放 requires its open condition",
                "state the condition under which the public may obtain it.",
            )
        )
    return found


def check_grades(review: Review, entry: CatalogEntry) -> list[Finding]:
    """Every item has a known grade, typed or inherited, never looser than its inputs'."""
    found = []
    inherited = review.inherited
    levels = ", ".join(review.scheme.levels)
    for n, item in enumerate(entry.items):
        where = f"items[{n}].grade ({item.column})"
        if item.grade and not review.scheme.known(item.grade):
            found.append(
                Finding(entry.resource, where, f"unknown grade '{item.grade}'", f"use {levels}.")
            )
            continue
        up = [inherited[(t, item.column)] for t in entry.tables if (t, item.column) in inherited]
        models = [m for t in entry.tables if (m := review.lake.grades.get((t, item.column)))]
        found += check_model_grades(review, entry, where, models, up)
        if models:
            continue
        if not item.grade and not up:
            found.append(
                Finding(
                    entry.resource,
                    where,
                    "每个信息项须定级 the item has no grade and inherits none",
                    f"grade it with one of {levels} (conf/catalog.yaml grades).",
                )
            )
        for parent in up:
            if item.grade and review.scheme.looser(item.grade, parent.grade):
                found.append(
                    looser_than(
                        review,
                        Finding(
                            entry.resource,
                            where,
                            f"就高从严 declared {item.grade} is looser than {parent.grade} "
                            f"inherited from {', '.join(parent.sources)}",
                            f"remove the grade to inherit {parent.grade}, or raise it.",
                        ),
                        parent,
                    )
                )
    return found


def looser_than(review: Review, finding: Finding, parent) -> Finding:
    """A 就高从严 finding, as draft work when every stricter source is a draft's column: its
    grade is a stand-in until the department confirms it, so it must not fail the night (the
    stricter grade is still the one inherited, so nothing is shown more loosely meanwhile)."""
    drafts = review.draft_tables
    if not all(source.rsplit(".", 1)[0] in drafts for source in parent.sources):
        return finding
    return Finding(
        finding.entry,
        finding.field,
        f"{finding.rule} (草稿 a draft's stand-in grade, to be confirmed by its department)",
        f"{finding.fix} Or, once the draft's grade is confirmed, nothing.",
        draft=True,
    )


def check_model_grades(review: Review, entry: CatalogEntry, where: str, models, up) -> list:
    """A theme column graded in its model: a known level, and looser than what it inherits
    only with a written reason (a count per district is not the persons it counts)."""
    found = []
    for model in models:
        if not review.scheme.known(model.grade):
            levels = ", ".join(review.scheme.levels)
            found.append(
                Finding(
                    entry.resource,
                    where,
                    f"unknown grade '{model.grade}' in the theme model",
                    f"use {levels} in libraries/themes/{entry.resource}.yaml.",
                )
            )
            continue
        for parent in up:
            if review.scheme.looser(model.grade, parent.grade) and not model.reason:
                found.append(
                    looser_than(
                        review,
                        Finding(
                            entry.resource,
                            where,
                            f"就高从严 the theme model declares {model.grade}, looser than "
                            f"{parent.grade} inherited from {', '.join(parent.sources)}, "
                            "without a reason",
                            f"write grade_reason in libraries/themes/{entry.resource}.yaml, or "
                            "remove the grade.",
                        ),
                        parent,
                    )
                )
    return found


def check_items(review: Review, entry: CatalogEntry) -> list[Finding]:
    """Items match the tables' real columns (Delta schema when the table exists)."""
    found = []
    names = [i.column for i in entry.items]
    for column in {c for c in names if names.count(c) > 1}:
        found.append(
            Finding(entry.resource, "items", f"column {column} is listed twice", "list it once.")
        )
    for table in entry.tables:
        info = review.lake.tables.get(table)
        if info is None:
            found.append(
                Finding(
                    entry.resource,
                    "tables",
                    f"目录—数据 {table} is not a table of the lakehouse (no source, library or "
                    "Delta table)",
                    "name an ods.<system>__<table>, base.<library> or existing Delta table.",
                )
            )
            continue
        for column in sorted(set(names) - set(info.columns)) if info.complete else []:
            found.append(
                Finding(
                    entry.resource,
                    f"items ({column})",
                    f"{table} has no column {column} ({info.origin} schema)",
                    f"remove the item or correct it to one of {', '.join(info.columns)}.",
                )
            )
        missing = set(info.columns) - set(names)
        for column in sorted(missing):
            found.append(
                Finding(
                    entry.resource,
                    "items",
                    f"column {column} of {table} has no data item ({info.origin} schema)",
                    f"add an item for {column} with its Chinese name, type and grade.",
                )
            )
    return found


def check_systems(review: Review, entry: CatalogEntry) -> list[Finding]:
    """数据—系统: the entry names the information systems its tables come from."""
    if not entry.source_systems:
        return [
            Finding(
                entry.resource,
                "source_systems",
                "数据—系统 the entry names no source information system",
                "list the systems of conf/sources the data comes from, e.g. [psb_hukou].",
            )
        ]
    found = [
        Finding(
            entry.resource,
            "source_systems",
            f"'{s}' is not a configured source system",
            f"use one of {', '.join(sorted(review.lake.sources))}.",
        )
        for s in entry.source_systems
        if s not in review.lake.sources
    ]
    tables = [review.lake.tables[t] for t in entry.tables if t in review.lake.tables]
    upstream = {s for info in tables for s in info.systems}
    for system in sorted(upstream - set(entry.source_systems)):
        found.append(
            Finding(
                entry.resource,
                "source_systems",
                f"the data comes from {system} (lineage), which the entry does not name",
                f"add {system} to source_systems.",
            )
        )
    return found


DRAFT_FIELD = "status"  # a draft's finding: work for its department, not a failure


def check_draft(entry: CatalogEntry) -> list[Finding]:
    """A draft is listed with what its department must complete; a draft the review made in
    memory (no file yet) also names the command that writes it."""
    if entry.status != "draft":
        return []
    unwritten = entry.file_path is None
    where = "no catalog file yet: reviewed as the " if unwritten else ""
    write = (
        f"`govlake catalog draft {entry.source_systems[0]}` writes it to conf/catalog/; "
        if unwritten
        else ""
    )
    return [
        Finding(
            entry.resource,
            DRAFT_FIELD,
            f"{where}草稿 draft generated from the source's YAML: its grades stand at the "
            "strictest, sharing at 有条件共享 and open at 不予开放 until the department "
            "declares them",
            f"{write}{entry.provider.department}: confirm classification and code, items' names, "
            "types and grades, the sharing condition and the open attribute; then remove "
            "`status: draft`.",
            draft=True,
        )
    ]


def check_coverage(review: Review) -> list[Finding]:
    """Every table of the registered databases has an entry (一本账)."""
    covered = {t for e in review.entries for t in e.tables}
    return [
        Finding(
            table,
            "tables",
            "every lakehouse table is a registered catalog resource; this one has no entry",
            f"add conf/catalog/{_entry_name(table)}.yaml describing {table}" + _draft_hint(table),
        )
        for table in sorted(review.lake.tables)
        if table not in covered and _registered(review, Table.parse(table).database)
    ]


def _draft_hint(table: str) -> str:
    """For a source's table: the command that writes a draft entry from its YAML."""
    if not table.startswith("ods."):
        return "."
    system = Table.parse(table).name.split("__")[0]
    return f" (`govlake catalog draft {system}` writes a draft from the source's YAML)."


def _entry_name(table: str) -> str:
    """The usual entry file of a table: its name; an application warehouse's, its database."""
    t = Table.parse(table)
    return t.database if APP_DATABASE.match(t.database) else t.name


def _registered(review: Review, database: str) -> bool:
    """A database whose tables need an entry: the registered ones and every application's
    warehouse (一应用一数仓: catalogued like a theme)."""
    return database in review.rules.registered_databases or bool(APP_DATABASE.match(database))


def check_related(entries: list[CatalogEntry]) -> list[Finding]:
    codes = {e.code for e in entries}
    return [
        Finding(
            e.resource,
            "related",
            f"related resource code {code} is not in the catalog",
            "name the code of an existing entry or remove it.",
        )
        for e in entries
        for code in e.related
        if code not in codes
    ]


def check_theme_models(review: Review) -> list[Finding]:
    """The theme models load: otherwise their tables are unknown, and the review says why."""
    if not review.lake.theme_error:
        return []
    return [
        Finding(
            "libraries/themes",
            "models",
            f"the theme models do not load: {review.lake.theme_error}",
            "correct the model named there (govlake theme lists the same error).",
        )
    ]


def review_of(entries: list[CatalogEntry], rules: CatalogRules, lake: Lakehouse) -> Review:
    """The review of the entries plus, in memory, a draft for each source table of the lake
    without an entry (issue 20 item 9): a new source is its department's listed work, not a
    failure of the night, before anyone runs `govlake catalog draft`."""
    from govlake.catalog.draft import missing_drafts

    drafts = missing_drafts(entries, rules, lake.tables, dt.date.today())
    return Review([*entries, *drafts], rules, lake, GradeScheme(rules.grades))


def run_review(review: Review) -> list[Finding]:
    found = check_duplicates(review.entries) + check_coverage(review) + check_theme_models(review)
    found += check_related(review.entries)
    for entry in review.entries:
        found += check_code(review, entry) + check_attributes(entry)
        found += check_grades(review, entry) + check_items(review, entry)
        found += check_systems(review, entry) + check_draft(entry)
    return sorted(set(found))


def blocking(findings: list[Finding]) -> list[Finding]:
    """The findings that fail the review: all but the drafts' work lists."""
    return [f for f in findings if not f.draft]


class NotPublishable(GovlakeError):
    """A base or theme table whose catalog entry fails review is not published."""


def refuse(table: str, entries: list[CatalogEntry], findings: list[Finding]) -> None:
    """Raise with the reasons when the table's entry (or the table itself) has findings."""
    covering = [e for e in entries if table in e.tables]
    names = {table} | {e.resource for e in covering}
    # A draft's work (its stand-in grades seen downstream) does not stop a build.
    mine = blocking([f for f in findings if f.entry in names])
    if not mine:
        return
    reasons = "; ".join(f"{f.field}: {f.rule}" for f in mine)
    path = covering[0].file_path if covering else None
    raise NotPublishable(
        f"{table} is not published: its catalog entry fails review (退回纠正): {reasons}.",
        file=str(path) if path else None,
        fix="; ".join(dict.fromkeys(f.fix for f in mine)) + " Then run `govlake catalog validate`.",
    )
