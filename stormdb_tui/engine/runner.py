"""The run: prepare the database, drive the workers, sample, and build the report.

:class:`Runner` is used the same way by the headless CLI and the TUI:

    runner = Runner(plan)
    runner.prepare(progress_callback)   # check, load when needed
    report = runner.run()               # blocks; call request_stop() from elsewhere

While it runs, :attr:`Runner.snapshot` is an immutable
:class:`~stormdb_tui.engine.metrics.RunSnapshot` replaced once per interval, and
``on_interval``/``on_phase`` callbacks (called from the sampler thread) let
a caller print progress or post a UI message. They must not block.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import psycopg

from stormdb_tui import db
from stormdb_tui.engine.metrics import (
    Aggregator,
    IntervalPart,
    IntervalSample,
    RunSnapshot,
    latency_histogram,
)
from stormdb_tui.engine.plan import RunPlan
from stormdb_tui.engine.pool import WorkerPool
from stormdb_tui.engine.states import Model, Phase, Status
from stormdb_tui.errors import DatabaseError, WorkloadError
from stormdb_tui.report.model import ErrorFigures, Report, RunResult, build_report, client_host
from stormdb_tui.workload import Progress, SetupProgress

MONITOR_STOP_S = 5.0


def new_run_id() -> str:
    """``20260101T120000Z-1a2b3c4d``: sorts by start time, unique across client hosts."""
    import secrets

    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


class _StoppedInWarmup(Exception):
    """A stop request arrived before the measured window opened."""


class Runner:
    """Drives one run of one workload against one target."""

    def __init__(
        self,
        plan: RunPlan,
        *,
        on_interval: Callable[[RunSnapshot, IntervalSample], None] | None = None,
        on_phase: Callable[[str, str], None] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.plan = plan
        self.run_id = run_id or new_run_id()
        self.cfg = plan.config
        self.workload = plan.workload
        self.on_interval = on_interval
        self.on_phase = on_phase
        self.settings = settings = self.cfg.settings()
        self.workers = settings.workers
        self.interval = float(self.cfg.metrics["interval"])
        self.duration = None if settings.transactions else settings.duration
        self.warmup = settings.warmup
        self.seed = settings.seed if settings.seed is not None else random.SystemRandom().randrange(1, 2**31)
        self.status = Status.PENDING
        self.phase = Phase.IDLE
        self.message = ""
        self._stop = threading.Event()
        self._abort = False
        self.stop_reason: str | None = None
        self.aggregator = Aggregator(self.cfg.percentiles())
        self.snapshot = self._make_snapshot(0.0)
        self.server: dict[str, Any] | None = None
        self.setup_result: SetupProgress | None = None
        self.progress: Progress | None = None
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.report: Report | None = None
        self.group: WorkerPool | None = None
        self.transaction_timeout = settings.transaction_timeout
        self.stop_grace = settings.stop_grace
        self.hung: dict[int, dict[str, Any]] = {}
        """Worker id -> what it was inside and for how long, for calls past run.transaction_timeout."""
        self.driver = "threads"
        self.processes = 1
        self.unmeasured = {"transactions": 0, "rollbacks": 0}
        self.window_bridge: dict[str, int] = {}
        """Transactions per label that finished while the window-start reading ran (after a warm-up):
        each may have committed on either side of it, so a workload checking the database allows for them."""
        """What ran outside the measured window (warm-up, a drain after a stop in warm-up)."""
        self.agreement: dict[str, Any] | None = None

    # -- control -------------------------------------------------------------

    def request_stop(self, reason: str = "interrupted") -> None:
        """Stop gracefully: in-flight transactions finish, the report is written."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.progress is not None:
            self.progress.cancelled = True
        self._stop.set()

    def _set_phase(self, phase: Phase, message: str = "") -> None:
        self.phase = phase
        self.message = message
        if self.on_phase is not None:
            self.on_phase(phase, message)

    # -- preparation -----------------------------------------------------------

    def connect_admin(self) -> psycopg.Connection:
        timeout = max(int(self.settings.connect_timeout), 1)
        return db.connect(self.plan.target.conninfo, role="admin", connect_timeout=timeout)

    def prepare(self, progress_callback: Callable[[SetupProgress], None] | None = None) -> list[str]:
        """Check the server and the workload's data; load it when missing or asked to.

        Returns notes for the user (what was loaded and why). Raises
        :class:`WorkloadError` for problems a load cannot fix.
        """
        self._set_phase(Phase.CONNECTING, self.plan.target.description or self.plan.target.redacted)
        notes: list[str] = []
        with self.connect_admin() as conn:
            self.server = db.server_info(conn)
            wl = self.workload
            if wl.min_server_version and self.server["version_num"] < wl.min_server_version:
                raise WorkloadError(
                    f"workload {wl.name} needs PostgreSQL server_version_num >= {wl.min_server_version}, "
                    f"this server is {self.server['version_num']}"
                )
            if self.plan.rebuild:
                self._set_phase(Phase.SETUP, f"dropping {wl.name}'s own objects")
                wl.drop(conn)
                notes.append(f"dropped the objects owned by {wl.name}")
            load = self.plan.setup or self.plan.rebuild
            if not load:
                problems = wl.check(conn)
                if problems and not wl.is_loaded(conn):
                    # information, not an error: the check's own advice ("run with --setup") is what happens now
                    detail = problems[0].split(": run with --setup")[0]
                    why = f"{wl.name} has no data here yet ({detail}): loading it now, then the run starts"
                    notes.append(why)
                    self._set_phase(Phase.SETUP, why)
                    load = True
                elif problems:
                    raise WorkloadError(f"{wl.name}: " + "; ".join(problems))
            if load:
                self._set_phase(Phase.SETUP, f"loading {wl.name}")
                self.progress = Progress(progress_callback)
                wl.setup(conn, self.progress)
                self.setup_result = self.progress.finish()
                if self.progress.cancelled:
                    raise WorkloadError("setup cancelled")
                problems = wl.check(conn)
                if problems:
                    raise WorkloadError(f"{wl.name}: after setup: " + "; ".join(problems))
                self.progress = None
        self.plan.notes.extend(notes)
        return notes

    # -- the run ---------------------------------------------------------------

    def run(self) -> Report:
        """Run to the end (duration, transaction count or stop request) and build the report."""
        from stormdb_tui.engine.multiplex import MultiplexGroup, choose_driver, resolve_processes
        from stormdb_tui.engine.workers import WorkerGroup

        self.started_at = datetime.now(timezone.utc)
        self.status = Status.RUNNING
        monitor = self._start_monitor()
        self.monitoring = monitor is not None
        settings = self.settings
        self.workload.run_settings.setdefault("conninfo", self.plan.target.conninfo)
        self.workload.run_settings.setdefault("duration", self.duration)
        self.driver = choose_driver(self.workload, settings)
        processes = self.processes = min(resolve_processes(settings, self.driver), self.workers)
        group: WorkerPool
        if settings.cluster:
            from stormdb_tui.engine.cluster import ClusterGroup

            group = ClusterGroup(
                self.workload,
                self.plan.target.conninfo,
                self.workers,
                settings,
                seed=self.seed,
                connections=settings.connections,
                driver=self.driver,
                events=self.aggregator.events,
                notes=self.plan.notes,
                origin=lambda: self.aggregator.origin,
            )
        elif processes > 1 or self.plan.isolate_workers:
            from stormdb_tui.engine.processes import ProcessGroup

            group = ProcessGroup(
                self.workload,
                self.plan.target.conninfo,
                self.workers,
                settings,
                processes=processes,
                seed=self.seed,
                connections=settings.connections,
                quiet=self.plan.isolate_workers,
                driver=self.driver,
            )
        elif self.driver == "multiplex":
            group = MultiplexGroup(
                self.workload,
                self.plan.target.conninfo,
                list(range(self.workers)),
                settings,
                total_workers=self.workers,
                seed=self.seed,
            )
        else:
            group = WorkerGroup(
                self.workload,
                self.plan.target.conninfo,
                list(range(self.workers)),
                settings,
                total_workers=self.workers,
                seed=self.seed,
                connections=settings.connections,
            )
        self.group = group
        measure_start = t_last = time.monotonic()
        failure: str | None = None
        window_conn = None
        try:
            self._set_phase(Phase.STARTING, f"opening {group.pool_size} connections")
            group.open()
            self.processes = getattr(group, "processes", self.processes)  # a cluster places its own
            window_conn = self._window_connection()
            if not self.warmup:
                # Measured from the first transaction: nothing may slip in before the window opens.
                group.measuring = True
                self._open_window(monitor)
                self._window_started(window_conn)
            measure_start = t_last = time.monotonic()
            self.aggregator.origin = measure_start
            group.start()
            if self.warmup:
                self._set_phase(Phase.WARMUP, f"warming up for {self.warmup:g}s")
                self._warm(measure_start)
                self._count_unmeasured(group.swap(measuring=False))
                if self._stop.is_set():
                    raise _StoppedInWarmup
                self._window_started(window_conn)
                bridge = group.swap(measuring=False)
                self._count_unmeasured(bridge)
                self.window_bridge = {label: h.get_total_count() for label, h in bridge.hists.items()}
                self._open_window(monitor)
                measure_start = t_last = time.monotonic()
                self.aggregator.origin = measure_start
                group.measuring = True
            self._set_phase(Phase.MEASURING, "")
            deadline = measure_start + self.duration if self.duration is not None else None
            next_tick = measure_start + self.interval
            while True:
                until = next_tick if deadline is None else min(next_tick, deadline)
                self._wait_until(until, group)
                now = time.monotonic()
                done = (
                    self._stop.is_set()
                    or (deadline is not None and now >= deadline)
                    or group.alive() == 0
                )
                if done:
                    break
                if now >= next_tick:
                    self._sample(group, monitor, measure_start, t_last, now)
                    t_last = now
                    next_tick += self.interval
                    while next_tick <= now:
                        next_tick += self.interval
                    self._watch_hung(group, now - measure_start)
                    broken = group.failing()
                    if broken:
                        failure = f"stopped early: every worker failed repeatedly in the workload's code: {broken}"
                        break
        except _StoppedInWarmup:
            pass
        except DatabaseError as exc:
            failure = str(exc)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {db.first_line(exc)}"
        finally:
            self._set_phase(Phase.STOPPING, "finishing in-flight transactions")
            group.stop()
            abandoned = self._join_or_abandon(group, measure_start)
            end = time.monotonic()
            if group.measuring and end > t_last:
                self._sample(group, monitor, measure_start, t_last, end, final=True)
            elif not group.measuring:
                self._count_unmeasured(group.swap(measuring=False))
            group.close()
            if window_conn is not None:
                window_conn.close()
        elapsed = max(end - measure_start, 0.0) if group.measuring else 0.0
        if group.fatal_errors and failure is None and self.aggregator.transactions == 0:
            failure = group.fatal_errors[0]
        crashed = group.crashed  # a worker process that died fails the run, loudly
        if crashed and failure is None:
            failure = crashed[0]
            self.plan.notes.extend(crashed[1:])
        if abandoned and failure is None:
            failure = abandoned
        if self.hung and failure is None:
            first = next(iter(self.hung.values()))
            failure = (f"{len(self.hung)} worker{'s' if len(self.hung) > 1 else ''} hung: worker {first['worker']} "
                       f"was inside `{first['inside']}` for more than {self.transaction_timeout:g} s "
                       "(run.transaction_timeout)")
        self.plan.notes.extend(self._outages())
        self.message = ""
        if failure is None and not self.stop_reason:
            failure = self._verdict()
        if failure is not None:
            self.status = Status.FAILED
            self.message = failure
        elif self.stop_reason and not group.measuring:
            self.status = Status.INTERRUPTED
            self.message = f"stopped during the warm-up ({self.stop_reason}): nothing was measured"
        elif self.stop_reason:
            self.status = Status.INTERRUPTED
            self.message = f"stopped early: {self.stop_reason}"
        else:
            self.status = Status.COMPLETED
        # After the pool has closed: a backend's last counters reach the statistics as it exits.
        pg = self._stop_monitor(monitor, elapsed)
        workload_extra = self._workload_finish()
        self.ended_at = datetime.now(timezone.utc)
        self.snapshot = self._make_snapshot(elapsed)
        self.report = build_report(self.result(elapsed, pg, workload_extra))
        self._set_phase(Phase.DONE, self.status)
        return self.report

    def _watch_hung(self, group: WorkerPool, t_s: float) -> None:
        """Report each call that has run past run.transaction_timeout, once per worker."""
        for wid, inside, seconds in group.busy(self.transaction_timeout):
            entry = self.hung.get(wid)
            if entry is None:
                self.hung[wid] = {"worker": wid, "inside": inside, "seconds": round(seconds, 1),
                                  "seen_at_s": round(t_s, 1), "abandoned": False}
                self.aggregator.events.append({"t_s": round(t_s, 1), "type": "hung", "worker": wid,
                                               "detail": f"worker {wid} inside `{inside}` for {seconds:.0f} s"})
            else:
                entry["seconds"] = round(seconds, 1)

    def _join_or_abandon(self, group: WorkerPool, measure_start: float) -> str | None:
        """Wait up to run.stop_grace for in-flight calls; name and abandon the workers still inside one."""
        joined = group.join(timeout=self.stop_grace + group.stop_margin_s)
        left = list(group.abandoned)  # worker processes give up on their own workers
        if not joined:
            left += group.abandon()
            self._watch_hung(group, time.monotonic() - measure_start)
            group.join(timeout=2.0)  # a call blocked on the server returns once its socket is shut
        if not left:
            return None if joined else f"workers did not stop within {self.stop_grace:g} s (run.stop_grace)"
        by_call: dict[str, list[int]] = {}
        for wid, inside in left:
            by_call.setdefault(inside, []).append(wid)
            entry = self.hung.setdefault(wid, {"worker": wid, "inside": inside, "seconds": None,
                                               "seen_at_s": None, "abandoned": True})
            entry["abandoned"] = True
        return "; ".join(
            f"{len(ids)} worker{'s were' if len(ids) > 1 else ' was'} still inside `{inside}` after {self.stop_grace:g} s "
            f"(worker{'s' if len(ids) > 1 else ''} {', '.join(map(str, sorted(ids)))}; abandoned)"
            for inside, ids in by_call.items()
        )

    def _outages(self) -> list[str]:
        """Notes for stretches of two or more intervals in which nothing committed."""
        notes, start, last = [], None, None
        intervals = self.aggregator.intervals
        for sample in intervals:
            if sample.transactions == 0:
                if start is None:
                    start = sample.t_s - sample.duration_s
                last = sample
            else:
                if start is not None and last is not None and last.t_s - start >= 2 * self.interval - 1e-6:
                    notes.append(f"no transaction completed from t = {start:.1f} s to t = {last.t_s:.1f} s")
                start = last = None
        if start is not None and last is not None and intervals and last.t_s - start >= 2 * self.interval - 1e-6:
            notes.append(f"no transaction completed from t = {start:.1f} s to the end (t = {last.t_s:.1f} s)")
        return notes

    def _verdict(self) -> str | None:
        """Why a run that reached its end still failed: nothing committed, or too many errors."""
        agg = self.aggregator
        done, errors = agg.transactions, agg.error_count
        if done == 0:
            if errors:
                kind = max(agg.errors.values(), key=lambda k: k.count, default=None)
                first = f": {kind.sqlstate} {kind.first_message}" if kind is not None else ""
                return f"no transaction committed; every one of {errors:,} attempts failed{first}"
            return "no transaction committed in the measured window"
        limit = self.settings.max_error_rate
        if limit is not None and errors / (done + errors) > float(limit):
            return (f"{errors / (done + errors):.1%} of transactions failed ({errors:,} of {done + errors:,}), "
                    f"more than run.max_error_rate {float(limit):.1%}")
        return None

    def _window_connection(self) -> Any:
        """A connection for the workload's ``measuring_started`` hook, opened before the window."""
        if getattr(self.workload, "measuring_started", None) is None:
            return None
        try:
            return self.connect_admin()
        except Exception as exc:
            self.plan.notes.append(f"{self.workload.name}: no connection for the window-start reading: {db.first_line(exc)}")
            return None

    def _window_started(self, conn: Any) -> None:
        """Let the workload read the database as the measured window opens (TPC-C's D_NEXT_O_ID)."""
        hook = getattr(self.workload, "measuring_started", None)
        if conn is None or hook is None:
            return
        try:
            hook(conn)
        except Exception as exc:
            self.plan.notes.append(f"{self.workload.name}: window-start reading failed: {db.first_line(exc)}")

    def _warm(self, t0: float) -> None:
        end = t0 + self.warmup
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= end:
                return
            self._stop.wait(min(self.interval, end - now))
            assert self.group is not None
            self._count_unmeasured(self.group.swap(measuring=False))
            self.snapshot = self._make_snapshot(0.0, phase=Phase.WARMUP, elapsed_override=time.monotonic() - t0)

    def _wait_until(self, until: float, group: WorkerPool) -> None:
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                return
            self._stop.wait(min(remaining, 0.25))
            if group.alive() == 0:
                return

    def _open_window(self, monitor: Any) -> None:
        """The measured window opens: the server's counters are read now, not at the monitor's start."""
        if monitor is not None:
            monitor.mark()

    def _count_unmeasured(self, part: IntervalPart) -> None:
        """Keep the counts of unmeasured work: the client-and-server agreement covers the whole run."""
        self.unmeasured["transactions"] += sum(h.get_total_count() for h in part.hists.values())
        self.unmeasured["rollbacks"] += part.counters.get("rollbacks", 0)
        self.unmeasured["reconnects"] = self.unmeasured.get("reconnects", 0) + part.counters.get("reconnects", 0)

    def _sample(self, group: WorkerPool, monitor: Any, start: float, last: float, now: float, final: bool = False) -> None:
        part: IntervalPart = group.swap(measuring=True)
        pg = monitor.take(final=final) if monitor is not None else None
        sample = self.aggregator.add([part], now - start, now - last, pg)
        self.snapshot = self._make_snapshot(now - start)
        if self.on_interval is not None:
            self.on_interval(self.snapshot, sample)

    # -- monitor, snapshot, report -------------------------------------------

    def _start_monitor(self) -> Any:
        if not self.plan.monitor:
            return None
        from stormdb_tui.monitor.poller import PgMonitor

        mon_cfg = self.cfg.monitoring
        monitor = PgMonitor(
            self.plan.target.conninfo,
            interval=float(mon_cfg["interval"]),
            statements=bool(mon_cfg["statements"]),
            wait_rate=float(mon_cfg.get("wait_sample_rate", 10.0)),
            schemas=[self.workload.schema] if self.workload.schema else [],
        )
        try:
            monitor.start()
        except Exception as exc:
            self.plan.notes.append(f"server monitoring could not start: {db.first_line(exc)}")
            return None
        return monitor

    def _stop_monitor(self, monitor: Any, elapsed: float) -> dict[str, Any] | None:
        """The monitor's final reading, given at most MONITOR_STOP_S: a frozen server must not hold the report."""
        if monitor is None:
            return None
        agg = self.aggregator
        unmeasured = self.unmeasured
        commits = agg.transactions - agg.counters.get("rollbacks", 0) + unmeasured["transactions"] - unmeasured["rollbacks"]
        setups = self.workers + agg.counters.get("reconnects", 0) + unmeasured.get("reconnects", 0)
        box: dict[str, Any] = {}

        def stop() -> None:
            try:
                box["pg"] = monitor.stop(agg.transactions, {"commits": commits, "setups": setups})
            except Exception as exc:
                box["error"] = db.first_line(exc)

        thread = threading.Thread(target=stop, name="stormdb-monitor-stop", daemon=True)
        thread.start()
        thread.join(MONITOR_STOP_S)
        if thread.is_alive():
            conn = getattr(monitor, "_conn", None)
            if conn is not None:
                db.sever(conn)
            thread.join(2.0)
        if "pg" not in box:
            why = box.get("error") or f"the server did not answer within {MONITOR_STOP_S:g} s"
            self.plan.notes.append(f"server monitoring failed at the end: {why}")
            return None
        pg: dict[str, Any] = box["pg"]
        self.agreement = pg.get("agreement")
        mapping = self.workload.statement_operations()
        if mapping and monitor.statement_deltas:
            from stormdb_tui.monitor.operations import operation_costs

            labels, _overall = self.aggregator.label_stats(elapsed)
            ops = {s.label: {"count": s.count, "errors": s.errors, "latency_ms": s.latency_ms} for s in labels}
            pg = {**pg, "operations": operation_costs(monitor.statement_deltas, mapping, ops)}
        return pg

    def _workload_finish(self) -> dict[str, Any]:
        finish = getattr(self.workload, "finish", None)
        if finish is None or self.status is Status.FAILED:
            return {}
        try:
            with self.connect_admin() as conn:
                return dict(finish(conn) or {})
        except Exception as exc:
            self.plan.notes.append(f"{self.workload.name}: post-run measurement failed: {db.first_line(exc)}")
            return {}

    def _make_snapshot(self, elapsed: float, phase: str | None = None, elapsed_override: float | None = None) -> RunSnapshot:
        agg = self.aggregator
        labels, overall = agg.label_stats(elapsed) if agg.transactions or agg.error_count else ((), None)
        last_pg = agg.intervals[-1].pg if agg.intervals else None
        last_client = agg.intervals[-1].client if agg.intervals else None
        # The newest interval with server figures: one without them (none fresh yet) does not mean "off".
        last_pg = next((i.pg for i in reversed(agg.intervals) if i.pg is not None), None)
        if last_pg is None and getattr(self, "monitoring", False):
            last_pg = {}  # on, no figures yet: an empty sample, never the "statistics off" None
        return RunSnapshot(
            status=self.status,
            phase=phase or self.phase,
            elapsed_s=elapsed_override if elapsed_override is not None else elapsed,
            duration_s=self.duration,
            warmup_s=self.warmup,
            workers=self.workers,
            transactions=agg.transactions,
            errors=agg.error_count,
            retries=agg.counters.get("retries", 0),
            rollbacks=agg.counters.get("rollbacks", 0),
            tps=agg.transactions / elapsed if elapsed > 0 else 0.0,
            qps=agg.counters.get("queries", 0) / elapsed if elapsed > 0 else 0.0,
            intervals=tuple(agg.intervals),
            labels=labels,
            overall=overall,
            error_kinds=tuple(replace(kind) for kind in agg.errors.values()),
            worker_counts={wid: (t[0], t[1]) for wid, t in agg.worker_totals.items()},
            pg=last_pg,
            events=tuple(agg.events),
            message=self.message,
            client_bound=bool(last_client and last_client.get("bound")),
            client=last_client,
            agreement=getattr(self, "agreement", None),
        )

    def _static_sections(self, **workload_extra: Any) -> dict[str, Any]:
        """The parts of a report known before the first transaction: config, target, server, workload, run."""
        cfg = self.cfg
        run = self.settings
        rate = run.rate
        workload = self.workload
        return {
            "config": cfg.echo(),
            "target": {"source": self.plan.target.source, "conninfo": self.plan.target.redacted},
            "host": client_host(),
            "server": self.server or {},
            "workload": {"name": workload.name, "version": workload.version, "options": dict(workload.opts),
                         **workload_extra},
            "run": {
                "workers": self.workers,
                # What was opened: the workbench's child and the processes split run.connections too.
                "connections": self.group.pool_size if self.group is not None else run.connections or self.workers,
                "connections_configured": run.connections,
                "processes": self.processes,
                "processes_setting": run.processes,
                "driver": self.driver,
                "duration_s": self.duration,
                "transactions_limit": run.transactions,
                "warmup_s": self.warmup,
                "think_time_s": run.think_time,
                "rate": rate,
                "model": str(Model.OPEN if rate else Model.CLOSED),
                "arrival": run.arrival if rate else None,
                "schedule": run.schedule if rate else None,
                "latency_limit_s": run.latency_limit,
                "seed": self.seed,
                "interval_s": self.interval,
            },
        }

    def journal_header(self) -> dict[str, Any]:
        """The run's journal header: what the report will say about the run before it has measured anything."""
        import os

        return {"started_at": datetime.now(timezone.utc).isoformat(), "pid": os.getpid(), "run_id": self.run_id,
                **self._static_sections()}

    def result(self, elapsed: float, pg: dict[str, Any] | None, workload_extra: dict[str, Any]) -> RunResult:
        """The finished run as plain values, for :func:`~stormdb_tui.report.model.build_report`."""
        from stormdb_tui.engine.cluster import ClusterGroup

        agg = self.aggregator
        labels, overall = agg.label_stats(elapsed)
        operations = {stats.label: stats for stats in labels}
        totals = {
            "elapsed_s": elapsed,
            "operations": {
                label: {"count": f.count, "errors": f.errors, "tps": round(f.tps, 3), "latency_ms": dict(f.latency_ms)}
                for label, f in operations.items()
            },
            "rollbacks": agg.counters.get("rollbacks", 0),
            "transactions": agg.transactions,
            "window_bridge": dict(self.window_bridge),
        }
        workload = self.workload
        try:
            workload_summary = dict(workload.summary(totals) or {})
        except Exception as exc:  # a plugin's summary must not lose the report
            workload_summary = {"error": f"summary failed: {exc}"}
        workload_summary.update(workload_extra)
        setup = None
        if self.setup_result is not None:
            res = self.setup_result
            setup = {"rows": res.rows, "seconds": round(res.elapsed_s, 3), "rows_per_s": round(res.rows_per_s, 1)}
        return RunResult(
            status=str(self.status),
            message=self.message or None,
            stop_reason=self.stop_reason,
            started_at=self.started_at,
            ended_at=self.ended_at,
            **self._static_sections(summary=workload_summary, setup=setup),
            elapsed_s=elapsed,
            transactions=agg.transactions,
            errors_total=agg.error_count,
            counters=dict(agg.counters),
            operations=operations,
            overall=overall,
            intervals=[sample.as_dict() for sample in agg.intervals],
            workers=self.group.worker_stats(elapsed) if self.group is not None else [],
            latency_histogram=latency_histogram(agg.cum_all, agg.cum),
            pg=pg,
            events=list(self.snapshot.events),
            errors=[ErrorFigures(k.label, k.sqlstate, k.count, k.first_message) for k in agg.errors.values()],
            notes=list(self.plan.notes),
            hung=[dict(entry) for entry in self.hung.values()],
            waits=agg.waits(),
            client=agg.client.summary(agg.transactions),
            run_id=self.run_id,
            cluster=self.group.cluster_report(elapsed) if isinstance(self.group, ClusterGroup) else None,
        )

