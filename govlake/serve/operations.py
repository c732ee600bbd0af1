"""Sessions and operations of the endpoint: one statement's life from plan to last row to audit.

An operation streams its rows from Spark one partition at a time (toLocalIterator, computing the
next partition while the client reads one: a job per partition, at most two in memory), in
batches of the client's maxRows. It is audited exactly once: when its rows are exhausted, or when
it is closed, cancelled, fails, or its client goes away, with the rows the client received.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from govlake.serve.wire import WireColumn, columns_of, for_the_wire

# Quoted literals in an engine error may carry values of the data (a failed cast names the value).
_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'")
# Spark's error text ends with its SQLSTATE and, for analysis errors, the query plan context.
_CONTEXT = re.compile(r"\s*(SQLSTATE:.*|== SQL.*)$", re.S)


def engine_message(exc: BaseException) -> str:
    """A failure explained without a stack trace or data values: condition + first line."""
    condition = getattr(exc, "getCondition", lambda: None)() or type(exc).__name__
    text = str(getattr(exc, "getMessage", lambda: "")() or exc).strip().splitlines()
    first = _CONTEXT.sub("", _LITERAL.sub("'?'", text[0] if text else "")).strip()
    return f"the statement failed in Spark ({condition}): {first}"[:1000]


@dataclass
class Session:
    """One client session: its principal, client address and its own Spark session."""

    principal: Any
    client: str
    spark: Any
    key: bytes = field(default_factory=lambda: uuid.uuid4().bytes)
    secret: bytes = field(default_factory=lambda: uuid.uuid4().bytes)
    operations: dict[bytes, Operation] = field(default_factory=dict)


@dataclass
class Outcome:
    """What the audit records of a statement once it is over."""

    verdict: str  # allowed | refused | failed
    reason: str | None
    rows: int
    duration_ms: int


class Operation:
    """A statement (or a metadata call) and its rows; thread-safe between fetch and cancel."""

    def __init__(self, session: Session, statement: str, plan: Any = None, on_done=None):
        self.session, self.statement, self.plan = session, statement, plan
        self.key = uuid.uuid4().bytes
        self.secret = uuid.uuid4().bytes
        self.state = "pending"  # pending | running | finished | error | cancelled | closed
        self.columns: list[WireColumn] = []
        self.error: str | None = None
        self.rows = 0
        self.started = time.monotonic()
        self._rows: Iterator[Sequence] = iter(())
        self._static: list[Sequence] | None = None
        self._lock = threading.RLock()
        self._on_done: Callable[[Operation, Outcome], None] | None = on_done
        self.audited = False

    @property
    def job_group(self) -> str:
        return f"govlake-serve-{self.key.hex()}"

    def run_static(self, columns: list[WireColumn], rows: list[Sequence]) -> None:
        """A metadata answer: rows computed here, fetched like a query's; never audited."""
        self.columns, self._static, self._rows = columns, rows, iter(rows)
        self.state = "finished"

    def run(self) -> None:
        """Run the planned SQL in the session's Spark session and wait for its first row."""
        with self._lock:
            if self.state != "pending":
                return
            self.state = "running"
        spark = self.session.spark
        try:
            spark.sparkContext.setJobGroup(self.job_group, "govlake serve", True)
            df = spark.sql(self.plan.sql)
            self.columns = columns_of(df)
            rows = for_the_wire(df, self.columns).toLocalIterator(prefetchPartitions=True)
            if self.state != "running":  # cancelled while Spark analysed: stop what started
                spark.sparkContext.cancelJobGroup(self.job_group)
                return
            first = list(itertools.islice(rows, 1))
            self._rows = itertools.chain(first, rows)
        except Exception as exc:
            self.fail(engine_message(exc))
            return
        with self._lock:
            if self.state == "running":
                self.state = "finished"
        if not self.columns:  # USE and other statements without a result: over now
            self.finish("allowed", None)

    def fetch(self, max_rows: int) -> tuple[list[Sequence], bool]:
        """The next batch of at most `max_rows` rows, and whether more may follow."""
        with self._lock:
            if self.state == "error":
                raise RuntimeError(self.error)
            if self.state != "finished":
                raise RuntimeError(f"the operation is {self.state}, it has no rows to fetch")
            try:
                self.session.spark.sparkContext.setJobGroup(self.job_group, "govlake serve", True)
                batch = [tuple(r) for r in itertools.islice(self._rows, max_rows)]
            except Exception as exc:
                self.fail(engine_message(exc))
                raise RuntimeError(self.error) from None
            self.rows += len(batch)
            more = len(batch) == max_rows
            if not more:
                self.finish("allowed", None)
            return batch, more

    def restart(self) -> None:
        """FETCH_FIRST: only a metadata answer (rows kept here) can be read again."""
        if self._static is None:
            raise RuntimeError("this result can only be read forward (FETCH_NEXT)")
        self._rows, self.rows = iter(self._static), 0

    def fail(self, message: str) -> None:
        with self._lock:
            if self.state in ("cancelled", "closed"):
                return  # its Spark job was stopped on purpose; the audit row says so already
            self.state, self.error = "error", message
            self.finish("failed", message)

    def cancel(self, reason: str) -> None:
        """Stop the statement's Spark jobs; the audit row says why and how many rows were read."""
        # Cancel the jobs before taking the lock: a fetch holds it while Spark computes rows.
        self.session.spark.sparkContext.cancelJobGroup(self.job_group)
        with self._lock:
            if self.state in ("pending", "running", "finished"):
                self.state = "cancelled"
            self.finish("allowed", f"{reason} after {self.rows} rows")

    def close(self, reason: str = "closed by the client") -> None:
        if self.state not in ("error", "closed"):  # a prefetched partition may be computing
            self.session.spark.sparkContext.cancelJobGroup(self.job_group)
        with self._lock:
            self.finish("allowed", f"{reason} after {self.rows} rows")
            self.state = "closed"
            self._rows = iter(())

    def finish(self, verdict: str, reason: str | None) -> None:
        """Audit the operation once (metadata answers have no audit callback)."""
        with self._lock:
            if self.audited or self._on_done is None:
                self.audited = True
                return
            self.audited = True
        duration = int((time.monotonic() - self.started) * 1000)
        self._on_done(self, Outcome(verdict, reason, self.rows, duration))
