"""Initial population: create tables, COPY every table in parallel, then build keys.

Work is split into tasks (the item table; per warehouse its stock, and its
districts with their customers and history; per district its orders, order
lines and new orders) run by a small pool of threads, each with its own
connection. Python
generates one chunk while the server parses the previous one, so even on
two cores the client and the server overlap. Keys and indexes are built
after the data is in, in parallel too, then the tables are vacuumed and
analyzed so the first run sees the same plans as later ones.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any

from psycopg import sql

from stormdb_tui.builtin.tpcc import generate as gen
from stormdb_tui.builtin.tpcc import schema
from stormdb_tui.builtin.tpcc.rand import NURandConstants
from stormdb_tui.toolkit.copy import LoadCancelled, copy_chunks
from stormdb_tui.workload import Progress

S = schema.SCHEMA


def total_rows(scale: int) -> int:
    """Rows the loader writes, for the progress bar (order lines counted at their mean of 10/order)."""
    return sum(schema.expected_rows(scale).values())


class Loader:
    """Loads ``scale`` warehouses through ``workers`` connections opened by ``connect``."""

    def __init__(
        self,
        scale: int,
        connect: Callable[[], Any],
        progress: Progress,
        *,
        workers: int = 4,
        seed: int | str = 0,
        foreign_keys: bool = False,
        version: str = "",
    ) -> None:
        self.scale = scale
        self.connect = connect
        self.progress = progress
        self.workers = max(1, workers)
        self.seed = seed
        self.foreign_keys = foreign_keys
        self.version = version
        self.now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        self._local = threading.local()
        self._conns: list[Any] = []
        self._lock = threading.Lock()
        self._abort = threading.Event()

    # -- orchestration -------------------------------------------------------------------

    def run(self, conn: Any) -> dict[str, float]:
        """Create, load, index and analyze; returns timings (seconds) and rows/s."""
        constants = NURandConstants.for_load(random.Random(f"tpcc-c-load-{self.seed}"))
        started = time.monotonic()
        self._create(conn, constants)
        # Largest first, small enough to keep every connection busy until the end.
        tasks: list[Callable[[], int]] = [self._load_items]
        for w_id in range(1, self.scale + 1):
            tasks.append(partial(self._load_stock, w_id))
            tasks.append(partial(self._load_customers, w_id, constants.c_last))
        for w_id in range(1, self.scale + 1):
            for d_id in range(1, gen.DISTRICTS_PER_WAREHOUSE + 1):
                tasks.append(partial(self._load_orders, w_id, d_id))
        self.progress.phase("copy", total_rows(self.scale))
        rows = sum(self._parallel(tasks))
        copied = time.monotonic()
        statements = schema.index_statements()
        self.progress.phase("indexes")
        self._parallel(partial(self._execute, st) for st in statements)
        if self.foreign_keys:
            self.progress.phase("foreign keys")
            for st in schema.foreign_key_statements():
                conn.execute(st)
        self.progress.phase("vacuum analyze")
        self._parallel(partial(self._execute, f"VACUUM (ANALYZE) {S}.{t}") for t in schema.TABLES)
        conn.execute(f"UPDATE {S}.load_info SET complete = true, loaded_at = now()")
        self._close_all()
        done = time.monotonic()
        self.progress.finish()
        return {
            "rows": rows,
            "copy_s": copied - started,
            "index_s": done - copied,
            "total_s": done - started,
            "copy_rows_per_s": rows / max(copied - started, 1e-9),
            "rows_per_s": rows / max(done - started, 1e-9),
        }

    def _create(self, conn: Any, constants: NURandConstants) -> None:
        with conn.transaction():
            conn.execute(f"DROP SCHEMA IF EXISTS {S} CASCADE")
            conn.execute(f"CREATE SCHEMA {S}")
            for statement in schema.create_table_statements():
                conn.execute(statement)
            conn.execute(schema.LOAD_INFO_DDL)
            conn.execute(
                f"INSERT INTO {S}.load_info (scale, c_last, c_id, ol_i_id, version) VALUES (%s, %s, %s, %s, %s)",
                (self.scale, constants.c_last, constants.c_id, constants.ol_i_id, self.version),
            )

    def _parallel(self, fns: Iterable[Callable[[], Any]]) -> list[Any]:
        fns = list(fns)
        with ThreadPoolExecutor(max_workers=min(self.workers, len(fns)), thread_name_prefix="tpcc-load") as pool:
            futures = [pool.submit(fn) for fn in fns]
            try:
                return [f.result() for f in futures]
            except BaseException:
                self._abort.set()
                for f in futures:
                    f.cancel()
                raise

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.connect()
            conn.execute("SET synchronous_commit = off")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _close_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a close failure must not hide the load result
                pass

    def close(self) -> None:
        """Close the loader's connections (after a failure)."""
        self._close_all()

    def _execute(self, statement: str) -> None:
        self._conn().execute(statement)

    # -- tasks ---------------------------------------------------------------------------

    def _copy(self, table: str, chunks: Iterator[gen.Chunk]) -> int:
        return copy_chunks(self._conn(), sql.Identifier(S, table), schema.columns(table), self._unless_aborted(chunks),
                           self.progress)

    def _unless_aborted(self, chunks: Iterator[gen.Chunk]) -> Iterator[gen.Chunk]:
        """Another loader thread failed: stop this one at its next chunk."""
        for chunk in chunks:
            if self._abort.is_set():
                raise LoadCancelled("TPC-C load cancelled")
            yield chunk

    def _rng(self, name: str) -> random.Random:
        return random.Random(f"tpcc-load-{self.seed}-{name}")

    def _load_items(self) -> int:
        return self._copy("item", gen.items(self._rng("item")))

    def _load_stock(self, w_id: int) -> int:
        return self._copy("stock", gen.stock(self._rng(f"stock-{w_id}"), w_id))

    def _load_customers(self, w_id: int, c_load: int) -> int:
        """The warehouse row, its districts, and their customers and history rows."""
        rng = self._rng(f"customers-{w_id}")
        now = self.now
        districts = range(1, gen.DISTRICTS_PER_WAREHOUSE + 1)
        rows = self._copy("warehouse", gen.warehouse(rng, w_id))
        rows += self._copy("district", gen.districts(rng, w_id))
        customer_chunks = (c for d in districts for c in gen.customers(rng, w_id, d, c_load, now))
        rows += self._copy("customer", customer_chunks)
        history_chunks = (c for d in districts for c in gen.history(rng, w_id, d, now))
        rows += self._copy("history", history_chunks)
        return rows

    def _load_orders(self, w_id: int, d_id: int) -> int:
        """One district's orders, their order lines and its new_order rows."""
        rng = self._rng(f"orders-{w_id}-{d_id}")
        lines, counts = gen.orders(rng, w_id, d_id, self.now)
        rows = self._copy("orders", iter([("".join(lines), len(lines))]))
        rows += self._copy("order_line", gen.order_lines(rng, w_id, d_id, counts, self.now))
        rows += self._copy("new_order", gen.new_orders(w_id, d_id))
        return rows
