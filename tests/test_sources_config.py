"""Source configuration: the shipped files validate; bad files fail naming file, field, fix."""

from __future__ import annotations

import pytest

from govlake.errors import ConfigError
from govlake.sources import PROJECT_ROOT, load_source, load_sources

VALID = """\
system: {name}
department: 市人社局
information_system: 社会保险信息系统
mode: physical
location:
  conn_id: ezhou_hrss_si
tables:
  - name: si_enrolment
    dbtable: si_enrolment
    primary_key: [enrol_id]
"""


def write(folder, name, text):
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_sources_are_valid_and_sorted():
    sources = load_sources(PROJECT_ROOT / "conf" / "sources")
    names = [s.system for s in sources]
    assert names == sorted(names)
    assert {"psb_hukou", "nhc_vital", "mca_marriage", "hrss_social_insurance"} <= set(names)
    assert {s.mode for s in sources} == {"physical", "logical"}
    assert sum(len(s.tables) for s in sources) >= 10


def test_missing_field_names_file_field_and_fix(tmp_path):
    path = write(tmp_path, "hrss", VALID.format(name="hrss").replace("mode: physical\n", ""))
    with pytest.raises(ConfigError) as err:
        load_source(path)
    text = str(err.value)
    assert str(path) in text and "'mode'" in text and "missing" in text
    assert "Fix: use 'physical'" in text


def test_unknown_mode_is_rejected_with_the_allowed_values(tmp_path):
    path = write(tmp_path, "hrss", VALID.format(name="hrss").replace("physical", "copy"))
    with pytest.raises(ConfigError, match=r"field 'mode': 'copy' is not allowed"):
        load_source(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "hrss", VALID.format(name="hrss") + "  - name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line 1[0-9]"):
        load_source(path)


def test_credentials_in_conf_are_refused(tmp_path):
    text = VALID.format(name="hrss").replace(
        "conn_id: ezhou_hrss_si",
        "conn_id: x\n  default_url: jdbc:postgresql://h/db?password=s3cret",
    )
    with pytest.raises(ConfigError, match="credentials must not be written"):
        load_source(write(tmp_path, "hrss", text))


def test_system_must_match_file_name(tmp_path):
    with pytest.raises(ConfigError, match="differs from the file name"):
        load_source(write(tmp_path, "other", VALID.format(name="hrss")))


def test_unknown_field_is_named(tmp_path):
    text = VALID.format(name="hrss").replace("mode: physical", "mode: physical\nshedule: x")
    with pytest.raises(ConfigError, match="field 'shedule': this field is not known"):
        load_source(write(tmp_path, "hrss", text))


def test_file_table_needs_a_format(tmp_path):
    text = """\
system: vital
department: 市卫健委
information_system: 出生医学证明
mode: physical
location: {path: vital}
tables:
  - {name: birth, file: "birth_{ds}.csv", primary_key: [id]}
"""
    with pytest.raises(ConfigError, match="needs 'format'"):
        load_source(write(tmp_path, "vital", text))
