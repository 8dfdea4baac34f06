"""The ``ecommerce`` workload: an online shop's OLTP traffic with its back-office OLAP beside it.

Storefront reads (browse, search, product page), cart and checkout writes
(checkout locks inventory rows, so popular products contend and run out), and
analytics over the order history, all on one schema. ``scale`` multiplies every
table (see :data:`.schema.PER_SCALE`) and the key ranges transactions draw
from; the loaded scale is kept in ``ecommerce.meta`` so ``check`` can tell a
mismatch before a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import sql

from stormdb_tui.options import Option
from stormdb_tui.workload import Progress, WeightedMix, WorkerContext, Workload

from .data import ShopData, copy_lines
from .schema import IDENTITIES, KEYS, TABLES, Sizes
from .transactions import SQL, ShopTransactions

OPERATIONS = (
    "browse_category",
    "search_products",
    "product_page",
    "add_to_cart",
    "checkout",
    "order_history",
    "write_review",
    "vendor_analytics",
    "category_analytics",
)
DEFAULT_WEIGHTS = {
    "browse_category": 20,
    "search_products": 15,
    "product_page": 25,
    "add_to_cart": 12,
    "checkout": 8,
    "order_history": 8,
    "write_review": 5,
    "vendor_analytics": 4,
    "category_analytics": 3,
}
COLUMNS = {
    "categories": ("category_id", "parent_id", "name"),
    "vendors": ("vendor_id", "name", "country", "created_at"),
    "products": ("product_id", "vendor_id", "category_id", "name", "description", "price", "popularity",
                 "created_at"),
    "inventory": ("product_id", "quantity"),
    "customers": ("customer_id", "email", "name", "country", "created_at"),
    "carts": ("cart_id", "customer_id", "status", "created_at", "updated_at"),
    "cart_items": ("cart_id", "product_id", "quantity", "added_at"),
    "orders": ("order_id", "customer_id", "status", "total", "created_at"),
    "order_items": ("order_id", "line_no", "product_id", "quantity", "unit_price"),
    "payments": ("payment_id", "order_id", "amount", "method", "status", "paid_at"),
    "reviews": ("review_id", "product_id", "customer_id", "rating", "body", "created_at"),
}


class EcommerceWorkload(ShopTransactions, Workload):
    """An online shop: storefront, carts, checkout with stock locking, reviews and analytics."""

    name = "ecommerce"
    title = "E-commerce shop (OLTP + OLAP)"
    description = (
        "Vendors, products, inventory, customers, carts, orders, payments and reviews: browse, search, "
        "product pages, carts, checkout that locks and decrements stock (rolling back when it runs out), "
        "order history, reviews, and vendor and category analytics."
    )
    version = "1.0"
    operations = OPERATIONS
    schema = "ecommerce"
    options = (
        Option("scale", "int", 1, "size factor: 5,000 products, 5,000 customers, 10,000 orders per unit",
               minimum=1, maximum=100000),
        Option("seed", "int", 7, "seed of the generated data"),
        Option("weights", "weights", DEFAULT_WEIGHTS, "transaction mix", choices=OPERATIONS),
        Option("analytics_days", "int", 30, "days of orders category_analytics aggregates", minimum=1),
    )

    def __init__(self, options: Mapping[str, Any] | None = None, run: Mapping[str, Any] | None = None):
        super().__init__(options, run)
        self.sizes = Sizes(self.scale)
        self.mix = WeightedMix(self.opts["weights"])
        self._schema = sql.Identifier(self.schema)

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self._schema)

    def check(self, conn: Any) -> list[str]:
        """Not loaded, or loaded at another scale or seed: one line saying what to run."""
        if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{self.schema}.meta",)).fetchone()[0]:
            return ["ecommerce data not loaded: run with --setup"]
        row = conn.execute(self._q("SELECT scale, seed FROM {s}.meta")).fetchone()
        if row is None:
            return ["ecommerce data not loaded (an earlier load did not finish): run with --setup"]
        if row != (self.scale, self.opts["seed"]):
            return [f"ecommerce data was loaded at scale {row[0]} (seed {row[1]}), options ask for scale "
                    f"{self.scale} (seed {self.opts['seed']}): run with --setup to reload"]
        return []

    def setup(self, conn: Any, progress: Progress) -> None:
        """Load the shop unless the same scale and seed are already loaded; then keys, indexes, statistics."""
        if not self.check(conn):
            return
        conn.execute(self._q("DROP SCHEMA IF EXISTS {s} CASCADE"))
        try:
            self._load(conn, progress)
        except _Cancelled:
            return
        progress.phase("keys and indexes")
        for ddl in KEYS:
            conn.execute(self._q(ddl))
        for table, column in IDENTITIES:
            conn.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({t}, {c}), (SELECT max({col}) FROM {tab}))").format(
                    t=sql.Literal(f"{self.schema}.{table}"), c=sql.Literal(column),
                    col=sql.Identifier(column), tab=self._table(table)))
        conn.execute(self._q(
            "UPDATE {s}.products p SET rating_count = r.n, rating_sum = r.total "
            "FROM (SELECT product_id, count(*) AS n, sum(rating) AS total FROM {s}.reviews GROUP BY product_id) r "
            "WHERE p.product_id = r.product_id"))
        progress.phase("vacuum analyze")
        for table in COLUMNS:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(self._table(table)))
        conn.execute(self._q("INSERT INTO {s}.meta (scale, seed) VALUES (%s, %s)"), (self.scale, self.opts["seed"]))

    def _load(self, conn: Any, progress: Progress) -> None:
        """Create the tables and COPY every row in one transaction (rolled back when cancelled)."""
        data = ShopData(self.scale, self.opts["seed"])
        sizes = self.sizes
        with conn.transaction():
            conn.execute(self._q("CREATE SCHEMA {s}"))
            for ddl in TABLES:
                conn.execute(self._q(ddl))
            for table, count, lines in (
                ("categories", sizes.categories, data.categories()),
                ("vendors", sizes.vendors, data.vendors()),
                ("products", sizes.products, data.products()),
                ("inventory", sizes.products, data.inventory()),
                ("customers", sizes.customers, data.customers()),
                ("reviews", sizes.reviews, data.reviews()),
            ):
                progress.phase(table, count)
                copy_lines(conn, self._table(table), COLUMNS[table], lines, progress)
                if progress.cancelled:
                    raise _Cancelled
            carts, cart_items = data.carts()
            orders, order_items, payments = data.orders()
            for table, lines in (("carts", carts), ("cart_items", cart_items), ("orders", orders),
                                 ("order_items", order_items), ("payments", payments)):
                progress.phase(table, len(lines))
                copy_lines(conn, self._table(table), COLUMNS[table], lines, progress)

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def start_worker(self, ctx: WorkerContext) -> None:
        """Render the statements once per worker; they are prepared on first use."""
        ctx.state["sql"] = {name: self._q(text).as_string(ctx.conn) for name, text in SQL.items()}

    def transaction(self, ctx: WorkerContext) -> str:
        label = self.mix.pick(ctx)
        getattr(self, label)(ctx)
        return label

    def summary(self, totals: Mapping[str, Any]) -> dict[str, Any]:
        """Orders per minute and the share of checkouts that ran out of stock."""
        ops = totals.get("operations") or {}
        checkouts = (ops.get("checkout") or {}).get("count", 0)
        rollbacks = totals.get("rollbacks") or 0
        elapsed = totals.get("elapsed_s") or 0
        orders = max(checkouts - rollbacks, 0)
        return {
            "orders_per_minute": round(orders * 60 / elapsed, 1) if elapsed else None,
            "checkout_out_of_stock_share": round(rollbacks / checkouts, 4) if checkouts else None,
        }


class _Cancelled(Exception):
    """Raised inside the load transaction so a cancelled load leaves nothing half-made."""
