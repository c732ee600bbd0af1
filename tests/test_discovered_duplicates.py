"""Duplicate collection found from the data (issue 14 item 5), on the generator's department
tables of 1,000 persons as ods rows (every configured table, in memory: only the report is written).

Ground truth comes from the generator's world, not from the code under test: a column states a
world fact (a person's name, an enterprise's address ...) when, on the rows whose identifier
names a person or enterprise of the world, most values equal that fact. Two columns of two
departments stating one fact through one kind of identifier are duplicate collection."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter

import pytest

from govlake.lakehouse import Table
from govlake.sample.generate import generate_tables, record_rows
from govlake.sources import get_table
from jobs.feedback.discovered import OdsTable, write_discovered

NIGHT = dt.date(2026, 11, 26)
PERSONS = 1000
SHARED_FOR_RECALL = 20  # keys two tables must share for the pair to be expected found


def text(value) -> str | None:
    return None if value is None else str(value)


def day(value) -> dt.date | None:
    """A date stated as 2024-01-02, 20240102 or a date object (the test's own reading)."""
    if value is None:
        return None
    raw = str(value).strip()[:10].replace("-", "")
    try:
        return dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        return None


def world_facts(world) -> dict[str, dict[str, dict]]:
    """identifier kind -> identifier -> {fact: value} of every person and enterprise."""
    pop, ents, homes = world.pop, world.ents, world.pop.households
    represents = Counter(ents.rep)
    persons = {
        pop.sfzh[i]: {
            "person.name": pop.name[i],
            "person.birth": dt.date.fromordinal(pop.birth[i]),
            "person.address": homes.address[pop.household[i]],
        }
        for i in range(len(pop))
    }
    for e, person in enumerate(ents.rep):  # the enterprise a person alone represents
        if represents[person] == 1:
            persons[pop.sfzh[person]]["person.enterprise"] = ents.uscc[e]
    enterprises = {
        ents.uscc[e]: {
            "enterprise.name": ents.name[e],
            "enterprise.address": ents.address[e],
            "enterprise.founded": dt.date.fromordinal(ents.clrq[e]),
            "enterprise.representative": pop.name[ents.rep[e]],
            "enterprise.representative_id": pop.sfzh[ents.rep[e]],
        }
        for e in range(len(ents))
    }
    return {"ric": persons, "uscc": enterprises}


def stated_facts(spec, rows, facts) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(key column, column) -> {(kind, fact)} for the columns that state world facts."""
    found: dict[tuple[str, str], set] = {}
    keys = [(c, "ric") for c in spec.id_cols] + [(c, "uscc") for c in spec.uscc_cols]
    keys += [("qlrzjhm", kind) for kind in ("ric", "uscc") if "qlrzjhm" in spec.columns]
    for (key, kind), column in itertools.product(keys, spec.columns):
        known = [
            (r, facts[kind][r[spec.col(key)]]) for r in rows if r[spec.col(key)] in facts[kind]
        ]
        if column == key or len(known) < 5:
            continue
        at_column = spec.col(column)
        for fact in {f for _r, facts_of in known for f in facts_of}:
            stated = [(r[at_column], f[fact]) for r, f in known if fact in f and r[at_column]]
            same = sum(_states(value, truth) for value, truth in stated)
            if same >= 0.8 * len(stated) and same >= 5:
                found.setdefault((key, column), set()).add((kind, fact))
    return found


def _states(value, fact) -> bool:
    if isinstance(fact, dt.date):
        return day(value) == fact
    return text(value) is not None and text(value).strip() == fact


@pytest.fixture(scope="module")
def generated(spark, cfg):
    """The ods tables of one generated night and the world's facts about their columns."""
    world, generated_tables = generate_tables(PERSONS, NIGHT, seed=11)
    facts, truth, frames, keysets = world_facts(world), {}, {}, {}
    for spec, every in generated_tables.values():
        rows = record_rows(spec, every)
        source, table = get_table(spec.system, spec.table)
        name = source.ods_table(table)
        columns = [table.ods_column(c) for c in spec.columns]
        records = [[text(v) for v in r] + [NIGHT] for r in rows]
        schema = ", ".join(f"`{c}` string" for c in columns) + ", _batch_date date"
        frames[OdsTable(name, source.department)] = spark.createDataFrame(records, schema)
        for (k, column), stated in stated_facts(spec, rows, facts).items():
            truth.setdefault((name, table.ods_column(column)), set()).update(stated)
            for kind, _fact in stated:
                keys = {r[spec.col(k)] for r in rows} & set(facts[kind])
                keysets.setdefault((name, kind), set()).update(keys)
    return {"frames": frames, "truth": truth, "keysets": keysets, "world": world}


@pytest.fixture(scope="module")
def report(spark, cfg, generated):
    return write_discovered(spark, cfg, NIGHT, "night-1", frames=generated["frames"])


def pair(row) -> frozenset:
    return frozenset(((row["table_a"], row["column_a"]), (row["table_b"], row["column_b"])))


def expected_pairs(generated) -> set[frozenset]:
    """Columns of two departments stating one world fact, their tables sharing enough keys."""
    departments = {t.table: t.department for t in generated["frames"]}
    truth, keysets = generated["truth"], generated["keysets"]
    expected = set()
    for (a, ca), (b, cb) in itertools.combinations(sorted(truth), 2):
        if departments[a] == departments[b]:
            continue
        for kind, _fact in truth[(a, ca)] & truth[(b, cb)]:
            if len(keysets[(a, kind)] & keysets[(b, kind)]) >= SHARED_FOR_RECALL:
                expected.add(frozenset(((a, ca), (b, cb))))
    return expected


def test_the_ground_truth_knows_the_copied_columns(generated):
    """The world finds what the generator's builders copy (else the other tests prove nothing)."""
    truth = generated["truth"]
    name, firm = ("ric", "person.name"), ("uscc", "enterprise.name")
    assert truth[("ods.psb_hukou__hj_resident", "xm")] == {name}
    assert truth[("ods.nhsa_medical_insurance__mi_insured", "psn_name")] == {name}
    assert truth[("ods.samr_enterprise__qy_jbxx", "qymc")] == {firm}
    assert truth[("ods.tax_credit__credit_rating", "taxpayer_name")] == {firm}
    assert truth[("ods.nr_realestate__bdc_unit", "qlrmc")] == {name, firm}  # persons, firms
    assert ("ods.psb_hukou__hj_resident", "yhzgx") not in truth  # relation to the head: no fact
    assert len(expected_pairs(generated)) >= 8


def test_known_duplicated_columns_are_found(generated, report):
    found = {pair(r) for r in report}
    missing = expected_pairs(generated) - found
    assert not missing, f"duplicated columns not found: {sorted(map(sorted, missing))}"


def test_columns_that_state_no_shared_fact_are_not_reported(generated, report):
    """Every reported pair states one world fact on both sides: record numbers, codes drawn at
    random, statuses and timestamps never agree beyond chance."""
    truth = generated["truth"]
    wrong = [
        sorted(pair(r))
        for r in report
        if not truth.get((r["table_a"], r["column_a"]), set())
        & truth.get((r["table_b"], r["column_b"]), set())
    ]
    assert not wrong, f"reported without a shared fact: {wrong}"
    assert all(r["department_a"] != r["department_b"] for r in report)


def test_rates_overlap_and_declared(report):
    """psb's name of a person is declared with hrss's (libraries/population.yaml); nhsa's is
    collected again by nobody's declaration. Rates are rates, never values."""
    by_pair = {pair(r): r for r in report}
    hrss = by_pair[frozenset(
        (("ods.psb_hukou__hj_resident", "xm"), ("ods.hrss_social_insurance__si_enrolment", "name"))
    )]  # fmt: skip
    assert hrss["declared"] and hrss["declared_by"] == "population.name"
    insured = ("ods.nhsa_medical_insurance__mi_insured", "psn_name")
    nhsa = by_pair[frozenset((("ods.psb_hukou__hj_resident", "xm"), insured))]
    assert not nhsa["declared"] and nhsa["declared_by"] is None
    assert nhsa["key_kind"] == "ric" and nhsa["value_class"] == "text"
    assert nhsa["agree_percent"] >= 90 and nhsa["chance_percent"] < 5
    # nhsa insures most residents: the sketch's overlap is near the table's distinct keys.
    assert nhsa["keys_overlap"] >= 0.7 * min(nhsa["keys_a"], nhsa["keys_b"])
    assert PERSONS * 0.7 <= max(nhsa["keys_a"], nhsa["keys_b"]) <= PERSONS * 1.3


def test_the_cli_prints_the_night_and_a_rerun_replaces_it(spark, cfg, report, monkeypatch, capsys):
    """`govlake quality duplicates --found` prints the stored night; the night run again
    (here on no table, to stay cheap) leaves the rerun's rows only: none."""
    import json

    from govlake.cli import build_parser
    from jobs.feedback import cli as feedback_cli

    monkeypatch.setattr(feedback_cli, "_context", lambda: (spark, cfg))
    args = build_parser().parse_args(["quality", "duplicates", "--found", "--json"])
    capsys.readouterr()
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed) == len(report)
    assert ("psn_name", "xm") in {(r["column_a"], r["column_b"]) for r in printed}
    assert write_discovered(spark, cfg, NIGHT, "night-1-rerun", frames={}) == []
    assert Table.parse("quality.discovered_duplicates").read(spark, cfg).count() == 0


def test_the_departments_workbooks_list_what_they_collect_again(spark, cfg, generated, report):
    """市医保局 collects residents' names 市公安局 collects too: its workbook says so, with
    column names and rates, and no name of a person anywhere."""
    import openpyxl

    from jobs.feedback.workbooks import DUPLICATE_SHEET, write_workbooks

    written = write_workbooks(spark, cfg, NIGHT, "night-1", [], report)
    book = openpyxl.load_workbook(next(p for p in written if p.name == "市医保局.xlsx"))
    rows = list(book[DUPLICATE_SHEET].values)
    mine = [r for r in rows[1:] if r[1] == "psn_name" and r[4] == "xm"]
    assert len(mine) == 1 and mine[0][2] == "市公安局" and mine[0][7] >= 90
    assert mine[0][9] == "否 no"  # no library declares it
    assert not set(generated["world"].pop.name) & {str(v) for r in rows for v in r}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("张伟", " 张 伟\u3000"),  # spaces, an ideographic space
        ("ABC123", "ａｂｃ１２３"),  # full-width, lower case
        ("1990-01-02", "19900102"),
        ("1990-01-02", "1990/1/2"),
        ("1990-01-02", "1990年1月2日"),
        ("1990-01-02", "1990-01-02 00:00:00"),
        ("26", "26.0"),
    ],
)
def test_statements_are_compared_after_normalization(a, b):
    from jobs.feedback.discovered import normalize

    assert normalize(a) == normalize(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1990-01-02", "1990-01-03"),
        ("19900102", "199001020"),
        ("2024-01-02 08:00:00", "2024-01-02"),
    ],
)
def test_different_statements_stay_different(a, b):
    from jobs.feedback.discovered import normalize

    assert normalize(a) != normalize(b)


def test_chance_agreement_of_a_two_valued_code_is_high():
    """A sex code agrees half the time by chance: 60% agreement is not beyond it."""
    from jobs.feedback.discovered import MIN_LIFT, agreement

    pairs = [("1", "1")] * 30 + [("2", "2")] * 30 + [("1", "2")] * 20 + [("2", "1")] * 20
    n, agree, chance = agreement(pairs)
    assert (n, agree, chance) == (100, 0.6, 0.5)
    assert agree - chance < MIN_LIFT
