"""Open data (数据开放): Data Packages from tiny inline ods tables, validated by frictionless,
idempotent, refused at load when the catalog or the grades forbid them, and not published when
a value violates the package's own constraint."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from touched import record_rows_read, undeclared

from govlake.errors import ConfigError, GovlakeError
from govlake.lakehouse import Table
from govlake.open.config import load_datasets

PROJECT = Path(__file__).resolve().parent.parent
OPEN_CONF = PROJECT / "conf" / "open"
D1, D2 = dt.date(2026, 12, 1), dt.date(2026, 12, 2)

# (taxpayer_id, taxpayer_name, rating_year, credit_level, rating_date, _batch_date)
TAX = [
    ("91420700MA4K000001", "鄂州甲公司", "2025", "A", dt.date(2026, 4, 1), D1),
    ("91420700MA4K000002", "鄂州乙公司", "2025", "A", dt.date(2026, 4, 1), D1),  # gone on D2
    ("91420700MA4K000001", "鄂州甲公司", "2025", "A", dt.date(2026, 4, 1), D2),
    ("91420700MA4K000003", "鄂州丙公司", "2025", "B", dt.date(2026, 4, 1), D2),
    ("91420700MA4K000004", "鄂州丁公司", "2025", "A", dt.date(2026, 4, 2), D2),
    ("91420700MA4K000005", "鄂州戊公司", "2025", "M", dt.date(2026, 4, 2), D2),
    ("92420700MA4K000006", "鄂州己小吃店", "2025", "A", dt.date(2026, 4, 2), D2),  # a person's
]
TAX_COLUMNS = "taxpayer_id, taxpayer_name, rating_year, credit_level, rating_date, _batch_date"
# Expected A-level list: the latest batch's A rows, sorted.
TAX_EXPECTED = [
    ["taxpayer_id", "taxpayer_name", "rating_year", "credit_level", "rating_date"],
    ["91420700MA4K000001", "鄂州甲公司", "2025", "A", "2026-04-01"],
    ["91420700MA4K000004", "鄂州丁公司", "2025", "A", "2026-04-02"],
]
ZJHM = ("420702198001011234", "42070419751231567X")
SAMR = [  # id, tyshxydm, qymc, qylx, fddbr, fddbr_zjhm, zczb, clrq, jyzt, zs, jyfw, djjg, gxsj, b
    (
        1,
        "91420700MA4K0000A1",
        "旧名称公司",
        "股份有限公司(非上市、自然人投资或控股)",
        "张三",
        ZJHM[0],
        100.0,
        dt.date(2020, 1, 2),
        "存续",
        "鄂城区一路1号",
        "批发",
        "鄂州市市场监督管理局",
        dt.datetime(2026, 11, 30, 9, 0),
        D1,
    ),
    (
        1,
        "９1420700MA4K0000A1\u3000",  # a full-width digit and space: published as the code
        "鄂州新名称有限公司 ",
        "股份有限公司(非上市、自然人投资或控股)",
        "张三",
        ZJHM[0],
        120.5,
        dt.date(2020, 1, 2),
        "存续",
        "鄂城区一路1号",
        "批发",
        "鄂州市市场监督管理局",
        dt.datetime(2026, 12, 1, 9, 0),
        D2,
    ),
    (
        2,
        "９2420700MA4K0000B2",  # a sole trader however spelt: filtered after standardizing
        "李四小吃店",
        "个体工商户",
        "李四",
        ZJHM[1],
        3.0,
        dt.date(2021, 5, 6),
        "在业",
        "华容区二路2号",
        "餐饮",
        "鄂州市市场监督管理局华容分局",
        dt.datetime(2026, 11, 30, 9, 0),
        D1,
    ),
]
SAMR_COLUMNS = (
    "id BIGINT, tyshxydm STRING, qymc STRING, qylx STRING, fddbr STRING, fddbr_zjhm STRING, "
    "zczb DOUBLE, clrq DATE, jyzt STRING, zs STRING, jyfw STRING, djjg STRING, gxsj TIMESTAMP, "
    "_batch_date DATE"
)
SAMR_EXPECTED = [
    ["tyshxydm", "qymc", "qylx", "fddbr", "zczb", "clrq", "jyzt", "zs", "jyfw", "djjg"],
    [
        "91420700MA4K0000A1",
        "鄂州新名称有限公司",
        "股份有限公司(非上市、自然人投资或控股)",
        "张三",
        "120.5",
        "2020-01-02",
        "存续",
        "鄂城区一路1号",
        "批发",
        "鄂州市市场监督管理局",
    ],
]  # fmt: skip  (李四小吃店, a 个体工商户: a person's business, never in bulk open data)


def write_tax(spark, cfg, rows) -> None:
    df = spark.createDataFrame(
        rows,
        "taxpayer_id STRING, taxpayer_name STRING, rating_year STRING, credit_level STRING, "
        "rating_date DATE, _batch_date DATE",
    )
    Table.parse("ods.tax_credit__credit_rating").write(df, "overwrite", cfg=cfg)


@pytest.fixture(scope="module")
def exported(spark, cfg):
    """The shipped conf/open/ exported from the inline tables."""
    from jobs.open_data import export_open_data, open_root

    write_tax(spark, cfg, TAX)
    samr = spark.createDataFrame(SAMR, SAMR_COLUMNS)
    Table.parse("ods.samr_enterprise__qy_jbxx").write(samr, "overwrite", cfg=cfg)
    results = export_open_data(spark, cfg)
    return open_root(cfg), results


def read_csv(path: Path) -> list[list[str]]:
    import csv

    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_packages_are_exported_filtered_and_without_the_id_number(exported):
    root, results = exported
    assert {r["dataset"]: r["rows"] for r in results} == {
        "enterprise_registrations": 1,
        "tax_credit_a_list": 2,
    }
    assert read_csv(root / "tax_credit_a_list" / "data.csv") == TAX_EXPECTED
    assert read_csv(root / "enterprise_registrations" / "data.csv") == SAMR_EXPECTED
    package = json.loads((root / "tax_credit_a_list" / "datapackage.json").read_text("utf-8"))
    assert package["title"] == "纳税信用A级纳税人名单"
    fields = {f["name"]: f for f in package["resources"][0]["schema"]["fields"]}
    assert fields["taxpayer_id"]["title"] == "纳税人识别号"
    assert fields["rating_date"]["type"] == "date"
    assert fields["credit_level"]["constraints"] == {"enum": ["A"]}
    assert fields["taxpayer_id"]["constraints"] == {"required": True}  # quarantine rule


def test_frictionless_validates_every_package_library_and_cli(exported):
    from frictionless import Package

    root, _ = exported
    for descriptor in sorted(root.glob("*/datapackage.json")):
        report = Package(str(descriptor)).validate()
        assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "message"])
    cli = Path(sys.executable).with_name("frictionless")
    done = subprocess.run(
        [str(cli), "validate", "datapackage.json"],
        cwd=root / "tax_credit_a_list",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_nothing_graded_above_general_in_any_open_file(exported):
    """Independently of the export code: the catalog files' grades, and the raw ID numbers."""
    root, _ = exported
    strict = set()
    for entry in (PROJECT / "conf" / "catalog").glob("*.yaml"):
        items = (yaml.safe_load(entry.read_text("utf-8")) or {}).get("items", [])
        strict |= {i["column"] for i in items if i.get("grade") in ("L4", "重要", "核心")}
    assert "fddbr_zjhm" in strict
    for data in root.glob("*/data.csv"):
        assert not set(read_csv(data)[0]) & strict, data
        text = data.read_text("utf-8")
        assert not any(z in text for z in ZJHM), data


def test_dcat_catalogue_lists_both_packages(exported):
    root, _ = exported
    catalogue = json.loads((root / "catalog.jsonld").read_text("utf-8"))
    assert catalogue["@type"] == "dcat:Catalog"
    datasets = {d["dct:identifier"]: d for d in catalogue["dcat:dataset"]}
    assert list(datasets) == ["enterprise_registrations", "tax_credit_a_list"]  # 重点清单 order
    tax = datasets["tax_credit_a_list"]
    assert tax["dct:publisher"]["foaf:name"] == "市税务局"
    urls = [d["dcat:downloadURL"] for d in tax["dcat:distribution"]]
    assert urls == ["tax_credit_a_list/data.csv", "tax_credit_a_list/datapackage.json"]
    assert all((root / u).is_file() for u in urls)
    assert tax["dct:modified"].endswith("Z")


def test_rerun_is_byte_identical(exported, spark, cfg):
    from jobs.open_data import export_open_data

    root, _ = exported
    before = snapshot(root)
    export_open_data(spark, cfg)
    assert snapshot(root) == before


def conf_dir(tmp_path: Path, name: str, edit, shipped: bool = False) -> Path:
    """A conf/open folder with the tax dataset edited under `name` (and, when `shipped`, the
    other shipped files as they are)."""
    folder = tmp_path / "open"
    if shipped:
        shutil.copytree(OPEN_CONF, folder, ignore=shutil.ignore_patterns("*.md"))
    else:
        folder.mkdir(parents=True)
    raw = yaml.safe_load((OPEN_CONF / "tax_credit_a_list.yaml").read_text("utf-8"))
    edit(raw)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return folder


BAD = [
    (
        lambda r: r.update(resource="population", columns=["division"], condition=None),
        "field 'resource': population is 不予开放",
        "delete this file",
    ),
    (
        lambda r: r.update(
            resource="samr_enterprise__qy_jbxx",
            columns=["qymc", "fddbr_zjhm"],
            condition="不含法定代表人证件号码，经市市场监管局审核后开放",
            row_filter=None,
            constraints={},
        ),
        "field 'columns': fddbr_zjhm is graded L4, above 一般",
        "list it under 'masked' (mask kind resident_id)",
    ),
    (
        lambda r: r["columns"].append("no_such_column"),
        "field 'columns': no_such_column is not a column of ods.tax_credit__credit_rating",
        "list only columns the table has",
    ),
    (
        lambda r: r.update(condition=None),
        "field 'condition': tax_credit__credit_rating is 有条件开放",
        "copy the catalog entry's open.condition",
    ),
    (
        lambda r: r.update(row_filter="no_such = 'A'"),
        "field 'row_filter': unknown columns no_such",
        "credit_level = 'A'",
    ),
]


@pytest.mark.parametrize(
    ("edit", "message", "fix"),
    BAD,
    ids=["not-open", "grade-above-general", "unknown-column", "no-condition", "bad-filter"],
)
def test_bad_dataset_files_are_refused_at_load(tmp_path, edit, message, fix):
    folder = conf_dir(tmp_path, "bad", edit)
    with pytest.raises(ConfigError) as err:
        load_datasets(folder)
    text = str(err.value)
    assert f"file {folder / 'bad.yaml'}" in text
    assert message in text and "Fix: " in text and fix in text


def test_a_value_violating_its_own_constraint_is_not_published(exported, spark, cfg, tmp_path):
    """The previous package stays byte for byte; the error names dataset, file, row, field."""
    from jobs.open_data import export_open_data

    root, _ = exported
    previous = snapshot(root)
    folder = conf_dir(
        tmp_path,
        "tax_credit_a_list",
        lambda r: r["constraints"].update(taxpayer_id={"pattern": "[0-9]{18}"}),
        shipped=True,
    )
    with pytest.raises(GovlakeError) as err:
        export_open_data(spark, cfg, directory=folder)
    text = str(err.value)
    assert "open dataset tax_credit_a_list: constraint-error in field 'taxpayer_id'" in text
    assert f"file {root / 'tax_credit_a_list' / 'data.csv'} (staged), row 2" in text
    assert "the previous one stays" in text and "Fix: " in text
    assert snapshot(root) == previous  # the other package and the catalogue are unchanged too
    assert not (root / ".staging-tax_credit_a_list").exists()
    shutil.rmtree(folder)


def test_open_list_shows_priority_and_what_is_published(exported, capsys):
    from govlake.cli import main

    capsys.readouterr()
    assert main(["open", "list", "--json"]) == 0
    rows = {r["dataset"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["enterprise_registrations"]["priority"] == 1
    assert rows["tax_credit_a_list"]["rows"] == 2
    assert rows["tax_credit_a_list"]["row_filter"] == (
        "credit_level = 'A' AND taxpayer_id NOT LIKE '92%'"
    )


def test_the_ledger_site_collects_the_published_packages(exported):
    from govlake.site.collect import open_datasets

    root, _ = exported
    notes: dict[str, str] = {}
    found = open_datasets(root, notes)
    assert [(d.name, d.publisher, d.rows, d.priority) for d in found] == [
        ("enterprise_registrations", "市市场监管局", 1, 1),
        ("tax_credit_a_list", "市税务局", 2, 2),
    ]
    assert (
        open_datasets(root / "nowhere", notes) is None and "nothing published" in notes["open_data"]
    )


def test_masked_and_aggregated_columns_pass_the_grade_check_and_are_shaped(
    exported, spark, cfg, tmp_path
):
    """An L4 column may be published masked by its mask kind, or counted away by aggregate."""
    from govlake.masking import load_masking
    from jobs.open_data import current_rows, dataset_frame

    samr = {
        "resource": "samr_enterprise__qy_jbxx",
        "condition": "不含法定代表人证件号码，经市市场监管局审核后开放",
        "row_filter": None,
        "constraints": {},
    }
    masked = conf_dir(
        tmp_path / "m",
        "m",
        lambda r: r.update(samr, columns=["qymc", "fddbr_zjhm"], masked=["fddbr_zjhm"]),
    )
    counted = conf_dir(
        tmp_path / "c",
        "c",
        lambda r: r.update(
            samr, columns=["jyzt", "fddbr_zjhm"], aggregate={"group_by": ["jyzt"], "count": "n"}
        ),
    )
    (ds_masked,) = load_datasets(masked)
    (ds_counted,) = load_datasets(counted)
    masking = load_masking()
    rows = dataset_frame(current_rows(spark, cfg, ds_masked.table), ds_masked, masking).collect()
    assert [tuple(r) for r in rows] == [
        ("李四小吃店", "420704********567X"),
        ("鄂州新名称有限公司", "420702********1234"),
    ]
    rows = dataset_frame(current_rows(spark, cfg, ds_counted.table), ds_counted, masking).collect()
    assert [tuple(r) for r in rows] == [("在业", 1), ("存续", 1)]  # newest version per id


def test_the_written_header_is_checked_again_for_graded_columns():
    """Second line behind the load check: a file header naming an L4 column is refused."""
    from govlake.open.config import catalog_review
    from govlake.open.package import InvalidPackage, check_no_graded_column

    ds = next(d for d in load_datasets() if d.name == "enterprise_registrations")
    scheme = catalog_review().scheme
    check_no_graded_column(["tyshxydm", "qymc"], ds, scheme)
    with pytest.raises(InvalidPackage, match="column 'fddbr_zjhm' is not allowed"):
        check_no_graded_column(["tyshxydm", "fddbr_zjhm"], ds, scheme)


def test_the_ledger_task_declares_the_tables_the_export_reads():
    from govlake.tasks import ledger_steps

    ids = [s.task_id for s in ledger_steps()]
    assert ids.index("publish_catalog") < ids.index("export_open_data") < ids.index("build_site")
    step = ledger_steps()[ids.index("export_open_data")]
    assert [str(t) for t in step.inputs] == [
        "catalog.items",
        "ods.samr_enterprise__qy_jbxx",
        "ods.tax_credit__credit_rating",
    ]


def test_the_export_reads_rows_only_of_tables_its_ledger_task_declares(
    exported, spark, cfg, monkeypatch
):
    """Its lineage and its size are the declared inputs: every table whose rows it reads."""
    from jobs.open_data import export_open_data

    read = record_rows_read(monkeypatch)
    export_open_data(spark, cfg)
    assert {"ods.samr_enterprise__qy_jbxx", "ods.tax_credit__credit_rating"} <= read
    assert undeclared(read, "export_open_data") == []
