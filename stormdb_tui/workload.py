"""The workload API (version 1): what a built-in or plugin workload implements.

A workload is a class. Its metadata are class attributes; its lifecycle is:

1. ``__init__(options, run)`` with validated, typed option values;
2. ``check(conn)`` -> a list of problems shown before a run (empty = ready);
3. ``setup(conn, progress)`` creates and loads its own objects (idempotent);
   ``drop(conn)`` removes exactly those objects (used by ``--rebuild``);
4. per worker: ``start_worker(ctx)``, then ``transaction(ctx)`` repeatedly,
   each call running one transaction and returning its operation label;
5. ``stop_worker(ctx)``, and ``cleanup(conn)`` on request.

The engine times each ``transaction`` call, records it under the returned
label and classifies failures by SQLSTATE. Set ``ctx.label`` before the work
starts (``WeightedMix.pick`` does it) so a failure is counted under the right
operation. A retryable failure (serialization failure, deadlock) makes the
engine call ``transaction`` again with ``ctx.attempt`` > 0; ``WeightedMix``
then picks the same operation again.

A minimal workload::

    from stormdb_tui.workload import Workload, Option

    class Ping(Workload):
        name = "ping"
        title = "SELECT 1"
        description = "The smallest possible round trip."
        version = "1.0"
        options = (Option("sleep_ms", "float", 0.0, "server-side sleep", minimum=0),)

        def transaction(self, ctx):
            ctx.conn.execute("SELECT pg_sleep(%s)", (self.opts["sleep_ms"] / 1000,))
            return "ping"
"""

from __future__ import annotations

import bisect
import itertools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from stormdb_tui.options import Option, validate_options

__all__ = [
    "API_VERSION",
    "Option",
    "Progress",
    "WeightedMix",
    "Workload",
    "WorkerContext",
    "SetupProgress",
]

API_VERSION = 1
"""Bumped only for incompatible changes; a plugin declares the version it was written for."""


class Progress:
    """Load progress reporter handed to ``Workload.setup``.

    The workload calls :meth:`phase` when it starts a step (``"stock"``,
    ``"indexes"``) with the number of rows it expects, and :meth:`advance`
    as rows are copied. Thread-safe enough for parallel loaders: counters
    are only ever incremented, and readers tolerate a slightly stale view.
    ``cancelled`` is set by the UI's cancel key; loaders check it between
    batches and stop early.
    """

    def __init__(self, callback: Callable[[SetupProgress], None] | None = None) -> None:
        self._callback = callback
        self.phase_name = ""
        self.total_rows = 0
        self.done_rows = 0
        self.started = time.monotonic()
        self.cancelled = False
        self._last_emit = 0.0
        self._phase_rows_from = 0
        self._phase_started = self.started

    def phase(self, name: str, total_rows: int | None = None) -> None:
        """Start a named step; ``total_rows`` adds to the expected total."""
        self.phase_name = name
        self._phase_rows_from = self.done_rows
        self._phase_started = time.monotonic()
        if total_rows:
            self.total_rows += total_rows
        self._emit(force=True)

    def expect(self, rows: int) -> None:
        """Add rows to the expected total without changing the phase."""
        self.total_rows += rows

    def advance(self, rows: int) -> None:
        """Count rows loaded; emits at most ten updates a second."""
        self.done_rows += rows
        self._emit()

    def snapshot(self) -> SetupProgress:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done_rows / elapsed
        remaining = max(self.total_rows - self.done_rows, 0)
        # An ETA from the first few rows (after table creation) is noise: wait for 1 %.
        settled = self.total_rows and self.done_rows >= self.total_rows / 100
        eta = remaining / rate if rate > 0 and settled else None
        return SetupProgress(self.phase_name, self.done_rows, self.total_rows, rate, elapsed, eta,
                             phase_rows=self.done_rows - self._phase_rows_from,
                             phase_elapsed_s=time.monotonic() - self._phase_started)

    def _emit(self, force: bool = False) -> None:
        if self._callback is None:
            return
        now = time.monotonic()
        if force or now - self._last_emit >= 0.1:
            self._last_emit = now
            self._callback(self.snapshot())

    def finish(self) -> SetupProgress:
        snap = self.snapshot()
        if self._callback is not None:
            self._callback(snap)
        return snap


@dataclass(frozen=True)
class SetupProgress:
    """An immutable view of load progress: rows, rows/s, ETA."""

    phase: str
    rows: int
    total_rows: int
    rows_per_s: float
    elapsed_s: float
    eta_s: float | None
    phase_rows: int | None = None
    """Rows counted since this phase began (None: not known); 0 in a phase that copies none (indexes)."""
    phase_elapsed_s: float = 0.0

    @property
    def counting(self) -> bool:
        """Whether this phase moves the row count (building indexes or vacuuming does not)."""
        return self.phase_rows is None or self.phase_rows > 0

    @property
    def shown_total(self) -> int:
        """The expected total, never below the rows done: an estimate that fell short reads as 100 %, not more."""
        return max(self.total_rows, self.rows) if self.total_rows else 0

    @property
    def fraction(self) -> float | None:
        return min(self.rows / self.total_rows, 1.0) if self.total_rows else None

    def line(self) -> str:
        if not self.counting:
            return (f"{self.phase}: working for {self.phase_elapsed_s:.1f}s "
                    f"({self.rows:,} rows loaded, {self.elapsed_s:.1f}s in all)")
        total = f"/{self.shown_total:,}" if self.total_rows else ""
        eta = f", ETA {self.eta_s:.0f}s" if self.eta_s is not None else ""
        return (
            f"{self.phase}: {self.rows:,}{total} rows, {self.rows_per_s:,.0f} rows/s, "
            f"{self.elapsed_s:.1f}s{eta}"
        )


@dataclass
class WorkerContext:
    """What one worker thread owns: its id, connection, random stream and scratch space.

    Nothing here is shared with another thread. ``state`` is free for the
    workload (prepared statement names, a home warehouse, cached ids).
    ``queries`` counts statements sent (for QPS); a workload adds to it when
    a transaction runs more than one statement. ``rollbacks`` counts
    intended rollbacks (TPC-C's 1% New-Order), which are not errors.
    ``pause_s`` asks the engine to wait that long before the next
    transaction, outside the measured latency (TPC-C keying and think
    times); the engine resets it to 0 once it has waited.
    """

    worker_id: int
    conn: Any
    rng: random.Random
    settings: Mapping[str, Any]
    scale: int
    workers: int
    stopping: Callable[[], bool]
    label: str = ""
    attempt: int = 0
    queries: int = 0
    rollbacks: int = 0
    pause_s: float = 0.0
    state: dict[str, Any] = field(default_factory=dict)


class WeightedMix:
    """Picks the next operation from declared weights, reproducibly from ``ctx.rng``.

    ``pick(ctx)`` returns the chosen name and sets ``ctx.label`` to it; on a
    retry (``ctx.attempt > 0``) it returns the previous choice so the same
    operation is tried again.
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        items = [(name, float(w)) for name, w in weights.items() if float(w) > 0]
        if not items:
            raise ValueError("a weighted mix needs at least one positive weight")
        self.names = [name for name, _ in items]
        self.cumulative = list(itertools.accumulate(w for _, w in items))
        self.total = self.cumulative[-1]

    def pick(self, ctx: WorkerContext) -> str:
        if ctx.attempt and ctx.label:
            return ctx.label
        index = bisect.bisect_right(self.cumulative, ctx.rng.random() * self.total)
        name = self.names[min(index, len(self.names) - 1)]
        ctx.label = name
        return name

    def share(self, name: str) -> float:
        """The configured fraction of ``name`` in the mix (0 when absent)."""
        if name not in self.names:
            return 0.0
        i = self.names.index(name)
        prev = self.cumulative[i - 1] if i else 0.0
        return (self.cumulative[i] - prev) / self.total


class Workload:
    """Base class of every workload. Subclasses set the metadata and override the lifecycle."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    api_version: ClassVar[int] = API_VERSION
    options: ClassVar[Sequence[Option]] = ()
    min_server_version: ClassVar[int] = 0
    """``server_version_num`` below which the workload refuses to run (0 = any)."""
    required_extensions: ClassVar[Sequence[str]] = ()
    operations: Sequence[str] = ()
    """Operation labels the workload can return, for reports and the TUI (an instance may narrow them)."""
    schema: str | None = None
    """The schema the workload owns (created by setup, dropped by --rebuild)."""
    given: frozenset[str] | None = None
    """Names of the options the user set (config or ``--set``), filled in by the run's plan; None when unknown.
    A workload may size itself from the database for an option the user left alone (pgbench's scale)."""

    def __init__(self, options: Mapping[str, Any] | None = None, run: Mapping[str, Any] | None = None):
        self.opts: dict[str, Any] = validate_options(self.options, options or {}, prefix="workload.")
        self.run_settings: dict[str, Any] = dict(run or {})

    @property
    def scale(self) -> int:
        """The workload's size factor, when it has a ``scale`` option (1 otherwise)."""
        return int(self.opts.get("scale") or 1)

    def check(self, conn: Any) -> list[str]:
        """Problems that stop a run (missing extension, data not loaded); empty when ready."""
        return []

    def is_loaded(self, conn: Any) -> bool:
        """True when ``setup`` has already loaded data matching the current options."""
        return not self.check(conn)

    def setup(self, conn: Any, progress: Progress) -> None:
        """Create and load the workload's objects. Must be idempotent."""

    def drop(self, conn: Any) -> None:
        """Drop exactly the objects this workload owns, nothing else."""
        if self.schema:
            from psycopg import sql

            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def start_worker(self, ctx: WorkerContext) -> None:
        """Prepare per-worker state; called again after a reconnect."""

    def transaction(self, ctx: WorkerContext) -> str:
        """Run one transaction on ``ctx.conn`` and return its operation label."""
        raise NotImplementedError

    def stop_worker(self, ctx: WorkerContext) -> None:
        """Release per-worker state."""

    # -- declarative workloads (the multiplexed driver) ---------------------

    def program(self) -> Any:
        """The workload as pgbench scripts: a :class:`stormdb_tui.pgbench.Program`, or None.

        A workload whose transactions are statement lists (SQL with
        ``:variables``, ``\\set`` expressions, ``\\gset``, pipelines) can return
        a program built with :func:`stormdb_tui.pgbench.load_scripts` or
        :func:`stormdb_tui.pgbench.parse_script`; the engine then runs it on the
        multiplexed driver (one event loop per process over every connection,
        no thread per client) unless ``run.driver: threads`` is set. Each script
        run is one transaction, labelled by the script's name. ``transaction``
        stays the threaded driver's way in. None (the default): Python
        transactions on worker threads.
        """
        return None

    def session_sql(self) -> Sequence[str]:
        """Statements run on every new load connection of the multiplexed driver (``SET search_path …``)."""
        return ()

    def cleanup(self, conn: Any) -> None:
        """Remove run artefacts on request (by default the same as ``drop``)."""
        self.drop(conn)

    def statement_operations(self) -> Mapping[str, str | Sequence[str]]:
        """The statements the workload sends (text as given to the driver) -> the operation(s) running each.

        Optional. With it, the report shows each operation's server cost
        (pg_stat_statements execution time, rows, blocks and WAL per
        transaction) beside its client latency. Placeholders (``%s``,
        ``%(name)s``, ``$1``), literals, whitespace and case do not matter for
        matching; a statement several operations run is split between them
        by their transaction counts. The default maps nothing.
        """
        return {}

    def summary(self, totals: Mapping[str, Any]) -> dict[str, Any]:
        """Workload-specific figures for the report (TPC-C's tpmC), from the run totals.

        ``totals`` holds ``elapsed_s``, ``operations`` ({label: {count, ...}}),
        ``rollbacks``, ``transactions`` and ``window_bridge`` ({label: count} of the
        transactions that finished while ``measuring_started`` read the database
        after a warm-up: they may have committed on either side of that reading).
        The default adds nothing.
        """
        return {}

    @classmethod
    def metadata(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "title": cls.title,
            "description": cls.description,
            "version": cls.version,
            "api_version": cls.api_version,
            "min_server_version": cls.min_server_version,
            "required_extensions": list(cls.required_extensions),
            "operations": list(cls.operations),
        }
