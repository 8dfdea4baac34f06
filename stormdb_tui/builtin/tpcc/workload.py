"""TpccWorkload: the TPC-C benchmark as a stormdb-tui workload (API v1)."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from stormdb_tui import db
from stormdb_tui.builtin.tpcc import figures, schema, transactions
from stormdb_tui.builtin.tpcc.consistency import consistency_checks
from stormdb_tui.builtin.tpcc.generate import DISTRICTS_PER_WAREHOUSE
from stormdb_tui.builtin.tpcc.loader import Loader
from stormdb_tui.builtin.tpcc.mix import Deck, below_minimum, realised_mix
from stormdb_tui.builtin.tpcc.rand import NURandConstants
from stormdb_tui.errors import ConfigError, WorkloadError
from stormdb_tui.workload import Option, Progress, WeightedMix, WorkerContext, Workload

OPERATIONS = ("new_order", "payment", "order_status", "delivery", "stock_level")
DEFAULT_MIX = {"new_order": 10, "payment": 10, "order_status": 1, "delivery": 1, "stock_level": 1}
"""The 23-card deck of clause 5.2.4.2 (43.5% New-Order and Payment, 4.3% each of the others)."""

# Clause 5.2.5.7 (keying time, seconds) and 5.2.5.4 (mean think time, seconds) per transaction.
KEYING_S = {"new_order": 18.0, "payment": 3.0, "order_status": 2.0, "delivery": 2.0, "stock_level": 2.0}
THINK_MEAN_S = {"new_order": 12.0, "payment": 12.0, "order_status": 10.0, "delivery": 5.0, "stock_level": 5.0}
"""``ctx.state`` key holding seconds to wait, untimed, before the next transaction (spec pacing)."""
NEXT_KEY = "tpcc_next"


class TpccWorkload(Workload):
    """TPC-C: nine tables, five transactions, NURand skew and the clause 3.3.2 consistency checks."""

    name = "tpcc"
    title = "TPC-C (order entry)"
    description = (
        "The TPC-C OLTP benchmark: nine tables loaded per clause 4.3, the five transactions "
        "(New-Order, Payment, Order-Status, Delivery, Stock-Level) dealt from a shuffled 23-card deck, "
        "NURand skew with run-time C constants, tpmC and the database-counted NOPM, the clause 5 "
        "response-time and mix checks, and the clause 3.3.2 consistency checks."
    )
    version = "1.0"
    schema = schema.SCHEMA
    operations = OPERATIONS
    min_server_version = 120000
    options = (
        Option("scale", "int", 1, "number of warehouses (each ~500k rows, ~85 MB of tables + 16 MB of indexes)", minimum=1),
        Option(
            "mix",
            "weights",
            DEFAULT_MIX,
            "cards per transaction in each terminal's shuffled deck (minimums: payment 43%, the others 4%)",
            choices=OPERATIONS,
        ),
        Option(
            "spec_timing",
            "bool",
            False,
            "pace each worker like a TPC-C terminal: keying time before, think time after each transaction",
        ),
        Option("load_connections", "int", 4, "connections loading warehouses in parallel", minimum=1, maximum=64),
        Option("foreign_keys", "bool", False, "add the clause 1.3 foreign keys after loading (slower writes)"),
        Option(
            "all_warehouses",
            "bool",
            False,
            "with fewer workers than warehouses, each worker takes a home warehouse from its own share "
            "per transaction, so every warehouse is used (HammerDB's 'use all warehouses')",
        ),
    )

    def __init__(self, options: Mapping[str, Any] | None = None, run: Mapping[str, Any] | None = None):
        super().__init__(options, run)
        if self.opts["spec_timing"] and self.run_settings.get("rate"):
            raise ConfigError("spec_timing paces each terminal itself and cannot run with run.rate (the open model)",
                              path="workload.spec_timing")
        self.mix = WeightedMix(self.opts["mix"])
        self.deck = Deck(self.opts["mix"])
        self._run_constants: NURandConstants | None = None
        self.load_stats: dict[str, float] = {}
        self._window_start: tuple[int, int] | None = None
        self._window_end: tuple[int, int] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def check(self, conn: Any) -> list[str]:
        """'not loaded', 'load incomplete' or 'wrong scale' as one-line problems."""
        try:
            info = schema.load_info(conn)
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            return [f"cannot read TPC-C metadata: {db.first_line(exc)}"]
        if info is None:
            return ["TPC-C data not loaded: run with --setup"]
        if not info["complete"]:
            return ["TPC-C load did not finish: run with --setup to load again"]
        if info["scale"] != self.scale:
            return [
                f"TPC-C data is loaded with scale={info['scale']} but the run asks for scale={self.scale}: "
                f"run with --rebuild, or set scale={info['scale']}"
            ]
        return []

    def setup(self, conn: Any, progress: Progress) -> None:
        """Load unless a complete load of the same scale exists; refuses to replace another scale."""
        info = schema.load_info(conn)
        if info is not None and info["complete"]:
            if info["scale"] == self.scale:
                return
            raise WorkloadError(
                f"TPC-C data is loaded with scale={info['scale']}; run with --rebuild to reload "
                f"with scale={self.scale}"
            )
        conninfo = self.run_settings.get("conninfo") or conn.info.dsn
        loader = Loader(
            self.scale,
            lambda: db.connect(conninfo, role="setup"),
            progress,
            workers=self.opts["load_connections"],
            seed=self.run_settings.get("seed") or 0,
            foreign_keys=self.opts["foreign_keys"],
            version=self.version,
        )
        try:
            self.load_stats = loader.run(conn)
        finally:
            loader.close()

    def run_constants(self, conn: Any) -> NURandConstants:
        """The C-run constants every worker shares (clause 2.1.6), derived from the load's C-load.

        Derived from the run seed and the stored C-load, so all workers (and
        worker processes) agree without talking to each other.
        """
        if self._run_constants is None:
            info = schema.load_info(conn)
            if info is None:
                raise WorkloadError("TPC-C data not loaded: run with --setup")
            load = NURandConstants(info["c_last"], info["c_id"], info["ol_i_id"])
            seed = self.run_settings.get("seed")
            rng = random.Random(f"tpcc-c-run-{seed}-{load.c_last}-{load.c_id}-{load.ol_i_id}")
            self._run_constants = NURandConstants.for_run(rng, load)
        return self._run_constants

    def start_worker(self, ctx: WorkerContext) -> None:
        """Bind the worker to a terminal: home warehouse and Stock-Level district.

        Worker ``k`` gets warehouse ``k % scale + 1`` and district
        ``(k // scale) % 10 + 1``: up to ten workers per warehouse every
        terminal has a (warehouse, district) pair of its own. With
        ``all_warehouses`` and fewer workers than warehouses, worker ``k``
        owns warehouses ``k + 1, k + 1 + workers, ...`` and picks one of
        them for each transaction.
        """
        scale = self.scale
        k = ctx.worker_id
        workers = max(int(ctx.workers or 1), 1)
        if self.opts["all_warehouses"] and workers < scale:
            warehouses = tuple(range(k % workers + 1, scale + 1, workers))
        else:
            warehouses = (k % scale + 1,)
        terminal = transactions.Terminal(
            w_id=warehouses[0],
            d_id=(k // scale) % DISTRICTS_PER_WAREHOUSE + 1,
            scale=scale,
            c=self.run_constants(ctx.conn),
            cursors=[ctx.conn.cursor() for _ in range(4)],
            warehouses=warehouses,
        )
        ctx.state["tpcc"] = terminal
        if self.opts["spec_timing"] and NEXT_KEY not in ctx.state:
            first = self.deck.draw(ctx)
            ctx.state[NEXT_KEY] = first
            ctx.pause_s = KEYING_S[first]

    def stop_worker(self, ctx: WorkerContext) -> None:
        terminal = ctx.state.pop("tpcc", None)
        if terminal is not None:
            for cur in terminal.cursors:
                try:
                    cur.close()
                except Exception:  # noqa: BLE001 - the connection may be gone already
                    pass

    def transaction(self, ctx: WorkerContext) -> str:
        """One transaction from the terminal's deck; New-Order's intended 1% rollbacks count in ctx.rollbacks."""
        terminal: transactions.Terminal = ctx.state["tpcc"]
        spec_timing = self.opts["spec_timing"]
        if ctx.attempt and ctx.label:
            label = ctx.label  # a retry repeats the same transaction on the same warehouse
        else:
            label = (ctx.state.pop(NEXT_KEY, None) if spec_timing else None) or self.deck.draw(ctx)
            if len(terminal.warehouses) > 1:
                terminal.w_id = ctx.rng.choice(terminal.warehouses)
        ctx.label = label
        if label == "new_order":
            if not transactions.new_order(ctx, terminal):
                ctx.rollbacks += 1
        elif label == "payment":
            transactions.payment(ctx, terminal)
        elif label == "order_status":
            transactions.order_status(ctx, terminal)
        elif label == "delivery":
            transactions.delivery(ctx, terminal)
        else:
            transactions.stock_level(ctx, terminal)
        if spec_timing:
            self._schedule_pause(ctx, label)
        return label

    def _schedule_pause(self, ctx: WorkerContext, label: str) -> None:
        """Think time after ``label`` plus keying time of the next transaction (drawn now).

        Clause 5.2.5.4: think time is negative-exponential with the
        transaction's mean, truncated at ten times the mean.
        """
        mean = THINK_MEAN_S[label]
        think = min(-math.log(1.0 - ctx.rng.random()) * mean, 10 * mean)
        following = self.deck.draw(ctx)
        ctx.state[NEXT_KEY] = following
        ctx.pause_s = think + KEYING_S[following]

    # -- the measured window and the report ---------------------------------------------------

    def measuring_started(self, conn: Any) -> None:
        """The database's counters as the measured window opens (the engine calls this)."""
        self._window_start = figures.window_reading(conn)
        self._window_end = None

    def finish(self, conn: Any) -> dict[str, Any]:
        """The database's counters after the run; the figures themselves are built by ``summary``."""
        if self._window_start is not None:
            self._window_end = figures.window_reading(conn)
        return {}

    def terminal_warnings(self, workers: int) -> list[str]:
        """What makes the terminals differ from the specification's, for the report."""
        warnings = []
        if workers > DISTRICTS_PER_WAREHOUSE * self.scale:
            warnings.append(
                f"{workers} workers on {self.scale} warehouse(s): more than 10 terminals per warehouse, "
                "so some (warehouse, district) pairs are shared by two terminals"
            )
        elif workers < self.scale and not self.opts["all_warehouses"]:
            warnings.append(
                f"{workers} workers on {self.scale} warehouses: {self.scale - workers} warehouse(s) get no "
                "home terminal (set all_warehouses: true to use every one)"
            )
        return warnings

    def statement_operations(self) -> dict[str, str | list[str]]:
        t = transactions
        out: dict[str, str | list[str]] = {
            # psycopg opens and ends every transaction itself
            "BEGIN": list(OPERATIONS), "COMMIT": list(OPERATIONS), "ROLLBACK": list(OPERATIONS),
            t.NO_HEAD: "new_order", t.NO_CUSTOMER: "new_order", t.NO_ITEMS: "new_order",
            t.NO_STOCK_UPDATE: "new_order", t.NO_LINES: "new_order",
            t.PAY_WAREHOUSE: "payment", t.PAY_DISTRICT: "payment", t.CUSTOMERS_BY_NAME: "payment",
            t.PAY_CUSTOMER: "payment", t.PAY_HISTORY: "payment",
            t.OS_CUSTOMER: "order_status", t.OS_CUSTOMERS_BY_NAME: "order_status", t.OS_ORDER_LINES: "order_status",
            t.DELIVERY: "delivery",
            t.STOCK_LEVEL: "stock_level",
        }
        out.update(dict.fromkeys(t.NO_STOCK, "new_order"))
        return out

    def summary(self, totals: Mapping[str, Any]) -> dict[str, Any]:
        """tpmC, NOPM, client against database new orders, the realised mix and the clause 5 checks."""
        elapsed = float(totals.get("elapsed_s") or 0.0)
        ops = totals.get("operations") or {}
        per_min = 60.0 / elapsed if elapsed > 0 else 0.0
        new_orders = int((ops.get("new_order") or {}).get("count") or 0)
        rolled_back = (ops.get("new_order") or {}).get("rollbacks")
        if rolled_back is None:
            rolled_back = totals.get("rollbacks") or 0
        rolled_back = int(rolled_back)
        workers = int(self.run_settings.get("workers") or 1)
        warmup = float(self.run_settings.get("warmup") or 0.0)

        db_new_orders = delivered = None
        if self._window_start is not None and self._window_end is not None:
            db_new_orders = self._window_end[0] - self._window_start[0]
            delivered = self._window_end[1] - self._window_start[1]
        # The readings belong to this report only: a later run of the same object starts afresh.
        self._window_start = self._window_end = None
        # Without a warm-up the window opens before the first transaction. After one, each
        # worker may have one transaction in flight across the database's reading, and the
        # New-Orders that finished while it ran may have committed on either side of it.
        bridge = int((totals.get("window_bridge") or {}).get("new_order") or 0)
        allowance = workers + bridge if warmup > 0 else 0
        agree, agreement = figures.new_order_agreement(new_orders, rolled_back, db_new_orders, allowance)

        counts = {name: int((ops.get(name) or {}).get("count") or 0) for name in OPERATIONS}
        mix_rows = realised_mix(counts, OPERATIONS)
        mix_misses = [f"{r['transaction']} {r['share_pct']:.2f}% < {r['minimum_pct']:g}%" for r in mix_rows if r["ok"] is False]
        rt_rows = figures.response_times(ops)
        rt_fails = [f"{r['transaction']} p90 {r['p90_ms']:,.0f} ms > {r['limit_s']:g} s" for r in rt_rows if r["ok"] is False]

        deliveries = counts["delivery"]
        skipped = skipped_pct = skipped_ok = None
        if delivered is not None:
            attempted = deliveries * DISTRICTS_PER_WAREHOUSE
            skipped = max(attempted - delivered, 0)
            skipped_pct = round(100.0 * skipped / attempted, 3) if attempted else 0.0
            skipped_ok = skipped_pct <= figures.SKIPPED_DELIVERY_MAX_PCT

        warnings = self.terminal_warnings(workers)
        configured_short = below_minimum(self.deck.shares)
        if configured_short:
            warnings.append("configured mix is below the clause 5.2.3 minimums: " + ", ".join(configured_short))
        if mix_misses:
            warnings.append("realised mix misses the clause 5.2.3 minimums: " + ", ".join(mix_misses))
        if agree is False:
            warnings.append("client and database new-order counts disagree: " + agreement)
        if rt_fails:
            warnings.append("clause 5.2.5.3 response time exceeded: " + ", ".join(rt_fails))
        if skipped_ok is False:
            warnings.append(f"{skipped_pct:.2f}% of district deliveries skipped (clause 5.4.5 allows 1%)")

        tpmc = round(new_orders * per_min, 1)
        out: dict[str, Any] = {
            "tpmC": tpmc,
            "nopm": round(db_new_orders * per_min, 1) if db_new_orders is not None else None,
            "new_orders": new_orders,
            "new_order_rollbacks": rolled_back,
            "new_orders_db": db_new_orders,
            "new_orders_agree": agree,
            "new_orders_allowance": allowance,
            "new_orders_check": agreement,
            "mix_ok": not mix_misses and not configured_short,
            "response_times_ok": not rt_fails,
            "delivery_skipped_districts": skipped,
            "delivery_skipped_pct": skipped_pct,
            "delivery_skipped_ok": skipped_ok,
            "spec_timing": bool(self.opts["spec_timing"]),
        }
        if self.opts["spec_timing"]:
            ceiling = figures.TPMC_PER_WAREHOUSE_MAX * self.scale
            out["efficiency_pct"] = round(100.0 * tpmc / ceiling, 1) if ceiling else None
        if warnings:
            out["warnings"] = "; ".join(warnings)
        out["new_orders_by_source"] = [
            {"counted by": "client (tpmC)", "new_orders": new_orders, "rolled_back": rolled_back,
             "committed": new_orders - rolled_back, "per_minute": tpmc},
            {"counted by": "database, D_NEXT_O_ID (NOPM)", "new_orders": db_new_orders, "rolled_back": None,
             "committed": db_new_orders, "per_minute": out["nopm"]},
        ]
        out["mix"] = mix_rows
        out["response_time_90th"] = rt_rows
        return out

    def consistency(self, conn: Any) -> list[tuple[str, bool | None, str]]:
        """The clause 3.3.2 consistency conditions, for ``stormdb-tui check``."""
        return consistency_checks(conn)
