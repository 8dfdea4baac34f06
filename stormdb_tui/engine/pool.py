"""The one interface the runner drives every kind of worker pool through.

Threads in this process (:class:`~stormdb_tui.engine.workers.WorkerGroup`),
one event loop (:class:`~stormdb_tui.engine.multiplex.MultiplexGroup`) and
child processes running either (:class:`~stormdb_tui.engine.processes.ProcessGroup`)
all implement :class:`WorkerPool`, so the runner never asks which one it has.
"""

from __future__ import annotations

from typing import Any, Protocol

from stormdb_tui.engine.metrics import IntervalPart


class WorkerPool(Protocol):
    """What the runner needs from the clients of a run, whoever runs them.

    The call order is ``open`` → ``start`` → (``swap`` once an interval) →
    ``stop`` → ``join`` (→ ``abandon`` when the grace ran out) → ``close``.
    """

    pool_size: int
    """Connections opened (once :meth:`open` returned)."""
    measuring: bool
    """Whether what the workers record now counts (false in the warm-up)."""
    fatal_errors: list[str]
    """Errors that stopped workers for good, first one first."""
    crashed: list[str]
    """A worker process that died, one message each (always empty in-process)."""
    abandoned: list[tuple[int, str]]
    """(worker id, call) given up on inside a child process after the stop grace."""
    stop_margin_s: float
    """How much longer than ``run.stop_grace`` :meth:`join` may take (a child's own join)."""

    def open(self) -> None:
        """Open every connection; raise :class:`~stormdb_tui.errors.DatabaseError` when the server refuses."""

    def start(self) -> None:
        """Start the workers; returns once they run."""

    def swap(self, measuring: bool) -> IntervalPart:
        """The interval's measurements since the last swap; ``measuring`` false keeps them out of the totals."""

    def alive(self) -> int:
        """Workers still running; 0 ends the run."""

    def busy(self, limit_s: float) -> list[tuple[int, str, float]]:
        """(worker id, call, seconds) for every worker inside one call for longer than ``limit_s``."""

    def failing(self) -> str | None:
        """The workload's exception when every live worker keeps failing in the workload's own code."""

    def stop(self) -> None:
        """Ask the workers to finish their transaction and stop."""

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the workers; True when all stopped."""

    def abandon(self) -> list[tuple[int, str]]:
        """Give up on the workers still inside a call: (worker id, call) each."""

    def close(self) -> None:
        """Close the connections (and reap child processes)."""

    def worker_stats(self, elapsed_s: float) -> list[dict[str, Any]]:
        """Per-worker totals over the measured window, for the report."""
