"""What a piece of work on the Spark session cost in CPU seconds, a figure the machine's load
does not inflate as it does wall seconds (issue 19: a full build measured under a heavier load
than the incremental night it was compared with looked dearer than it was).

The CPU of a build is spent in three places:

- this Python process (the plan, the loop, py4j calls): `time.process_time()`, every thread;
- the driver JVM (query planning, Delta log replays, broadcasts, and with a `local[n]` master
  every task too): its process CPU time, `com.sun.management.OperatingSystemMXBean
  .getProcessCpuTime()` through py4j;
- executors elsewhere (a cluster): Spark's status store (`SparkContext.statusStore()`, kept
  with `spark.ui.enabled=false`) holds per stage the tasks' `executorCpuTime` and
  `executorDeserializeCpuTime` (ns). Only stages none of whose tasks ran on the executor
  `driver` are added: with a local master every task runs in the driver JVM, whose process
  time has them already. Which it was is read from the run itself (no executor but the driver
  ever joined; else the stage's per-executor summary), not from the settings row.

Limits: the JVM's process time includes its GC and JIT threads and anything else the session
ran meanwhile (the night's tasks and the benchmark run one build at a time); the status store keeps
the last `spark.ui.retainedStages` (1,000) stages, so a build of more stages on a cluster is
under-counted; an executor's CPU outside tasks (shuffle service, its GC between tasks) is not
counted. Python workers (UDFs) would be separate processes: the library build has none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

NS = 1e9
DRIVER = "driver"  # SparkContext.DRIVER_IDENTIFIER: the executor id of tasks run in the driver


@dataclass(frozen=True)
class CpuMark:
    """CPU spent so far by this process and the driver JVM (seconds; the JVM's None when it
    cannot tell), and the newest stage the status store held (-1: none)."""

    python: float
    jvm: float | None
    stage: int


def mark(spark: SparkSession) -> CpuMark:
    """Where the CPU clocks stand now."""
    sc = spark.sparkContext
    return CpuMark(time.process_time(), jvm_cpu_seconds(sc), newest_stage(sc))


def cpu_seconds(spark: SparkSession, since: CpuMark) -> float | None:
    """CPU seconds spent since `since`: this process, the driver JVM, and the tasks of the
    stages started since then that ran outside the driver. None when the JVM gave no figure
    (a partial sum would pass for a cheap build)."""
    sc = spark.sparkContext
    python = time.process_time() - since.python
    jvm = jvm_cpu_seconds(sc)
    if jvm is None or since.jvm is None:
        return None
    return python + (jvm - since.jvm) + executor_cpu_seconds(sc, since.stage)


def jvm_cpu_seconds(sc) -> float | None:
    """The driver JVM's process CPU time in seconds, or None where the platform does not
    measure it (the bean answers -1) or the JVM has no com.sun.management (not OpenJDK or
    HotSpot): the build then records no CPU figure and the next night compares wall seconds.

    Called through the exported interface's Method: py4j looks a method up on the object's
    runtime class, here jdk.management's internal OperatingSystemImpl, which Java 17's
    modules do not open ("Method getProcessCpuTime([]) does not exist", PySpark 4.2)."""
    from py4j.protocol import Py4JError

    jvm, gateway = sc._jvm, sc._gateway
    bean = jvm.java.lang.management.ManagementFactory.getOperatingSystemMXBean()
    try:
        interface = jvm.java.lang.Class.forName("com.sun.management.OperatingSystemMXBean")
        method = interface.getMethod("getProcessCpuTime", gateway.new_array(jvm.java.lang.Class, 0))
        nanoseconds = method.invoke(bean, gateway.new_array(jvm.java.lang.Object, 0))
    except Py4JError:
        return None
    return nanoseconds / NS if nanoseconds >= 0 else None


def stage_list(sc):
    """Every stage attempt the status store holds, newest first (AppStatusStore.stageList: a
    reverse view by (stage id, attempt)), without task details or summaries."""
    store = sc._jsc.sc().statusStore()
    quantiles = sc._gateway.new_array(sc._jvm.double, 0)
    return store.stageList(None, False, False, quantiles, sc._jvm.java.util.ArrayList())


def newest_stage(sc) -> int:
    """The id of the newest stage the status store holds; -1 before the first."""
    listed = stage_list(sc)
    return -1 if listed.isEmpty() else listed.head().stageId()


def ran_outside_driver(sc) -> bool:
    """Some executor other than the driver has joined the application (removed ones count):
    only then can a task's CPU be outside the driver JVM. A local master has none."""
    executors = sc._jsc.sc().statusStore().executorList(False).iterator()
    while executors.hasNext():
        if executors.next().id() != DRIVER:
            return True
    return False


def executor_cpu_seconds(sc, after: int) -> float:
    """CPU seconds of the tasks of stages newer than `after` that ran outside the driver
    (executorCpuTime + executorDeserializeCpuTime); 0 when every task ran in the driver."""
    if not ran_outside_driver(sc):
        return 0.0
    store, total = sc._jsc.sc().statusStore(), 0
    listed = stage_list(sc).iterator()
    while listed.hasNext():
        stage = listed.next()
        if stage.stageId() <= after:
            break  # newest first: the stages before the mark follow
        if not store.executorSummary(stage.stageId(), stage.attemptId()).contains(DRIVER):
            total += stage.executorCpuTime() + stage.executorDeserializeCpuTime()
    return total / NS
