"""Reading the project's declarative YAML files (sources, libraries, catalog, quality suites)."""

from __future__ import annotations

from pathlib import Path

import yaml

from govlake.errors import ConfigError


def read_mapping(path: Path, fields_fix: str) -> tuple[dict, str]:
    """A YAML file's mapping and its text; invalid YAML names the line and the problem, and a
    file that is not a mapping gets `fields_fix`."""
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"is not valid YAML{line}: {getattr(exc, 'problem', exc)}.",
            file=str(path),
            fix="correct the YAML syntax there (indentation, quotes, colons).",
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError("must be a YAML mapping of fields.", file=str(path), fix=fields_fix)
    return raw, text
