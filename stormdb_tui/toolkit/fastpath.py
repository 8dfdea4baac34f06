"""A thin, checked layer over psycopg's public low-level ``pq`` interface.

High-level ``cursor.execute(..., prepare=True)`` costs about 80 µs of client
CPU per statement; ``PGconn.exec_prepared`` about 28 µs. Workloads whose
transactions are a few short statements (pgbench's scripts) use these
helpers on the hot path and stay readable: prepare once per connection,
then execute by name with text parameters. Failures are raised as the same
psycopg exceptions (with SQLSTATE) the rest of the engine classifies.
"""

from __future__ import annotations

import select
from collections.abc import Sequence

import psycopg
from psycopg import errors, pq
from psycopg.pq.abc import PGresult

_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)


def _raise(conn: psycopg.Connection, res: PGresult | None) -> None:
    pgconn = conn.pgconn
    if res is None or pgconn.status == pq.ConnStatus.BAD:
        raise psycopg.OperationalError(
            (pgconn.error_message or b"connection lost").decode("utf-8", "replace").strip() or "connection lost"
        )
    raise errors.error_from_result(res, encoding=conn.info.encoding)


def prepare(conn: psycopg.Connection, statements: dict[str, str]) -> None:
    """Prepare named statements on this connection (idempotent per connection)."""
    pgconn = conn.pgconn
    known: set[bytes] = conn.__dict__.setdefault("_stormdb_prepared", set())
    for name, sql in statements.items():
        key = name.encode()
        if key in known:
            continue
        res = pgconn.prepare(key, sql.encode())
        if res.status != pq.ExecStatus.COMMAND_OK:
            if res.error_field(pq.DiagnosticField.SQLSTATE) == b"42P05":  # already prepared
                known.add(key)
                continue
            _raise(conn, res)
        known.add(key)


def execute(conn: psycopg.Connection, name: bytes, params: Sequence[bytes | None] = ()) -> PGresult:
    """Execute a prepared statement with text parameters; raises on failure."""
    res = conn.pgconn.exec_prepared(name, params)  # type: ignore[arg-type]  # None is sent as NULL
    if res.status not in _OK:
        _raise(conn, res)
    return res


def execute_simple(conn: psycopg.Connection, sql: bytes) -> PGresult:
    """Run a parameterless command (BEGIN, COMMIT) over the simple protocol."""
    res = conn.pgconn.exec_(sql)
    if res.status not in _OK:
        _raise(conn, res)
    return res


def _waiter(conn: psycopg.Connection) -> select.poll:
    """A poll object on the connection's socket, made once per connection.

    ``PGconn.get_result`` blocks inside libpq *holding the GIL* when no
    result has arrived yet, which stalls every other worker thread (tpcb-like
    at 8 clients fell to a tenth of pgbench). Waiting in ``poll`` instead
    releases the GIL; ``get_result`` is then only called when it cannot block.
    """
    waiter = conn.__dict__.get("_stormdb_poll")
    fd = conn.pgconn.socket
    if waiter is None or conn.__dict__.get("_stormdb_poll_fd") != fd:
        waiter = select.poll()
        waiter.register(fd, select.POLLIN)
        conn.__dict__["_stormdb_poll"] = waiter
        conn.__dict__["_stormdb_poll_fd"] = fd
    return waiter


def _next_result(pgconn: pq.abc.PGconn, waiter: select.poll) -> pq.abc.PGresult | None:
    """The next result (or the NULL that ends a statement), waiting without the GIL."""
    while pgconn.is_busy():
        waiter.poll()
        pgconn.consume_input()
    return pgconn.get_result()


def pipeline(conn: psycopg.Connection, steps: Sequence[tuple[bytes, Sequence[bytes | None]]]) -> list[PGresult]:
    """Send prepared statements in one pipeline and wait once; raises the first failure.

    Used for multi-statement transactions: BEGIN, the statements and COMMIT
    travel together, so the transaction costs one network round trip. The
    caller includes ``BEGIN``/``COMMIT`` as prepared statements in ``steps``.
    After a failure the server skips the rest up to the sync point (its
    results come back as PIPELINE_ABORTED) and the explicit transaction is
    left aborted: the caller's rollback ends it, as after any other error.
    A lost connection raises :class:`psycopg.OperationalError`.
    """
    pgconn = conn.pgconn
    waiter = _waiter(conn)
    results: list[PGresult] = []
    failure: PGresult | None = None
    pgconn.enter_pipeline_mode()
    try:
        for name, params in steps:
            pgconn.send_query_prepared(name, params)
        pgconn.pipeline_sync()
        while pgconn.flush():  # 1: more to send (a big pipeline on a full socket)
            waiter.poll(10)
            pgconn.consume_input()
        while True:
            res = _next_result(pgconn, waiter)
            if res is None:
                if pgconn.status == pq.ConnStatus.BAD:
                    break
                continue  # the NULL that ends one statement's results
            status = res.status
            if status == pq.ExecStatus.PIPELINE_SYNC:
                break
            if status in _OK:
                results.append(res)
            elif failure is None and status == pq.ExecStatus.FATAL_ERROR:
                failure = res
            # PIPELINE_ABORTED results follow a failure; they carry nothing new.
    finally:
        if pgconn.status == pq.ConnStatus.OK:
            try:
                pgconn.exit_pipeline_mode()
            except psycopg.OperationalError:
                pass
    if pgconn.status == pq.ConnStatus.BAD:
        _raise(conn, None)
    if failure is not None:
        _raise(conn, failure)
    return results
