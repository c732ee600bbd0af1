"""`govlake docs build|serve`: write the ledger site, or serve it over HTTP for convenience."""

from __future__ import annotations

import argparse
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from govlake.console import console
from govlake.errors import GovlakeError
from govlake.settings import settings


def cmd_docs_build(args: argparse.Namespace) -> int:
    build_and_print(console)
    return 0


def build_and_print(console) -> Path:
    """Build the site for the lakehouse of this process and say where it is (CLI and demo)."""
    from govlake.site import build_site
    from govlake.spark import get_spark

    cfg = settings()
    with console.status("Building the ledger site (一本账) ..."):
        site = build_site(get_spark(cfg), cfg)
    console.print(f"Ledger site: {site / 'index.html'} (open it directly; or `govlake docs serve`)")
    return site


def make_server(site: Path, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server over the site folder; port 0 picks a free one."""
    if not (site / "index.html").exists():
        raise GovlakeError(
            f"there is no ledger site in {site}.", fix="run `govlake docs build` first."
        )
    handler = functools.partial(_QuietHandler, directory=str(site))
    return ThreadingHTTPServer((host, port), handler)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        pass


def cmd_docs_serve(args: argparse.Namespace) -> int:
    from govlake.site import site_dir

    server = make_server(site_dir(settings()), args.port, args.host)
    host, port = server.server_address[:2]
    console.print(f"Serving the ledger site on http://{host}:{port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def register(add) -> None:
    """Add `docs build` and `docs serve` with the CLI's own `add(name, func, help)`."""
    add("docs", None, "the ledger site (一本账): build or serve it")
    add("docs build", cmd_docs_build, "write the static site into <lakehouse>/site/")
    serve = add("docs serve", cmd_docs_serve, "serve <lakehouse>/site/ over HTTP")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1")
