"""`govlake serve`: the governed SQL endpoint, in the foreground or detached with a pid file."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from govlake.console import console
from govlake.errors import GovlakeError
from govlake.settings import Settings, settings

START_TIMEOUT_SECONDS = 180  # a first start downloads no jars, but a JVM and a catalog load
STOP_TIMEOUT_SECONDS = 60


def pid_file(cfg: Settings) -> Path:
    return cfg.lakehouse.parent / "serve.pid"


def log_file(cfg: Settings) -> Path:
    return cfg.lakehouse.parent / "logs" / "serve.log"


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def running_pid(cfg: Settings) -> int | None:
    """The pid in the pid file if that process is alive."""
    path = pid_file(cfg)
    if not path.exists():
        return None
    pid = int(path.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def cmd_serve(args: argparse.Namespace) -> int:
    cfg = settings()
    host, port = args.host or cfg.serve_host, args.port or cfg.serve_port
    if args.stop:
        return stop(cfg)
    if args.status:
        return status(cfg)
    if args.detach:
        return detach(cfg, host, port)
    return foreground(cfg, host, port)


def foreground(cfg: Settings, host: str, port: int) -> int:
    """Serve until interrupted or sent SIGTERM; open operations are audited on the way out."""
    from govlake.serve.server import Server, build

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = Server(build(cfg), host, port, cfg.serve_max_sessions)

    def terminate(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    console.print(f"Governed SQL endpoint (HiveServer2, SASL PLAIN) on {server.host}:{server.port}")
    try:
        server.serve_forever()
    finally:
        server.stop()
    return 0


def detach(cfg: Settings, host: str, port: int) -> int:
    """Start the endpoint as a background process; return once its port accepts connections."""
    if running_pid(cfg):
        raise GovlakeError(
            f"the endpoint already runs (pid {running_pid(cfg)}).", fix="govlake serve --stop"
        )
    log = log_file(cfg)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "govlake.cli", "serve", "--host", host, "--port", str(port)]
    with log.open("ab") as out:
        child = subprocess.Popen(
            command, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )
    pid_file(cfg).write_text(f"{child.pid} {host} {port}\n")
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not accepts(host, port):
        if child.poll() is not None or time.monotonic() > deadline:
            if child.poll() is None:
                child.kill()
            pid_file(cfg).unlink(missing_ok=True)
            raise GovlakeError("the endpoint did not start.", file=str(log), fix="read its log.")
        time.sleep(0.5)
    console.print(f"Endpoint started (pid {child.pid}) on {host}:{port}; log in {log}")
    return 0


def stop(cfg: Settings) -> int:
    """SIGTERM the detached endpoint and wait until it is gone."""
    pid = running_pid(cfg)
    if pid is None:
        pid_file(cfg).unlink(missing_ok=True)
        console.print("The endpoint is not running.")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while running_pid(cfg) == pid and not _reaped(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    pid_file(cfg).unlink(missing_ok=True)
    console.print(f"Endpoint stopped (pid {pid}).")
    return 0


def _reaped(pid: int) -> bool:
    """True once a child of this process has exited (a zombie still answers kill(pid, 0))."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


def status(cfg: Settings) -> int:
    pid = running_pid(cfg)
    if pid is None:
        console.print("The endpoint is not running.")
        return 1
    _, host, port = pid_file(cfg).read_text().split()
    state = "accepting connections" if accepts(host, int(port)) else "not accepting connections"
    console.print(f"The endpoint runs (pid {pid}) on {host}:{port}, {state}.")
    return 0


def register(add) -> None:
    serve = add("serve", cmd_serve, "the governed SQL endpoint (HiveServer2) for BI tools")
    serve.add_argument("--host", default=None, help="bind address (default: settings serve_host)")
    serve.add_argument("--port", type=int, default=None, help="port (default: serve_port)")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--detach", action="store_true", help="run in the background (pid file)")
    mode.add_argument("--stop", action="store_true", help="stop the background endpoint")
    mode.add_argument("--status", action="store_true", help="is the background endpoint up")
