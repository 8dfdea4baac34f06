"""Helpers for testing the workbench: the screen as plain text.

``App.export_screenshot`` gives SVG; assertions about what a user reads are
clearer against the same composited frame rendered as text.
"""

from __future__ import annotations

import asyncio
import functools
import io
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from textual.app import App
from textual.screen import Screen

from stormdb_tui.engine.metrics import ErrorKind, IntervalSample, RunSnapshot
from stormdb_tui.report.model import OperationFigures


def screen_text(app: App) -> str:
    """The current screen (with any screens showing beneath it) as plain text, one line per row."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system=None, record=True, legacy_windows=False, safe_box=False)
    frame = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    console.print(frame)
    return console.export_text()


class ScreenHarness(App):
    """A bare app with the workbench's stylesheet that shows one screen: for canned-data tests."""

    CSS_PATH = "app.tcss"

    def __init__(self, screen_factory: Callable[[], Screen], after_mount: Callable[[Screen], None] | None = None) -> None:
        super().__init__()
        self.screen_factory = screen_factory
        self.after_mount = after_mount
        self.shown: Screen | None = None
        self.stops: list[bool] = []

    def on_mount(self) -> None:
        self.shown = self.screen_factory()
        self.push_screen(self.shown)
        if self.after_mount is not None:
            self.call_after_refresh(self.after_mount, self.shown)

    def stop_run(self, *, abort: bool = False) -> None:
        """Stands in for :meth:`StormApp.stop_run` so the dashboard's keys can be checked."""
        self.stops.append(abort)


def canned_snapshot(intervals: int = 12, workers: int = 4, errors: bool = True, pg: bool = True) -> RunSnapshot:
    """A hand-built, deterministic RunSnapshot of a small mixed run (for dashboard tests and snapshots)."""
    samples = []
    for i in range(intervals):
        tps = 1000.0 + 100.0 * (i % 5)
        pg_sample = None
        if pg:
            pg_sample = {
                "cache_hit_ratio": 0.9876,
                "wal_bytes_s": 2.5 * 1024 * 1024,
                "wal_fpi_s": 12.0,
                "commits_s": tps,
                "rollbacks_s": 3.0,
                "checkpoints_timed": 1,
                "checkpoints_req": 2,
                "checkpoint_in_progress": i == intervals - 1,
                "lock_waits": {"waiting": 3, "longest_wait_s": 0.25},
                "connections": {
                    "by_state": {"active": 6, "idle": 2, "idle in transaction": 1},
                    "by_wait_event_type": {"Lock": 3, "IO": 1},
                    "ours": workers,
                    "others": 5,
                    "total": workers + 5,
                    "max_connections": 100,
                    "limit": 97,
                },
                "autovacuum": [{"table": "pgbench.pgbench_accounts", "phase": "scanning heap", "pid": 1}],
                "io": {"total": {"reads_s": 120.0, "writes_s": 35.0, "extends_s": 4.0, "fsyncs_s": 0.0,
                                 "hits_s": 52000.0},
                       "client backend": {"reads_s": 110.0, "writes_s": 5.0, "extends_s": 4.0, "fsyncs_s": 0.0,
                                          "hits_s": 51000.0},
                       "checkpointer": {"reads_s": 0.0, "writes_s": 30.0, "extends_s": 0.0, "fsyncs_s": 2.0,
                                        "hits_s": 0.0}},
                "waits": {"samples": 10, "session_samples": 52, "sessions_avg": 5.2,
                          "by_type": {"CPU": 0.5, "Lock": 0.3, "Client": 0.2},
                          "top": [{"type": "CPU", "event": "CPU", "count": 26, "share": 0.5},
                                  {"type": "Lock", "event": "transactionid", "count": 16, "share": 0.3077},
                                  {"type": "Client", "event": "ClientRead", "count": 10, "share": 0.1923}]},
                "events": [],
            }
        samples.append(
            IntervalSample(
                t_s=float(i + 1), duration_s=1.0, transactions=int(tps), tps=tps, qps=tps * 3, errors=1 if i == 4 else 0,
                retries=0, rollbacks=1, skipped=0,
                latency_ms={"p50": 1.25, "p95": 4.5, "p99": 9.75, "max": 20.0},
                labels={"deposit": {"count": int(tps * 0.7), "tps": tps * 0.7, "errors": 0,
                                    "latency_ms": {"p50": 1.1, "p95": 4.0, "p99": 8.0, "max": 15.0}}},
                pg=pg_sample,
            )
        )
    total = sum(s.transactions for s in samples)
    elapsed = float(intervals)
    labels = (
        OperationFigures(int(total * 0.3), 0, total * 0.3 / elapsed,
                         {"p50": 0.456, "p90": 1.5, "p95": 2.25, "p99": 3.5, "p99_9": 7.125, "max": 12.0,
                          "mean": 0.6, "stddev": 0.4}, label="balance"),
        OperationFigures(int(total * 0.7), 1, total * 0.7 / elapsed,
                         {"p50": 1.75, "p90": 3.0, "p95": 4.25, "p99": 8.5, "p99_9": 17.25, "max": 31.0,
                          "mean": 2.0, "stddev": 1.1}, label="deposit"),
    )
    overall = OperationFigures(total, 1, total / elapsed,
                               {"p50": 1.5, "p90": 2.75, "p95": 4.0, "p99": 8.25, "p99_9": 16.5, "max": 31.0,
                                "mean": 1.6, "stddev": 1.0})
    kinds = (ErrorKind("deposit", "40001", 7, "could not serialize access due to concurrent update"),) if errors else ()
    events = ({"type": "checkpoint", "phase": "start", "detail": "checkpoint started", "t_s": 3.0},
              {"type": "autovacuum", "detail": "autovacuum started: pgbench_accounts", "t_s": 8.0})
    return RunSnapshot(
        status="running", phase="measuring", elapsed_s=elapsed, duration_s=30.0, warmup_s=0.0, workers=workers,
        transactions=total, errors=7 if errors else 0, retries=2, rollbacks=intervals, tps=total / elapsed,
        qps=3 * total / elapsed, intervals=tuple(samples), labels=labels, overall=overall, error_kinds=kinds,
        worker_counts={w: (total // workers + w, 1 if w == 1 else 0) for w in range(workers)},
        pg=samples[-1].pg if samples else None, events=events if pg else (),
    )


def run_async(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run an ``async def`` test body with :func:`asyncio.run` (no async pytest plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


async def wait_for(pilot: Any, predicate: Callable[[], bool], timeout: float = 60.0, step: float = 0.05) -> bool:
    """Let the app run until ``predicate()`` holds (True) or ``timeout`` seconds pass (its last value)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(step)
    return predicate()
