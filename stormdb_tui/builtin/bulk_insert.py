"""``bulk_insert``: how fast can rows get into a table, by method.

The same configurable row shape is loaded five ways, each transaction
committing one batch:

* ``insert_single`` - one ``INSERT ... VALUES (...)`` per row, autocommit
  (a commit per row, the way naive application code loads data);
* ``insert_multi_<n>`` - one multi-row ``INSERT ... VALUES (...), (...)`` of
  ``n`` rows, for every size in ``batch_sizes``. A statement can carry at most
  65,535 bind parameters, so ``n`` is capped at ``65535 // columns``; the label
  names the effective size (``batch_sizes: [1000]`` with 100 columns runs as
  ``insert_multi_655``);
* ``executemany`` - ``batch_rows`` single-row INSERTs in one transaction
  through psycopg's ``cursor.executemany``, which uses libpq pipeline mode
  (libpq >= 14), so there is no round trip per row;
* ``copy`` - ``batch_rows`` rows through ``COPY ... FROM STDIN``.

Time sharing: every method gets the same share of the run. Wall-clock time
is cut into slices of ``slice_time`` seconds and slice ``k`` runs method
``k mod len(methods)`` on every worker at once (aligned to the epoch clock,
so workers in separate processes switch together). Methods never compete
with each other for the server, table growth and checkpoints are spread
evenly over all of them, and a warm-up window removes the same share from
each. Runs much longer than ``slice_time * len(methods)`` give equal shares.

Each worker writes to a table of its own, ``bulk_insert.w<worker_id>``,
recreated empty when the worker starts: no lock contention between
workers, and a ``TRUNCATE`` (its own ``truncate`` operation, so its cost is
visible and kept out of the method figures) whenever the table has taken
``truncate_every`` rows keeps disk use bounded.

:meth:`BulkInsert.summary` ranks the methods by rows/s and MB/s; see its
docstring for how the time each method had is derived.
"""

from __future__ import annotations

import datetime as dt
import string
import time
import uuid
from collections.abc import Mapping
from typing import Any

from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.types.numeric import Int4, Int8

from stormdb_tui.errors import ConfigError
from stormdb_tui.workload import Option, WorkerContext, Workload

MAX_BIND_PARAMS = 65535
"""PostgreSQL's protocol limit: parameter counts travel as a 16-bit integer."""

METHODS = ("insert_single", "insert_multi", "executemany", "copy")

# name -> (SQL type, bytes per value; None = payload_bytes)
COLUMN_TYPES: dict[str, tuple[str, int | None]] = {
    "int": ("integer", 4),
    "bigint": ("bigint", 8),
    "float": ("double precision", 8),
    "bool": ("boolean", 1),
    "timestamptz": ("timestamptz", 8),
    "uuid": ("uuid", 16),
    "text": ("text", None),
}

MAX_FIXED_ROW_BYTES = 8000
"""Fixed-width values beyond this cannot fit in one 8 kB heap page (text can be TOASTed)."""

POOL_BYTES = 16 * 1024 * 1024
"""Upper bound on the pre-generated row values a worker keeps in memory."""

_ALPHABET = string.ascii_letters + string.digits
_EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


class BulkInsert(Workload):
    """Rows/s and MB/s of single-row INSERT, multi-row INSERT, pipelined executemany and COPY."""

    name = "bulk_insert"
    title = "Bulk insert methods"
    description = (
        "Loads the same row shape by single-row INSERT, multi-row INSERT at several batch sizes, "
        "pipelined executemany and COPY, each for an equal share of the run, and ranks them "
        "by rows/s and MB/s."
    )
    version = "1.0"
    schema = "bulk_insert"
    operations: tuple[str, ...] = (
        "insert_single",
        "insert_multi_10",
        "insert_multi_100",
        "insert_multi_1000",
        "executemany",
        "copy",
        "truncate",
    )
    options = (
        Option("columns", "int", 8, "columns per row, counting the bigint id column", minimum=1, maximum=1600),
        Option(
            "column_types",
            "list",
            ("int", "text", "float", "timestamptz"),
            "types cycled over the columns after the id: " + ", ".join(COLUMN_TYPES),
        ),
        Option("payload_bytes", "size", 100, "length of every text value", minimum=0, maximum=1024 * 1024),
        Option("methods", "list", METHODS, "methods to compare: " + ", ".join(METHODS)),
        Option(
            "batch_sizes",
            "list",
            ("10", "100", "1000"),
            "rows per multi-row INSERT, one operation per size (capped by the bind parameter limit)",
        ),
        Option("batch_rows", "int", 1000, "rows per executemany and COPY transaction", minimum=1, maximum=1_000_000),
        Option("slice_time", "duration", 1.0, "seconds each method runs before the next takes over", minimum=0.05),
        Option(
            "truncate_every",
            "int",
            500_000,
            "truncate a worker's table after this many rows (0 = never)",
            minimum=0,
        ),
        Option("primary_key", "bool", True, "give the id column a primary key (an index to maintain)"),
        Option("unlogged", "bool", False, "create the tables UNLOGGED (no WAL)"),
    )

    def __init__(self, options: Mapping[str, Any] | None = None, run: Mapping[str, Any] | None = None):
        super().__init__(options, run)
        o = self.opts
        types = [t.strip().lower() for t in o["column_types"]]
        if not types:
            raise ConfigError("at least one column type", path="workload.column_types")
        for t in types:
            if t not in COLUMN_TYPES:
                raise ConfigError(
                    "unknown column type", path="workload.column_types",
                    expected="one of " + ", ".join(COLUMN_TYPES), found=t,
                )
        data_cols = o["columns"] - 1
        self.column_types: list[str] = [types[i % len(types)] for i in range(data_cols)]
        widths = [COLUMN_TYPES[t][1] for t in self.column_types]
        fixed = 8 + sum(w for w in widths if w is not None)
        if fixed > MAX_FIXED_ROW_BYTES:
            raise ConfigError(
                "row too wide for a heap page", path="workload.columns",
                expected=f"at most {MAX_FIXED_ROW_BYTES} bytes of fixed-width values", found=fixed,
            )
        self.row_bytes: int = fixed + sum(o["payload_bytes"] for w in widths if w is None)
        """Bytes of data per row (values only, no tuple headers): the basis of MB/s."""

        methods = [m.strip().lower() for m in o["methods"]]
        if not methods:
            raise ConfigError("at least one method", path="workload.methods", expected=", ".join(METHODS))
        for m in methods:
            if m not in METHODS:
                raise ConfigError("unknown method", path="workload.methods", expected=", ".join(METHODS), found=m)

        self.max_multi_rows: int = MAX_BIND_PARAMS // o["columns"]
        sizes: list[int] = []
        for raw in o["batch_sizes"]:
            try:
                size = int(raw)
            except ValueError:
                raise ConfigError("not an integer", path="workload.batch_sizes", found=raw) from None
            if size < 1:
                raise ConfigError("batch sizes must be >= 1", path="workload.batch_sizes", found=size)
            size = min(size, self.max_multi_rows)
            if size not in sizes:
                sizes.append(size)
        if "insert_multi" in methods and not sizes:
            raise ConfigError("insert_multi needs at least one batch size", path="workload.batch_sizes")

        self.rows_per_batch: dict[str, int] = {}
        for m in dict.fromkeys(methods):
            if m == "insert_multi":
                for size in sizes:
                    self.rows_per_batch[f"insert_multi_{size}"] = size
            elif m == "insert_single":
                self.rows_per_batch[m] = 1
            else:
                self.rows_per_batch[m] = o["batch_rows"]
        self.schedule: list[str] = list(self.rows_per_batch)
        """Method labels in the order their time slices come round."""
        self.operations = (*self.schedule, "truncate")

    # -- objects --------------------------------------------------------------

    def check(self, conn: Any) -> list[str]:
        row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone()
        return [] if row else [f"schema {self.schema} does not exist: run with --setup"]

    def setup(self, conn: Any, progress: Any) -> None:
        """Only the schema: tables are per worker and recreated when a worker starts."""
        progress.phase("schema", 0)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(str(self.schema))))

    def table(self, worker_id: int) -> sql.Identifier:
        return sql.Identifier(str(self.schema), f"w{worker_id}")

    def create_sql(self, worker_id: int) -> sql.Composed:
        cols: list[sql.Composable] = [sql.SQL("id bigint" + (" PRIMARY KEY" if self.opts["primary_key"] else "") + " NOT NULL")]
        cols += [
            sql.SQL("{} {}").format(sql.Identifier(f"c{i + 1}"), sql.SQL(COLUMN_TYPES[t][0]))
            for i, t in enumerate(self.column_types)
        ]
        kind = sql.SQL("UNLOGGED TABLE" if self.opts["unlogged"] else "TABLE")
        return sql.SQL("CREATE {} {} ({})").format(kind, self.table(worker_id), sql.SQL(", ").join(cols))

    # -- workers ----------------------------------------------------------------

    def start_worker(self, ctx: WorkerContext) -> None:
        """Create the worker's table once; on later calls (a reconnect, or a connection
        borrowed from a shared pool) only rebind the cursor, keeping the rows and ids."""
        conn = ctx.conn
        state = ctx.state
        old = state.pop("cursor", None)
        if old is not None:
            try:
                old.close()
            except Exception:
                pass  # its connection is gone
        if "queries" not in state:
            self._create_table(ctx)
        state["cursor"] = conn.cursor()

    def _create_table(self, ctx: WorkerContext) -> None:
        conn = ctx.conn
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(str(self.schema))))
        except (pg_errors.UniqueViolation, pg_errors.InsufficientPrivilege):
            pass  # another worker created it at the same instant, or it exists and we may not create
        table = self.table(ctx.worker_id)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(self.create_sql(ctx.worker_id))
        names = sql.SQL(", ").join(
            [sql.Identifier("id")] + [sql.Identifier(f"c{i + 1}") for i in range(len(self.column_types))]
        )
        ncols = self.opts["columns"]
        one = sql.SQL("({})").format(sql.SQL(", ").join([sql.Placeholder()] * ncols))
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ").format(table, names)
        queries: dict[str, str] = {"insert_single": (insert + one).as_string(conn)}
        for label, rows in self.rows_per_batch.items():
            if label.startswith("insert_multi_"):
                queries[label] = (insert + sql.SQL(", ").join([one] * rows)).as_string(conn)
        queries["copy"] = sql.SQL("COPY {} ({}) FROM STDIN").format(table, names).as_string(conn)
        queries["truncate"] = sql.SQL("TRUNCATE {}").format(table).as_string(conn)
        ctx.state.update(queries=queries, pool=self._value_pool(ctx), pool_pos=0, next_id=1)

    def _value_pool(self, ctx: WorkerContext) -> list[tuple[Any, ...]]:
        """Pre-generated values (all but the id), reused cyclically so the client spends its time sending.

        Integers are wrapped in fixed-size types so every batch binds the same
        parameter types and its prepared statement is reused.
        """
        rng = ctx.rng
        payload = self.opts["payload_bytes"]
        need = max(self.rows_per_batch.values())
        count = max(1, min(need, POOL_BYTES // max(self.row_bytes, 1)))
        base = "".join(rng.choices(_ALPHABET, k=payload + 4096)) if "text" in self.column_types else ""
        makers = {
            "int": lambda: Int4(rng.randrange(-(2**31), 2**31)),
            "bigint": lambda: Int8(rng.getrandbits(63)),
            "float": lambda: rng.random() * 1e6,
            "bool": lambda: rng.random() < 0.5,
            "timestamptz": lambda: _EPOCH + dt.timedelta(seconds=rng.randrange(10**8)),
            "uuid": lambda: uuid.UUID(int=rng.getrandbits(128)),
            "text": lambda: base[(o := rng.randrange(4096)) : o + payload],
        }
        gens = [makers[t] for t in self.column_types]
        return [tuple(g() for g in gens) for _ in range(count)]

    def _rows(self, state: dict[str, Any], n: int) -> list[tuple[Any, ...]]:
        pool = state["pool"]
        size = len(pool)
        pos = state["pool_pos"]
        first = state["next_id"]
        rows = [(Int8(first + i), *pool[(pos + i) % size]) for i in range(n)]
        state["next_id"] = first + n
        state["pool_pos"] = (pos + n) % size
        return rows

    def current_method(self, now: float | None = None) -> str:
        """The method whose time slice ``now`` (epoch seconds) falls in."""
        now = time.time() if now is None else now
        return self.schedule[int(now / self.opts["slice_time"]) % len(self.schedule)]

    def transaction(self, ctx: WorkerContext) -> str:
        state = ctx.state
        every = self.opts["truncate_every"]
        if ctx.attempt and ctx.label:
            label = ctx.label
        elif every and state["next_id"] > every:
            label = "truncate"
        else:
            label = self.current_method()
        ctx.label = label
        cur = state["cursor"]
        queries = state["queries"]
        if label == "truncate":
            cur.execute(queries["truncate"])
            state["next_id"] = 1
            ctx.queries += 1
        elif label == "insert_single":
            cur.execute(queries["insert_single"], self._rows(state, 1)[0], prepare=True)
            ctx.queries += 1
        elif label == "copy":
            rows = self._rows(state, self.rows_per_batch[label])
            with cur.copy(queries["copy"]) as copy:
                for row in rows:
                    copy.write_row(row)
            ctx.queries += 1
        elif label == "executemany":
            rows = self._rows(state, self.rows_per_batch[label])
            with ctx.conn.transaction():
                cur.executemany(queries["insert_single"], rows)
            ctx.queries += len(rows)
        else:
            rows = self._rows(state, self.rows_per_batch[label])
            cur.execute(queries[label], [v for row in rows for v in row], prepare=True)
            ctx.queries += 1
        return label

    def stop_worker(self, ctx: WorkerContext) -> None:
        """Close the cursor; the table stays for inspection until ``--rebuild`` or cleanup."""
        cur = ctx.state.pop("cursor", None)
        if cur is not None:
            cur.close()

    # -- report ----------------------------------------------------------------

    def summary(self, totals: Mapping[str, Any]) -> dict[str, Any]:
        """Methods ranked by rows/s, with MB/s of row data.

        Contract: ``totals["elapsed_s"]`` is the measured window and
        ``totals["operations"][label]`` holds ``count`` (committed batches) and
        ``latency_ms["mean"]`` (``service_ms`` is preferred when present). Rows = count x rows per batch. The time a
        method had is its share of the window by busy time: ``elapsed_s x
        busy(label) / busy(all labels)`` with ``busy = count x mean latency``.
        Slices switch methods on every worker at once, so this is the wall
        time the method ran, without the slice-edge rounding an
        ``elapsed / methods`` split would carry; ``truncate`` time counts in
        the denominator and in no method. MB = 10^6 bytes of values
        (``row_bytes`` per row, no tuple or page overhead).
        """
        ops = totals.get("operations") or {}
        elapsed = float(totals.get("elapsed_s") or 0.0)
        busy: dict[str, float] = {}
        for label, stats in ops.items():
            # Under a target rate, latency counts from the scheduled start; service time is the busy time.
            timing = stats.get("service_ms") or stats.get("latency_ms") or {}
            mean = timing.get("mean") or 0.0
            busy[label] = float(stats.get("count") or 0) * float(mean)
        total_busy = sum(busy.values())
        ranking: list[dict[str, Any]] = []
        for label, per_batch in self.rows_per_batch.items():
            stats = ops.get(label)
            if not stats or not stats.get("count"):
                continue
            rows = int(stats["count"]) * per_batch
            if total_busy > 0 and elapsed > 0:
                seconds = elapsed * busy[label] / total_busy
            else:
                seconds = elapsed / max(len(self.schedule), 1)
            rate = rows / seconds if seconds > 0 else 0.0
            ranking.append(
                {
                    "method": label,
                    "rows": rows,
                    "rows_per_batch": per_batch,
                    "seconds": round(seconds, 3),
                    "rows_per_s": round(rate, 1),
                    "mb_per_s": round(rate * self.row_bytes / 1e6, 3),
                }
            )
        ranking.sort(key=lambda r: r["rows_per_s"], reverse=True)
        result: dict[str, Any] = {"row_bytes": self.row_bytes, "ranking": ranking}
        rates = {r["method"]: r["rows_per_s"] for r in ranking}
        if ranking:
            result["fastest"] = ranking[0]["method"]
        if rates.get("copy") and rates.get("insert_single"):
            result["copy_vs_insert_single"] = round(rates["copy"] / rates["insert_single"], 1)
        return result


WORKLOAD = BulkInsert
