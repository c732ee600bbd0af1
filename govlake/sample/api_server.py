"""A small local HTTP server for the sample 双公示 interface of 市发展改革委 (ndrc_sgs).

It serves, from the files the generator wrote, the pages a department system would: records
updated since `updated_since` (by the update-time field), `page` (from 1) of `page_size`, as
`{"code": 0, "data": {"total", "page", "page_size", "records"}}`, and only to a request with
`Authorization: Bearer <token>`. The demo starts it before the night's loads and stops it
after; tests start it too, and can plant faults on a page (`faults`): an HTTP status, or a
body that is not JSON. Standard library only (http.server), on a thread.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from govlake.sample.sources_credit import LICENCE, PENALTY

# Interface path -> the generated file it serves (relative to the sources root); the same
# paths are the `endpoint`s of conf/sources/ndrc_sgs.yaml.
ROUTES = {
    "/api/sgs/v1/xzxk": LICENCE.path,
    "/api/sgs/v1/xzcf": PENALTY.path,
}
MALFORMED = "malformed"


class ApiServer:
    """The interface over the files under `root`; `with ApiServer(root, token) as url:`."""

    def __init__(self, root: Path, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root, self.token = Path(root), token
        # (path, page) -> responses to give before the normal one: an HTTP status as int, or
        # MALFORMED for a body cut short. Each planted response is used once.
        self.faults: dict[tuple[str, int], list[int | str]] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def connection_uri(self) -> str:
        """The AIRFLOW_CONN_<ID> value a load needs: base URL with the token as password."""
        host, port = self._server.server_address[:2]
        return f"http://:{self.token}@{host}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    def next_fault(self, path: str, page: int) -> int | str | None:
        with self._lock:
            planted = self.faults.get((path, page))
            return planted.pop(0) if planted else None

    def page(self, path: str, query: dict[str, list[str]]) -> dict:
        """One page of the records of `path` updated since the query's low bound."""
        document = json.loads((self.root / ROUTES[path]).read_text(encoding="utf-8"))
        mark, since = document["watermark"], query.get("updated_since", [None])[0]
        records = [
            r
            for r in document["records"]
            # A record the department's export broke has no readable update time: served always.
            if since is None or not isinstance(r, dict) or (r.get(mark) or "") >= since
        ]
        number = int(query.get("page", ["1"])[0])
        size = int(query.get("page_size", ["100"])[0])
        chosen = records[(number - 1) * size : number * size]
        data = {"total": len(records), "page": number, "page_size": size, "records": chosen}
        return {"code": 0, "message": "ok", "data": data}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:  # quiet: the demo prints its own progress
                return

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                server.requests.append(self.path)
                if parts.path not in ROUTES:
                    return self.reply(404, b'{"code": 404, "message": "no such interface"}')
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    return self.reply(401, b'{"code": 401, "message": "token expired or wrong"}')
                query = parse_qs(parts.query)
                fault = server.next_fault(parts.path, int(query.get("page", ["1"])[0]))
                body = json.dumps(server.page(parts.path, query), ensure_ascii=False).encode()
                if fault == MALFORMED:
                    return self.reply(200, body[: len(body) // 2])
                if isinstance(fault, int):
                    return self.reply(fault, b'{"code": 500, "message": "internal error"}')
                return self.reply(200, body)

            def reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
