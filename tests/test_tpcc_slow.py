"""tpcc at scale 2 (slow: ~1.1M rows): spec row counts, remote warehouses, consistency.

Leaves the database without the tpcc schema, so the scale-1 module fixture
of test_tpcc.py reloads from scratch whatever the order.
"""

from __future__ import annotations

import random

import pytest

from stormdb_tui import db
from stormdb_tui.builtin.tpcc import TpccWorkload, consistency_checks
from stormdb_tui.builtin.tpcc.schema import expected_rows
from stormdb_tui.workload import Progress, WorkerContext

TABLES = ("warehouse", "district", "customer", "history", "orders", "new_order", "order_line", "item", "stock")


def counts(conn) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM tpcc.{t}").fetchone()[0] for t in TABLES}


def run_only(options: dict, dsn: str, conn, label: str, n: int) -> None:
    wl = TpccWorkload({**options, "mix": {label: 1}}, {"conninfo": dsn, "seed": 5})
    for worker_id in range(2):  # one terminal per warehouse
        ctx = WorkerContext(worker_id, conn, random.Random(worker_id), {}, 2, 2, lambda: False)
        wl.start_worker(ctx)
        for _ in range(n // 2):
            ctx.attempt = 0
            assert wl.transaction(ctx) == label
        wl.stop_worker(ctx)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scale2(dsn):
    with db.connect(dsn, role="test") as c:
        wl = TpccWorkload({"scale": 2}, {"conninfo": dsn})
        wl.drop(c)
        wl.setup(c, Progress())
        yield wl
        wl.drop(c)


def test_scale_2_row_counts(scale2, conn):
    got = counts(conn)
    expected = expected_rows(2)
    fixed = {k: v for k, v in expected.items() if k != "order_line"}
    assert {k: got[k] for k in fixed} == fixed
    assert got["order_line"] == conn.execute("SELECT sum(o_ol_cnt) FROM tpcc.orders").fetchone()[0]
    assert conn.execute("SELECT count(DISTINCT s_w_id) FROM tpcc.stock").fetchone()[0] == 2
    assert scale2.check(conn) == []


def test_scale_2_remote_work_and_consistency(scale2, dsn, conn):
    run_only({"scale": 2}, dsn, conn, "new_order", 400)
    run_only({"scale": 2}, dsn, conn, "payment", 300)
    run_only({"scale": 2}, dsn, conn, "delivery", 3)
    remote_orders = conn.execute("SELECT count(*) FROM tpcc.orders WHERE o_all_local = 0").fetchone()[0]
    assert remote_orders > 5  # ~1% of lines: about 1 - 0.99^10 of orders
    remote_payments = conn.execute("SELECT count(*) FROM tpcc.history WHERE h_c_w_id <> h_w_id").fetchone()[0]
    assert 20 < remote_payments < 90  # 15% of 300
    assert conn.execute("SELECT sum(s_remote_cnt) FROM tpcc.stock").fetchone()[0] > 0
    results = consistency_checks(conn)
    assert all(passed is not False for _, passed, _ in results), results
