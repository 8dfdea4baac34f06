"""``connection_overhead``: what a connection costs, next to the query it carries.

The same short query runs three ways, each its own operation label:

* ``persistent`` - on the worker's own long-lived connection (what a
  connection pool gives an application);
* ``new_connection`` - connect, run the query, close, every transaction
  (what an application without a pool pays: TCP or socket setup,
  authentication, a backend process fork, session start-up);
* ``pooler`` - the same, but connecting to ``pooler_dsn`` (a PgBouncer or
  similar in front of the server), which shows how much of the cost a pooler
  takes away.

The labels run interleaved in one run, picked per transaction by weight from
``mix``, so all of them see the same server conditions. The query runs with
the same protocol on every path (extended protocol, not server-side
prepared, since a prepared statement cannot outlive a one-shot connection),
so the latency differences are the connection's alone.

New connections go to the run's target conninfo (the engine passes it as
``run_settings["conninfo"]``; without it the worker connection's own
parameters and password are reused). Each one is a real backend start, so
keep ``workers`` within the server's ``max_connections`` with room to spare:
a closing backend leaves its slot a moment after the client moves on.

:meth:`ConnectionOverhead.summary` reports connects/s and the overhead ratio.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import conninfo as pg_conninfo

from stormdb_tui import db
from stormdb_tui.errors import ConfigError
from stormdb_tui.workload import Option, WeightedMix, WorkerContext, Workload

LABELS = ("persistent", "new_connection", "pooler")

MODES: dict[str, tuple[str, ...]] = {
    "auto": ("persistent", "new_connection"),  # plus pooler when pooler_dsn is set
    "both": ("persistent", "new_connection"),
    "persistent": ("persistent",),
    "new_connection": ("new_connection",),
    "pooler": ("pooler",),
    "all": LABELS,
}


class ConnectionOverhead(Workload):
    """Latency of a query on a persistent connection versus a fresh connection per transaction."""

    name = "connection_overhead"
    title = "Connection overhead"
    description = (
        "Runs the same short query on a persistent connection and on a new connection per "
        "transaction (optionally through a pooler) and reports connects/s and the overhead ratio."
    )
    version = "1.0"
    schema = None
    operations: tuple[str, ...] = LABELS
    options = (
        Option("query", "str", "SELECT 1", "the statement every transaction runs (keep it short)"),
        Option(
            "mode",
            "choice",
            "auto",
            "which paths run: auto = persistent + new_connection (+ pooler when pooler_dsn is set); "
            "both; persistent; new_connection; pooler; all",
            choices=tuple(MODES),
        ),
        Option("pooler_dsn", "str", None, "conninfo or URI of a connection pooler in front of the server"),
        Option(
            "mix",
            "weights",
            None,
            "relative weights of the enabled paths (default: equal)",
            choices=LABELS,
        ),
        Option("connect_timeout", "duration", 10.0, "give up on a new connection after this long", minimum=1),
    )

    def __init__(self, options: Mapping[str, Any] | None = None, run: Mapping[str, Any] | None = None):
        super().__init__(options, run)
        o = self.opts
        if not str(o["query"]).strip():
            raise ConfigError("an empty query", path="workload.query", expected="an SQL statement")
        pooler = (o["pooler_dsn"] or "").strip() or None
        if pooler is not None:
            try:
                pg_conninfo.conninfo_to_dict(pooler)
            except Exception as exc:
                raise ConfigError(
                    "invalid conninfo", path="workload.pooler_dsn", expected="a libpq conninfo or URI",
                    hint=db.first_line(exc),
                ) from None
        self.pooler_dsn: str | None = pooler
        mode = o["mode"]
        enabled = MODES[mode]
        if mode == "auto" and pooler:
            enabled = LABELS
        if "pooler" in enabled and not pooler:
            raise ConfigError(
                f"mode {mode} needs a pooler", path="workload.pooler_dsn",
                expected="the pooler's conninfo", hint="set pooler_dsn or choose another mode",
            )
        if o["mix"] is None:
            weights = {label: 1.0 for label in enabled}
        else:
            for label, weight in o["mix"].items():
                # auto runs what is available: a pooler weight waits for a pooler_dsn.
                if weight > 0 and label not in enabled and mode != "auto":
                    raise ConfigError(
                        f"{label} has a weight but mode {mode} does not run it", path="workload.mix",
                        hint="pooler needs pooler_dsn" if label == "pooler" else "choose mode all",
                    )
            weights = {label: o["mix"].get(label, 0.0) for label in enabled}
            if sum(weights.values()) <= 0:
                raise ConfigError(
                    "no weight on any enabled path", path="workload.mix",
                    expected="a positive weight for one of " + ", ".join(enabled),
                )
        self.weights: dict[str, float] = {k: v for k, v in weights.items() if v > 0}
        self.mix = WeightedMix(self.weights)
        self.operations = tuple(self.weights)

    def check(self, conn: Any) -> list[str]:
        """Nothing to load; a bad query shows up here rather than as a run full of errors."""
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(self.opts["query"])
        except Exception as exc:
            return [f"query {self.opts['query']!r} fails: {db.first_line(exc)}"]
        return []

    def _target(self, conn: Any) -> str:
        """The conninfo new connections use: the engine's, or rebuilt from the worker's connection."""
        conninfo = self.run_settings.get("conninfo")
        if conninfo:
            return str(conninfo)
        params = conn.info.get_parameters()
        params.pop("application_name", None)  # db.connect names the session itself
        password = conn.info.password
        if password:
            params["password"] = password
        return pg_conninfo.make_conninfo("", **params)

    def start_worker(self, ctx: WorkerContext) -> None:
        ctx.state["targets"] = {"new_connection": self._target(ctx.conn), "pooler": self.pooler_dsn}
        ctx.state["timeout"] = max(1, round(self.opts["connect_timeout"]))

    def transaction(self, ctx: WorkerContext) -> str:
        label = self.mix.pick(ctx)
        query = self.opts["query"]
        if label == "persistent":
            _run(ctx.conn, query)
        else:
            conn = db.connect(
                ctx.state["targets"][label], role="overhead", connect_timeout=ctx.state["timeout"]
            )
            try:
                _run(conn, query)
            finally:
                conn.close()
        ctx.queries += 1
        return label

    def summary(self, totals: Mapping[str, Any]) -> dict[str, Any]:
        """Connects/s and how much slower a transaction is when it opens its own connection.

        Contract: ``totals["elapsed_s"]`` is the measured window and
        ``totals["operations"][label]`` holds ``count`` and ``latency_ms``
        (``mean``, ``p50``, ...); ``service_ms``, when present (open model), is
        used instead so queueing does not count as connection cost. Returned keys, each present when its inputs are:

        * ``connects_per_s`` - new connections opened per second (new_connection
          plus pooler counts over elapsed time), with
          ``new_connection_connects_per_s`` / ``pooler_connects_per_s`` per path;
        * ``overhead_ratio`` - mean new_connection latency / mean persistent
          latency (1.0 would mean connecting is free);
        * ``connect_cost_ms`` - the mean difference, i.e. what connect + close add;
        * ``pooler_ratio`` / ``pooler_connect_cost_ms`` - the same for the pooler path;
        * ``p50_ratio`` - the ratio of medians, which one slow outlier cannot move.
        """
        ops = totals.get("operations") or {}
        elapsed = float(totals.get("elapsed_s") or 0.0)

        def stat(label: str, key: str) -> float | None:
            entry = ops.get(label) or {}
            if not entry.get("count"):
                return None
            # Under a target rate, latency includes queueing; service time is the path's own cost.
            value = (entry.get("service_ms") or entry.get("latency_ms") or {}).get(key)
            return float(value) if value is not None else None

        result: dict[str, Any] = {}
        connects = 0
        for label in ("new_connection", "pooler"):
            count = int((ops.get(label) or {}).get("count") or 0)
            connects += count
            if count and elapsed > 0:
                result[f"{label}_connects_per_s"] = round(count / elapsed, 1)
        if elapsed > 0 and connects:
            result["connects_per_s"] = round(connects / elapsed, 1)
        base = stat("persistent", "mean")
        for label, prefix in (("new_connection", ""), ("pooler", "pooler_")):
            mean = stat(label, "mean")
            if mean is None or not base:
                continue
            key = "overhead_ratio" if not prefix else "pooler_ratio"
            result[key] = round(mean / base, 2)
            result[f"{prefix}connect_cost_ms"] = round(mean - base, 3)
        p50_base, p50_new = stat("persistent", "p50"), stat("new_connection", "p50")
        if p50_base and p50_new is not None:
            result["p50_ratio"] = round(p50_new / p50_base, 2)
        if any((op or {}).get("count") for op in ops.values()) and not (ops.get("pooler") or {}).get("count"):
            # `pooler` is a declared operation; say why a run has none instead of leaving a silent gap.
            result["pooler"] = (
                "not run: set pooler_dsn to compare a pooler" if not self.opts.get("pooler_dsn") else "no transactions"
            )
        return result


def _run(conn: Any, query: str) -> None:
    """Run ``query`` and read its rows, if it returns any (it may be a write)."""
    cur = conn.execute(query)
    if cur.description is not None:
        cur.fetchall()


WORKLOAD = ConnectionOverhead
