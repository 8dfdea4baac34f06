"""Worker threads and the group that owns them, their pool and their recorders.

A :class:`Worker` runs one transaction after another on its own connection,
times each one with ``time.perf_counter_ns`` and appends the latency (µs)
to its own :class:`~stormdb_tui.engine.metrics.Recorder`. It reads two plain
attributes of its group (``stopping`` and ``measuring``) and touches
nothing else that is shared: no locks, no events, no messages per
transaction.

Failures are classified by SQLSTATE: serialization failures and deadlocks
are retried up to ``max_tries`` (each retry counted); a lost connection is
returned to the pool, which replaces it, and the worker asks again with
capped exponential backoff until the server is back or the run stops.
"""

from __future__ import annotations

import inspect
import logging
import os
import random
import sys
import threading
import time
import traceback
from array import array
from collections.abc import Sequence
from typing import Any, cast

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool, PoolTimeout

from stormdb_tui.config import RunSettings
from stormdb_tui.db import (
    APP_NAME,
    RETRYABLE_SQLSTATES,
    WORKLOAD_BUG_PREFIX,
    error_sqlstate,
    first_line,
    liveness_params,
    redact,
    sever,
)
from stormdb_tui.engine.audit import ClientMeter, LagProbe
from stormdb_tui.engine.metrics import (
    CONNECTION_LABEL,
    COUNTER_NAMES,
    IntervalPart,
    Recorder,
    fold_recorder,
    new_histogram,
)
from stormdb_tui.errors import DatabaseError
from stormdb_tui.workload import WorkerContext, Workload

BACKOFF_START_S = 0.05
BACKOFF_CAP_S = 2.0
OPEN_MODEL_SWITCH_S = 0.0005
"""The GIL switch interval while an open-model run goes (CPython's default is 5 ms)."""
SLEEP_SLICE_S = 0.1
"""Longest single sleep of a waiting worker, so a stop request is seen within this."""


class Schedule:
    """An arrival schedule: each :meth:`claim` hands out the next slot (``perf_counter_ns``).

    Shared by the workers of a process (the default, as pgbench shares one
    schedule among a thread's clients): whichever worker is free takes the
    next slot, so an arrival never queues behind one busy worker while
    others idle. The lock is held only for the few additions of a claim.
    """

    __slots__ = ("gap_ns", "poisson", "_rng", "_next", "_lock")

    def __init__(self, rate: float, poisson: bool, rng: random.Random) -> None:
        self.gap_ns = 1e9 / rate
        self.poisson = poisson
        self._rng = rng
        self._next: float | None = None
        self._lock = threading.Lock()

    def claim(self) -> int:
        lock = self._lock
        lock.acquire()
        try:
            if self._next is None:  # the schedule starts when its first worker is ready
                self._next = time.perf_counter_ns() - (0.0 if self.poisson else self._rng.random() * self.gap_ns)
            self._next += self._rng.expovariate(1.0) * self.gap_ns if self.poisson else self.gap_ns
            return int(self._next)
        finally:
            lock.release()

BUG_BACKOFF_START_S = 0.01
BUG_BACKOFF_CAP_S = 1.0
FAILING_STREAK = 8
"""Consecutive workload exceptions (about 2.5 s of backoff) after which a worker counts as failing."""


class Worker:
    """One client: a thread, a context, a recorder and cumulative counters."""

    def __init__(self, worker_id: int, group: WorkerGroup, quota: int | None) -> None:
        self.id = worker_id
        self.group = group
        self.quota = quota
        self.rec = Recorder()
        self.retries = 0
        self.skipped = 0
        self.late = 0
        self.reconnects = 0
        self.borrowed = False
        """Shared pool: this worker holds a pooled connection right now."""
        self.ctx: WorkerContext | None = None
        self.thread = threading.Thread(target=self._main, name=f"stormdb-worker-{worker_id}", daemon=True)
        self.fatal: str | None = None
        # Read by the sampler to find hung calls: perf_counter_ns at the start of the
        # current call (0 between calls) and which call it is.
        self.t0 = 0
        self.inside = "connect"
        self.bug_streak = 0
        self.last_bug = ""
        # Sampler-side bookkeeping (only the sampler thread touches these).
        self.prev_rec: Recorder | None = None
        self.prev_offsets: dict[str, int] = {}
        self.seen = dict.fromkeys(COUNTER_NAMES, 0)
        self.cum = new_histogram()
        self.cum_count = 0
        self.cum_errors = 0

    def counters(self) -> dict[str, int]:
        ctx = self.ctx
        return {
            "queries": ctx.queries if ctx else 0,
            "rollbacks": ctx.rollbacks if ctx else 0,
            "retries": self.retries,
            "skipped": self.skipped,
            "late": self.late,
            "reconnects": self.reconnects,
        }

    # -- the worker thread -------------------------------------------------

    def _main(self) -> None:
        group = self.group
        try:
            # With a shared pool a worker holds a connection only for one transaction
            # (see _borrow); holding one from the start left the others none at all.
            conn = None if group.shared_pool else group.acquire(self)
            if conn is None and not group.shared_pool:
                return
            seed = group.seed * 1_000_003 + self.id
            self.ctx = WorkerContext(
                worker_id=self.id,
                conn=conn,
                rng=random.Random(seed),
                settings=group.workload.opts,
                scale=group.workload.scale,
                workers=group.total_workers,
                stopping=lambda: group.stopping,
            )
            if conn is not None:
                self._call_hook("start_worker")
            if group.ramp and not self._ramp_wait():
                return
            self.inside = "transaction"
            if group.rate:
                self._run_open()
            else:
                self._run_closed()
        except Exception as exc:  # a workload bug must not kill the run silently
            self.fatal = f"worker {self.id}: {type(exc).__name__}: {first_line(exc)}"
            group.fatal_errors.append(self.fatal)
        finally:
            if self.ctx is not None and (self.borrowed or not group.shared_pool):
                try:
                    self._call_hook("stop_worker")
                except Exception:
                    pass
                group.release(self.ctx.conn)
                self.borrowed = False

    def _ramp_wait(self) -> bool:
        """Hold this worker back until its turn in the ramp; False when the run stops first.

        Worker ids are global, so workers in several processes interleave as one ramp.
        """
        group = self.group
        delay = group.ramp * self.id / max(group.total_workers, 1)
        remaining = group.started + delay - time.monotonic()
        if remaining > 0:
            group.stop_event.wait(remaining)
        return not group.stopping

    def _run_closed(self) -> None:
        group = self.group
        ctx = self.ctx
        assert ctx is not None
        transaction = group.workload.transaction
        perf = time.perf_counter_ns
        think = group.think_time
        quota = self.quota
        if quota == 0:  # a share of zero transactions (fewer transactions than workers)
            return
        shared_pool = group.shared_pool
        limit_ns = int(group.latency_limit * 1e9) if group.latency_limit else 0
        rec = self.rec
        while not group.stopping:
            pause = think + ctx.pause_s
            if pause:
                ctx.pause_s = 0.0
                group.sleep(pause)
                if group.stopping:
                    break
            self.t0 = t0 = perf()
            if shared_pool:
                # The application's request waits for a pooled connection too: latency
                # counts from here, service time from the moment it has one.
                if not self._borrow():
                    break
                tc = perf()
            label = self._attempt(transaction, ctx)
            t1 = perf()
            self.t0 = 0
            if shared_pool and self.borrowed:
                self.borrowed = False
                group.release(ctx.conn)
            if label is not None:
                self.bug_streak = 0
                rec = self.rec
                values = rec.lat.get(label)
                if values is None:
                    values = rec.lat[label] = array("q")
                    if shared_pool:
                        rec.svc[label] = array("q")
                values.append((t1 - t0) // 1000)
                if shared_pool:
                    rec.svc[label].append((t1 - tc) // 1000)
                    waits = rec.wait.get("*")
                    if waits is None:
                        waits = rec.wait["*"] = array("q")
                    waits.append((tc - t0) // 1000)
                if limit_ns and t1 - t0 > limit_ns:
                    self.late += 1
            if quota is not None and group.measuring:
                quota -= 1
                if quota <= 0:
                    break

    def _run_open(self) -> None:
        """pgbench -R: claim the next slot of the schedule, wait for it, run, record from the slot."""
        group = self.group
        ctx = self.ctx
        assert ctx is not None
        transaction = group.workload.transaction
        perf = time.perf_counter_ns
        limit_ns = int(group.latency_limit * 1e9) if group.latency_limit else 0
        sleep = group.sleep
        quota = self.quota
        if quota == 0:
            return
        shared_pool = group.shared_pool
        schedule = group.schedule if group.schedule is not None else Schedule(
            float(group.rate or 0) / group.total_workers, group.arrival == "poisson", random.Random(ctx.rng.random())
        )
        claim = schedule.claim
        while not group.stopping:
            scheduled = claim()
            now = perf()
            if limit_ns:
                while now - scheduled > limit_ns:  # already too late to be worth starting (pgbench -L)
                    self.skipped += 1
                    scheduled = claim()
            if scheduled > now:
                sleep((scheduled - now) / 1e9)
                if group.stopping:
                    break
            self.t0 = t0 = perf()
            if shared_pool:
                if not self._borrow():
                    break
                tc = perf()
            else:
                tc = t0
            label = self._attempt(transaction, ctx)
            t1 = perf()
            self.t0 = 0
            if shared_pool and self.borrowed:
                self.borrowed = False
                group.release(ctx.conn)
            if label is not None:
                self.bug_streak = 0
                rec = self.rec
                values = rec.lat.get(label)
                if values is None:
                    values = rec.lat[label] = array("q")
                    rec.svc[label] = array("q")
                latency = (t1 - scheduled) // 1000
                values.append(latency)
                rec.svc[label].append((t1 - tc) // 1000)
                lags = rec.lag.get("*")
                if lags is None:
                    lags = rec.lag["*"] = array("q")
                lags.append(max(t0 - scheduled, 0) // 1000)
                if shared_pool:
                    waits = rec.wait.get("*")
                    if waits is None:
                        waits = rec.wait["*"] = array("q")
                    waits.append((tc - t0) // 1000)
                if limit_ns and latency * 1000 > limit_ns:
                    self.late += 1
            if quota is not None and group.measuring:
                quota -= 1
                if quota <= 0:
                    break

    def _attempt(self, transaction: Any, ctx: WorkerContext) -> str | None:
        """Run one transaction with retries; its label, or None when it failed."""
        ctx.attempt = 0
        while True:
            try:
                return cast("str | None", transaction(ctx))
            except Exception as exc:
                if not self._failed(exc, ctx):
                    return None
                ctx.attempt += 1

    def _call_hook(self, name: str) -> None:
        """start_worker/stop_worker, timed like a transaction so a hang in them is seen too."""
        ctx = self.ctx
        inside, self.inside = self.inside, name
        self.t0 = time.perf_counter_ns()
        try:
            getattr(self.group.workload, name)(ctx)
        finally:
            self.t0 = 0
            self.inside = inside

    def _failed(self, exc: BaseException, ctx: WorkerContext) -> bool:
        """Handle a failure; True when the transaction should be tried again."""
        state = error_sqlstate(exc)
        conn = ctx.conn
        lost = conn is None or conn.closed or getattr(conn, "broken", False)
        if not lost and not isinstance(exc, psycopg.Error):
            self._workload_bug(exc, ctx)
            return False
        if not lost and state in RETRYABLE_SQLSTATES and ctx.attempt + 1 < self.group.max_tries:
            self.retries += 1
            self._rollback(conn)
            return True
        label = ctx.label or "unknown"
        self.rec.errors.append((label, state, first_line(exc)))
        if lost:
            self._reconnect()
        else:
            self._rollback(conn)
        return False

    def _workload_bug(self, exc: BaseException, ctx: WorkerContext) -> None:
        """A non-database exception from the workload: one error kind per exception type, then back off.

        Without the pause a bug that raises at once spins the worker at a
        million failures a second and starves the others of the GIL.
        """
        where = _where(exc, self.group.workload_file)
        message = f"{type(exc).__name__}: {first_line(exc)}" + (f" (at {where})" if where else "")
        self.rec.errors.append((ctx.label or "unknown", WORKLOAD_BUG_PREFIX + type(exc).__name__, message))
        self.last_bug = message
        self.bug_streak += 1
        self._rollback(ctx.conn)
        self.group.stop_event.wait(min(BUG_BACKOFF_START_S * 2 ** min(self.bug_streak - 1, 20), BUG_BACKOFF_CAP_S))

    @staticmethod
    def _rollback(conn: psycopg.Connection) -> None:
        try:
            if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                conn.rollback()
        except psycopg.Error:
            pass

    def _borrow(self) -> bool:
        """Shared-pool mode: take a connection for one transaction (set up for this worker)."""
        ctx = self.ctx
        assert ctx is not None
        delay = BACKOFF_START_S
        while True:
            conn = self.group.acquire(self)
            if conn is None:
                return False
            self.borrowed = True
            if conn is ctx.conn:
                return True
            ctx.conn = conn
            try:
                self._call_hook("start_worker")
                return True
            except psycopg.Error as exc:
                self.rec.errors.append((CONNECTION_LABEL, error_sqlstate(exc), first_line(exc)))
                self.borrowed = False
                ctx.conn = None  # set up again on whichever connection comes next
                self.group.release(conn)
                self.group.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP_S)

    def _reconnect(self) -> None:
        """Replace a lost connection, backing off while the server is away."""
        group = self.group
        ctx = self.ctx
        assert ctx is not None
        self.reconnects += 1
        group.release(ctx.conn)
        if group.shared_pool:
            self.borrowed = False
            return
        delay = BACKOFF_START_S
        while not group.stopping:
            try:
                conn = group.pool.getconn(timeout=delay)
            except PoolTimeout:
                group.stop_event.wait(delay)
                delay = min(delay * 2, BACKOFF_CAP_S)
                continue
            ctx.conn = conn
            try:
                self._call_hook("start_worker")
                return
            except psycopg.Error as exc:
                # The reconnect failed, not the transaction before it: its own kind, under no operation.
                self.rec.errors.append((CONNECTION_LABEL, error_sqlstate(exc), first_line(exc)))
                group.release(conn)
                group.stop_event.wait(delay)
                delay = min(delay * 2, BACKOFF_CAP_S)


class WorkerGroup:
    """The workers of one process: their pool, threads, and the interval swap."""

    def __init__(
        self,
        workload: Workload,
        conninfo: str,
        worker_ids: Sequence[int],
        settings: RunSettings,
        *,
        total_workers: int,
        seed: int,
        connections: int | None = None,
    ) -> None:
        self.workload = workload
        self.conninfo = conninfo
        self.total_workers = total_workers
        self.seed = seed
        self.think_time = settings.think_time
        self.ramp = settings.ramp
        self.started = time.monotonic()
        self.rate = settings.rate
        self.arrival = settings.arrival
        self.schedule_mode = settings.schedule
        self.latency_limit = settings.latency_limit
        self.max_tries = settings.max_tries
        self.connect_timeout = settings.connect_timeout
        self.stopping = False
        self.measuring = False
        self.stop_event = threading.Event()
        self.fatal_errors: list[str] = []
        self.crashed: list[str] = []
        self.abandoned: list[tuple[int, str]] = []
        self.stop_margin_s = 0.0
        try:
            self.workload_file = os.path.abspath(inspect.getfile(type(workload)))
        except (TypeError, OSError):
            self.workload_file = ""
        self.meter = ClientMeter()
        self.probe = LagProbe()
        n = len(worker_ids)
        self.pool_size = min(connections or n, n)
        self.shared_pool = self.pool_size < n
        quotas = _split(settings.transactions, n)
        self.workers = [Worker(wid, self, quota) for wid, quota in zip(worker_ids, quotas, strict=True)]
        self.schedule: Schedule | None = None
        self._saved_switch: float | None = None
        if self.rate and self.schedule_mode == "shared":
            # This process's share of the run's rate, one schedule for all its workers.
            rng = random.Random(seed * 1_000_003 - (worker_ids[0] if worker_ids else 0) - 1)
            self.schedule = Schedule(self.rate * n / total_workers, self.arrival == "poisson", rng)
        self.pool = ConnectionPool(
            conninfo,
            min_size=self.pool_size,
            max_size=self.pool_size,
            open=False,
            kwargs={"autocommit": True, "application_name": f"{APP_NAME}:load",
                    **liveness_params(conninfo, self.connect_timeout)},
            name="stormdb-load",
            timeout=self.connect_timeout,
            reconnect_timeout=365 * 86400,
            num_workers=min(4, self.pool_size),
        )

    def open(self) -> None:
        """Open every connection up front; a clear error when the server refuses some."""
        last_error = _LastPoolError()
        pool_log = logging.getLogger("psycopg.pool")
        pool_log.addHandler(last_error)
        self.pool.open(wait=False)
        try:
            self.pool.wait(timeout=self.connect_timeout)
        except PoolTimeout:
            stats = self.pool.get_stats()
            have = stats.get("pool_size", 0) - stats.get("connections_errors", 0)
            reason = last_error.message or self._probe_error()
            self.pool.close(timeout=1)
            raise DatabaseError(
                f"could open only {max(have, 0)} of {self.pool_size} connections within "
                f"{self.connect_timeout:g}s to {redact(self.conninfo) or 'the server'}"
                + (f": {reason}" if reason else "")
            ) from None
        finally:
            pool_log.removeHandler(last_error)

    def _probe_error(self) -> str:
        try:
            psycopg.connect(self.conninfo, connect_timeout=max(int(self.connect_timeout), 2)).close()
        except psycopg.Error as exc:
            return first_line(exc)
        return ""

    def start(self) -> None:
        self.meter.reset()
        self.probe.start()
        if self.rate and self._saved_switch is None:
            # A worker waking for its slot waits for the GIL; with the default 5 ms
            # switch interval a thread busy in Python (the sampler folding an interval)
            # keeps it that long, and the wait shows as schedule lag (see RESULTS).
            self._saved_switch = sys.getswitchinterval()
            sys.setswitchinterval(float(os.environ.get("STORMDB_SWITCH_INTERVAL", OPEN_MODEL_SWITCH_S)))
        self.started = time.monotonic()
        for worker in self.workers:
            worker.thread.start()

    def acquire(self, worker: Worker) -> psycopg.Connection | None:
        """A connection for ``worker``; None when the run stops before one is free."""
        delay = BACKOFF_START_S
        while not self.stopping:
            try:
                return self.pool.getconn(timeout=max(delay, 1.0) if not self.shared_pool else 1.0)
            except PoolTimeout:
                delay = min(delay * 2, BACKOFF_CAP_S)
        return None

    def release(self, conn: psycopg.Connection | None) -> None:
        if conn is None:
            return
        try:
            self.pool.putconn(conn)
        except Exception:
            try:
                conn.close()
            except Exception:
                pass

    def stop(self) -> None:
        self.stopping = True
        self.stop_event.set()
        self.probe.stop()
        if self._saved_switch is not None:
            sys.setswitchinterval(self._saved_switch)
            self._saved_switch = None

    def sleep(self, seconds: float) -> None:
        """Sleep until ``seconds`` have passed or the run stops.

        ``time.sleep`` rather than ``Event.wait``: the latter builds a lock and a
        waiter entry per call and wakes later (see RESULTS); a worker checks
        ``stopping`` at least every :data:`SLEEP_SLICE_S`.
        """
        end = time.perf_counter() + seconds
        while not self.stopping:
            left = end - time.perf_counter()
            if left <= 0:
                return
            time.sleep(min(left, SLEEP_SLICE_S))

    def alive(self) -> int:
        return sum(1 for w in self.workers if w.thread.is_alive())

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the workers to finish in-flight transactions; True when all did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in self.workers:
            if worker.thread.ident is None:  # never started (the pool did not open)
                continue
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
            worker.thread.join(remaining)
        return self.alive() == 0

    def close(self) -> None:
        self.pool.close(timeout=2)

    # -- what the sampler watches (plain reads of plain attributes) ------------

    def busy(self, limit_s: float) -> list[tuple[int, str, float]]:
        """(worker id, call, seconds) for every worker inside one call for longer than ``limit_s``."""
        now = time.perf_counter_ns()
        out = []
        for worker in self.workers:
            t0 = worker.t0
            if t0 and worker.thread.is_alive() and (now - t0) / 1e9 > limit_s:
                out.append((worker.id, worker.inside, (now - t0) / 1e9))
        return out

    def failing(self) -> str | None:
        """The last exception when every live worker has failed with workload exceptions many times in a row."""
        live = [w for w in self.workers if w.thread.is_alive()]
        if live and all(w.bug_streak >= FAILING_STREAK for w in live):
            return live[0].last_bug
        return None

    def abandon(self) -> list[tuple[int, str]]:
        """Give up on workers still inside a call: shut their sockets so a call blocked on the
        server returns; (worker id, call) for each. A call stuck in pure Python stays stuck,
        but its thread is a daemon and no longer holds up the run."""
        left = []
        for worker in self.workers:
            if not worker.thread.is_alive():
                continue
            left.append((worker.id, worker.inside))
            ctx = worker.ctx
            if ctx is not None and ctx.conn is not None:
                _cancel(ctx.conn)
                sever(ctx.conn)
        return left

    def swap(self, measuring: bool) -> IntervalPart:
        """Take every worker's recorder and fold it; ``measuring`` false discards into warm-up."""
        part = swap_members(self.workers, measuring)
        part.client.append(self.meter.take(self.probe.take(), driver="threads"))
        return part

    def worker_stats(self, elapsed_s: float) -> list[dict[str, Any]]:
        """Per-worker totals over the measured window, for the report."""
        return member_stats(self.workers, elapsed_s)


class _LastPoolError(logging.Handler):
    """Keeps the pool's last connection error, so a refused start can say why."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        marker = "failed: "
        self.message = redact(text.rsplit(marker, 1)[-1].strip() if marker in text else text)


def swap_members(members: Any, measuring: bool) -> IntervalPart:
    """Swap each member's recorder (a worker thread or a multiplexed client) and fold it into one part.

    Values a member appended to its previous recorder after the last swap are
    folded now; ``measuring`` false leaves them out of the cumulative figures.
    """
    part = IntervalPart()
    for member in members:
        old = member.rec
        member.rec = Recorder()
        wpart = IntervalPart()
        if member.prev_rec is not None:
            fold_recorder(member.id, member.prev_rec, wpart, member.prev_offsets)
        member.prev_offsets = fold_recorder(member.id, old, wpart)
        member.prev_rec = old
        counters = member.counters()
        for name, value in counters.items():
            delta = value - member.seen[name]
            if delta:
                part.counters[name] = part.counters.get(name, 0) + delta
        member.seen = counters
        part.merge(wpart)
        if measuring:
            for hist in wpart.hists.values():
                member.cum.add(hist)
            count, errs = wpart.worker_counts.get(member.id, (0, 0))
            member.cum_count += count
            member.cum_errors += errs
    return part


def member_stats(members: Any, elapsed_s: float) -> list[dict[str, Any]]:
    """Per-member totals over the measured window, for the report's ``workers`` section."""
    from stormdb_tui.engine.metrics import latency_summary

    rows = []
    for member in members:
        summary = latency_summary(member.cum, (50.0, 95.0, 99.0))
        rows.append(
            {
                "id": member.id,
                "transactions": member.cum_count,
                "errors": member.cum_errors,
                "tps": round(member.cum_count / elapsed_s, 2) if elapsed_s > 0 else 0.0,
                "latency_ms": {k: summary[k] for k in ("p50", "p95", "p99", "max")},
                "reconnects": member.reconnects,
            }
        )
    return rows


def _where(exc: BaseException, workload_file: str) -> str:
    """``file.py:LINE`` of the workload's own frame nearest the raise (else the raising frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    chosen = frames[-1]
    for frame in reversed(frames):
        if workload_file and os.path.abspath(frame.filename) == workload_file:
            chosen = frame
            break
    return f"{os.path.basename(chosen.filename)}:{chosen.lineno}"


def _split(total: int | None, parts: int) -> list[int | None]:
    if total is None:
        return [None] * parts
    base, extra = divmod(int(total), parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _cancel(conn: Any) -> None:
    """Ask the server to cancel an abandoned worker's statement, so no query of ours runs on after the run.

    Bounded: a frozen server cannot answer the cancel request either.
    """
    try:
        conn.cancel_safe(timeout=1.0)
    except Exception:
        pass
