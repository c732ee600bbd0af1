"""One error type for everything a user can fix, rendered as one readable paragraph."""

from __future__ import annotations

import re


class GovlakeError(Exception):
    """A failure the user can act on: what went wrong, where, and how to fix it."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        file: str | None = None,
        row: int | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.file = file
        self.row = row
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.source:
            where.append(f"source {self.source}")
        if self.file:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class ConfigError(GovlakeError):
    """A configuration file is missing a field, has a wrong value, or does not parse."""


class SourceError(GovlakeError):
    """A department source cannot be read: missing file, wrong encoding, refused connection."""


def summarize_java_error(exc: BaseException) -> str:
    """The root cause of a Spark/Py4J error in one line, without the JVM stack trace."""
    lines = [line.strip() for line in str(exc).splitlines()]
    causes = [
        line.removeprefix("Caused by: ")
        for line in lines
        if re.match(r"^(Caused by: )?[\w.$]+(Exception|Error)(: |$)", line)
    ]
    if causes:
        return causes[-1][:500]
    meaningful = [line for line in lines if line and not line.startswith(("at ", "py4j"))]
    return (meaningful[0] if meaningful else str(exc))[:500]
