#!/usr/bin/env bash
# Create or reuse the project's virtual environment (.venv) and install what is missing.
# Checks Python 3.11 and Java 17/21 first and says exactly what to install when they are not there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: Python 3.11 was not found. Install it (Debian/Ubuntu: apt install python3.11 python3.11-venv; macOS: brew install python@3.11) or set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$version" != "3.11" ]; then
  echo "error: $PYTHON is Python $version; this project needs Python 3.11 (Airflow 3.3 + PySpark 4.2 pinned for it). Install python3.11 or set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
  echo "error: Java was not found. Spark 4 needs Java 17 or 21: install OpenJDK 17 (Debian/Ubuntu: apt install openjdk-17-jdk-headless; macOS: brew install openjdk@17) or set JAVA_HOME." >&2
  exit 1
fi
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
java_major=$("$JAVA" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]; exit}')
if [ "$java_major" != "17" ] && [ "$java_major" != "21" ]; then
  echo "error: Java $java_major found; Spark 4 needs Java 17 or 21. Install OpenJDK 17 (apt install openjdk-17-jdk-headless) and set JAVA_HOME to it." >&2
  exit 1
fi
# The identifier checks are Java functions compiled on this machine (govlake/jvm_functions.py).
if ! command -v "${JAVA_HOME:+$JAVA_HOME/bin/}javac" >/dev/null 2>&1; then
  echo "error: javac was not found: Java $java_major is a runtime only, and the lakehouse compiles its Spark functions (jobs/jvm). Install the JDK (Debian/Ubuntu: apt install openjdk-$java_major-jdk-headless; macOS: brew install openjdk@17) or set JAVA_HOME to one." >&2
  exit 1
fi

stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtual environment in .venv ..."
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "Installing pinned dependencies from requirements.lock (first time: a few minutes) ..."
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
  .venv/bin/uv pip sync --quiet --python .venv/bin/python requirements.lock
  .venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
  touch "$stamp"
fi

# Bytecode, written here once: Python reads .pyc files even where PYTHONDONTWRITEBYTECODE keeps
# it from writing them (as on this project's CI machine), and without them every new process
# (an Airflow task, a `govlake` command, a test's subprocess) compiled pyspark, Airflow and GX
# from source: 6.1 s of CPU to import them, 2.6 s with bytecode (issue 19). The project's own
# modules are compiled again whenever they changed (compileall skips the up-to-date ones).
compiled=.venv/.compiled
if [ ! -f "$compiled" ] || [ "$stamp" -nt "$compiled" ]; then
  echo "Compiling the installed packages to bytecode (once, about 20 s) ..."
  packages=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # A few packages ship files for other Python versions that do not compile: not an error.
  .venv/bin/python -m compileall -q -j 0 "$packages" >/dev/null 2>&1 || true
  touch "$compiled"
fi
.venv/bin/python -m compileall -q -j 0 govlake jobs dags lineage benchmarks tests >/dev/null 2>&1 || true
