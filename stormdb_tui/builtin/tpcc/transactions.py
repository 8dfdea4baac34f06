"""The five TPC-C transactions (clause 2), as set-based SQL in pipeline mode.

Each transaction keeps the specification's inputs, reads and writes, but
batches the per-line statements of New-Order into array statements and sends
independent statements together in one pipeline, so a New-Order costs two
round trips instead of ~40. Stock rows are locked in key order so concurrent
New-Orders never deadlock on each other. Serialization failures and
deadlocks are not caught: the engine rolls back and retries them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg

from stormdb_tui.builtin.tpcc.generate import CUSTOMERS_PER_DISTRICT, DISTRICTS_PER_WAREHOUSE, ITEMS
from stormdb_tui.builtin.tpcc.rand import (
    A_CUSTOMER_ID,
    A_CUSTOMER_LAST,
    A_ITEM_ID,
    LAST_NAMES,
    NURandConstants,
    nurand,
)

UNUSED_ITEM_ID = ITEMS + 1
"""Clause 2.4.1.5: the rolled-back New-Order asks for an item id that does not exist."""

NO_HEAD = """WITH d AS (
  UPDATE tpcc.district SET d_next_o_id = d_next_o_id + 1 WHERE d_w_id = %(w)s AND d_id = %(d)s
  RETURNING d_tax, d_next_o_id - 1 AS o_id),
o AS (
  INSERT INTO tpcc.orders (o_id, o_d_id, o_w_id, o_c_id, o_entry_d, o_carrier_id, o_ol_cnt, o_all_local)
  SELECT o_id, %(d)s, %(w)s, %(c)s, localtimestamp, NULL, %(n)s, %(local)s FROM d RETURNING o_id),
n AS (
  INSERT INTO tpcc.new_order (no_o_id, no_d_id, no_w_id) SELECT o_id, %(d)s, %(w)s FROM o)
SELECT o_id, d_tax FROM d"""
NO_CUSTOMER = """SELECT c_discount, c_last, c_credit, w_tax FROM tpcc.customer JOIN tpcc.warehouse ON w_id = c_w_id
WHERE c_w_id = %s AND c_d_id = %s AND c_id = %s"""
NO_ITEMS = "SELECT i_id, i_price, i_name, i_data FROM tpcc.item WHERE i_id = ANY(%s::int4[])"
NO_STOCK = [
    f"""SELECT s_w_id, s_i_id, s_quantity, s_dist_{d:02d}, s_data FROM tpcc.stock
WHERE (s_w_id, s_i_id) IN (SELECT * FROM unnest(%s::int4[], %s::int4[]))
ORDER BY s_w_id, s_i_id FOR UPDATE"""
    for d in range(1, DISTRICTS_PER_WAREHOUSE + 1)
]
NO_STOCK_UPDATE = """UPDATE tpcc.stock SET s_quantity = v.q, s_ytd = s_ytd + v.ytd,
  s_order_cnt = s_order_cnt + v.cnt, s_remote_cnt = s_remote_cnt + v.remote
FROM unnest(%s::int4[], %s::int4[], %s::int4[], %s::int4[], %s::int4[], %s::int4[]) AS v(w, i, q, ytd, cnt, remote)
WHERE s_w_id = v.w AND s_i_id = v.i"""
NO_LINES = """INSERT INTO tpcc.order_line (ol_o_id, ol_d_id, ol_w_id, ol_number, ol_i_id, ol_supply_w_id,
  ol_delivery_d, ol_quantity, ol_amount, ol_dist_info)
SELECT %s, %s, %s, v.n, v.i, v.s, NULL, v.q, v.a, v.di
FROM unnest(%s::int4[], %s::int4[], %s::int4[], %s::int4[], %s::numeric[], %s::text[]) AS v(n, i, s, q, a, di)"""

PAY_WAREHOUSE = """UPDATE tpcc.warehouse SET w_ytd = w_ytd + %s WHERE w_id = %s
RETURNING w_name, w_street_1, w_street_2, w_city, w_state, w_zip"""
PAY_DISTRICT = """UPDATE tpcc.district SET d_ytd = d_ytd + %s WHERE d_w_id = %s AND d_id = %s
RETURNING d_name, d_street_1, d_street_2, d_city, d_state, d_zip"""
CUSTOMERS_BY_NAME = """SELECT c_id FROM tpcc.customer WHERE c_w_id = %s AND c_d_id = %s AND c_last = %s
ORDER BY c_first"""
PAY_CUSTOMER = """UPDATE tpcc.customer SET c_balance = c_balance - %(h)s, c_ytd_payment = c_ytd_payment + %(h)s,
  c_payment_cnt = c_payment_cnt + 1,
  c_data = CASE WHEN c_credit = 'BC' THEN left(c_id || ' ' || c_d_id || ' ' || c_w_id || ' ' || %(d)s::int
    || ' ' || %(w)s::int || ' ' || %(h)s::numeric || ' | ' || c_data, 500) ELSE c_data END
WHERE c_w_id = %(cw)s AND c_d_id = %(cd)s AND c_id = %(c)s
RETURNING c_id, c_first, c_middle, c_last, c_street_1, c_street_2, c_city, c_state, c_zip, c_phone, c_since,
  c_credit, c_credit_lim, c_discount, c_balance, CASE WHEN c_credit = 'BC' THEN left(c_data, 200) END"""
PAY_HISTORY = """INSERT INTO tpcc.history (h_c_id, h_c_d_id, h_c_w_id, h_d_id, h_w_id, h_date, h_amount, h_data)
SELECT %(c)s, %(cd)s, %(cw)s, %(d)s, %(w)s, localtimestamp, %(h)s, w_name || '    ' || d_name
FROM tpcc.warehouse, tpcc.district WHERE w_id = %(w)s AND d_w_id = %(w)s AND d_id = %(d)s"""

OS_CUSTOMER = """SELECT c_id, c_balance, c_first, c_middle, c_last FROM tpcc.customer
WHERE c_w_id = %s AND c_d_id = %s AND c_id = %s"""
OS_CUSTOMERS_BY_NAME = """SELECT c_id, c_balance, c_first, c_middle, c_last FROM tpcc.customer
WHERE c_w_id = %s AND c_d_id = %s AND c_last = %s ORDER BY c_first"""
# The newest order and its lines in one statement, hence one snapshot: under READ COMMITTED two
# statements could see different newest orders and return a header with another order's lines.
OS_ORDER_LINES = """WITH o AS (
  SELECT o_id, o_entry_d, o_carrier_id FROM tpcc.orders
  WHERE o_w_id = %(w)s AND o_d_id = %(d)s AND o_c_id = %(c)s ORDER BY o_id DESC LIMIT 1)
SELECT o.o_id, o.o_entry_d, o.o_carrier_id, ol_i_id, ol_supply_w_id, ol_quantity, ol_amount, ol_delivery_d
FROM o LEFT JOIN tpcc.order_line ON ol_w_id = %(w)s AND ol_d_id = %(d)s AND ol_o_id = o.o_id
ORDER BY ol_number"""

DELIVERY = """WITH no AS (
  DELETE FROM tpcc.new_order WHERE no_w_id = %(w)s AND no_d_id = %(d)s AND no_o_id = (
    SELECT no_o_id FROM tpcc.new_order WHERE no_w_id = %(w)s AND no_d_id = %(d)s
    ORDER BY no_o_id LIMIT 1 FOR UPDATE)
  RETURNING no_o_id),
o AS (
  UPDATE tpcc.orders SET o_carrier_id = %(carrier)s FROM no
  WHERE o_w_id = %(w)s AND o_d_id = %(d)s AND o_id = no.no_o_id RETURNING o_id, o_c_id),
ol AS (
  UPDATE tpcc.order_line SET ol_delivery_d = localtimestamp FROM no
  WHERE ol_w_id = %(w)s AND ol_d_id = %(d)s AND ol_o_id = no.no_o_id RETURNING ol_amount)
UPDATE tpcc.customer SET c_balance = c_balance + (SELECT coalesce(sum(ol_amount), 0) FROM ol),
  c_delivery_cnt = c_delivery_cnt + 1
FROM o WHERE c_w_id = %(w)s AND c_d_id = %(d)s AND c_id = o.o_c_id
RETURNING o.o_id"""

STOCK_LEVEL = """SELECT count(DISTINCT s_i_id) FROM tpcc.district
JOIN tpcc.order_line ON ol_w_id = d_w_id AND ol_d_id = d_id
  AND ol_o_id >= d_next_o_id - 20 AND ol_o_id < d_next_o_id
JOIN tpcc.stock ON s_w_id = ol_w_id AND s_i_id = ol_i_id
WHERE d_w_id = %s AND d_id = %s AND s_quantity < %s"""


@dataclass
class Terminal:
    """One worker's TPC-C identity: home warehouse, Stock-Level district, C constants.

    ``warehouses`` lists the warehouses the terminal may take as its home;
    with more than one (the ``all_warehouses`` option) each transaction
    picks one of them, so fewer terminals than warehouses still touch all.
    """

    w_id: int
    d_id: int
    scale: int
    c: NURandConstants
    cursors: list[Any] = field(default_factory=list)
    warehouses: tuple[int, ...] = ()
    skipped_deliveries: int = 0
    last_total: Decimal = Decimal(0)


def _array(values: list[Any]) -> str:
    """A PostgreSQL array literal; values here are numbers or alphanumeric text, never quoted."""
    return "{" + ",".join(map(str, values)) + "}"


def _other_warehouse(rng: Any, w_id: int, scale: int) -> int:
    other = rng.randint(1, scale - 1)
    return other + 1 if other >= w_id else other


def _customer_key(rng: Any, t: Terminal) -> tuple[str | None, int | None]:
    """60% of the time a last name (NURand 255), otherwise a customer id (NURand 1023)."""
    if rng.randint(1, 100) <= 60:
        return LAST_NAMES[nurand(rng, A_CUSTOMER_LAST, 0, 999, t.c.c_last)], None
    return None, nurand(rng, A_CUSTOMER_ID, 1, CUSTOMERS_PER_DISTRICT, t.c.c_id)


def new_order(ctx: Any, t: Terminal, rollback: bool | None = None) -> bool:
    """Clause 2.4: returns False when the transaction was rolled back on purpose (unused item).

    ``rollback`` forces (True) or forbids (False) the 1% unused-item case
    instead of drawing it. A rolled-back New-Order still does the work of
    clause 2.4.2.3 for its valid items: their stock rows are updated and
    their order lines inserted before the rollback, so it costs the server
    what a real one costs.
    """
    rng = ctx.rng
    w_id = t.w_id
    d_id = rng.randint(1, DISTRICTS_PER_WAREHOUSE)
    c_id = nurand(rng, A_CUSTOMER_ID, 1, CUSTOMERS_PER_DISTRICT, t.c.c_id)
    ol_cnt = rng.randint(5, 15)
    drawn = rng.randint(1, 100) == 1
    if rollback is None:
        rollback = drawn
    lines = []
    for number in range(1, ol_cnt + 1):
        i_id = nurand(rng, A_ITEM_ID, 1, ITEMS, t.c.ol_i_id)
        if rollback and number == ol_cnt:
            i_id = UNUSED_ITEM_ID
        supply = w_id
        if t.scale > 1 and rng.randint(1, 100) == 1:
            supply = _other_warehouse(rng, w_id, t.scale)
        lines.append((number, i_id, supply, rng.randint(1, 10)))
    all_local = int(all(line[2] == w_id for line in lines))
    item_ids = sorted({line[1] for line in lines})
    stock_keys = sorted({(line[2], line[1]) for line in lines if line[1] != UNUSED_ITEM_ID})
    c_head, c_cust, c_items, c_stock = t.cursors
    conn = ctx.conn
    committed = True
    with conn.pipeline() as pipeline, conn.transaction():
        c_head.execute(
            NO_HEAD, {"w": w_id, "d": d_id, "c": c_id, "n": ol_cnt, "local": all_local}, prepare=True
        )
        c_cust.execute(NO_CUSTOMER, (w_id, d_id, c_id), prepare=True)
        c_items.execute(NO_ITEMS, (_array(item_ids),), prepare=True)
        c_stock.execute(
            NO_STOCK[d_id - 1],
            (_array([k[0] for k in stock_keys]), _array([k[1] for k in stock_keys])),
            prepare=True,
        )
        ctx.queries += 4
        o_id, d_tax = c_head.fetchone()
        c_discount, _c_last, _c_credit, w_tax = c_cust.fetchone()
        items = {row[0]: row for row in c_items.fetchall()}
        # An item not found signals the rollback (clause 2.4.2.3); the lines before it are processed first.
        committed = len(items) == len(item_ids)
        stock = {(row[0], row[1]): [row[2], row[3], row[4], 0, 0, 0] for row in c_stock.fetchall()}
        numbers, ids, supplies, quantities, amounts, dists = [], [], [], [], [], []
        total = Decimal(0)
        for number, i_id, supply, qty in lines:
            if i_id not in items:
                continue
            s = stock[(supply, i_id)]
            s[0] = s[0] - qty if s[0] >= qty + 10 else s[0] - qty + 91
            s[3] += qty
            s[4] += 1
            s[5] += int(supply != w_id)
            _i_id, price, _name, i_data = items[i_id]
            amount = price * qty
            total += amount
            _brand = "B" if "ORIGINAL" in i_data and "ORIGINAL" in s[2] else "G"
            numbers.append(number)
            ids.append(i_id)
            supplies.append(supply)
            quantities.append(qty)
            amounts.append(amount)
            dists.append(s[1])
        keys = list(stock)
        c_stock.execute(
            NO_STOCK_UPDATE,
            tuple(_array(col) for col in (
                [k[0] for k in keys], [k[1] for k in keys], *([stock[k][j] for k in keys] for j in (0, 3, 4, 5))
            )),
            prepare=True,
        )
        c_items.execute(
            NO_LINES,
            (o_id, d_id, w_id, _array(numbers), _array(ids), _array(supplies), _array(quantities),
             _array(amounts), _array(dists)),
            prepare=True,
        )
        ctx.queries += 2
        t.last_total = total * (1 - c_discount) * (1 + w_tax + d_tax)
        if not committed:
            # Wait for both statements' results: the server has done the work before it is undone.
            pipeline.sync()
            raise psycopg.Rollback()
    return committed


def payment(ctx: Any, t: Terminal) -> None:
    """Clause 2.5: 85% home / 15% remote customer, 60% by last name, bad credit rewrites C_DATA."""
    rng = ctx.rng
    w_id = t.w_id
    d_id = rng.randint(1, DISTRICTS_PER_WAREHOUSE)
    if t.scale > 1 and rng.randint(1, 100) > 85:
        c_w_id = _other_warehouse(rng, w_id, t.scale)
        c_d_id = rng.randint(1, DISTRICTS_PER_WAREHOUSE)
    else:
        c_w_id, c_d_id = w_id, d_id
    last, c_id = _customer_key(rng, t)
    amount = Decimal(rng.randint(100, 500_000)) / 100
    c_w, c_d, c_c, c_h = t.cursors
    conn = ctx.conn
    with conn.pipeline(), conn.transaction():
        c_w.execute(PAY_WAREHOUSE, (amount, w_id), prepare=True)
        c_d.execute(PAY_DISTRICT, (amount, w_id, d_id), prepare=True)
        ctx.queries += 2
        if last is not None:
            c_c.execute(CUSTOMERS_BY_NAME, (c_w_id, c_d_id, last), prepare=True)
            ctx.queries += 1
            ids = c_c.fetchall()
            c_id = ids[(len(ids) - 1) // 2][0]  # position n/2 rounded up, 1-based (clause 2.5.2.2)
        params = {"h": amount, "w": w_id, "d": d_id, "cw": c_w_id, "cd": c_d_id, "c": c_id}
        c_c.execute(PAY_CUSTOMER, params, prepare=True)
        c_h.execute(PAY_HISTORY, params, prepare=True)
        ctx.queries += 2
        if c_c.fetchone() is None:
            raise RuntimeError(f"payment: customer {c_w_id}/{c_d_id}/{c_id} not found")


def order_status(ctx: Any, t: Terminal) -> tuple[int, list[tuple[Any, ...]]]:
    """Clause 2.6: the customer's balance, newest order and its lines (read-only).

    Returns the order id and its lines as read, header and lines from the
    same statement (clause 3.4.1: they describe one order).
    """
    rng = ctx.rng
    w_id = t.w_id
    d_id = rng.randint(1, DISTRICTS_PER_WAREHOUSE)
    last, c_id = _customer_key(rng, t)
    c_c, c_o, _, _ = t.cursors
    conn = ctx.conn
    with conn.pipeline(), conn.transaction():
        if last is not None:
            c_c.execute(OS_CUSTOMERS_BY_NAME, (w_id, d_id, last), prepare=True)
            rows = c_c.fetchall()
            c_id = rows[(len(rows) - 1) // 2][0]
        else:
            c_c.execute(OS_CUSTOMER, (w_id, d_id, c_id), prepare=True)
        c_o.execute(OS_ORDER_LINES, {"w": w_id, "d": d_id, "c": c_id}, prepare=True)
        ctx.queries += 2
        rows = c_o.fetchall()
    o_id = rows[0][0] if rows else 0
    return o_id, [row[3:] for row in rows if row[3] is not None]


def delivery(ctx: Any, t: Terminal) -> int:
    """Clause 2.7: deliver the oldest undelivered order of each district; returns how many."""
    rng = ctx.rng
    carrier = rng.randint(1, 10)
    cur = t.cursors[0]
    params = [{"w": t.w_id, "d": d_id, "carrier": carrier} for d_id in range(1, DISTRICTS_PER_WAREHOUSE + 1)]
    delivered = 0
    with ctx.conn.transaction():
        # executemany pipelines the ten statements: one round trip for the whole delivery.
        cur.executemany(DELIVERY, params, returning=True)
        ctx.queries += DISTRICTS_PER_WAREHOUSE
        while True:
            if cur.fetchone() is not None:
                delivered += 1
            if not cur.nextset():
                break
    t.skipped_deliveries += DISTRICTS_PER_WAREHOUSE - delivered
    return delivered


def stock_level(ctx: Any, t: Terminal) -> int:
    """Clause 2.8: distinct items of the district's last 20 orders with stock below a threshold."""
    threshold = ctx.rng.randint(10, 20)
    cur = t.cursors[0]
    with ctx.conn.transaction():
        cur.execute(STOCK_LEVEL, (t.w_id, t.d_id, threshold), prepare=True)
        ctx.queries += 1
        row = cur.fetchone()
    return int(row[0])
