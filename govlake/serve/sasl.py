"""SASL PLAIN on the server side of a Thrift connection (thrift_sasl only has the client side).

The exchange HiveServer2 clients (PyHive, impyla, the Hive JDBC driver) start with, each message a
status byte + a 4-byte big-endian length + payload: START carrying the mechanism name, then OK
(or COMPLETE) carrying `authzid \\0 user \\0 password` (RFC 4616). The server answers COMPLETE, or
BAD / ERROR with a message, and closes. After COMPLETE every Thrift message travels in frames of
a 4-byte big-endian length + bytes (PLAIN has no security layer: no encryption, hence no TLS-less
binding beyond localhost). A client that skips SASL (NOSASL) sends a Thrift message instead of
START and is refused.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

from thrift.transport.TTransport import TTransportBase, TTransportException

START, OK, BAD, ERROR, COMPLETE = 1, 2, 3, 4, 5
# Upper bound of one handshake message and one data frame: a statement over the endpoint's own
# limit must still arrive whole, so it is refused with a message and not a dropped connection.
MAX_SASL_MESSAGE = 64 * 1024
MAX_FRAME = 16 * 1024 * 1024


class SaslRefused(Exception):
    """The handshake failed; the message was already sent to the client. `user` is set when
    the credentials were refused (a failed login, to be audited)."""

    user: str | None = None


def read_exactly(trans: TTransportBase, size: int) -> bytes:
    return trans.readAll(size) if size else b""


def _recv(trans: TTransportBase) -> tuple[int, bytes]:
    status, length = struct.unpack(">BI", read_exactly(trans, 5))
    if length > MAX_SASL_MESSAGE:
        raise ValueError(f"SASL message of {length} bytes")
    return status, read_exactly(trans, length)


def _send(trans: TTransportBase, status: int, payload: bytes) -> None:
    trans.write(struct.pack(">BI", status, len(payload)) + payload)
    trans.flush()


def refuse(trans: TTransportBase, message: str, status: int = BAD) -> None:
    """Tell the client why, in the SASL status message it shows, then raise SaslRefused."""
    try:
        _send(trans, status, message.encode("utf-8"))
    finally:
        raise SaslRefused(message)


def refuse_at_start(trans: TTransportBase, message: str) -> None:
    """Read the client's opening messages, then refuse: a client whose messages were left unread
    sees its connection reset instead of the message."""
    try:
        for _ in range(2):
            _recv(trans)
    except (ValueError, struct.error):
        pass
    refuse(trans, message, ERROR)


def plain_handshake(trans: TTransportBase, authenticate: Callable[[str, str], object]) -> object:
    """Run the PLAIN exchange on an open socket transport; return what `authenticate` returns.

    `authenticate(user, password)` raises to refuse: its message (one message for an unknown user
    and a wrong password) goes back to the client.
    """
    try:
        status, mechanism = _recv(trans)
    except (ValueError, struct.error):
        refuse(trans, "not a SASL handshake: connect with SASL PLAIN (auth=CUSTOM or LDAP)", ERROR)
    if status != START:
        refuse(trans, "SASL PLAIN is required (NOSASL connections are refused)", ERROR)
    if mechanism.strip().upper() != b"PLAIN":
        refuse(trans, f"SASL mechanism {mechanism[:20]!r} is not offered; use PLAIN", BAD)
    status, response = _recv(trans)
    parts = response.split(b"\0")
    if status not in (OK, COMPLETE) or len(parts) != 3:
        refuse(trans, "malformed SASL PLAIN response", BAD)
    user, password = (p.decode("utf-8", errors="replace") for p in parts[1:])
    try:
        principal = authenticate(user, password)
    except Exception as exc:  # the authenticator's refusal, said to the client
        try:
            refuse(trans, str(exc) or "authentication failed", BAD)
        except SaslRefused as refused:
            refused.user = user
            raise
    _send(trans, COMPLETE, b"")
    return principal


class TSaslServerTransport(TTransportBase):
    """Length-framed reads and writes after a completed PLAIN handshake (no security layer)."""

    def __init__(self, trans: TTransportBase):
        self._trans = trans
        self._rbuf = io.BytesIO()
        self._wbuf = io.BytesIO()

    def isOpen(self) -> bool:
        return self._trans.isOpen()

    def close(self) -> None:
        self._trans.close()

    def read(self, sz: int) -> bytes:
        data = self._rbuf.read(sz)
        if data:
            return data
        (length,) = struct.unpack(">I", read_exactly(self._trans, 4))
        if length > MAX_FRAME:
            raise TTransportException(
                TTransportException.SIZE_LIMIT, f"frame of {length} bytes over {MAX_FRAME}"
            )
        self._rbuf = io.BytesIO(read_exactly(self._trans, length))
        return self._rbuf.read(sz)

    def write(self, buf: bytes) -> None:
        self._wbuf.write(buf)

    def flush(self) -> None:
        data = self._wbuf.getvalue()
        self._wbuf = io.BytesIO()
        self._trans.write(struct.pack(">I", len(data)) + data)
        self._trans.flush()
