"""Synthetic shop data, generated from a seed and written with COPY.

Popularity is skewed the way shops are: a few products sell most (product
ids are drawn with :func:`skewed`, id 1 the most popular), so the hot rows of
``inventory`` see real lock contention at checkout and the hot products run
out of stock. Every table is generated as COPY text lines, in id order, with
timestamps spread over the year before the load.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Iterator
from typing import Any

from psycopg import sql

from stormdb_tui.toolkit import copy as toolkit_copy
from stormdb_tui.workload import Progress

from .schema import Sizes

ADJECTIVES = (
    "rustic sleek ergonomic vintage compact durable elegant modern classic smart portable lightweight "
    "premium organic handmade wireless waterproof foldable heavy deluxe"
).split()
MATERIALS = "steel wooden cotton leather ceramic glass bamboo wool plastic granite linen copper".split()
NOUNS = (
    "chair table lamp backpack kettle blender jacket sneakers watch speaker headphones mug notebook "
    "pillow blanket bottle knife pan drill tent bicycle helmet camera keyboard mouse monitor desk shelf "
    "rug vase candle toaster scarf gloves wallet sunglasses umbrella"
).split()
COUNTRIES = "US DE FR GB NL SE ES IT PL JP CA AU BR IN".split()
PAYMENT_METHODS = ("card", "card", "card", "paypal", "bank_transfer", "gift_card")
FIRST_NAMES = "ada alan barbara claude donald edsger frances grace ken linus margaret niklaus radia tim".split()
COPY_BATCH = 2000


def skewed(rng: random.Random, n: int) -> int:
    """An id in 1..n, low ids far more likely (P(id <= x) = sqrt(x/n)): the popular head of a catalogue."""
    return 1 + int(n * rng.random() ** 2)


def _ts(base: dt.datetime, seconds_ago: float) -> str:
    return (base - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%d %H:%M:%S+00")


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class ShopData:
    """Generates each table's COPY lines for one scale and seed, deterministically."""

    YEAR = 365 * 86400

    def __init__(self, scale: int, seed: int) -> None:
        self.sizes = Sizes(scale)
        self.seed = seed
        self.now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        rng = random.Random(f"ecommerce-prices:{seed}")
        self.prices = [0] + [int(rng.lognormvariate(7.5, 1.0)) + 99 for _ in range(self.sizes.products)]

    def _rng(self, table: str) -> random.Random:
        return random.Random(f"ecommerce-{table}:{self.seed}")

    def categories(self) -> Iterator[str]:
        rng = self._rng("categories")
        top = self.sizes.top_categories
        for cid in range(1, self.sizes.categories + 1):
            parent = "\\N" if cid <= top else str(rng.randint(1, top))
            kind = "dept" if cid <= top else "cat"
            yield f"{cid}\t{parent}\t{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {kind} {cid}\n"

    def vendors(self) -> Iterator[str]:
        rng = self._rng("vendors")
        for vid in range(1, self.sizes.vendors + 1):
            name = f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS).title()} Co {vid}"
            yield f"{vid}\t{name}\t{rng.choice(COUNTRIES)}\t{_ts(self.now, rng.uniform(self.YEAR, 5 * self.YEAR))}\n"

    def products(self) -> Iterator[str]:
        rng = self._rng("products")
        sizes = self.sizes
        leaf_first = sizes.top_categories + 1 if sizes.categories > sizes.top_categories else 1
        for pid in range(1, sizes.products + 1):
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(NOUNS)}"
            desc = " ".join(rng.choice(ADJECTIVES + MATERIALS) for _ in range(6))
            popularity = int(1_000_000 / pid**0.5)
            yield (
                f"{pid}\t{rng.randint(1, sizes.vendors)}\t{rng.randint(leaf_first, sizes.categories)}\t"
                f"{name}\t{desc}\t{_money(self.prices[pid])}\t{popularity}\t"
                f"{_ts(self.now, rng.uniform(0, 2 * self.YEAR))}\n"
            )

    def inventory(self) -> Iterator[str]:
        rng = self._rng("inventory")
        for pid in range(1, self.sizes.products + 1):
            quantity = 0 if rng.random() < 0.03 else rng.randint(10, 300)
            yield f"{pid}\t{quantity}\n"

    def customers(self) -> Iterator[str]:
        rng = self._rng("customers")
        for cid in range(1, self.sizes.customers + 1):
            first = rng.choice(FIRST_NAMES)
            yield (
                f"{cid}\t{first}.{cid}@example.com\t{first.title()} {cid}\t{rng.choice(COUNTRIES)}\t"
                f"{_ts(self.now, rng.uniform(0, 3 * self.YEAR))}\n"
            )

    def carts(self) -> tuple[list[str], list[str]]:
        """Open carts of distinct customers, and their items (1-4 products each)."""
        rng = self._rng("carts")
        sizes = self.sizes
        owners = rng.sample(range(1, sizes.customers + 1), min(sizes.carts, sizes.customers))
        carts, items = [], []
        for cart_id, owner in enumerate(owners, start=1):
            created = _ts(self.now, rng.uniform(0, 14 * 86400))
            carts.append(f"{cart_id}\t{owner}\topen\t{created}\t{created}\n")
            for pid in {skewed(rng, sizes.products) for _ in range(rng.randint(1, 4))}:
                items.append(f"{cart_id}\t{pid}\t{rng.randint(1, 3)}\t{created}\n")
        return carts, items

    def orders(self) -> tuple[list[str], list[str], list[str]]:
        """Orders with their lines and one payment each; totals equal the sum of their lines."""
        rng = self._rng("orders")
        sizes = self.sizes
        orders, lines, payments = [], [], []
        for oid in range(1, sizes.orders + 1):
            ago = rng.uniform(0, self.YEAR)
            created = _ts(self.now, ago)
            total = 0
            products = {skewed(rng, sizes.products) for _ in range(rng.randint(1, 4))}
            for line_no, pid in enumerate(sorted(products), start=1):
                quantity = rng.randint(1, 3)
                total += quantity * self.prices[pid]
                lines.append(f"{oid}\t{line_no}\t{pid}\t{quantity}\t{_money(self.prices[pid])}\n")
            status = "delivered" if ago > 7 * 86400 else rng.choice(("paid", "shipped"))
            orders.append(f"{oid}\t{rng.randint(1, sizes.customers)}\t{status}\t{_money(total)}\t{created}\n")
            payments.append(
                f"{oid}\t{oid}\t{_money(total)}\t{rng.choice(PAYMENT_METHODS)}\tcaptured\t"
                f"{_ts(self.now, max(ago - 120, 0))}\n"
            )
        return orders, lines, payments

    def reviews(self) -> Iterator[str]:
        rng = self._rng("reviews")
        sizes = self.sizes
        for rid in range(1, sizes.reviews + 1):
            rating = rng.choices((1, 2, 3, 4, 5), weights=(5, 5, 10, 30, 50))[0]
            body = " ".join(rng.choice(ADJECTIVES + NOUNS) for _ in range(rng.randint(5, 15)))
            yield (
                f"{rid}\t{skewed(rng, sizes.products)}\t{rng.randint(1, sizes.customers)}\t{rating}\t{body}\t"
                f"{_ts(self.now, rng.uniform(0, self.YEAR))}\n"
            )


def copy_lines(conn: Any, table: sql.Composable, columns: Iterable[str], lines: Iterable[str],
               progress: Progress) -> int:
    """COPY text ``lines`` into ``table`` in batches, advancing ``progress``; returns the rows written."""
    return toolkit_copy.copy_chunks(conn, table, list(columns), toolkit_copy.batched_lines(lines, COPY_BATCH), progress)
