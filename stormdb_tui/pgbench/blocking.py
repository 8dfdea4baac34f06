"""Run pgbench scripts on one psycopg connection, blocking: the threaded engine's driver.

Statements go through psycopg's low-level ``pq`` interface
(``exec_prepared``, ``exec_params``, ``exec_``), prepared lazily per
connection the first time a command runs (as pgbench's ``-M prepared``).
Pipelines use libpq's pipeline mode and wait for results in ``poll``, so a
waiting thread does not hold the GIL (see :mod:`stormdb_tui.toolkit.fastpath`).
SQL failures raise psycopg's exceptions carrying the SQLSTATE, which the
engine classifies; after a failure the connection is out of pipeline mode
and the caller's rollback ends any open transaction.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import pq

from stormdb_tui.pgbench import client as C
from stormdb_tui.pgbench.script import SQL, Script
from stormdb_tui.toolkit import fastpath

_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.EMPTY_QUERY)
_SLEEP_SLICE_S = 0.1


def _store(client: C.Client, cmd: Any, res: pq.abc.PGresult) -> None:
    ntuples = res.ntuples
    fields = [(res.fname(i) or b"").decode() for i in range(res.nfields)]
    row = None
    if ntuples > 0:
        last = ntuples - 1
        row = [None if (v := res.get_value(last, i)) is None else bytes(v).decode() for i in range(res.nfields)]
    client.store(cmd, fields, row, ntuples)


class BlockingExecutor:
    """Runs whole scripts for one client on one connection; returns the statements sent."""

    def __init__(self, conn: psycopg.Connection, mode: str = "prepared", stopping: Any = None) -> None:
        self.conn = conn
        self.pgconn = conn.pgconn
        self.mode = mode
        self.stopping = stopping
        self.syncs = 0
        self.prepared: set[bytes] = conn.__dict__.setdefault("_stormdb_pgbench_prepared", set())

    def _prepare(self, cmd: Any) -> None:
        res = self.pgconn.prepare(cmd.prepname, cmd.sql)
        if res.status != pq.ExecStatus.COMMAND_OK:
            if res.error_field(pq.DiagnosticField.SQLSTATE) != b"42P05":  # already prepared
                fastpath._raise(self.conn, res)
        self.prepared.add(cmd.prepname)

    def run(self, client: C.Client, script: Script) -> int:
        """Run ``script`` to its end for ``client``; raises on the first failure."""
        client.start(script)
        pgconn = self.pgconn
        mode = self.mode
        prepared = self.prepared
        sent = 0
        advance = client.advance
        while True:
            action = advance()
            if action == C.SEND:
                cmd = client.cmd
                assert cmd is not None
                sent += 1
                if client.in_pipeline:
                    if mode == "prepared":
                        pgconn.send_query_prepared(cmd.prepname, client.params)
                    else:
                        pgconn.send_query_params(cmd.sql, client.params)
                    continue
                if mode == "prepared":
                    if cmd.prepname not in prepared:
                        self._prepare(cmd)
                    res = pgconn.exec_prepared(cmd.prepname, client.params)  # type: ignore[arg-type]  # None: NULL
                elif mode == "extended":
                    res = pgconn.exec_params(cmd.sql, client.params)
                else:
                    if cmd.store == "aset":
                        self._simple_all(client, cmd)
                        continue
                    res = pgconn.exec_(client.query)
                if res.status not in _OK:
                    fastpath._raise(self.conn, res)
                if cmd.store is not None:
                    _store(client, cmd, res)
            elif action == C.DONE:
                return sent
            elif action == C.SLEEP:
                self._sleep(client.wake_ns)
            elif action == C.START_PIPELINE:
                if mode == "prepared":
                    self._prepare_pipeline(client)
                pgconn.enter_pipeline_mode()
                self.syncs = 0
            elif action == C.SYNC_PIPELINE:
                pgconn.pipeline_sync()
                self.syncs += 1
            else:
                self._end_pipeline(client)

    def _simple_all(self, client: C.Client, cmd: Any) -> None:
        """Simple protocol with \\aset: every result of a multi-statement string is stored."""
        pgconn = self.pgconn
        pgconn.send_query(client.query)  # raises when the connection cannot send
        waiter = fastpath._waiter(self.conn)
        failure = None
        while True:
            res = fastpath._next_result(pgconn, waiter)
            if res is None:
                break
            if res.status in _OK:
                if failure is None:
                    _store(client, cmd, res)
            elif failure is None:
                failure = res
        if failure is not None or pgconn.status == pq.ConnStatus.BAD:
            fastpath._raise(self.conn, failure)

    def _prepare_pipeline(self, client: C.Client) -> None:
        """Prepare the pipeline's statements first: PREPARE cannot wait for its result inside one."""
        for cmd in client.commands[client.pc:]:
            if cmd.kind == SQL and cmd.prepname not in self.prepared:
                self._prepare(cmd)

    def _end_pipeline(self, client: C.Client) -> None:
        pgconn = self.pgconn
        waiter = fastpath._waiter(self.conn)
        pending = list(client.pending)
        pgconn.pipeline_sync()
        syncs = self.syncs + 1
        failure: pq.abc.PGresult | None = None
        store_error: Exception | None = None
        index = 0
        try:
            while pgconn.flush():
                waiter.poll(10)
                pgconn.consume_input()
            while syncs:
                res = fastpath._next_result(pgconn, waiter)
                if res is None:
                    if pgconn.status == pq.ConnStatus.BAD:
                        break
                    continue
                status = res.status
                if status == pq.ExecStatus.PIPELINE_SYNC:
                    syncs -= 1
                    continue
                cmd = pending[index] if index < len(pending) else None
                index += 1
                if status in _OK:
                    if cmd is not None and cmd.store is not None and failure is None and store_error is None:
                        try:
                            _store(client, cmd, res)
                        except Exception as exc:  # read the pipeline to its end before raising
                            store_error = exc
                elif status == pq.ExecStatus.FATAL_ERROR and failure is None:
                    failure = res
        finally:
            if pgconn.status == pq.ConnStatus.OK:
                try:
                    pgconn.exit_pipeline_mode()
                except psycopg.OperationalError:
                    pass
        if pgconn.status == pq.ConnStatus.BAD:
            fastpath._raise(self.conn, None)
        if failure is not None:
            fastpath._raise(self.conn, failure)
        if store_error is not None:
            raise store_error

    def _sleep(self, wake_ns: int) -> None:
        stopping = self.stopping
        while True:
            left = (wake_ns - time.perf_counter_ns()) / 1e9
            if left <= 0:
                return
            if stopping is not None and stopping():
                return
            time.sleep(min(left, _SLEEP_SLICE_S))
