"""The shop's transactions: what a storefront, its checkout and its back office send to PostgreSQL.

Each method runs one transaction on ``ctx.conn`` with prepared statements,
adds the statements it sent to ``ctx.queries`` and draws every choice from
``ctx.rng``. Keys are drawn from the loaded scale (``self.sizes``), product
ids skewed toward the popular head of the catalogue.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stormdb_tui.workload import WorkerContext

from .data import ADJECTIVES, MATERIALS, NOUNS, PAYMENT_METHODS, skewed
from .schema import Sizes

SQL = {
    "browse_category": """
        SELECT p.product_id, p.name, p.price, p.rating_sum::numeric / NULLIF(p.rating_count, 0) AS rating,
               i.quantity > 0 AS in_stock
        FROM {s}.products p JOIN {s}.inventory i ON i.product_id = p.product_id
        WHERE p.category_id = %s ORDER BY p.popularity DESC LIMIT 24 OFFSET %s""",
    "search_products": """
        SELECT product_id, name, price FROM {s}.products
        WHERE search @@ to_tsquery('simple', %s) AND price <= %s
        ORDER BY popularity DESC LIMIT 20""",
    "product": """
        SELECT p.product_id, p.name, p.description, p.price, p.rating_count,
               p.rating_sum::numeric / NULLIF(p.rating_count, 0) AS rating,
               v.name AS vendor, c.name AS category, i.quantity
        FROM {s}.products p
        JOIN {s}.vendors v ON v.vendor_id = p.vendor_id
        JOIN {s}.categories c ON c.category_id = p.category_id
        JOIN {s}.inventory i ON i.product_id = p.product_id
        WHERE p.product_id = %s""",
    "product_reviews": """
        SELECT rating, body, created_at FROM {s}.reviews
        WHERE product_id = %s ORDER BY created_at DESC LIMIT 5""",
    "open_cart": """
        INSERT INTO {s}.carts (customer_id, status) VALUES (%s, 'open')
        ON CONFLICT (customer_id) WHERE status = 'open' DO UPDATE SET updated_at = now()
        RETURNING cart_id""",
    "cart_add": """
        INSERT INTO {s}.cart_items (cart_id, product_id, quantity) VALUES (%s, %s, %s)
        ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity""",
    "cart_fill": """
        INSERT INTO {s}.cart_items (cart_id, product_id, quantity)
        SELECT %s, u.pid, u.qty FROM unnest(%s::int[], %s::int[]) AS u(pid, qty)""",
    "cart_lines": """
        SELECT ci.product_id, ci.quantity, p.price
        FROM {s}.cart_items ci JOIN {s}.products p ON p.product_id = ci.product_id
        WHERE ci.cart_id = %s ORDER BY ci.product_id""",
    "lock_stock": """
        SELECT product_id, quantity FROM {s}.inventory
        WHERE product_id = ANY(%s::int[]) ORDER BY product_id FOR UPDATE""",
    "take_stock": """
        UPDATE {s}.inventory i SET quantity = i.quantity - u.qty, updated_at = now()
        FROM unnest(%s::int[], %s::int[]) AS u(pid, qty) WHERE i.product_id = u.pid""",
    "new_order": """
        INSERT INTO {s}.orders (customer_id, status, total) VALUES (%s, 'paid', %s) RETURNING order_id""",
    "order_lines": """
        INSERT INTO {s}.order_items (order_id, line_no, product_id, quantity, unit_price)
        SELECT %s, u.ord, u.pid, u.qty, u.price
        FROM unnest(%s::int[], %s::int[], %s::numeric[]) WITH ORDINALITY AS u(pid, qty, price, ord)""",
    "pay": """
        INSERT INTO {s}.payments (order_id, amount, method, status) VALUES (%s, %s, %s, 'captured')""",
    "close_cart": "UPDATE {s}.carts SET status = 'ordered', updated_at = now() WHERE cart_id = %s",
    "drop_from_cart": "DELETE FROM {s}.cart_items WHERE cart_id = %s AND product_id = ANY(%s::int[])",
    "order_history": """
        SELECT o.order_id, o.created_at, o.status, o.total, count(*) AS lines, sum(oi.quantity) AS units
        FROM {s}.orders o JOIN {s}.order_items oi ON oi.order_id = o.order_id
        WHERE o.customer_id = %s
        GROUP BY o.order_id ORDER BY o.created_at DESC LIMIT 10""",
    "review": """
        INSERT INTO {s}.reviews (product_id, customer_id, rating, body) VALUES (%s, %s, %s, %s)""",
    "rate": """
        UPDATE {s}.products SET rating_count = rating_count + 1, rating_sum = rating_sum + %s
        WHERE product_id = %s""",
    "vendor_months": """
        SELECT date_trunc('month', o.created_at) AS month, count(DISTINCT o.order_id) AS orders,
               sum(oi.quantity) AS units, sum(oi.quantity * oi.unit_price) AS revenue,
               sum(sum(oi.quantity * oi.unit_price)) OVER (ORDER BY date_trunc('month', o.created_at))
                   AS running_revenue
        FROM {s}.products p
        JOIN {s}.order_items oi ON oi.product_id = p.product_id
        JOIN {s}.orders o ON o.order_id = oi.order_id
        WHERE p.vendor_id = %s AND o.created_at >= now() - interval '1 year'
        GROUP BY 1 ORDER BY 1""",
    "vendor_top": """
        SELECT p.product_id, p.name, sum(oi.quantity * oi.unit_price) AS revenue,
               rank() OVER (ORDER BY sum(oi.quantity * oi.unit_price) DESC) AS rank
        FROM {s}.products p JOIN {s}.order_items oi ON oi.product_id = p.product_id
        WHERE p.vendor_id = %s GROUP BY p.product_id, p.name ORDER BY revenue DESC LIMIT 10""",
    "category_analytics": """
        SELECT coalesce(top.name, '(all)') AS department, coalesce(c.name, '(all)') AS category,
               count(DISTINCT o.order_id) AS orders, sum(oi.quantity) AS units,
               sum(oi.quantity * oi.unit_price) AS revenue,
               round(avg(p.rating_sum::numeric / NULLIF(p.rating_count, 0)), 2) AS avg_rating
        FROM {s}.orders o
        JOIN {s}.order_items oi ON oi.order_id = o.order_id
        JOIN {s}.products p ON p.product_id = oi.product_id
        JOIN {s}.categories c ON c.category_id = p.category_id
        JOIN {s}.categories top ON top.category_id = c.parent_id
        WHERE o.created_at >= now() - make_interval(days => %s)
        GROUP BY ROLLUP (top.name, c.name)
        ORDER BY revenue DESC NULLS LAST""",
}


class OutOfStock(Exception):
    """Raised inside the checkout transaction to roll it back; not an error of the run."""


class ShopTransactions:
    """The transaction bodies, mixed into the workload class (``self.sizes`` and ``self.opts`` come from it)."""

    sizes: Sizes
    opts: dict[str, Any]

    def _run(self, ctx: WorkerContext, name: str, params: Any) -> list[tuple[Any, ...]]:
        with ctx.conn.cursor() as cur:
            cur.execute(ctx.state["sql"][name], params, prepare=True)
            return cur.fetchall() if cur.description else []

    def product_id(self, ctx: WorkerContext) -> int:
        return skewed(ctx.rng, self.sizes.products)

    def browse_category(self, ctx: WorkerContext) -> list[tuple[Any, ...]]:
        first_leaf = self.sizes.top_categories + 1
        category = ctx.rng.randint(min(first_leaf, self.sizes.categories), self.sizes.categories)
        ctx.queries += 1
        return self._run(ctx, "browse_category", (category, 24 * ctx.rng.choice((0, 0, 0, 1, 2))))

    def search_products(self, ctx: WorkerContext) -> list[tuple[Any, ...]]:
        rng = ctx.rng
        words = rng.choice(NOUNS) if rng.random() < 0.6 else f"{rng.choice(ADJECTIVES + MATERIALS)} & {rng.choice(NOUNS)}"
        ctx.queries += 1
        return self._run(ctx, "search_products", (words, Decimal(rng.choice((50, 100, 500, 100000)))))

    def product_page(self, ctx: WorkerContext, product_id: int | None = None) -> tuple[Any, list[Any]]:
        pid = product_id or self.product_id(ctx)
        product = self._run(ctx, "product", (pid,))
        reviews = self._run(ctx, "product_reviews", (pid,))
        ctx.queries += 2
        return (product[0] if product else None), reviews

    def add_to_cart(self, ctx: WorkerContext, customer_id: int | None = None, product_id: int | None = None,
                    quantity: int | None = None) -> int:
        """Put a product in the customer's open cart (created on demand); returns the cart id."""
        customer = customer_id or ctx.rng.randint(1, self.sizes.customers)
        pid = product_id or self.product_id(ctx)
        qty = quantity or ctx.rng.randint(1, 3)
        with ctx.conn.transaction():
            cart_id = self._run(ctx, "open_cart", (customer,))[0][0]
            self._run(ctx, "cart_add", (cart_id, pid, qty))
        ctx.queries += 2
        return cart_id

    def checkout(self, ctx: WorkerContext, customer_id: int | None = None) -> int | None:
        """Order the customer's cart: lock stock, take it, create order, lines and payment.

        A customer without items gets 1-4 popular products put in the cart
        first ("buy now"). When any line asks for more than is in stock the
        whole transaction rolls back, the missing products leave the cart, and
        ``ctx.rollbacks`` counts it. Returns the new order id, or None.
        """
        rng = ctx.rng
        customer = customer_id or rng.randint(1, self.sizes.customers)
        sent = 0
        cart_id = 0
        short: list[int] = []
        try:
            with ctx.conn.transaction():
                cart_id = self._run(ctx, "open_cart", (customer,))[0][0]
                lines = self._run(ctx, "cart_lines", (cart_id,))
                sent += 2
                if not lines:
                    pids = sorted({self.product_id(ctx) for _ in range(rng.randint(1, 4))})
                    self._run(ctx, "cart_fill", (cart_id, pids, [rng.randint(1, 3) for _ in pids]))
                    lines = self._run(ctx, "cart_lines", (cart_id,))
                    sent += 2
                pids = [line[0] for line in lines]
                qtys = [line[1] for line in lines]
                prices = [line[2] for line in lines]
                stock = dict(self._run(ctx, "lock_stock", (pids,)))
                sent += 1
                short = [pid for pid, qty in zip(pids, qtys, strict=True) if stock.get(pid, 0) < qty]
                if short:
                    raise OutOfStock
                total = sum((q * p for q, p in zip(qtys, prices, strict=True)), Decimal(0))
                self._run(ctx, "take_stock", (pids, qtys))
                order_id = self._run(ctx, "new_order", (customer, total))[0][0]
                self._run(ctx, "order_lines", (order_id, pids, qtys, prices))
                self._run(ctx, "pay", (order_id, total, rng.choice(PAYMENT_METHODS)))
                self._run(ctx, "close_cart", (cart_id,))
                sent += 5
        except OutOfStock:
            ctx.rollbacks += 1
            self._run(ctx, "drop_from_cart", (cart_id, short))
            ctx.queries += sent + 1
            return None
        ctx.queries += sent
        return order_id

    def order_history(self, ctx: WorkerContext, customer_id: int | None = None) -> list[tuple[Any, ...]]:
        ctx.queries += 1
        return self._run(ctx, "order_history", (customer_id or ctx.rng.randint(1, self.sizes.customers),))

    def write_review(self, ctx: WorkerContext) -> None:
        rng = ctx.rng
        pid = self.product_id(ctx)
        rating = rng.choices((1, 2, 3, 4, 5), weights=(5, 5, 10, 30, 50))[0]
        body = " ".join(rng.choice(ADJECTIVES + NOUNS) for _ in range(rng.randint(5, 15)))
        with ctx.conn.transaction():
            self._run(ctx, "review", (pid, rng.randint(1, self.sizes.customers), rating, body))
            self._run(ctx, "rate", (rating, pid))
        ctx.queries += 2

    def vendor_analytics(self, ctx: WorkerContext, vendor_id: int | None = None) -> tuple[list[Any], list[Any]]:
        vendor = vendor_id or ctx.rng.randint(1, self.sizes.vendors)
        ctx.queries += 2
        return self._run(ctx, "vendor_months", (vendor,)), self._run(ctx, "vendor_top", (vendor,))

    def category_analytics(self, ctx: WorkerContext) -> list[tuple[Any, ...]]:
        ctx.queries += 1
        return self._run(ctx, "category_analytics", (self.opts["analytics_days"],))
