"""fastpath against a real server: pipelines that fail in the middle, lost connections, the GIL."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import pq

from stormdb_tui.toolkit import fastpath

TABLE = "stormdb_perf_fastpath"

STATEMENTS = {
    "fp_begin": "BEGIN",
    "fp_commit": "COMMIT",
    "fp_ins": f"INSERT INTO {TABLE} (v) VALUES ($1)",
    "fp_div": "SELECT 1 / $1::int",
    "fp_sel": f"SELECT count(*), coalesce(sum(v), 0) FROM {TABLE}",
    "fp_sleep": "SELECT pg_sleep($1::float8)",
}


@pytest.fixture
def fconn(dsn):
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"DROP TABLE IF EXISTS {TABLE}")
        admin.execute(f"CREATE TABLE {TABLE} (v int)")
    conn = psycopg.connect(dsn, autocommit=True)
    fastpath.prepare(conn, STATEMENTS)
    yield conn
    conn.close()
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"DROP TABLE IF EXISTS {TABLE}")


def _count_sum(conn: psycopg.Connection) -> tuple[int, int]:
    res = fastpath.execute(conn, b"fp_sel")
    return int(res.get_value(0, 0)), int(res.get_value(0, 1))


def test_pipeline_commits_and_returns_every_result(fconn):
    steps = [(b"fp_begin", ()), (b"fp_ins", (b"5",)), (b"fp_ins", (b"7",)), (b"fp_sel", ()), (b"fp_commit", ())]
    results = fastpath.pipeline(fconn, steps)
    assert len(results) == len(steps)
    assert (results[3].get_value(0, 0), results[3].get_value(0, 1)) == (b"2", b"12")
    assert fconn.pgconn.transaction_status == pq.TransactionStatus.IDLE
    assert _count_sum(fconn) == (2, 12)


def test_error_in_the_middle_raises_it_and_commits_nothing(fconn):
    steps = [(b"fp_begin", ()), (b"fp_ins", (b"5",)), (b"fp_div", (b"0",)), (b"fp_ins", (b"7",)), (b"fp_commit", ())]
    with pytest.raises(psycopg.errors.DivisionByZero) as info:
        fastpath.pipeline(fconn, steps)
    assert info.value.sqlstate == "22012"
    # The explicit transaction is left aborted for the engine's rollback, as after any error.
    assert fconn.info.transaction_status == pq.TransactionStatus.INERROR
    fconn.rollback()
    assert _count_sum(fconn) == (0, 0)
    # The connection is usable again, in and out of pipeline mode.
    fastpath.pipeline(fconn, [(b"fp_begin", ()), (b"fp_ins", (b"3",)), (b"fp_commit", ())])
    assert _count_sum(fconn) == (1, 3)


def test_failing_first_statement_of_an_autocommit_pipeline(fconn):
    with pytest.raises(psycopg.errors.DivisionByZero):
        fastpath.pipeline(fconn, [(b"fp_div", (b"0",)), (b"fp_ins", (b"1",))])
    assert fconn.info.transaction_status == pq.TransactionStatus.IDLE
    assert _count_sum(fconn) == (0, 0)  # skipped after the failure, up to the sync point


def test_lost_connection_raises_operational_error(fconn, dsn):
    pid = fconn.info.backend_pid
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.2)
    with pytest.raises(psycopg.OperationalError):
        fastpath.pipeline(fconn, [(b"fp_begin", ()), (b"fp_ins", (b"1",)), (b"fp_commit", ())])
    assert fconn.closed or fconn.broken or fconn.pgconn.status == pq.ConnStatus.BAD
    with psycopg.connect(dsn) as check:
        assert check.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == 0


def test_connection_lost_while_waiting(fconn, dsn):
    pid = fconn.info.backend_pid

    def kill_soon() -> None:
        time.sleep(0.3)
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    killer = threading.Thread(target=kill_soon)
    killer.start()
    with pytest.raises(psycopg.Error):
        fastpath.pipeline(fconn, [(b"fp_sleep", (b"5",)), (b"fp_ins", (b"1",))])
    killer.join()


def test_waiting_pipelines_do_not_hold_the_gil(dsn):
    """Two pipelines that each wait 0.5 s on the server overlap; holding the GIL would serialise them."""
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(2)]
    try:
        for conn in conns:
            fastpath.prepare(conn, {"fp_sleep": STATEMENTS["fp_sleep"]})
        threads = [
            threading.Thread(target=fastpath.pipeline, args=(conn, [(b"fp_sleep", (b"0.5",))])) for conn in conns
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert time.monotonic() - t0 < 0.9
    finally:
        for conn in conns:
            conn.close()
