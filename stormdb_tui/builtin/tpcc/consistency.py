"""The consistency conditions of clause 3.3.2, checked in one snapshot.

Each condition is a query that counts the warehouses, districts, orders or
customers violating it and shows the first offender, so a failure says where
to look. They hold after the initial load and after any number of committed
transactions, as long as none is in flight while the check runs (the check
reads one REPEATABLE READ snapshot, so concurrent load makes it consistent
but possibly stale rather than wrong).
"""

from __future__ import annotations

from typing import Any

from psycopg import pq

CONDITION_11 = "11: count(ORDER) - count(NEW-ORDER) = 2100 per district"
"""Holds from the load until the first Delivery (each delivered order leaves NEW-ORDER only)."""

DELIVERIES_SINCE_LOAD = "SELECT coalesce(sum(c_delivery_cnt), 0) FROM tpcc.customer"
"""C_DELIVERY_CNT is 0 after the load (clause 4.3.3.1) and counts every order delivered since."""

# (name, query returning (violations, first offender as text))
CONDITIONS: tuple[tuple[str, str], ...] = (
    (
        "1: W_YTD = sum(D_YTD)",
        """SELECT count(*), min(w_id::text) FROM (
             SELECT w_id FROM tpcc.warehouse JOIN tpcc.district ON d_w_id = w_id
             GROUP BY w_id, w_ytd HAVING w_ytd <> sum(d_ytd)) bad""",
    ),
    (
        "2: D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID)",
        """SELECT count(*), min(d_w_id || '/' || d_id) FROM (
             SELECT d_w_id, d_id, d_next_o_id,
               (SELECT max(o_id) FROM tpcc.orders WHERE o_w_id = d_w_id AND o_d_id = d_id) AS max_o,
               (SELECT max(no_o_id) FROM tpcc.new_order WHERE no_w_id = d_w_id AND no_d_id = d_id) AS max_no
             FROM tpcc.district) x
           WHERE d_next_o_id - 1 IS DISTINCT FROM max_o
              OR (max_no IS NOT NULL AND max_no <> max_o)""",
    ),
    (
        "3: count(NO_O_ID) = max(NO_O_ID) - min(NO_O_ID) + 1",
        """SELECT count(*), min(no_w_id || '/' || no_d_id) FROM (
             SELECT no_w_id, no_d_id FROM tpcc.new_order GROUP BY no_w_id, no_d_id
             HAVING count(*) <> max(no_o_id) - min(no_o_id) + 1) bad""",
    ),
    (
        "4: sum(O_OL_CNT) = count(ORDER-LINE) per district",
        """SELECT count(*), min(w || '/' || d) FROM (
             SELECT o.w, o.d FROM
               (SELECT o_w_id AS w, o_d_id AS d, sum(o_ol_cnt) AS n FROM tpcc.orders GROUP BY 1, 2) o
               FULL JOIN
               (SELECT ol_w_id AS w, ol_d_id AS d, count(*) AS n FROM tpcc.order_line GROUP BY 1, 2) ol
               USING (w, d)
             WHERE o.n IS DISTINCT FROM ol.n) bad""",
    ),
    (
        "5: O_CARRIER_ID is null exactly for orders in NEW-ORDER",
        """SELECT count(*), min(o_w_id || '/' || o_d_id || '/' || o_id) FROM tpcc.orders
           LEFT JOIN tpcc.new_order ON no_w_id = o_w_id AND no_d_id = o_d_id AND no_o_id = o_id
           WHERE (o_carrier_id IS NULL) <> (no_o_id IS NOT NULL)""",
    ),
    (
        "6: O_OL_CNT = number of ORDER-LINE rows per order",
        """SELECT count(*), min(o_w_id || '/' || o_d_id || '/' || o_id) FROM tpcc.orders o
           LEFT JOIN (SELECT ol_w_id, ol_d_id, ol_o_id, count(*) AS n FROM tpcc.order_line
                      GROUP BY 1, 2, 3) ol ON ol_w_id = o_w_id AND ol_d_id = o_d_id AND ol_o_id = o_id
           WHERE o_ol_cnt IS DISTINCT FROM ol.n""",
    ),
    (
        "7: OL_DELIVERY_D is null exactly when O_CARRIER_ID is null",
        """SELECT count(*), min(o_w_id || '/' || o_d_id || '/' || o_id) FROM tpcc.orders
           JOIN tpcc.order_line ON ol_w_id = o_w_id AND ol_d_id = o_d_id AND ol_o_id = o_id
           WHERE (ol_delivery_d IS NULL) <> (o_carrier_id IS NULL)""",
    ),
    (
        "8: W_YTD = sum(H_AMOUNT) per warehouse",
        """SELECT count(*), min(w_id::text) FROM tpcc.warehouse
           LEFT JOIN (SELECT h_w_id, sum(h_amount) AS s FROM tpcc.history GROUP BY 1) h ON h_w_id = w_id
           WHERE w_ytd IS DISTINCT FROM h.s""",
    ),
    (
        "9: D_YTD = sum(H_AMOUNT) per district",
        """SELECT count(*), min(d_w_id || '/' || d_id) FROM tpcc.district
           LEFT JOIN (SELECT h_w_id, h_d_id, sum(h_amount) AS s FROM tpcc.history GROUP BY 1, 2) h
             ON h_w_id = d_w_id AND h_d_id = d_id
           WHERE d_ytd IS DISTINCT FROM h.s""",
    ),
    (
        "10: C_BALANCE = sum(delivered OL_AMOUNT) - sum(H_AMOUNT)",
        """WITH ol AS (
             SELECT o_w_id AS w, o_d_id AS d, o_c_id AS c, sum(ol_amount) AS s
             FROM tpcc.orders JOIN tpcc.order_line ON ol_w_id = o_w_id AND ol_d_id = o_d_id AND ol_o_id = o_id
             WHERE ol_delivery_d IS NOT NULL GROUP BY 1, 2, 3),
           h AS (SELECT h_c_w_id AS w, h_c_d_id AS d, h_c_id AS c, sum(h_amount) AS s
                 FROM tpcc.history GROUP BY 1, 2, 3)
           SELECT count(*), min(c_w_id || '/' || c_d_id || '/' || c_id) FROM tpcc.customer
           LEFT JOIN ol ON ol.w = c_w_id AND ol.d = c_d_id AND ol.c = c_id
           LEFT JOIN h ON h.w = c_w_id AND h.d = c_d_id AND h.c = c_id
           WHERE c_balance <> coalesce(ol.s, 0) - coalesce(h.s, 0)""",
    ),
    (
        CONDITION_11,
        """SELECT count(*), min(w || '/' || d) FROM (
             SELECT o.w, o.d FROM
               (SELECT o_w_id AS w, o_d_id AS d, count(*) AS n FROM tpcc.orders GROUP BY 1, 2) o
               LEFT JOIN
               (SELECT no_w_id AS w, no_d_id AS d, count(*) AS n FROM tpcc.new_order GROUP BY 1, 2) no
               USING (w, d)
             WHERE o.n - coalesce(no.n, 0) <> 2100) bad""",
    ),
    (
        "12: C_BALANCE + C_YTD_PAYMENT = sum(delivered OL_AMOUNT)",
        """WITH ol AS (
             SELECT o_w_id AS w, o_d_id AS d, o_c_id AS c, sum(ol_amount) AS s
             FROM tpcc.orders JOIN tpcc.order_line ON ol_w_id = o_w_id AND ol_d_id = o_d_id AND ol_o_id = o_id
             WHERE ol_delivery_d IS NOT NULL GROUP BY 1, 2, 3)
           SELECT count(*), min(c_w_id || '/' || c_d_id || '/' || c_id) FROM tpcc.customer
           LEFT JOIN ol ON ol.w = c_w_id AND ol.d = c_d_id AND ol.c = c_id
           WHERE c_balance + c_ytd_payment <> coalesce(ol.s, 0)""",
    ),
)


def consistency_checks(conn: Any, *, quick: bool = False) -> list[tuple[str, bool | None, str]]:
    """Run the clause 3.3.2 conditions; ``(name, passed, detail)`` for each.

    ``passed`` is None for a condition that does not apply to this state of
    the database (11, once a Delivery has run), with the reason as detail.
    ``quick`` keeps the four conditions the specification requires (1-4)
    and skips the row-level ones, which scan every order line.
    """
    conditions = CONDITIONS[:4] if quick else CONDITIONS
    results: list[tuple[str, bool | None, str]] = []
    outer = conn.info.transaction_status != pq.TransactionStatus.IDLE
    with conn.transaction(), conn.cursor() as cur:
        if not outer:  # inside a caller's transaction, its snapshot is the one to check
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for name, query in conditions:
            if name == CONDITION_11:
                cur.execute(DELIVERIES_SINCE_LOAD)
                delivered = int(cur.fetchone()[0])
                if delivered:
                    results.append((name, None, (
                        f"skipped: {delivered:,} order(s) delivered since the load; the condition holds "
                        "only until the first Delivery"
                    )))
                    continue
            cur.execute(query)
            bad, first = cur.fetchone()
            if bad:
                results.append((name, False, f"{bad} violation(s), first at {first}"))
            else:
                results.append((name, True, "ok"))
    return results
