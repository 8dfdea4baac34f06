"""ecommerce_basic against a real PostgreSQL: scale sizes the data, every operation does what it says."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from stormdb_tui.plugins.ecommerce_basic import OLAP, OLTP, SCHEMA
from stormdb_tui.plugins.ecommerce_basic import WORKLOAD as Shop

from stormdb_tui import db
from stormdb_tui.errors import ConfigError
from stormdb_tui.workload import Progress, WorkerContext

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.fixture(scope="module")
def conn(dsn):
    """One connection for the module (the shared ``dsn`` fixture picks the server); drops the schema at the end."""
    with db.connect(dsn, role="test") as c:
        yield c
        Shop().drop(c)


def load(conn, **options) -> Shop:
    wl = Shop({"scale": 1, **options})
    wl.setup(conn, Progress())
    assert wl.check(conn) == []
    return wl


def worker(conn, wl: Shop, seed: int = 3) -> WorkerContext:
    ctx = WorkerContext(1, conn, random.Random(seed), {}, wl.scale, 1, lambda: False)
    wl.start_worker(ctx)
    return ctx


def rows(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table}").fetchone()[0]


def test_scale_changes_rows_and_key_ranges(conn):
    load(conn, scale=2)
    big = {t: rows(conn, t) for t in ("customers", "products", "orders", "order_items")}
    assert Shop({"scale": 1}).check(conn) == [
        "ecommerce_basic data was loaded with scale=2, options ask for 1: run with --rebuild"
    ]
    wl = load(conn, scale=1)
    small = {t: rows(conn, t) for t in big}
    assert small["customers"] == 5_000 and big["customers"] == 10_000
    assert small["orders"] == 20_000 and big["orders"] == 40_000
    assert 1.8 < big["order_items"] / small["order_items"] < 2.2
    ctx = worker(conn, wl)
    assert (ctx.state["customers"], ctx.state["products"], ctx.state["orders"]) == (5_000, 1_000, 20_000)
    # Loaded totals agree with their lines, and new orders get ids after the loaded ones.
    assert conn.execute(
        f"SELECT count(*) FROM {SCHEMA}.orders o WHERE total <> (SELECT sum(quantity * unit_price)"
        f" FROM {SCHEMA}.order_items i WHERE i.order_id = o.order_id)"
    ).fetchone()[0] == 0
    assert wl.new_order(ctx, ctx.state["cursor"])[0] == 20_001


def test_setup_is_idempotent(conn):
    load(conn)
    progress = Progress()
    Shop({"scale": 1}).setup(conn, progress)
    assert progress.done_rows == 0


def test_olap_ratio_blends_the_mix(conn):
    load(conn)
    only_oltp = Shop({"olap_ratio": 0})
    assert set(only_oltp.mix.names) == set(OLTP)
    only_olap = Shop({"olap_ratio": 1})
    assert set(only_olap.mix.names) == set(OLAP)
    quarter = Shop({"olap_ratio": 0.25})
    assert sum(quarter.mix.share(op) for op in OLAP) == pytest.approx(0.25)
    with pytest.raises(ConfigError):
        Shop({"olap_ratio": 1.5})
    ctx = worker(conn, quarter)
    labels = Counter(quarter.transaction(ctx) for _ in range(400))
    assert set(labels) == set(OLTP) | set(OLAP)
    assert 0.15 < sum(labels[op] for op in OLAP) / 400 < 0.35


def test_every_operation_returns_sensible_results(conn):
    load(conn)
    wl = Shop({"olap_ratio": 0.3})
    ctx = worker(conn, wl)
    labels = Counter(wl.transaction(ctx) for _ in range(300))
    assert set(labels) == set(wl.operations)
    last = ctx.state["last"]

    order_id, customer, lines, total = last["new_order"]
    stored = conn.execute(
        f"SELECT customer_id, status, total FROM {SCHEMA}.orders WHERE order_id = %s", (order_id,)
    ).fetchone()
    assert stored == (customer, "pending", total) or stored[1] in ("paid", "shipped", "delivered")
    items = conn.execute(
        f"SELECT product_id, quantity FROM {SCHEMA}.order_items WHERE order_id = %s ORDER BY line_no", (order_id,)
    ).fetchall()
    assert items == lines

    order_id, updated = last["update_status"]
    if updated:
        status = conn.execute(f"SELECT status FROM {SCHEMA}.orders WHERE order_id = %s", (order_id,)).fetchone()
        assert status[0] in ("paid", "shipped", "delivered")

    customer, orders = last["order_lookup"]
    dates = [o[1] for o in orders]
    assert dates == sorted(dates, reverse=True) and len(orders) <= 10 and all(o[4] >= 1 for o in orders)
    owned = conn.execute(f"SELECT count(*) FROM {SCHEMA}.orders WHERE customer_id = %s", (customer,)).fetchone()[0]
    assert len(orders) == min(owned, 10)

    days, sales = last["daily_sales"]
    assert 7 <= days <= 30 and len(sales) >= days - 1
    assert all(day[1] > 0 and day[2] >= day[1] and day[3] > 0 for day in sales)

    days, top = last["top_customers"]
    spent = [c[4] for c in top]
    assert len(top) == 10 and spent == sorted(spent, reverse=True)


def test_stock_is_conserved_and_out_of_stock_rolls_back(conn):
    load(conn)
    before = conn.execute(f"SELECT sum(quantity) FROM {SCHEMA}.inventory").fetchone()[0]
    first_new = conn.execute(f"SELECT max(order_id) FROM {SCHEMA}.orders").fetchone()[0]
    # The 30 best sellers run out: the first order wanting one rolls back entirely
    # and the product is reordered.
    conn.execute(f"UPDATE {SCHEMA}.inventory SET quantity = 0 WHERE product_id <= 30")
    zeroed = before - conn.execute(f"SELECT sum(quantity) FROM {SCHEMA}.inventory").fetchone()[0]
    wl = Shop({"olap_ratio": 0})
    ctx = worker(conn, wl)
    labels = Counter(wl.transaction(ctx) for _ in range(300))
    assert 0 < ctx.rollbacks <= 30 and labels["new_order"] > ctx.rollbacks
    assert ctx.state["restocked"] >= 2_000 * ctx.rollbacks
    new_orders = conn.execute(f"SELECT count(*) FROM {SCHEMA}.orders WHERE order_id > %s", (first_new,)).fetchone()[0]
    assert new_orders == labels["new_order"] - ctx.rollbacks
    sold = conn.execute(
        f"SELECT coalesce(sum(quantity), 0) FROM {SCHEMA}.order_items WHERE order_id > %s", (first_new,)
    ).fetchone()[0]
    after = conn.execute(f"SELECT sum(quantity) FROM {SCHEMA}.inventory").fetchone()[0]
    assert before - zeroed + ctx.state["restocked"] - after == sold
    assert conn.execute(f"SELECT min(quantity) FROM {SCHEMA}.inventory").fetchone()[0] >= 0
    Shop().drop(conn)  # the stock was tampered with; later tests reload


def test_drop_removes_only_its_schema(conn):
    conn.execute("CREATE TABLE IF NOT EXISTS public.ecommerce_basic_canary (id int)")
    try:
        load(conn)
        Shop().drop(conn)
        assert conn.execute(f"SELECT to_regnamespace('{SCHEMA}')").fetchone()[0] is None
        assert conn.execute("SELECT to_regclass('public.ecommerce_basic_canary')").fetchone()[0] is not None
        assert Shop().check(conn) == ["ecommerce_basic data not loaded: run with --setup"]
        assert not Shop().is_loaded(conn)
    finally:
        conn.execute("DROP TABLE IF EXISTS public.ecommerce_basic_canary")


def test_quick_profile_runs_through_the_engine(conn, dsn, tmp_path):
    """The shipped profile, run headless by the CLI: discovered, every label present, no errors."""
    import json

    from stormdb_tui.frontends.cli import main

    report = tmp_path / "shop.json"
    code = main(["run", "-c", str(CONFIGS / "ecommerce_basic-quick.yaml"), "--dsn", dsn, "--setup", "--no-ui", "-q",
                 "--workers", "2", "--transactions", "300", "--warmup", "0", "--seed", "1",
                 "--report-json", str(report)])
    data = json.loads(report.read_text())
    assert code == 0 and data["status"] == "completed"
    assert data["summary"]["errors"] == 0 and data["summary"]["transactions"] >= 300
    assert set(data["operations"]) == set(Shop.operations)
