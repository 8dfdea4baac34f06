"""The ecommerce workload against a real PostgreSQL, at scale 1 (about 75k rows, loaded in a second)."""

from __future__ import annotations

import collections
import json
import random
from decimal import Decimal

import pytest
from stormdb_tui.plugins.ecommerce import WORKLOAD
from stormdb_tui.plugins.ecommerce.schema import PER_SCALE

from stormdb_tui.db import connect
from stormdb_tui.workload import Progress, WorkerContext


@pytest.fixture(scope="module")
def conn(dsn: str):
    connection = connect(dsn)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def shop(conn):
    """A freshly loaded scale-1 shop (dropped first, so earlier runs' writes do not leak in)."""
    workload = WORKLOAD({"scale": 1})
    workload.drop(conn)
    assert workload.check(conn) == ["ecommerce data not loaded: run with --setup"]
    workload.setup(conn, Progress())
    return workload


@pytest.fixture()
def ctx(dsn: str, shop):
    context = WorkerContext(0, connect(dsn), random.Random(3), {}, 1, 1, lambda: False)
    shop.start_worker(context)
    yield context
    context.conn.close()


def count(conn, table: str, where: str = "true", params: tuple = ()) -> int:
    return conn.execute(f"SELECT count(*) FROM ecommerce.{table} WHERE {where}", params).fetchone()[0]


def empty_cart(conn, customer: int) -> None:
    """Loaded data may already give the customer an open cart; start from an empty one."""
    conn.execute("DELETE FROM ecommerce.cart_items WHERE cart_id IN "
                 "(SELECT cart_id FROM ecommerce.carts WHERE customer_id = %s AND status = 'open')", (customer,))


def test_load_sizes_match_scale_and_check_passes(conn, shop):
    assert shop.check(conn) == []
    assert count(conn, "products") == PER_SCALE["products"]
    assert count(conn, "inventory") == PER_SCALE["products"]
    assert count(conn, "customers") == PER_SCALE["customers"]
    assert count(conn, "orders") == count(conn, "payments") == PER_SCALE["orders"]
    assert PER_SCALE["orders"] <= count(conn, "order_items") <= 4 * PER_SCALE["orders"]
    # Order totals agree with their lines, and product ratings with the reviews.
    assert conn.execute(
        "SELECT count(*) FROM ecommerce.orders o WHERE total <> "
        "(SELECT sum(quantity * unit_price) FROM ecommerce.order_items i WHERE i.order_id = o.order_id)"
    ).fetchone()[0] == 0
    assert conn.execute("SELECT sum(rating_count) FROM ecommerce.products").fetchone()[0] == PER_SCALE["reviews"]
    # Popular (low) product ids really are ordered more often than the tail.
    head, tail = conn.execute(
        "SELECT count(*) FILTER (WHERE product_id <= 500), count(*) FILTER (WHERE product_id > 4500) "
        "FROM ecommerce.order_items").fetchone()
    assert head > 3 * tail
    # Scale 2 asks for twice the keys, and check says the loaded data does not match.
    double = WORKLOAD({"scale": 2})
    assert double.sizes.products == 2 * PER_SCALE["products"]
    assert "loaded at scale 1" in double.check(conn)[0]
    # setup is idempotent: a second call keeps the data (same load time).
    loaded_at = conn.execute("SELECT loaded_at FROM ecommerce.meta").fetchone()[0]
    shop.setup(conn, Progress())
    assert conn.execute("SELECT loaded_at FROM ecommerce.meta").fetchone()[0] == loaded_at


def test_reads_return_sensible_rows(shop, ctx):
    rows = shop.browse_category(ctx)
    assert 0 < len(rows) <= 24
    found = shop.search_products(ctx)
    assert all(len(r) == 3 for r in found)
    ctx.state["sql"]["probe"] = ctx.state["sql"]["search_products"]
    chairs = shop._run(ctx, "probe", ("chair", Decimal(100000)))
    assert chairs and all("chair" in name for _, name, _ in chairs)
    product, reviews = shop.product_page(ctx, product_id=1)
    assert product[0] == 1 and product[8] >= 0
    assert len(reviews) == 5  # product 1 is the most reviewed
    history = shop.order_history(ctx, customer_id=1)
    assert all(lines >= 1 for *_, lines, _units in history)
    months, top = shop.vendor_analytics(ctx, vendor_id=1)
    assert months and top and top[0][3] == 1
    rollup = shop.category_analytics(ctx)
    assert rollup[0][:2] == ("(all)", "(all)")  # the grand total has the most revenue


def test_checkout_takes_stock_and_creates_order(conn, shop, ctx):
    conn.execute("UPDATE ecommerce.inventory SET quantity = 50 WHERE product_id IN (101, 102)")
    customer = 4242
    empty_cart(conn, customer)
    cart = shop.add_to_cart(ctx, customer, 101, 2)
    assert shop.add_to_cart(ctx, customer, 102, 1) == cart
    assert shop.add_to_cart(ctx, customer, 101, 1) == cart  # same cart, quantity adds up
    order_id = shop.checkout(ctx, customer)
    assert order_id is not None
    assert conn.execute("SELECT product_id, quantity FROM ecommerce.inventory WHERE product_id IN (101, 102) "
                        "ORDER BY 1").fetchall() == [(101, 47), (102, 49)]
    lines = conn.execute("SELECT product_id, quantity FROM ecommerce.order_items WHERE order_id = %s ORDER BY 1",
                         (order_id,)).fetchall()
    assert lines == [(101, 3), (102, 1)]
    total, paid = conn.execute(
        "SELECT o.total, p.amount FROM ecommerce.orders o JOIN ecommerce.payments p USING (order_id) "
        "WHERE o.order_id = %s", (order_id,)).fetchone()
    assert total == paid > 0
    assert conn.execute("SELECT status FROM ecommerce.carts WHERE cart_id = %s", (cart,)).fetchone()[0] == "ordered"
    assert ctx.rollbacks == 0


def test_checkout_without_enough_stock_rolls_back(conn, shop, ctx):
    conn.execute("UPDATE ecommerce.inventory SET quantity = 1 WHERE product_id = 103")
    conn.execute("UPDATE ecommerce.inventory SET quantity = 50 WHERE product_id = 104")
    customer = 4343
    empty_cart(conn, customer)
    orders_before = count(conn, "orders")
    cart = shop.add_to_cart(ctx, customer, 103, 3)
    shop.add_to_cart(ctx, customer, 104, 1)
    assert shop.checkout(ctx, customer) is None
    assert ctx.rollbacks == 1
    assert count(conn, "orders") == orders_before
    assert conn.execute("SELECT quantity FROM ecommerce.inventory WHERE product_id IN (103, 104) ORDER BY product_id"
                        ).fetchall() == [(1,), (50,)]
    # The missing product left the cart; the rest stays, and a second checkout succeeds.
    assert conn.execute("SELECT product_id FROM ecommerce.cart_items WHERE cart_id = %s", (cart,)).fetchall() == [
        (104,)]
    assert shop.checkout(ctx, customer) is not None


def test_every_label_runs_with_the_mix(conn, shop, ctx):
    orders_before = count(conn, "orders")
    reviews_before = count(conn, "reviews")
    seen = collections.Counter(shop.transaction(ctx) for _ in range(400))
    assert set(seen) == set(shop.operations)
    assert ctx.queries >= 400
    # Every successful checkout made one order; the others were counted as rollbacks.
    assert count(conn, "orders") - orders_before == seen["checkout"] - ctx.rollbacks
    assert count(conn, "reviews") - reviews_before == seen["write_review"]
    summary = shop.summary({"elapsed_s": 10.0, "operations": {"checkout": {"count": seen["checkout"]}},
                            "rollbacks": ctx.rollbacks})
    assert summary["orders_per_minute"] == round((seen["checkout"] - ctx.rollbacks) * 6, 1)


def test_weights_restrict_the_mix(shop, ctx):
    only = WORKLOAD({"scale": 1, "weights": {"order_history": 1, "product_page": 1}})
    only.start_worker(ctx)
    assert {only.transaction(ctx) for _ in range(50)} == {"order_history", "product_page"}


def test_headless_run_reports_every_label(run_cli, dsn, shop, tmp_path):
    """Through the engine at scale 1: every label, no errors, the shop's own figures in the report."""
    report = tmp_path / "ecommerce.json"
    done = run_cli("run", "--no-ui", "-q", "--dsn", dsn, "-w", "ecommerce", "--setup",
                   "--workers", "2", "--duration", "2s", "--seed", "5", "--report-json", str(report))
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert data["summary"]["errors"] == 0
    assert set(data["operations"]) == set(shop.operations)
    assert data["summary"]["qps"] > data["summary"]["tps"]  # checkout and pages send several statements
    assert data["workload"]["summary"]["orders_per_minute"] > 0
