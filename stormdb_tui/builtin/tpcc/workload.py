"""TpccWorkload: the TPC-C benchmark as a stormdb-tui workload (API v1)."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from stormdb_tui import db
from stormdb_tui.builtin.tpcc import schema, transactions
from stormdb_tui.builtin.tpcc.consistency import consistency_checks
from stormdb_tui.builtin.tpcc.loader import Loader
from stormdb_tui.builtin.tpcc.rand import NURandConstants
from stormdb_tui.errors import ConfigError, WorkloadError
from stormdb_tui.workload import Option, Progress, WeightedMix, WorkerContext, Workload

OPERATIONS = ("new_order", "payment", "order_status", "delivery", "stock_level")
DEFAULT_MIX = {"new_order": 45, "payment": 43, "order_status": 4, "delivery": 4, "stock_level": 4}

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
        "(New-Order, Payment, Order-Status, Delivery, Stock-Level) in the 45/43/4/4/4 mix, "
        "NURand skew with run-time C constants, tpmC, and the clause 3.3.2 consistency checks."
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
            "transaction mix by weight (the specification's minimums: payment 43%, the others 4%)",
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
    )

    def __init__(self, options: Mapping[str, Any] | None = None, run: Mapping[str, Any] | None = None):
        super().__init__(options, run)
        if self.opts["spec_timing"] and self.run_settings.get("rate"):
            raise ConfigError("spec_timing paces each terminal itself and cannot run with run.rate (the open model)",
                              path="workload.spec_timing")
        self.mix = WeightedMix(self.opts["mix"])
        self._run_constants: NURandConstants | None = None
        self.load_stats: dict[str, float] = {}

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
        """Home warehouse ``worker_id % scale + 1``; Stock-Level district fixed per worker."""
        scale = self.scale
        terminal = transactions.Terminal(
            w_id=ctx.worker_id % scale + 1,
            d_id=(ctx.worker_id // scale) % 10 + 1,
            scale=scale,
            c=self.run_constants(ctx.conn),
            cursors=[ctx.conn.cursor() for _ in range(4)],
        )
        ctx.state["tpcc"] = terminal
        if self.opts["spec_timing"] and NEXT_KEY not in ctx.state:
            first = self.mix.pick(ctx)
            ctx.label = ""
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
        """One transaction from the mix; New-Order's intended 1% rollbacks count in ctx.rollbacks."""
        terminal: transactions.Terminal = ctx.state["tpcc"]
        spec_timing = self.opts["spec_timing"]
        if spec_timing and not ctx.attempt:
            label = ctx.state.pop(NEXT_KEY, None) or self.mix.pick(ctx)
            ctx.label = label
        else:
            label = self.mix.pick(ctx)
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
        current, attempt = ctx.label, ctx.attempt
        ctx.attempt = 0
        following = self.mix.pick(ctx)
        ctx.label, ctx.attempt = current, attempt
        ctx.state[NEXT_KEY] = following
        ctx.pause_s = think + KEYING_S[following]

    def summary(self, totals: Mapping[str, Any]) -> dict[str, Any]:
        """tpmC (committed New-Orders per minute) and NOPM (all completed New-Orders per minute)."""
        elapsed = float(totals.get("elapsed_s") or 0.0)
        ops = totals.get("operations") or {}
        new_orders = int((ops.get("new_order") or {}).get("count") or 0)
        rolled_back = (ops.get("new_order") or {}).get("rollbacks")
        if rolled_back is None:
            rolled_back = totals.get("rollbacks") or 0
        committed = max(new_orders - int(rolled_back), 0)
        per_min = 60.0 / elapsed if elapsed > 0 else 0.0
        return {
            "tpmC": round(committed * per_min, 1),
            "nopm": round(new_orders * per_min, 1),
            "new_order_rollbacks": int(rolled_back),
            "spec_timing": bool(self.opts["spec_timing"]),
        }

    def consistency(self, conn: Any) -> list[tuple[str, bool, str]]:
        """The clause 3.3.2 consistency conditions, for ``stormdb-tui check``."""
        return consistency_checks(conn)
