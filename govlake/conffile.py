"""Reading the project's declarative YAML files (sources, libraries, catalog, quality suites,
settings, masking): one loader, which refuses a key written twice in the same mapping."""

from __future__ import annotations

from pathlib import Path

import yaml

from govlake.errors import ConfigError


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping repeats a key: PyYAML would keep the last value without a word."""


# libyaml's parser when PyYAML was built with it: the night reads its declarative files many
# times, and the pure-Python parser was a third of the configuration's read time.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):
    """yaml.safe_load, except that a repeated key in one mapping is an error naming both lines."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, list | dict):
                continue  # unhashable keys are refused by PyYAML itself, with its own message
            if key in seen:
                raise DuplicateKeyError(
                    problem=f"key '{key}' appears twice, at lines {seen[key]} and {line} "
                    "(the second would silently replace the first)",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, path: Path | str):
    """Parse YAML text like yaml.safe_load; invalid YAML or a repeated key names the line."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"is not valid YAML{line}: {getattr(exc, 'problem', exc)}.",
            file=str(path),
            fix="keep one of the repeated keys and delete the other."
            if isinstance(exc, DuplicateKeyError)
            else "correct the YAML syntax there (indentation, quotes, colons).",
        ) from None


def read_yaml(path: Path | str):
    """A YAML file's content, read through load_yaml."""
    return load_yaml(Path(path).read_text(encoding="utf-8"), path)


def read_mapping(path: Path, fields_fix: str) -> tuple[dict, str]:
    """A YAML file's mapping and its text; invalid YAML names the line and the problem, and a
    file that is not a mapping gets `fields_fix`."""
    text = path.read_text(encoding="utf-8")
    raw = load_yaml(text, path)
    if not isinstance(raw, dict):
        raise ConfigError("must be a YAML mapping of fields.", file=str(path), fix=fields_fix)
    return raw, text


def explain_validation(exc, path: Path, fixes: dict[str, str], readme: str) -> ConfigError:
    """A pydantic ValidationError of a declarative file as one error naming the file, the field
    (dotted path), what is wrong and the fix: the fix of the deepest field named in `fixes`,
    else a pointer to `readme`."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    named = [p for p in loc if p in fixes]
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        message = "this required field is missing"
    elif err["type"] == "extra_forbidden":
        message = "this field is not known"
    fix = fixes[named[-1]] if named else f"see {readme} for the fields."
    return ConfigError(f"field '{'.'.join(loc) or '(file)'}': {message}.", file=str(path), fix=fix)
