"""Test isolation: each test module has its own lakehouse, and one Spark session serves them all.

Runs a small pytest session with the project's conftest: a first module writes tables (ods.*
and ops.load_runs, which every load shares), a second must see none of them.
"""

from __future__ import annotations

from pathlib import Path

CONFTEST = Path(__file__).with_name("conftest.py")
HELPERS = ("session_names",)  # modules of tests/ that conftest imports

FIRST = """
import json
from pathlib import Path

from govlake.lakehouse import Table


def test_writes_tables(spark, cfg):
    for name in ("ods.iso__ratings", "ops.load_runs"):
        Table.parse(name).write(spark.range(3), "overwrite")
    assert spark.table("ops.load_runs").count() == 3
    note = {"lakehouse": str(cfg.lakehouse), "app": spark.sparkContext.applicationId}
    Path(__file__).with_name("first.json").write_text(json.dumps(note))
"""

SECOND = """
import json
from pathlib import Path

from govlake.lakehouse import Table
from govlake.settings import settings


def test_sees_none_of_the_first_modules_tables(spark, cfg):
    first = json.loads(Path(__file__).with_name("first.json").read_text())
    assert str(cfg.lakehouse) != first["lakehouse"] and cfg == settings()
    assert spark.sparkContext.applicationId == first["app"]  # the same Spark session
    for name in ("ods.iso__ratings", "ops.load_runs"):
        assert not Table.parse(name).exists(spark)
        assert not spark.catalog.tableExists(name)
    Table.parse("ops.load_runs").write(spark.range(5), "append")
    assert spark.table("ops.load_runs").count() == 5
    assert Path(first["lakehouse"], "ops", "load_runs").is_dir()  # the first module's, untouched
"""


def test_a_module_does_not_see_the_tables_of_the_module_before(pytester):
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    helpers = {name: Path(__file__).with_name(f"{name}.py").read_text("utf-8") for name in HELPERS}
    pytester.makepyfile(test_first=FIRST, test_second=SECOND, **helpers)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "test_first.py", "test_second.py"
    )
    result.assert_outcomes(passed=2)
