"""The HiveServer2 service (TCLIService) of the governed endpoint, one handler per connection.

The principal comes from the connection's SASL handshake, never from the user name a client puts
in OpenSession. Each statement is planned by the enforcement point (govlake.access) and only its
rewritten SQL reaches Spark; refusals and failures come back as ERROR_STATUS with the reason.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from TCLIService import ttypes as t

from govlake.serve.contract import AccessLike
from govlake.serve.metadata import Metadata
from govlake.serve.operations import Operation, Outcome, Session
from govlake.serve.wire import row_set, schema_of

log = logging.getLogger("govlake.serve")
SERVER_PROTOCOL = t.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V6
MAX_FETCH_ROWS = 10_000
_STATES = {
    "pending": t.TOperationState.PENDING_STATE,
    "running": t.TOperationState.RUNNING_STATE,
    "finished": t.TOperationState.FINISHED_STATE,
    "error": t.TOperationState.ERROR_STATE,
    "cancelled": t.TOperationState.CANCELED_STATE,
    "closed": t.TOperationState.CLOSED_STATE,
}


def ok() -> t.TStatus:
    return t.TStatus(statusCode=t.TStatusCode.SUCCESS_STATUS)


def error(message: str) -> t.TStatus:
    return t.TStatus(statusCode=t.TStatusCode.ERROR_STATUS, errorMessage=message, sqlState="42000")


def principal_name(principal: Any) -> str:
    return str(getattr(principal, "name", None) or getattr(principal, "id", None) or principal)


class Gateway:
    """What all connections share: Spark, the enforcement point, limits and the audit writer."""

    def __init__(self, spark, access: AccessLike, audit_event: Callable[..., Any], refusals):
        self.spark, self.access = spark, access
        self.audit_event, self.refusals = audit_event, tuple(refusals)
        self.sessions: dict[bytes, Session] = {}
        self.lock = threading.Lock()
        self._audits: queue.Queue = queue.Queue()
        threading.Thread(target=self._write_audits, name="govlake-audit", daemon=True).start()

    def record(self, session: Session, statement: str, plan: Any, outcome: Outcome) -> None:
        """Queue the statement's audit event and log one line (no statement text, no values)."""
        fingerprint = getattr(plan, "fingerprint", None) or "-"
        log.info(
            "principal=%s client=%s verdict=%s duration_ms=%d rows=%d fingerprint=%s%s",
            principal_name(session.principal),
            session.client,
            outcome.verdict,
            outcome.duration_ms,
            outcome.rows,
            fingerprint,
            f" reason={outcome.reason!r}"
            if outcome.reason and outcome.verdict != "allowed"
            else "",
        )
        event = self.audit_event(
            session.principal,
            session.client,
            statement,
            plan,
            outcome.verdict,
            outcome.reason,
            outcome.rows,
            outcome.duration_ms,
        )
        self._audits.put(event)

    def _write_audits(self) -> None:
        """One writer, off the clients' threads: each round appends every event queued so far
        in one Delta commit (one commit per statement cannot keep up with 20 sessions)."""
        while True:
            events = [self._audits.get()]
            while not self._audits.empty():
                events.append(self._audits.get_nowait())
            try:
                self.access.audit(self.spark, *events)
            except Exception:  # an audit that cannot be written is loud in the log
                log.exception("%d audit events not written", len(events))
            finally:
                for _ in events:
                    self._audits.task_done()

    def login_refused(self, user: str, client: str, reason: str, duration_ms: int) -> None:
        """A failed login is audited too, under the user name the client gave."""
        log.info("principal=%s client=%s verdict=refused at login", user, client)
        self._audits.put(
            self.audit_event(user, client, "LOGIN", None, "refused", reason, 0, duration_ms)
        )

    def new_session(self):
        """A Spark session of its own per client session (current database, SQL conf)."""
        spark = self.spark.newSession()
        # ${var} substitution off as a second line behind the plan's own refusal of `${`.
        spark.conf.set("spark.sql.variable.substitute", "false")
        return spark

    def flush_audits(self) -> None:
        """Wait until every queued audit event is written."""
        self._audits.join()


class Handler:
    """TCLIService for one authenticated connection."""

    def __init__(self, gateway: Gateway, principal: Any, client: str, max_sessions: int):
        self.gateway, self.principal, self.client = gateway, principal, client
        self.max_sessions = max_sessions
        self.sessions: dict[bytes, Session] = {}
        self.metadata = Metadata(gateway.access, principal)

    # -- sessions ------------------------------------------------------------------------------
    def OpenSession(self, req):
        if req.client_protocol < SERVER_PROTOCOL:
            return t.TOpenSessionResp(
                status=error("client protocol older than HiveServer2 V6 (columnar results)"),
                serverProtocolVersion=SERVER_PROTOCOL,
            )
        with self.gateway.lock:
            if len(self.gateway.sessions) >= self.max_sessions:
                message = f"the endpoint serves {self.max_sessions} sessions at most; retry later"
                return t.TOpenSessionResp(
                    status=error(message), serverProtocolVersion=SERVER_PROTOCOL
                )
            session = Session(self.principal, self.client, self.gateway.new_session())
            self.gateway.sessions[session.key] = session
        self.sessions[session.key] = session
        handle = t.TSessionHandle(t.THandleIdentifier(session.key, session.secret))
        return t.TOpenSessionResp(
            status=ok(),
            serverProtocolVersion=SERVER_PROTOCOL,
            sessionHandle=handle,
            configuration={},
        )

    def CloseSession(self, req):
        session = self.sessions.pop(req.sessionHandle.sessionId.guid, None)
        if session is None:
            return t.TCloseSessionResp(status=error("unknown session"))
        self._end(session, "session closed")
        return t.TCloseSessionResp(status=ok())

    def _end(self, session: Session, reason: str) -> None:
        for operation in list(session.operations.values()):
            operation.close(reason)
        session.operations.clear()
        with self.gateway.lock:
            self.gateway.sessions.pop(session.key, None)

    def disconnected(self) -> None:
        """The client went away: close its operations (each audited with the rows it got)."""
        for session in list(self.sessions.values()):
            self._end(session, "client disconnected")
        self.sessions.clear()

    def _session(self, handle) -> Session:
        session = self.sessions.get(handle.sessionId.guid) if handle else None
        if session is None:
            raise LookupError("unknown or closed session")
        return session

    def _operation(self, handle) -> Operation:
        key = handle.operationId.guid if handle else None
        for session in self.sessions.values():
            if key in session.operations:
                return session.operations[key]
        raise LookupError("unknown or closed operation")

    def GetInfo(self, req):
        values = {
            t.TGetInfoType.CLI_DBMS_NAME: "Spark SQL (govlake governed endpoint)",
            t.TGetInfoType.CLI_DBMS_VER: self.gateway.spark.version,
            t.TGetInfoType.CLI_SERVER_NAME: "govlake",
        }
        if req.infoType not in values:
            return t.TGetInfoResp(status=error(f"GetInfo {req.infoType} is not answered"))
        return t.TGetInfoResp(
            status=ok(), infoValue=t.TGetInfoValue(stringValue=values[req.infoType])
        )

    # -- statements ----------------------------------------------------------------------------
    def ExecuteStatement(self, req):
        try:
            session = self._session(req.sessionHandle)
        except LookupError as exc:
            return t.TExecuteStatementResp(status=error(str(exc)))
        statement = req.statement or ""
        started = time.monotonic()
        refusal = self._refusal(session, statement)
        if isinstance(refusal, str):
            outcome = Outcome("refused", refusal, 0, int((time.monotonic() - started) * 1000))
            self.gateway.record(session, statement, None, outcome)
            return t.TExecuteStatementResp(status=error(f"refused: {refusal}"))
        operation = Operation(session, statement, refusal, on_done=self._audit_callback(session))
        operation.started = started
        session.operations[operation.key] = operation
        if req.runAsync:
            threading.Thread(target=operation.run, name="govlake-statement", daemon=True).start()
        else:
            operation.run()
            if operation.state == "error":
                session.operations.pop(operation.key, None)
                return t.TExecuteStatementResp(status=error(operation.error))
        return t.TExecuteStatementResp(status=ok(), operationHandle=self._handle(operation))

    def _refusal(self, session: Session, statement: str):
        """The plan of the statement, or the reason it is refused (a string). The size limit of a
        statement is the enforcement point's; the transport only bounds a frame (sasl.MAX_FRAME)."""
        try:
            return self.gateway.access.plan(session.principal, statement)
        except self.gateway.refusals as exc:
            return str(getattr(exc, "reason", None) or exc)

    def _audit_callback(self, session: Session):
        def done(operation: Operation, outcome: Outcome) -> None:
            self.gateway.record(session, operation.statement, operation.plan, outcome)

        return done

    def _handle(self, operation: Operation, kind=t.TOperationType.EXECUTE_STATEMENT):
        return t.TOperationHandle(
            operationId=t.THandleIdentifier(operation.key, operation.secret),
            operationType=kind,
            hasResultSet=True,
        )

    def GetOperationStatus(self, req):
        try:
            operation = self._operation(req.operationHandle)
        except LookupError as exc:
            return t.TGetOperationStatusResp(status=error(str(exc)))
        return t.TGetOperationStatusResp(
            status=ok(),
            operationState=_STATES[operation.state],
            errorMessage=operation.error,
            sqlState="42000" if operation.error else None,
            hasResultSet=True,
        )

    def CancelOperation(self, req):
        try:
            self._operation(req.operationHandle).cancel("cancelled by the client")
        except LookupError as exc:
            return t.TCancelOperationResp(status=error(str(exc)))
        return t.TCancelOperationResp(status=ok())

    def CloseOperation(self, req):
        for session in self.sessions.values():
            operation = session.operations.pop(req.operationHandle.operationId.guid, None)
            if operation is not None:
                operation.close()
                return t.TCloseOperationResp(status=ok())
        return t.TCloseOperationResp(status=error("unknown or closed operation"))

    def GetResultSetMetadata(self, req):
        try:
            operation = self._operation(req.operationHandle)
        except LookupError as exc:
            return t.TGetResultSetMetadataResp(status=error(str(exc)))
        if operation.state == "error":
            return t.TGetResultSetMetadataResp(status=error(operation.error))
        return t.TGetResultSetMetadataResp(status=ok(), schema=schema_of(operation.columns))

    def FetchResults(self, req):
        try:
            operation = self._operation(req.operationHandle)
            if req.fetchType == 1:  # the operation log: none is kept (it could hold values)
                empty = t.TColumn(stringVal=t.TStringColumn(values=[], nulls=b""))
                return t.TFetchResultsResp(
                    status=ok(), hasMoreRows=False, results=t.TRowSet(0, [], [empty])
                )
            if req.orientation == t.TFetchOrientation.FETCH_FIRST:
                operation.restart()
            offset = operation.rows
            rows, more = operation.fetch(max(1, min(req.maxRows or 1000, MAX_FETCH_ROWS)))
        except (LookupError, RuntimeError) as exc:
            return t.TFetchResultsResp(status=error(str(exc)))
        return t.TFetchResultsResp(
            status=ok(), hasMoreRows=more, results=row_set(operation.columns, rows, offset)
        )

    def GetLog(self, req):
        return t.TGetLogResp(status=ok(), log="")

    # -- metadata: only what the principal may read ------------------------------------------
    def _metadata(self, req, answer: Callable, response, kind):
        try:
            session = self._session(req.sessionHandle)
            columns, rows = answer(session)
        except LookupError as exc:
            return response(status=error(str(exc)))
        operation = Operation(session, "")
        operation.run_static(columns, rows)
        session.operations[operation.key] = operation
        return response(status=ok(), operationHandle=self._handle(operation, kind))

    def GetCatalogs(self, req):
        return self._metadata(
            req, self.metadata.catalogs, t.TGetCatalogsResp, t.TOperationType.GET_CATALOGS
        )

    def GetSchemas(self, req):
        answer = lambda s: self.metadata.schemas(s, req.schemaName)  # noqa: E731
        return self._metadata(req, answer, t.TGetSchemasResp, t.TOperationType.GET_SCHEMAS)

    def GetTables(self, req):
        answer = lambda s: self.metadata.tables(s, req.schemaName, req.tableName)  # noqa: E731
        return self._metadata(req, answer, t.TGetTablesResp, t.TOperationType.GET_TABLES)

    def GetTableTypes(self, req):
        return self._metadata(
            req, self.metadata.table_types, t.TGetTableTypesResp, t.TOperationType.GET_TABLE_TYPES
        )

    def GetColumns(self, req):
        def answer(s):
            return self.metadata.columns(s, req.schemaName, req.tableName, req.columnName)

        return self._metadata(req, answer, t.TGetColumnsResp, t.TOperationType.GET_COLUMNS)

    def GetTypeInfo(self, req):
        return self._metadata(
            req, self.metadata.type_info, t.TGetTypeInfoResp, t.TOperationType.GET_TYPE_INFO
        )

    def GetFunctions(self, req):
        return t.TGetFunctionsResp(status=error("GetFunctions is not offered by this endpoint"))

    def GetPrimaryKeys(self, req):
        return t.TGetPrimaryKeysResp(status=error("the lakehouse tables declare no primary keys"))

    def GetCrossReference(self, req):
        return t.TGetCrossReferenceResp(
            status=error("the lakehouse tables declare no foreign keys")
        )

    def GetDelegationToken(self, req):
        return t.TGetDelegationTokenResp(status=error("delegation tokens are not issued"))

    def CancelDelegationToken(self, req):
        return t.TCancelDelegationTokenResp(status=error("delegation tokens are not issued"))

    def RenewDelegationToken(self, req):
        return t.TRenewDelegationTokenResp(status=error("delegation tokens are not issued"))
