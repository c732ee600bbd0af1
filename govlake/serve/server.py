"""The listener: one thread per connection (bounded), SASL PLAIN first, then TCLIService calls."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from TCLIService import TCLIService
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.Thrift import TType
from thrift.transport import TSocket
from thrift.transport.TTransport import TTransportException

from govlake.serve.gateway import Gateway, Handler
from govlake.serve.live import LiveAccess, rules_signature
from govlake.serve.sasl import (
    SaslRefused,
    TSaslServerTransport,
    plain_handshake,
    refuse_at_start,
)

log = logging.getLogger("govlake.serve")


class _Protocol(TBinaryProtocol):
    """Binary protocol that skips unknown calls' binary fields (handle GUIDs) without decoding
    them as UTF-8: impyla first tries Impala's CloseImpalaOperation, expecting UNKNOWN_METHOD."""

    def skip(self, ttype, max_depth=64):
        if ttype == TType.STRING:
            self.readBinary()
        else:
            super().skip(ttype, max_depth)


class Server:
    """A HiveServer2 endpoint on (host, port) in front of one Gateway."""

    def __init__(self, gateway: Gateway, host: str, port: int, max_sessions: int = 32):
        self.gateway, self.max_sessions = gateway, max_sessions
        self._listener = socket.create_server((host, port), reuse_port=False)
        self.host, self.port = self._listener.getsockname()[:2]
        self._slots = threading.BoundedSemaphore(max_sessions)
        self._stopping = threading.Event()
        self._handlers: set[Handler] = set()
        self._lock = threading.Lock()

    def serve_forever(self) -> None:
        """Accept connections until stop(); each is served on its own thread."""
        log.info("govlake serve listening on %s:%d", self.host, self.port)
        while not self._stopping.is_set():
            try:
                conn, address = self._listener.accept()
            except OSError:
                break  # the listener was closed by stop()
            threading.Thread(
                target=self._serve, args=(conn, address), name="govlake-conn", daemon=True
            ).start()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="govlake-serve", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop accepting, end every connection (their operations are audited), flush the audit."""
        self._stopping.set()
        self._listener.close()
        with self._lock:
            handlers = list(self._handlers)
        for handler in handlers:
            handler.disconnected()
        self.gateway.flush_audits()

    def _serve(self, conn: socket.socket, address) -> None:
        client = f"{address[0]}:{address[1]}"
        trans = TSocket.TSocket()
        trans.setHandle(conn)
        if not self._slots.acquire(blocking=False):
            try:
                trans.setTimeout(5000)  # a refused client does not hold this thread
                refuse_at_start(
                    trans,
                    f"the endpoint serves {self.max_sessions} connections at most; retry later",
                )
            except (SaslRefused, OSError, TTransportException):
                pass
            trans.close()
            return
        try:
            self._session(trans, client)
        finally:
            self._slots.release()
            trans.close()

    def _session(self, trans: TSocket.TSocket, client: str) -> None:
        started = time.monotonic()
        try:
            principal = plain_handshake(trans, self.gateway.access.authenticate)
        except SaslRefused as exc:
            if exc.user is not None:
                ms = int((time.monotonic() - started) * 1000)
                self.gateway.login_refused(exc.user, client, str(exc), ms)
            else:
                log.info("client=%s refused at authentication: %s", client, exc)
            return
        except (OSError, TTransportException):
            return
        handler = Handler(self.gateway, principal, client, self.max_sessions)
        with self._lock:
            self._handlers.add(handler)
        try:
            self._loop(handler, TSaslServerTransport(trans))
        finally:
            handler.disconnected()
            with self._lock:
                self._handlers.discard(handler)

    def _loop(self, handler: Handler, transport: TSaslServerTransport) -> None:
        processor = TCLIService.Processor(handler)
        protocol = _Protocol(transport)
        try:
            while not self._stopping.is_set():
                processor.process(protocol, protocol)
        except (TTransportException, OSError, EOFError):
            pass  # the client closed the connection (or stop() did)


def build(cfg, spark: Any = None, access: Any = None, directory: Any = None) -> Gateway:
    """The gateway of the lakehouse: Spark inside this process, the access rules of `cfg`
    (conf/access/, or `directory`) applied as they are now (`LiveAccess`), unless `access` is
    given."""
    from govlake.access import AuditEvent, Refused
    from govlake.spark import get_spark

    spark = spark or get_spark(cfg, app_name="govlake-serve")
    if access is None:
        access = live_rules(cfg, spark, directory)
    return Gateway(spark, access, AuditEvent, (Refused,))


def live_rules(cfg, spark: Any, directory: Any = None) -> LiveAccess:
    """The access rules reloaded when conf/access/, conf/sandbox/, the catalog or share.requests
    change."""
    from govlake.access import AccessControl
    from govlake.access.config import access_dir
    from govlake.catalog.loader import catalog_dir, load_rules
    from govlake.sandbox.config import sandbox_dir

    places = [access_dir(directory), sandbox_dir(), catalog_dir(), load_rules().file_path]
    # With spark, columns dropped from a Delta table are seen at load (a grant of one is refused).
    return LiveAccess(
        lambda: AccessControl.load(cfg, directory, spark=spark),
        lambda: rules_signature(spark, cfg, places),
        cfg.serve_reload_seconds,
    )
