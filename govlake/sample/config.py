"""Settings of the sample generator, read once from conf/sample.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from govlake.conffile import read_yaml
from govlake.errors import ConfigError
from govlake.settings import PROJECT_ROOT

DEFAULT_CONFIG = PROJECT_ROOT / "conf" / "sample.yaml"

KINDS = (
    "invalid_id_checksum",
    "invalid_uscc_checksum",
    "impossible_date",
    "duplicate_row",
    "conflicting_value",
    "missing_required",
    "fullwidth_or_whitespace",
    "unparseable_row",
    "invalid_unit_code",
)


def _check_rate(where: str, kind: str, value: Any) -> float:
    """A defect rate as a float in [0, 0.5]; anything else is a configuration error."""
    if kind not in KINDS:
        raise ConfigError(f"unknown defect kind '{kind}' in {where}.", fix=f"use one of {KINDS}.")
    if not isinstance(value, int | float) or not 0 <= value <= 0.5:
        raise ConfigError(f"defect rate {where}.{kind} = {value!r} is not a number in [0, 0.5].")
    return float(value)


@dataclass(frozen=True)
class DefectRates:
    """Per table row fractions of each defect kind, with optional per-table overrides."""

    invalid_id_checksum: float = 0.0
    invalid_uscc_checksum: float = 0.0
    impossible_date: float = 0.0
    duplicate_row: float = 0.0
    conflicting_value: float = 0.0
    missing_required: float = 0.0
    fullwidth_or_whitespace: float = 0.0
    unparseable_row: float = 0.0
    invalid_unit_code: float = 0.0
    tables: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DefectRates:
        """Validate a mapping like the `defects` section of conf/sample.yaml."""
        data = dict(data)
        overrides = data.pop("tables", None) or {}
        base = {kind: _check_rate("defects", kind, value) for kind, value in data.items()}
        tables = {
            str(table): {k: _check_rate(f"defects.tables.{table}", k, v) for k, v in kinds.items()}
            for table, kinds in overrides.items()
        }
        return cls(**base, tables=tables)

    @classmethod
    def uniform(cls, rate: float) -> DefectRates:
        """Every kind at the same rate: handy for tests that want each kind to occur."""
        return cls(**{kind: _check_rate("uniform", kind, rate) for kind in KINDS})

    @classmethod
    def load(cls, path: Path | None = None) -> DefectRates:
        """The defaults from conf/sample.yaml."""
        return load_config(path).rates

    def for_table(self, key: str) -> dict[str, float]:
        """Rates for one table, keyed `system.table`, overrides applied."""
        rates = {f.name: getattr(self, f.name) for f in fields(self) if f.name in KINDS}
        rates.update(self.tables.get(key, {}))
        return rates


@dataclass(frozen=True)
class SampleConfig:
    """Scale factors, geography weights, certificate types, pool sizes and default rates."""

    scale: Mapping[str, float]
    districts: Mapping[str, float]
    uscc_authority: Mapping[str, float]
    certificate_types: tuple[Mapping[str, Any], ...]
    pools: Mapping[str, int]
    rates: DefectRates

    def ratio(self, name: str) -> float:
        """One scale factor; a missing one is a configuration error, not a silent default."""
        if name not in self.scale:
            raise ConfigError(f"scale factor '{name}' is missing.", file=str(DEFAULT_CONFIG))
        return float(self.scale[name])


def _section(raw: Mapping[str, Any], name: str, path: Path) -> Any:
    """A required top-level section of the YAML file."""
    if name not in raw:
        raise ConfigError(f"section '{name}' is missing.", file=str(path))
    return raw[name]


def load_config(path: Path | None = None) -> SampleConfig:
    """Read and validate conf/sample.yaml (or another file of the same shape)."""
    path = Path(path or DEFAULT_CONFIG)
    if not path.exists():
        raise ConfigError("sample generator settings not found.", file=str(path))
    raw = read_yaml(path) or {}
    return SampleConfig(
        scale={k: float(v) for k, v in _section(raw, "scale", path).items()},
        districts={str(k): float(v) for k, v in _section(raw, "districts", path).items()},
        uscc_authority={str(k): float(v) for k, v in _section(raw, "uscc_authority", path).items()},
        certificate_types=tuple(_section(raw, "certificate_types", path)),
        pools={k: int(v) for k, v in _section(raw, "pools", path).items()},
        rates=DefectRates.from_mapping(_section(raw, "defects", path)),
    )
