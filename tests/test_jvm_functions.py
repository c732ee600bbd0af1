"""The lakehouse's Java functions (govlake.jvm_functions): compiled once per version of their
sources, whole or not at all, with errors that name the source and the fix. What they compute
is tested against python-stdnum in tests/test_identifiers.py."""

from __future__ import annotations

import shutil
import zipfile

import pytest

from govlake import jvm_functions
from govlake.errors import GovlakeError
from jobs import identifiers as ids


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """A copy of jobs/jvm that a test may edit, and a jar cache of its own."""
    copy = tmp_path / "jvm"
    shutil.copytree(jvm_functions.SOURCES, copy)
    monkeypatch.setattr(jvm_functions, "SOURCES", copy)
    return copy


@pytest.fixture
def own_cfg(cfg, tmp_path):
    return cfg.model_copy(update={"ivy_dir": tmp_path / "ivy"})


def test_the_jar_is_compiled_once_per_version_of_the_sources(sources, own_cfg):
    jar = jvm_functions.ensure_jar(own_cfg)
    with zipfile.ZipFile(jar) as archive:
        names = set(archive.namelist())
    for class_name in jvm_functions.FUNCTIONS.values():
        assert class_name.replace(".", "/") + ".class" in names
    built = jar.stat().st_mtime_ns
    assert jvm_functions.ensure_jar(own_cfg) == jar
    assert jar.stat().st_mtime_ns == built  # not compiled again

    checks = sources / "govlake" / "checks" / "IdentifierChecks.java"
    checks.write_text(checks.read_text() + "\n// edited\n")
    edited = jvm_functions.jar_path(own_cfg)
    assert edited != jar and not edited.exists()
    assert jvm_functions.ensure_jar(own_cfg) == edited
    assert sorted(p.name for p in edited.parent.iterdir()) == sorted([jar.name, edited.name])


def test_a_source_javac_refuses_fails_naming_it_and_leaves_no_jar(sources, own_cfg):
    broken = sources / "govlake" / "checks" / "Broken.java"
    broken.write_text("package govlake.checks;\npublic final class Broken { int x = ; }\n")
    with pytest.raises(GovlakeError) as error:
        jvm_functions.ensure_jar(own_cfg)
    assert "Broken.java" in str(error.value)
    assert error.value.file == str(sources)
    folder = jvm_functions.jar_path(own_cfg).parent
    assert list(folder.iterdir()) == []  # neither a jar nor the compiler's leftovers


def test_without_a_jdk_the_error_says_to_install_one(sources, own_cfg, monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GovlakeError) as error:
        jvm_functions.ensure_jar(own_cfg)
    assert "javac" in str(error.value) and "JDK" in error.value.fix
    assert not jvm_functions.jar_path(own_cfg).exists()


def test_entity_types_reach_the_jvm_as_one_line_or_not_at_all():
    assert ids.entity_types_spec({"9": "123", "1": "1239"}) == "1:1239;9:123"
    assert ids.entity_types_spec(ids.ENTITY_TYPES).startswith("1:1239;2:19;3:123459;")
    for bad in ({"91": "1"}, {"9": "12;3"}, {"机": "1"}):
        with pytest.raises(ValueError, match="one ASCII character"):
            ids.entity_types_spec(bad)


def test_other_entity_types_are_checked_as_given(spark):
    """The entity types are an argument of the function, not built into the jar."""
    frame = spark.createDataFrame([("91420704MA4K3B7P8G",), ("Y14207041234567886",)], "v string")
    only_market = {"9": "1"}
    rows = frame.select(ids.uscc_check("v", entity_types=only_market).reason.alias("r")).collect()
    assert [r.r for r in rows] == [None, "bad_authority"]
    rows = frame.select(ids.uscc_check("v", entity_types={"9": "2", "Y": "1"}).reason.alias("r"))
    assert [r.r for r in rows.collect()] == ["bad_entity_type", None]


def test_the_java_checks_normalise_as_normalize_id_does(spark):
    """The Java functions trim and widen the value themselves: every character normalize_id
    trims, and every full-width one it narrows, is treated the same (an edit of TRIM_CHARS or
    FULL_WIDTH on one side only fails here)."""
    valid = "91420704MA4K3B7P8G"
    wide = "".join(chr(ord(c) + 0xFEE0) for c in valid)
    values = [f"{c}{valid}{c}" for c in ids.TRIM_CHARS] + [wide, valid.lower()]
    frame = spark.createDataFrame([(v,) for v in values], "v string")
    rows = frame.select(
        ids.normalize_id("v").alias("n"), ids.uscc_check("v").reason.alias("r")
    ).collect()
    assert [r.n for r in rows] == [valid] * len(values)
    assert [r.r for r in rows] == [None] * len(values)
