"""Row generators for the initial database population (clause 4.3.3.1).

Each generator yields chunks of COPY text (tab-separated, ``\\N`` for NULL),
a few thousand rows at a time, and the number of rows in each chunk. Text
is built with plain string formatting because it is several times faster
than handing Python tuples to ``copy.write_row``; the values never contain
tabs, newlines or backslashes, so no escaping is needed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from stormdb_tui.builtin.tpcc.rand import A_CUSTOMER_LAST, LAST_NAMES, StringPool

ITEMS = 100_000
STOCK_PER_WAREHOUSE = 100_000
DISTRICTS_PER_WAREHOUSE = 10
CUSTOMERS_PER_DISTRICT = 3_000
ORDERS_PER_DISTRICT = 3_000
NEW_ORDERS_PER_DISTRICT = 900
FIRST_UNDELIVERED_O_ID = ORDERS_PER_DISTRICT - NEW_ORDERS_PER_DISTRICT + 1  # 2101

Chunk = tuple[str, int]
CHUNK_ROWS = 2_000


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _address(p: StringPool) -> str:
    """street_1, street_2, city, state, zip (clause 4.3.3.1)."""
    return f"{p.astring(10, 20)}\t{p.astring(10, 20)}\t{p.astring(10, 20)}\t{p.state()}\t{p.zip()}"


def items(rng: random.Random) -> Iterator[Chunk]:
    """ITEM: 100,000 rows, 10% of I_DATA containing ``ORIGINAL``."""
    p = StringPool(rng)
    rnd = rng.random
    buf: list[str] = []
    for i_id in range(1, ITEMS + 1):
        buf.append(
            f"{i_id}\t{1 + int(rnd() * 10_000)}\t{p.astring(14, 24)}\t"
            f"{_money(100 + int(rnd() * 9_901))}\t{p.data(26, 50)}\n"
        )
        if len(buf) == CHUNK_ROWS:
            yield "".join(buf), len(buf)
            buf = []
    if buf:
        yield "".join(buf), len(buf)


def warehouse(rng: random.Random, w_id: int) -> Iterator[Chunk]:
    """WAREHOUSE: one row, W_YTD = 300,000.00."""
    p = StringPool(rng)
    tax = int(rng.random() * 2_001)
    yield f"{w_id}\t{p.astring(6, 10)}\t{_address(p)}\t0.{tax:04d}\t300000.00\n", 1


def districts(rng: random.Random, w_id: int) -> Iterator[Chunk]:
    """DISTRICT: ten rows, D_YTD = 30,000.00, D_NEXT_O_ID = 3001."""
    p = StringPool(rng)
    rows = []
    for d_id in range(1, DISTRICTS_PER_WAREHOUSE + 1):
        tax = int(rng.random() * 2_001)
        rows.append(
            f"{d_id}\t{w_id}\t{p.astring(6, 10)}\t{_address(p)}\t0.{tax:04d}\t30000.00\t"
            f"{ORDERS_PER_DISTRICT + 1}\n"
        )
    yield "".join(rows), len(rows)


def stock(rng: random.Random, w_id: int) -> Iterator[Chunk]:
    """STOCK: 100,000 rows per warehouse with ten 24-character S_DIST_xx strings."""
    p = StringPool(rng)
    rnd = rng.random
    astring = p.astring
    buf: list[str] = []
    for i_id in range(1, STOCK_PER_WAREHOUSE + 1):
        dists = "\t".join([astring(24, 24) for _ in range(10)])
        buf.append(f"{i_id}\t{w_id}\t{10 + int(rnd() * 91)}\t{dists}\t0\t0\t0\t{p.data(26, 50)}\n")
        if len(buf) == CHUNK_ROWS:
            yield "".join(buf), len(buf)
            buf = []
    if buf:
        yield "".join(buf), len(buf)


def customers(rng: random.Random, w_id: int, d_id: int, c_load: int, now: str) -> Iterator[Chunk]:
    """CUSTOMER: 3,000 rows per district; C_LAST by number for the first 1,000, then NURand(255)."""
    p = StringPool(rng)
    rnd = rng.random
    randint = rng.randint
    buf: list[str] = []
    for c_id in range(1, CUSTOMERS_PER_DISTRICT + 1):
        if c_id <= 1000:
            last = LAST_NAMES[c_id - 1]
        else:
            last = LAST_NAMES[((randint(0, A_CUSTOMER_LAST) | randint(0, 999)) + c_load) % 1000]
        credit = "BC" if rnd() < 0.1 else "GC"
        discount = int(rnd() * 5_001)
        buf.append(
            f"{c_id}\t{d_id}\t{w_id}\t{p.astring(8, 16)}\tOE\t{last}\t{_address(p)}\t"
            f"{p.nstring(16)}\t{now}\t{credit}\t50000.00\t0.{discount:04d}\t-10.00\t10.00\t1\t0\t"
            f"{p.astring(300, 500)}\n"
        )
        if len(buf) == CHUNK_ROWS:
            yield "".join(buf), len(buf)
            buf = []
    if buf:
        yield "".join(buf), len(buf)


def history(rng: random.Random, w_id: int, d_id: int, now: str) -> Iterator[Chunk]:
    """HISTORY: one row per customer, H_AMOUNT = 10.00."""
    p = StringPool(rng)
    rows = [
        f"{c_id}\t{d_id}\t{w_id}\t{d_id}\t{w_id}\t{now}\t10.00\t{p.astring(12, 24)}\n"
        for c_id in range(1, CUSTOMERS_PER_DISTRICT + 1)
    ]
    yield "".join(rows), len(rows)


def orders(rng: random.Random, w_id: int, d_id: int, now: str) -> tuple[list[str], list[int]]:
    """ORDER rows for a district and each order's O_OL_CNT (order lines are generated from it).

    O_C_ID walks a random permutation of the customer ids, so every customer
    has exactly one order; orders from 2,101 on are undelivered (no carrier).
    """
    rnd = rng.random
    customers_perm = list(range(1, CUSTOMERS_PER_DISTRICT + 1))
    rng.shuffle(customers_perm)
    rows = []
    counts = []
    for o_id in range(1, ORDERS_PER_DISTRICT + 1):
        carrier = str(1 + int(rnd() * 10)) if o_id < FIRST_UNDELIVERED_O_ID else "\\N"
        ol_cnt = 5 + int(rnd() * 11)
        counts.append(ol_cnt)
        rows.append(f"{o_id}\t{d_id}\t{w_id}\t{customers_perm[o_id - 1]}\t{now}\t{carrier}\t{ol_cnt}\t1\n")
    return rows, counts


def order_lines(
    rng: random.Random, w_id: int, d_id: int, counts: list[int], now: str
) -> Iterator[Chunk]:
    """ORDER-LINE: O_OL_CNT rows per order; delivered orders carry amount 0.00 and a delivery date."""
    p = StringPool(rng)
    rnd = rng.random
    astring = p.astring
    buf: list[str] = []
    n = 0
    for o_id, ol_cnt in enumerate(counts, start=1):
        delivered = o_id < FIRST_UNDELIVERED_O_ID
        prefix = f"{o_id}\t{d_id}\t{w_id}\t"
        for number in range(1, ol_cnt + 1):
            i_id = 1 + int(rnd() * ITEMS)
            if delivered:
                tail = f"{now}\t5\t0.00"
            else:
                tail = f"\\N\t5\t{_money(1 + int(rnd() * 999_999))}"
            buf.append(f"{prefix}{number}\t{i_id}\t{w_id}\t{tail}\t{astring(24, 24)}\n")
        n += ol_cnt
        if n >= CHUNK_ROWS:
            yield "".join(buf), n
            buf = []
            n = 0
    if buf:
        yield "".join(buf), n


def new_orders(w_id: int, d_id: int) -> Iterator[Chunk]:
    """NEW-ORDER: the last 900 orders of each district."""
    rows = [f"{o_id}\t{d_id}\t{w_id}\n" for o_id in range(FIRST_UNDELIVERED_O_ID, ORDERS_PER_DISTRICT + 1)]
    yield "".join(rows), len(rows)
