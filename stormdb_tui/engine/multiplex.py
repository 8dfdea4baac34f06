"""The multiplexed driver: one event loop per process over all of its connections.

A threaded worker blocks on its own socket; with eight of them the client
spends more CPU handing the GIL around and waking threads than running the
transactions (19 µs per select-only transaction against pgbench's 4). This
driver works as pgbench does: one loop (a ``selectors`` epoll selector) over
every connection, libpq in non-blocking mode through psycopg's ``pq`` layer
(``send_query_prepared``, ``flush``, ``consume_input``, ``is_busy``,
``get_result``), and one :class:`~stormdb_tui.pgbench.client.Client` state
machine per connection. Nothing blocks per connection and no thread is woken
per transaction.

It serves declarative workloads, whose :meth:`~stormdb_tui.workload.Workload.program`
returns a pgbench :class:`~stormdb_tui.pgbench.client.Program`. The runner
sees the interface of :class:`~stormdb_tui.engine.workers.WorkerGroup`
(``open``/``start``/``swap``/``stop``/``join``/``alive``/``close``/
``worker_stats``, ``pool_size``, ``measuring``, ``fatal_errors``) and the same
per-worker :class:`~stormdb_tui.engine.metrics.Recorder` folding, so labels,
errors by SQLSTATE, retries, reconnects, the open model, ``--latency-limit``
and ``--transactions`` mean exactly what they mean on threads.

Most pgbench scripts are straight (only ``\\set`` and SQL, nothing stored:
the built-in ones are): their round trips run inline in
:meth:`MultiplexGroup._straight`, which does only what changes between one and
the next, and hands every other case to the general :meth:`MultiplexGroup._step`.
Where the compiled loop (:mod:`~stormdb_tui.engine.fastloop`) is built, it
runs the round trips instead: straight scripts whole, any other script
"stepped" (:meth:`MultiplexGroup._stepper`).

The loop runs in one thread of its own so that the caller (the runner's
sampler, or a child process's control pipe) keeps its thread; the only
hand-off between the two is the once-per-interval swap.
"""

from __future__ import annotations

import heapq
import math
import os
import random
import select
import selectors
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import pq
from psycopg.conninfo import make_conninfo

from stormdb_tui.config import RunSettings
from stormdb_tui.db import APP_NAME, RETRYABLE_SQLSTATES, error_sqlstate, first_line, redact
from stormdb_tui.engine import fastloop
from stormdb_tui.engine.audit import ClientMeter
from stormdb_tui.engine.metrics import (
    COUNTER_NAMES,
    IntervalPart,
    Recorder,
    new_histogram,
)
from stormdb_tui.engine.workers import member_stats, swap_members
from stormdb_tui.errors import ConfigError, DatabaseError
from stormdb_tui.pgbench import client as C
from stormdb_tui.pgbench.errors import ScriptRuntimeError
from stormdb_tui.pgbench.script import SET, SQL
from stormdb_tui.workload import Workload

BACKOFF_START_S = 0.05
BACKOFF_CAP_S = 2.0
PROBE_NS = 10_000_000
FEED_AHEAD_NS = 10_000_000
"""Open model with the compiled loop: arrivals are drawn and handed to it this far ahead of their time."""
"""The loop's lag probe: a timer every 10 ms whose lateness says how long a ready socket waits."""
IDLE_WAIT_S = 0.05
"""Longest select() wait with nothing scheduled, so a stop request is seen promptly."""
FINE_WAIT_S = 0.002
"""Waits shorter than this are timed in microseconds (select), not epoll's milliseconds."""
SWITCH_INTERVAL_S = 0.0005
"""The GIL switch interval while a loop runs: how long it may wait for the swap's thread."""
DRIVERS = ("auto", "threads", "multiplex")

# Slot states.
_CONNECTING, _SETUP, _IDLE, _PREPARE, _RESULT, _PIPE, _ROLLBACK, _SLEEP, _THINK, _BACKOFF, _DONE = range(11)
_WAITING_RESULTS = frozenset({_SETUP, _PREPARE, _RESULT, _PIPE, _ROLLBACK})
# Timer kinds.
_T_WAKE, _T_START, _T_RECONNECT, _T_CONNECT_TIMEOUT, _T_PROBE = range(5)

# Client actions as module globals: the hot loop compares against them once per statement.
_SEND, _DONE_ACTION, _SLEEP_ACTION, _START_PIPELINE, _SYNC_PIPELINE = C.SEND, C.DONE, C.SLEEP, C.START_PIPELINE, C.SYNC_PIPELINE

_OK = frozenset({pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.EMPTY_QUERY})
_FATAL = pq.ExecStatus.FATAL_ERROR
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_TX_IDLE = pq.TransactionStatus.IDLE
_POLL_OK = pq.PollingStatus.OK
_POLL_FAILED = pq.PollingStatus.FAILED
_POLL_READING = pq.PollingStatus.READING
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


class _Poller:
    """Readiness of many sockets at once: ``select.epoll`` itself where there is one.

    ``selectors.EpollSelector`` wraps every wake-up in Python (a key object
    per ready socket, a dictionary lookup, a mask translation); this loop
    wakes once or more per round trip, so it asks epoll directly and maps
    descriptors to slots itself. Elsewhere (macOS) the selectors module does it.
    """

    def __init__(self) -> None:
        self.slots: dict[int, Any] = {}
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._epoll_fd = [self._epoll.fileno()] if self._epoll is not None else []
        self._sel = None if self._epoll is not None else selectors.DefaultSelector()

    @property
    def epoll_fd(self) -> int | None:
        return self._epoll_fd[0] if self._epoll_fd else None

    @staticmethod
    def _mask(events: int) -> int:
        return (select.EPOLLIN if events & _READ else 0) | (select.EPOLLOUT if events & _WRITE else 0)

    def register(self, fd: int, events: int, slot: Any) -> None:
        self.slots[fd] = slot
        if self._epoll is not None:
            self._epoll.register(fd, self._mask(events))
        else:
            assert self._sel is not None
            self._sel.register(fd, events, slot)

    def modify(self, fd: int, events: int, slot: Any) -> None:
        self.slots[fd] = slot
        if self._epoll is not None:
            self._epoll.modify(fd, self._mask(events))
        else:
            assert self._sel is not None
            self._sel.modify(fd, events, slot)

    def unregister(self, fd: int) -> None:
        self.slots.pop(fd, None)
        if self._epoll is not None:
            self._epoll.unregister(fd)
        else:
            assert self._sel is not None
            self._sel.unregister(fd)

    def poll(self, timeout: float) -> list[tuple[Any, int]]:
        """(slot, events) for each ready socket, events in epoll's bits (``_EV_READ``/``_EV_WRITE``).

        An error or hang-up counts as both, as the selectors module reports
        it, so the slot's next call sees the failure.
        """
        if self._epoll is None:
            assert self._sel is not None
            return [
                (key.data, (_EV_READ if mask & _READ else 0) | (_EV_WRITE if mask & _WRITE else 0))
                for key, mask in self._sel.select(timeout)
            ]
        if 0 < timeout < FINE_WAIT_S:
            # epoll_wait counts whole milliseconds and Python rounds up: waiting 70 µs for
            # the open model's next arrival would start it up to 1 ms late. select()
            # waits in microseconds, on the epoll descriptor itself (readable once any
            # socket is), as pgbench's own wait does.
            if not select.select(self._epoll_fd, (), (), timeout)[0]:
                return []
            timeout = 0
        slots = self.slots
        return [(slot, ev) for fd, ev in self._epoll.poll(timeout) if (slot := slots.get(fd)) is not None]

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        elif self._sel is not None:
            self._sel.close()


_EV_READ = (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP) if hasattr(select, "epoll") else 1
_EV_WRITE = (select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP) if hasattr(select, "epoll") else 4
_SQLSTATE = pq.DiagnosticField.SQLSTATE


def offers_program(workload: Workload) -> bool:
    """True when the workload is declarative (its ``program()`` returns a pgbench program)."""
    try:
        return workload.program() is not None
    except Exception:
        return False


def choose_driver(workload: Workload, settings: RunSettings) -> str:
    """``threads`` or ``multiplex`` for this workload and run section; a ConfigError when impossible.

    ``auto`` takes the multiplexed driver whenever the workload offers a
    program, except with a connection pool smaller than the worker count
    (workers waiting for a pooled connection per transaction is a threaded
    model: an event loop owns one connection per client).
    """
    wanted = settings.driver
    shared_pool = settings.connections is not None and settings.connections < settings.workers
    declarative = offers_program(workload)
    threadable = type(workload).transaction is not Workload.transaction
    # run.ramp starts threads one by one; the event loop has no ramp yet.
    ramped = bool(settings.ramp) and threadable
    if wanted == "threads" or (wanted == "auto" and (shared_pool or not declarative or ramped)):
        if not threadable:
            raise ConfigError(
                f"workload {workload.name} has only a program (no transaction method): it runs on the "
                "multiplexed driver, with one connection per worker",
                path="run.connections" if shared_pool else "run.driver",
            )
        return "threads"
    if wanted == "multiplex":
        if not declarative:
            raise ConfigError(
                f"workload {workload.name} runs Python transactions, which need the threaded driver",
                path="run.driver", expected="threads or auto", found="multiplex",
            )
        if shared_pool:
            raise ConfigError(
                "the multiplexed driver keeps one connection per worker",
                path="run.connections", expected="no connections setting with driver: multiplex",
                found=settings.connections,
            )
        return "multiplex"
    return "multiplex"


def client_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's core count)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def auto_processes(workers: int, driver: str, cores: int | None = None) -> int:
    """``processes: auto``: one event loop per usable core for the multiplexed driver, one process for threads.

    An event loop is one Python thread, so it uses at most one core; pgbench
    is at its best with one thread per core (``-j`` = cores) for the same
    reason. More loops than cores only add context switches, fewer leave
    cores idle while the client is the limit. Threaded workers stay in one
    process, as they always have, unless asked otherwise.
    """
    if driver != "multiplex":
        return 1
    cores = cores if cores is not None else client_cores()
    return max(1, min(int(workers), cores))


def resolve_processes(settings: RunSettings, driver: str, cores: int | None = None) -> int:
    if settings.processes == "auto":
        return auto_processes(settings.workers, driver, cores)
    return settings.processes


class _Slot:
    """One client: its connection, pgbench state machine, recorder and counters."""

    __slots__ = (
        "id", "quota", "rec", "retries", "skipped", "late", "reconnects", "queries",
        "prev_rec", "prev_offsets", "seen", "cum", "cum_count", "cum_errors",
        "rng", "client", "pg", "fd", "events", "state", "label", "attempt", "t0", "sched",
        "failure", "last_res", "store", "syncs", "pending", "pidx", "prepared", "prep_queue", "after",
        "setup", "delay", "gen", "in_tx", "done", "thread", "sent", "straight", "plan", "attached",
        "stepped",
    )

    def __init__(self, wid: int, quota: int | None, rng: random.Random, client: C.Client) -> None:
        self.id = wid
        self.quota = quota
        self.rec = Recorder()
        self.retries = self.skipped = self.late = self.reconnects = self.queries = 0
        self.prev_rec: Recorder | None = None
        self.prev_offsets: dict[str, int] = {}
        self.seen = dict.fromkeys(COUNTER_NAMES, 0)
        self.cum = new_histogram()
        self.cum_count = 0
        self.cum_errors = 0
        self.rng = rng
        self.client = client
        self.pg: Any = None
        self.fd = -1
        self.events = 0
        self.state = _BACKOFF
        self.label = ""
        self.attempt = 0
        self.t0 = 0
        self.sched = 0
        self.failure: BaseException | None = None
        self.last_res: Any = None
        self.store: str | None = None
        """The statement in flight's ``\\gset``/``\\aset`` (None: its rows are not kept)."""
        self.syncs = 0
        self.pending: list[Any] = []
        self.pidx = 0
        self.prepared: set[bytes] = set()
        self.prep_queue: list[Any] = []
        self.after: Any = None
        self.setup: deque[bytes] = deque()
        self.delay = BACKOFF_START_S
        self.gen = 0
        self.in_tx = False
        self.sent = 0
        self.straight = False
        """The script in flight is straight (:attr:`Script.straight`) and runs on :meth:`MultiplexGroup._straight`."""
        self.plan: list[tuple[Any, ...]] | bool | None = None
        """The C loop's ops for this client's script; None until tried, False when it needs Python."""
        self.attached = -1
        """The descriptor under which the C loop knows this connection (-1: it does not)."""
        self.stepped = False
        """The C loop serves this connection's round trips and calls back for the script's steps."""
        self.done = False
        self.thread: threading.Thread | None = None
        """The loop's thread: what a process child waits on to count running workers."""

    def counters(self) -> dict[str, int]:
        return {
            "queries": self.queries,
            "rollbacks": 0,
            "retries": self.retries,
            "skipped": self.skipped,
            "late": self.late,
            "reconnects": self.reconnects,
        }


def _error_from(res: Any, pg: Any) -> BaseException:
    """The psycopg exception of a failed result (the same class and message threads would see)."""
    if res is None:
        message = (pg.error_message or b"connection lost").decode(errors="replace") if pg is not None else "connection lost"
        return psycopg.OperationalError(message.strip() or "connection lost")
    return psycopg.errors.error_from_result(res, encoding="utf-8")


class MultiplexGroup:
    """The clients of one process on one event loop; the runner's :class:`WorkerGroup` interface."""

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
        program = workload.program()
        if program is None:
            raise ConfigError(f"workload {workload.name} offers no program for the multiplexed driver", path="run.driver")
        self.workload = workload
        self.program = program
        self.mode = program.mode
        self.conninfo = conninfo
        self._conninfo_b = make_conninfo(conninfo, application_name=f"{APP_NAME}:load").encode()
        self.session_sql = [s.encode() for s in workload.session_sql()]
        self.total_workers = total_workers
        self.seed = seed
        self.think_ns = int(settings.think_time * 1e9)
        self.rate = settings.rate
        self.arrival = settings.arrival
        self.limit_ns = int(settings.latency_limit * 1e9) if settings.latency_limit else 0
        self.max_tries = settings.max_tries
        self.connect_timeout = settings.connect_timeout
        self.stopping = False
        self.measuring = False
        self.fatal_errors: list[str] = []
        self.crashed: list[str] = []
        self.abandoned: list[tuple[int, str]] = []
        self.stop_margin_s = 0.0
        n = len(worker_ids)
        self.pool_size = n
        quotas = _split(settings.transactions, n)
        self.workers: list[_Slot] = []
        for wid, quota in zip(worker_ids, quotas, strict=True):
            rng = random.Random(seed * 1_000_003 + wid)  # the seeds threaded workers use
            client = program.client(wid, program.client_rng(wid, rng))
            self.workers.append(_Slot(wid, quota, rng, client))
        self.sel = _Poller()
        self.timers: list[tuple[int, int, Any, int, int]] = []
        self._seq = 0
        self.ready: deque[_Slot] = deque()
        self.idle: deque[_Slot] = deque()
        self.backlog: deque[int] = deque()
        self.next_arrival = 0
        """The open model's next arrival (perf_counter_ns); 0 until the loop starts."""
        self.mean_gap_ns = 0.0
        self.arrival_rng = random.Random(seed * 7_919 + (worker_ids[0] if worker_ids else 0))
        self.lag_us = array("q")
        self.meter = ClientMeter()
        self.last_connect_error = ""
        self._hard_stop = False
        self.chained = not self.rate and not self.think_ns
        """Closed model without think time: a client starts its next transaction as its last one ends."""
        self.fast = self.mode == "prepared"
        """Straight scripts may take :meth:`_straight` (prepared statements: one send per round trip)."""
        self.restart_inline = self.chained and program.only is not None
        """:meth:`_straight` may start the next transaction itself: the same script, at once."""
        epoll_fd = self.sel.epoll_fd
        self.fl: Any = fastloop.new_loop(epoll_fd) if epoll_fd is not None else None
        """The compiled loop (:mod:`~stormdb_tui.engine.fastloop`) serving the round trips, or None."""
        if self.fl is not None:
            self.fl.restart = int(self.restart_inline)
            if self.rate:
                self.fl.open_model(self.limit_ns)
        self.released = False
        self.parked = False
        """Some client has waited in the compiled loop for an arrival: it takes the schedule from then on."""
        self.compiled = 0
        """Transactions the compiled loop finished since the last swap."""
        self.retired = 0
        """Slots that have run their share of ``--transactions`` (the loop ends when all have)."""
        self.thread = threading.Thread(target=self._main, name="stormdb-multiplex", daemon=True)
        for slot in self.workers:
            slot.thread = self.thread

    # -- the runner's interface -------------------------------------------------

    def open(self) -> None:
        """Connect every client (non-blocking, all at once); a clear error when the server refuses some."""
        for slot in self.workers:
            self._connect(slot)
        deadline = time.perf_counter_ns() + int(self.connect_timeout * 1e9)
        while True:
            ready = sum(1 for s in self.workers if s.state == _IDLE)
            if ready == len(self.workers):
                return
            now = time.perf_counter_ns()
            if now >= deadline:
                break
            self._turn(min(deadline - now, int(IDLE_WAIT_S * 1e9)))
        reason = self.last_connect_error
        self._close_all()
        raise DatabaseError(
            f"could open only {ready} of {self.pool_size} connections within "
            f"{self.connect_timeout:g}s to {redact(self.conninfo) or 'the server'}"
            + (f": {reason}" if reason else "")
        )

    def start(self) -> None:
        self.meter.reset()
        # The interval swap folds this loop's latencies in the caller's thread; at the
        # default 5 ms switch interval the loop waited that long for the GIL each time
        # it wanted it back, and an open model's arrivals queued behind it.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self.thread.start()

    def stop(self) -> None:
        self.stopping = True
        if self.fl is not None:
            self.fl.restart = 0  # each transaction in flight comes back to Python as it ends
            self.fl.open = 0  # and no fed arrival starts

    def alive(self) -> int:
        if not self.thread.is_alive():
            return 0
        return sum(1 for s in self.workers if not s.done)

    def join(self, timeout: float | None = None) -> bool:
        if self.thread.ident is not None:
            self.thread.join(timeout)
        return not self.thread.is_alive()

    def busy(self, limit_s: float) -> list[tuple[int, str, float]]:
        """(slot id, transaction, seconds) for every client waiting on one transaction longer than ``limit_s``."""
        now = time.perf_counter_ns()
        out = []
        for slot in self.workers:
            t0 = slot.t0
            if self.fl is not None and slot.attached >= 0 and self.fl.owner(slot.attached) is slot:
                running = self.fl.t0(slot.attached)  # the C loop restarts transactions without telling Python
                if running is not None:
                    t0 = running  # 0: waiting there for an arrival, in no transaction
            if slot.in_tx and not slot.done and t0 and (now - t0) / 1e9 > limit_s:
                out.append((slot.id, slot.label or "transaction", (now - t0) / 1e9))
        return out

    def failing(self) -> str | None:
        """Never: a program has no workload code of its own that could keep raising."""
        return None

    def abandon(self) -> list[tuple[int, str]]:
        """Give up on the slots still inside a transaction after the stop grace; (slot id, call) each.

        The loop leaves at its next wake-up without waiting for their replies
        (a frozen server sends none) and :meth:`close` drops their connections.
        """
        self._hard_stop = True
        self.stop()
        return [(slot.id, "transaction") for slot in self.workers if slot.in_tx and not slot.done]

    def close(self) -> None:
        self._hard_stop = True
        self.stop()
        if self.thread.ident is not None:
            self.thread.join(2)
        if not self.thread.is_alive():
            self._close_all()

    def swap(self, measuring: bool) -> IntervalPart:
        """Take every client's recorder and fold it (the threaded group's rules, late arrivals included)."""
        if self.fl is not None:
            for slot in self.workers:
                self._take(slot)
        part = swap_members(self.workers, measuring)
        lag, self.lag_us = self.lag_us, array("q")
        compiled, self.compiled = self.compiled, 0
        part.client.append(self.meter.take(lag, driver="multiplex", compiled=compiled))
        return part

    def worker_stats(self, elapsed_s: float) -> list[dict[str, Any]]:
        return member_stats(self.workers, elapsed_s)

    # -- the loop ---------------------------------------------------------------

    def _main(self) -> None:
        try:
            now = time.perf_counter_ns()
            self._timer(now + PROBE_NS, None, _T_PROBE)
            if self.rate:
                rate = float(self.rate) * len(self.workers) / max(self.total_workers, 1)
                self.mean_gap_ns = 1e9 / rate
                self.next_arrival = now + int(self._first_gap())
                self.idle.extend(s for s in self.workers if s.state == _IDLE)
            else:
                self.ready.extend(s for s in self.workers if s.state == _IDLE)
            while not self._hard_stop:
                if self.stopping and self.fl is not None and not self.released:
                    self.released = True
                    for slot in self.fl.release():  # clients waiting in the compiled loop for an arrival
                        slot.state = _IDLE
                        slot.in_tx = False
                if self.stopping and not any(s.in_tx for s in self.workers):
                    break
                if self.retired == len(self.workers):
                    break
                self._turn(None)
        except Exception as exc:  # a driver bug must end the run with a message, not hang it
            self.fatal_errors.append(f"multiplexed driver: {type(exc).__name__}: {first_line(exc)}")
        finally:
            for slot in self.workers:
                slot.done = True

    def _turn(self, wait_ns: int | None) -> None:
        """One loop iteration: due timers, arrivals, clients ready to start, then wait for sockets."""
        perf = time.perf_counter_ns
        now = perf()
        timers = self.timers
        stopping = self.stopping
        while timers and (timers[0][0] <= now or stopping):
            due, _, slot, kind, gen = heapq.heappop(timers)
            self._fire(slot, kind, gen, due, now)
        if self.next_arrival and not stopping:
            if self.fl is not None:
                self._park_idle()
            self._arrivals(now)
        ready = self.ready
        for _ in range(len(ready)):
            self._begin(ready.popleft(), 0)
        if ready:
            timeout = 0.0
        else:
            nxt = timers[0][0] if timers else now + int(IDLE_WAIT_S * 1e9)
            if self.next_arrival and not stopping:
                if self.idle:
                    nxt = min(nxt, self.next_arrival)
                elif self.parked:
                    nxt = min(nxt, self.next_arrival - FEED_AHEAD_NS)  # time to feed the compiled loop more
            limit = wait_ns if wait_ns is not None else int(IDLE_WAIT_S * 1e9)
            timeout = max(min(nxt - now, limit), 0) / 1e9
        if self.fl is not None:
            events, back = self.fl.poll(timeout)
            if events:
                slots = self.sel.slots
                for fd, ev in events:
                    slot = slots.get(fd)
                    if slot is not None:
                        self._ready(slot, ev)
            if back:
                self._handed_back(back)
            return
        for slot, ev in self.sel.poll(timeout):
            self._ready(slot, ev)

    def _ready(self, slot: _Slot, ev: int) -> None:
        if ev & _EV_WRITE:
            self._writable(slot)
        if ev & _EV_READ and slot.pg is not None:
            self._readable(slot)

    def _timer(self, due: int, slot: _Slot | None, kind: int) -> None:
        self._seq += 1
        heapq.heappush(self.timers, (due, self._seq, slot, kind, slot.gen if slot is not None else 0))

    def _fire(self, slot: _Slot | None, kind: int, gen: int, due: int, now: int) -> None:
        if kind == _T_PROBE:
            self.lag_us.append((now - due) // 1000)
            if not self.stopping:
                self._timer(max(due + PROBE_NS, now + PROBE_NS // 2), None, _T_PROBE)
            return
        assert slot is not None
        if gen != slot.gen:
            return  # the slot moved on (lost its connection, or was stopped) since this was set
        if kind == _T_WAKE:
            if slot.state == _SLEEP:
                slot.state = _IDLE
                self._step(slot)
        elif kind == _T_START:
            if slot.state == _THINK and not self.stopping:
                slot.state = _IDLE
                self._begin(slot, 0)
        elif kind == _T_RECONNECT:
            if slot.state == _BACKOFF and not self.stopping:
                self._connect(slot)
        elif kind == _T_CONNECT_TIMEOUT and slot.state in (_CONNECTING, _SETUP):
            self.last_connect_error = f"no connection within {self.connect_timeout:g}s"
            self._connect_failed(slot)

    def _first_gap(self) -> float:
        if self.arrival == "poisson":
            return self.arrival_rng.expovariate(1.0) * self.mean_gap_ns
        return self.mean_gap_ns

    def _arrivals(self, now: int) -> None:
        """The open model's one arrival schedule for this process: due arrivals go to free clients."""
        backlog = self.backlog
        due = self.next_arrival
        # With every free client in the compiled loop, it gets the arrivals a little ahead
        # and starts each when due; a client free here takes only those already due.
        ahead = self.fl is not None and not self.idle and self.parked
        until = now + 2 * FEED_AHEAD_NS if ahead else now  # drawn until 20 ms ahead, topped up at 10 ms left
        if due <= until:
            gap = self.mean_gap_ns
            if self.arrival == "poisson":
                draw = self.arrival_rng.random
                log = math.log
                while due <= until:
                    backlog.append(due)
                    due += int(-log(1.0 - draw()) * gap)  # expovariate(1.0) * gap, without two calls
            else:
                while due <= until:
                    backlog.append(due)
                    due += int(gap)
            self.next_arrival = due
        idle = self.idle
        limit = self.limit_ns
        while backlog and idle:
            slot = idle.popleft()
            if slot.done or slot.state != _IDLE:
                continue
            scheduled = backlog.popleft()
            if limit and now - scheduled > limit:
                slot.skipped += 1  # pgbench -L: already too late to start
                idle.appendleft(slot)
                continue
            self._begin(slot, scheduled)
        if backlog and self.parked:
            back = self.fl.feed(array("q", backlog).tobytes())
            backlog.clear()
            if back:
                self._handed_back(back)

    def _park_idle(self) -> None:
        """Free clients whose connection the compiled loop knows wait there for their next arrival."""
        idle = self.idle
        for _ in range(len(idle)):
            slot = idle.popleft()
            if slot.done or slot.state != _IDLE:
                continue
            if (slot.attached >= 0 and slot.attached == slot.fd and slot.quota is None and slot.pg is not None
                    and self.program.only is not None):
                self.parked = True
                slot.in_tx = True  # the compiled loop's now: it starts the next transaction
                slot.state = _RESULT
                back = self.fl.park(slot.fd)
                if back:
                    self._handed_back(back)
            else:
                idle.append(slot)

    # -- transactions ------------------------------------------------------------

    def _begin(self, slot: _Slot, scheduled: int) -> None:
        if self._open_tx(slot, scheduled, time.perf_counter_ns()) and not (self.fl is not None and self._arm(slot)):
            self._step(slot)

    def _open_tx(self, slot: _Slot, scheduled: int, now: int) -> bool:
        """Choose the slot's next script and start it at ``now``; False when the slot must not start one."""
        if self.stopping or slot.done or slot.state != _IDLE:
            return False
        if slot.quota == 0 and self.measuring:  # a share of zero (fewer transactions than workers)
            self._retire(slot)
            return False
        self._start_tx(slot, scheduled, now)
        return True

    def _start_tx(self, slot: _Slot, scheduled: int, now: int) -> None:
        program = self.program
        script = program.only or program.choose(slot.rng)
        slot.client.start(script)
        slot.straight = self.fast and script.straight
        slot.label = script.name
        slot.attempt = 0
        slot.sched = scheduled
        slot.in_tx = True
        slot.sent = 0
        slot.t0 = now

    def _step(self, slot: _Slot, given: int | None = None) -> None:
        """Advance the script to its next round trip (or its end); ``given``: the action advance already returned."""
        client = slot.client
        pg = slot.pg
        mode = self.mode
        try:
            while True:
                if given is not None:
                    action, given = given, None
                else:
                    # Past its last command a script is done: no call into the client to learn that.
                    action = _DONE_ACTION if client.pc >= client.ncmd else client.advance()
                if action == _SEND:
                    cmd = client.cmd
                    assert cmd is not None
                    slot.sent += 1
                    if client.in_pipeline:
                        if mode == "prepared":
                            pg.send_query_prepared(cmd.prepname, client.params)
                        else:
                            pg.send_query_params(cmd.sql, client.params)
                        continue
                    if mode == "prepared":
                        if cmd.prepname not in slot.prepared:
                            slot.after = cmd
                            pg.send_prepare(cmd.prepname, cmd.sql)
                            slot.state = _PREPARE
                        else:
                            pg.send_query_prepared(cmd.prepname, client.params)
                            slot.state = _RESULT
                    elif mode == "extended":
                        pg.send_query_params(cmd.sql, client.params)
                        slot.state = _RESULT
                    else:
                        pg.send_query(client.query)
                        slot.state = _RESULT
                    store = slot.store = cmd.store
                    if store is not None:
                        slot.last_res = None
                    if pg.flush():  # the socket is full: finish sending when it is writable
                        self._watch(slot, _READ | _WRITE)
                    return
                if action == _DONE_ACTION:
                    t1 = time.perf_counter_ns()
                    if not self._record(slot, True, t1):
                        return
                    slot.state = _IDLE
                    if not self.chained or self.stopping or not slot.sent:
                        self._next(slot, t1)
                        return
                    # Straight on to the next transaction in this same loop, as pgbench
                    # does: no trip through the event loop and no deeper call chain.
                    self._start_tx(slot, 0, t1)
                    if self.fl is not None and self._arm(slot):
                        return
                    continue
                if action == _SLEEP_ACTION:
                    slot.state = _SLEEP
                    self._timer(client.wake_ns, slot, _T_WAKE)
                    return
                if action == _START_PIPELINE:
                    if mode == "prepared":
                        queue = [c for c in client.commands[client.pc:] if c.kind == SQL and c.prepname not in slot.prepared]
                        if queue:
                            # PREPARE cannot wait for its result inside a pipeline: prepare first.
                            slot.prep_queue = queue
                            slot.after = None
                            pg.send_prepare(queue[0].prepname, queue[0].sql)
                            slot.state = _PREPARE
                            self._flush(slot)
                            return
                    pg.enter_pipeline_mode()
                    slot.syncs = 0
                elif action == _SYNC_PIPELINE:
                    pg.pipeline_sync()
                    slot.syncs += 1
                else:  # END_PIPELINE: read everything back
                    pg.pipeline_sync()
                    slot.syncs += 1
                    slot.pending = list(client.pending)
                    slot.pidx = 0
                    slot.state = _PIPE
                    self._flush(slot)
                    return
        except ScriptRuntimeError as exc:
            self._fail(slot, exc)
        except psycopg.OperationalError as exc:
            self._lost(slot, exc)

    def _straight(self, slot: _Slot) -> None:
        """:meth:`_step` for a straight script whose statements are prepared: the same steps, inline.

        A statement's result is in: when the script is done, record the
        transaction and start the same script again; run the ``\\set``s before
        the next statement; send it. Anything this does not cover (more than one
        script, an open model, a quota, the stop, a statement not prepared yet)
        goes to :meth:`_step` at the same place. Every bytecode here runs once
        per round trip: this path does only what changes from one to the next,
        about a quarter less client CPU per select-only transaction.
        """
        client = slot.client
        pc = client.pc
        if pc >= client.ncmd:
            if slot.sched or slot.quota is not None or self.stopping or not self.restart_inline:
                self._step(slot)
                return
            t1 = time.perf_counter_ns()
            values = slot.rec.lat.get(slot.label)
            if values is None:
                values = slot.rec.lat[slot.label] = array("q")
            values.append((t1 - slot.t0) // 1000)
            slot.queries += slot.sent
            # The same script again (the one there is): client.start would only rewind pc.
            slot.t0 = t1
            slot.sent = 0
            slot.attempt = 0
            client.pc = 0
            if self.fl is not None and self._arm(slot):
                return
            pc = 0
        commands = client.commands
        cmd = commands[pc]
        try:
            while cmd.kind == SET:
                try:
                    client.vars[cmd.var] = cmd.expr(client)  # type: ignore[misc]
                except ScriptRuntimeError as exc:
                    client.pc = pc
                    raise client._located(cmd, exc) from None
                pc += 1
                cmd = commands[pc]
            if cmd.prepname not in slot.prepared:
                client.pc = pc
                self._step(slot)
                return
            client.pc = pc + 1
            slot.sent += 1
            pg = slot.pg
            pg.send_query_prepared(cmd.prepname, client.bind(cmd))
            if pg.flush():  # the socket is full: finish sending when it is writable
                self._watch(slot, _READ | _WRITE)
        except ScriptRuntimeError as exc:
            self._fail(slot, exc)
        except psycopg.OperationalError as exc:
            self._lost(slot, exc)

    # -- the compiled loop --------------------------------------------------------

    def _arm(self, slot: _Slot) -> bool:
        """Hand the transaction just started to the C loop; False when it must run here instead.

        A straight script (:func:`fastloop.plan`) runs there whole: its first
        transaction on a connection runs in Python to prepare the statements,
        and from then on the C loop draws, binds and sends. Any other script
        is "stepped": the C loop does the round trips and calls
        :meth:`_stepper`'s function for everything between them. Either way
        it restarts the one script itself in the closed model.
        """
        fl = self.fl
        if fl is None:
            return False
        if slot.attached != slot.fd:
            only = self.program.only
            if slot.plan is None:
                straight = self.fast and only is not None and only.straight
                slot.plan = (straight and fastloop.plan(only, slot.client)) or False
            restart = slot.quota is None and only is not None
            if slot.plan:
                assert only is not None
                if any(c.kind == SQL and c.prepname not in slot.prepared for c in only.commands):
                    return False
                fl.attach(slot.fd, slot.pg.pgconn_ptr, slot, slot.client.rng.random, slot.client.vars, slot.plan,
                          restart)
                slot.stepped = False
            else:
                fl.attach_stepped(slot.fd, slot.pg.pgconn_ptr, slot, self._stepper(slot), restart)
                slot.stepped = True
            slot.attached = slot.fd
            if self.rate and restart:
                self.parked = True  # this client will wait there for arrivals once its transaction ends
        slot.state = _RESULT
        slot.store = None
        back = fl.start(slot.fd, slot.t0, slot.sched)
        if back:
            self._handed_back(back)
        return True

    def _stepper(self, slot: _Slot) -> Callable[[int, list[tuple[Any, ...]] | None], Any]:
        """The C loop's callback for a stepped client: what :meth:`_step` does between two round trips.

        ``step(fresh, stored)``: when ``fresh``, start the one script again;
        store the rows of the statement just finished (``stored``: each of its
        results' fields, last row and row count, as :meth:`_store` reads
        them); run the meta-commands up to the next statement. It returns that
        statement as ``(how, statement, parameters, store)``, None at the
        script's end, or the client's action for Python to take
        (``\\sleep``, a pipeline, a statement not yet prepared here).
        """
        client = slot.client
        only = self.program.only
        prepared = slot.prepared
        how = {"prepared": fastloop.SEND_PREPARED, "extended": fastloop.SEND_PARAMS}.get(
            self.mode, fastloop.SEND_QUERY
        )
        by_name = how == fastloop.SEND_PREPARED
        with_params = how == fastloop.SEND_PARAMS
        advance = client.advance

        def step(fresh: int, stored: list[tuple[Any, ...]] | None) -> Any:
            if fresh:
                assert only is not None
                client.start(only)
                slot.attempt = 0
            if stored is not None:
                cmd = client.cmd
                assert cmd is not None
                if cmd.store == "gset":
                    client.store(cmd, *stored[-1])
                else:
                    for fields, row, ntuples in stored:
                        client.store(cmd, fields, row, ntuples)
            if client.pc >= client.ncmd:
                return None
            action = advance()
            if action == _SEND:
                cmd = client.cmd
                assert cmd is not None
                store = cmd.store is not None
                if by_name:
                    if cmd.prepname not in prepared:
                        return action
                    return (how, cmd.prepname, client.params, store)
                if with_params:
                    return (how, cmd.sql, client.params, store)
                return (how, client.query, None, store)
            return None if action == _DONE_ACTION else action

        return step

    def _take(self, slot: _Slot) -> bool:
        """Fold what the C loop measured for this client since the last take; False when it has no connection there."""
        fd = slot.attached
        if fd < 0 or self.fl.owner(fd) is not slot:
            return False
        got = self.fl.take(fd)
        assert got is not None  # attached: take has figures, if only zeros
        data, svc, lag, queries, skipped, late = got
        if data:
            label = slot.label
            rec = slot.rec
            for store, key, raw in ((rec.lat, label, data), (rec.svc, label, svc), (rec.lag, "*", lag)):
                if raw:
                    taken = array("q")
                    taken.frombytes(raw)
                    values = store.get(key)
                    if values is None:
                        store[key] = taken
                    else:
                        values.extend(taken)
            self.compiled += len(data) // 8
        slot.queries += queries
        slot.skipped += skipped
        slot.late += late
        return True

    def _handed_back(self, back: list[tuple[Any, ...]]) -> None:
        """Carry on in Python where the C loop stopped: at a transaction's end, a failure, a full socket."""
        for slot, why, t, pc, sent, t0, sched, in_tx, info in back:
            if not slot.stepped:  # a stepped client's position is its own, kept by step()
                slot.client.pc = pc
            slot.sent = sent
            slot.t0 = t0
            slot.sched = sched
            slot.state = _RESULT
            slot.store = None
            if not in_tx:  # it waited for an arrival: the server closed the session, or it broke
                slot.in_tx = False
                slot.state = _IDLE
                if why == fastloop.FAILED:
                    message, _fields = info
                    info = message
                self._lost(slot, psycopg.OperationalError(info.decode(errors="replace").strip() or "connection lost"))
                continue
            if why == fastloop.DONE:
                self.compiled += 1
                if self._record(slot, True, t):
                    slot.state = _IDLE
                    self._next(slot, t)
            elif why == fastloop.FAILED:
                message, fields = info
                slot.failure = psycopg.errors.error_from_result(fastloop.ErrorResult(message, fields))  # type: ignore[arg-type]
                self._readable(slot)  # the statement's remaining results, then the failure's handling
            elif why == fastloop.LOST:
                text = info.decode(errors="replace").strip() if info else ""
                self._lost(slot, psycopg.OperationalError(text or "connection lost"))
            elif why == fastloop.STEP:  # step() returned an action the C loop leaves to Python
                self._step(slot, info)
            elif why == fastloop.ERROR:
                if not isinstance(info, ScriptRuntimeError):
                    raise info  # a driver bug: the loop ends the run with it
                self._fail(slot, info)
            else:  # FLUSH: the statement is queued in libpq; send the rest when the socket drains
                if slot.stepped:
                    slot.store = slot.client.cmd.store
                    slot.last_res = None
                self._watch(slot, _READ | _WRITE)

    def _flush(self, slot: _Slot) -> None:
        if slot.pg.flush():  # the socket is full: finish sending when it is writable
            self._watch(slot, _READ | _WRITE)

    def _writable(self, slot: _Slot) -> None:
        pg = slot.pg
        if pg is None:
            return
        if slot.state == _CONNECTING:
            self._connect_poll(slot)
            return
        try:
            if not pg.flush():
                self._watch(slot, _READ)
        except psycopg.OperationalError as exc:
            self._lost(slot, exc)

    def _watch(self, slot: _Slot, events: int) -> None:
        if slot.events != events:
            self.sel.modify(slot.fd, events, slot)
            slot.events = events

    def _readable(self, slot: _Slot) -> None:
        state = slot.state
        if state == _CONNECTING:
            self._connect_poll(slot)
            return
        pg = slot.pg
        try:
            pg.consume_input()
        except psycopg.OperationalError as exc:
            self._lost(slot, exc)
            return
        while not pg.is_busy():
            if state == _RESULT:  # first: one statement's results outside a pipeline is the hot path
                res = pg.get_result()
                if res is not None:
                    if res.status in _OK:
                        store = slot.store
                        if store is not None:
                            if store == "aset":
                                self._store(slot, slot.client.cmd, res)
                            else:
                                slot.last_res = res
                    elif slot.failure is None:
                        slot.failure = _error_from(res, pg)
                    continue
                if slot.failure is None and slot.store == "gset" and slot.last_res is not None:
                    self._store(slot, slot.client.cmd, slot.last_res)
                if slot.failure is None:
                    # Whatever the script did next (sent its next statement, ended, slept),
                    # nothing more can be waiting on this socket for it yet.
                    if slot.straight:
                        self._straight(slot)
                    else:
                        self._step(slot)
                    return
                self._failed(slot)
                if slot.pg is not pg:
                    return  # the connection was lost or replaced meanwhile
                state = slot.state
                continue
            if state not in _WAITING_RESULTS:
                return
            res = pg.get_result()
            if state == _PIPE:
                if res is not None:
                    self._pipe_result(slot, res)
            elif state == _PREPARE:
                if res is None:
                    self._prepared(slot)
                elif res.status != pq.ExecStatus.COMMAND_OK and res.error_field(_SQLSTATE) != b"42P05":
                    if slot.failure is None:
                        slot.failure = _error_from(res, pg)
            elif state == _ROLLBACK:
                if res is None:
                    slot.state = _IDLE
                    then, slot.after = slot.after, None
                    then()
            else:  # _SETUP
                if res is None:
                    self._setup_next(slot)
                elif res.status not in _OK:
                    self.last_connect_error = first_line(_error_from(res, pg))
                    self.fatal_errors.append(f"worker {slot.id}: session setup failed: {self.last_connect_error}")
                    self._connect_failed(slot)
                    return
            if slot.pg is not pg:
                return  # the connection was lost or replaced meanwhile
            state = slot.state

    def _pipe_result(self, slot: _Slot, res: Any) -> None:
        status = res.status
        if status == _SYNC:
            slot.syncs -= 1
            if slot.syncs <= 0:
                slot.pg.exit_pipeline_mode()
                slot.client.in_pipeline = False
                slot.state = _IDLE
                if slot.failure is not None:
                    self._failed(slot)
                else:
                    self._step(slot)
            return
        index = slot.pidx
        slot.pidx = index + 1
        if status == _ABORTED:
            return
        if status in _OK:
            cmd = slot.pending[index] if index < len(slot.pending) else None
            if cmd is not None and cmd.store is not None and slot.failure is None:
                self._store(slot, cmd, res)
        elif status == _FATAL and slot.failure is None:
            slot.failure = _error_from(res, slot.pg)

    def _store(self, slot: _Slot, cmd: Any, res: Any) -> None:
        ntuples = res.ntuples
        nfields = res.nfields
        fields = [(res.fname(i) or b"").decode() for i in range(nfields)]
        row = None
        if ntuples > 0:
            last = ntuples - 1
            row = [None if (v := res.get_value(last, i)) is None else bytes(v).decode() for i in range(nfields)]
        try:
            slot.client.store(cmd, fields, row, ntuples)
        except ScriptRuntimeError as exc:
            if slot.failure is None:
                slot.failure = exc

    def _prepared(self, slot: _Slot) -> None:
        """A PREPARE finished: the next one of a pipeline's, the command that waited for it, or a failure."""
        pg = slot.pg
        if slot.failure is not None:
            slot.prep_queue = []
            self._failed(slot)
            return
        try:
            if slot.prep_queue:
                done = slot.prep_queue.pop(0)
                slot.prepared.add(done.prepname)
                if slot.prep_queue:
                    nxt = slot.prep_queue[0]
                    pg.send_prepare(nxt.prepname, nxt.sql)
                    self._flush(slot)
                    return
                pg.enter_pipeline_mode()
                slot.syncs = 0
                slot.state = _IDLE
                self._step(slot)
                return
            cmd = slot.after
            slot.after = None
            slot.prepared.add(cmd.prepname)
            pg.send_query_prepared(cmd.prepname, slot.client.params)
            slot.state = _RESULT
            slot.last_res = None
            self._flush(slot)
        except psycopg.OperationalError as exc:
            self._lost(slot, exc)

    def _fail(self, slot: _Slot, exc: BaseException) -> None:
        """A failure raised while advancing: drain an open pipeline first, then handle it."""
        slot.failure = exc
        pg = slot.pg
        if pg is not None and pg.pipeline_status != pq.PipelineStatus.OFF:
            try:
                pg.pipeline_sync()
                slot.syncs += 1
                slot.pending = list(slot.client.pending)
                slot.pidx = 0
                slot.state = _PIPE
                self._flush(slot)
            except psycopg.OperationalError as lost:
                self._lost(slot, lost)
            return
        self._failed(slot)

    def _failed(self, slot: _Slot) -> None:
        """The transaction failed: retry a serialization failure or deadlock, else count it and go on."""
        exc, slot.failure = slot.failure, None
        assert exc is not None
        state = error_sqlstate(exc)
        if state in RETRYABLE_SQLSTATES and slot.attempt + 1 < self.max_tries:
            slot.retries += 1
            slot.attempt += 1

            def again() -> None:
                # A retry reruns the same script with fresh draws, as on threads.
                slot.client.start(self.program.by_name[slot.label])
                slot.sent = 0
                self._step(slot)

            self._rollback(slot, again)
            return
        slot.rec.errors.append((slot.label or "unknown", state, first_line(exc)))
        self._rollback(slot, lambda: self._finish(slot, False))

    def _rollback(self, slot: _Slot, then: Callable[[], None]) -> None:
        pg = slot.pg
        slot.client.in_pipeline = False
        if pg.transaction_status == _TX_IDLE:
            slot.state = _IDLE
            then()
            return
        try:
            pg.send_query(b"ROLLBACK")
        except psycopg.OperationalError as exc:
            self._lost(slot, exc)
            return
        slot.after = then
        slot.state = _ROLLBACK
        self._flush(slot)

    def _finish(self, slot: _Slot, ok: bool) -> None:
        t1 = time.perf_counter_ns()
        if self._record(slot, ok, t1):
            slot.state = _IDLE
            self._next(slot, t1)

    def _record(self, slot: _Slot, ok: bool, t1: int) -> bool:
        """Count the transaction that ended at ``t1``; True when the slot goes on to another."""
        slot.in_tx = False
        if ok:
            slot.queries += slot.sent  # counted with the transaction, as threaded workers count them
            label = slot.label
            rec = slot.rec
            values = rec.lat.get(label)
            if slot.sched:
                if values is None:
                    values = rec.lat[label] = array("q")
                    rec.svc[label] = array("q")
                latency = (t1 - slot.sched) // 1000
                values.append(latency)
                rec.svc[label].append((t1 - slot.t0) // 1000)
                lag = rec.lag.get("*")
                if lag is None:
                    lag = rec.lag["*"] = array("q")
                lag.append(max(slot.t0 - slot.sched, 0) // 1000)  # schedule lag, as pgbench -R reports it
                if self.limit_ns and latency * 1000 > self.limit_ns:
                    slot.late += 1
            else:
                if values is None:
                    values = rec.lat[label] = array("q")
                values.append((t1 - slot.t0) // 1000)
        if slot.quota is not None and self.measuring:
            slot.quota -= 1
            if slot.quota <= 0:
                self._retire(slot)
                return False
        # Reconnecting: the next transaction starts once the connection is back.
        return slot.pg is not None

    def _retire(self, slot: _Slot) -> None:
        """The slot has run its share of ``--transactions``."""
        if not slot.done:
            slot.done = True
            self.retired += 1
        slot.state = _DONE

    def _next(self, slot: _Slot, now: int) -> None:
        if self.stopping:
            return
        if self.rate:
            self.idle.append(slot)
        elif self.think_ns:
            slot.state = _THINK
            self._timer(now + self.think_ns, slot, _T_START)
        elif slot.sent:
            self._begin(slot, 0)
        else:
            self.ready.append(slot)  # a script without SQL must not recurse: the loop takes it next

    # -- connections -------------------------------------------------------------

    def _connect(self, slot: _Slot) -> None:
        slot.gen += 1
        try:
            pg = pq.PGconn.connect_start(self._conninfo_b)
        except psycopg.OperationalError as exc:
            self.last_connect_error = first_line(exc)
            self._connect_failed(slot)
            return
        if pg.status == pq.ConnStatus.BAD:
            self.last_connect_error = _pg_error(pg)
            pg.finish()
            self._connect_failed(slot)
            return
        pg.notice_handler = _ignore_notice
        slot.pg = pg
        slot.state = _CONNECTING
        slot.fd = pg.socket
        slot.events = _WRITE  # libpq: start as if connect_poll had said "writing"
        self.sel.register(slot.fd, _WRITE, slot)
        self._timer(time.perf_counter_ns() + int(self.connect_timeout * 1e9), slot, _T_CONNECT_TIMEOUT)

    def _connect_poll(self, slot: _Slot) -> None:
        pg = slot.pg
        status = pg.connect_poll()
        if status == _POLL_FAILED:
            self.last_connect_error = _pg_error(pg)
            self._connect_failed(slot)
            return
        fd = pg.socket
        if fd != slot.fd:  # libpq moved to another socket (the next host or address)
            self._unwatch(slot)
            slot.fd = fd
            slot.events = 0
            self.sel.register(fd, _READ, slot)
            slot.events = _READ
        if status == _POLL_OK:
            pg.nonblocking = 1
            self._watch(slot, _READ)
            slot.setup = deque(self.session_sql)
            slot.prepared = set()
            slot.state = _SETUP
            self._setup_next(slot)
        else:
            self._watch(slot, _READ if status == _POLL_READING else _WRITE)

    def _setup_next(self, slot: _Slot) -> None:
        if slot.setup:
            try:
                slot.pg.send_query(slot.setup.popleft())
                self._flush(slot)
            except psycopg.OperationalError as exc:
                self.last_connect_error = first_line(exc)
                self._connect_failed(slot)
            return
        slot.state = _IDLE
        slot.delay = BACKOFF_START_S
        slot.gen += 1  # the connect timeout no longer applies
        if self.thread.is_alive() and threading.current_thread() is self.thread:
            self._next(slot, time.perf_counter_ns())  # back after a reconnect

    def _connect_failed(self, slot: _Slot) -> None:
        self._drop(slot)
        slot.state = _BACKOFF
        if self.stopping:
            return
        self._timer(time.perf_counter_ns() + int(slot.delay * 1e9), slot, _T_RECONNECT)
        slot.delay = min(slot.delay * 2, BACKOFF_CAP_S)

    def _lost(self, slot: _Slot, exc: BaseException) -> None:
        """The connection broke: count the transaction as failed and reconnect with backoff."""
        was_in_tx = slot.in_tx
        slot.failure = None
        slot.client.in_pipeline = False
        self._drop(slot)
        slot.reconnects += 1
        slot.delay = BACKOFF_START_S
        if was_in_tx:
            slot.rec.errors.append((slot.label or "unknown", error_sqlstate(exc), first_line(exc)))
            self._finish(slot, False)
        if slot.done:
            return
        slot.state = _BACKOFF
        if not self.stopping:
            self._connect(slot)

    def _drop(self, slot: _Slot) -> None:
        slot.gen += 1
        self._unwatch(slot)
        if slot.pg is not None:
            try:
                slot.pg.finish()
            except Exception:
                pass
        slot.pg = None
        slot.fd = -1

    def _unwatch(self, slot: _Slot) -> None:
        # A connection the C loop found broken has had its socket closed by libpq, and
        # another client reconnecting meanwhile may have been given the same number:
        # only the slot that registered a descriptor may forget it.
        if slot.attached >= 0:
            if self._take(slot):
                self.fl.detach(slot.attached)
            slot.attached = -1
        if slot.events and slot.fd >= 0 and self.sel.slots.get(slot.fd) is slot:
            try:
                self.sel.unregister(slot.fd)
            except (KeyError, ValueError, OSError):
                pass
        slot.events = 0

    def _close_all(self) -> None:
        for slot in self.workers:
            self._drop(slot)
        try:
            self.sel.close()
        except Exception:
            pass


def _pg_error(pg: Any) -> str:
    message = (pg.error_message or b"").decode(errors="replace").strip()
    return redact(message.splitlines()[0] if message else "connection failed")


def _ignore_notice(res: Any) -> None:
    """Server notices (``there is no transaction in progress``) are not the client's output."""


def _split(total: int | None, parts: int) -> list[int | None]:
    if total is None:
        return [None] * parts
    base, extra = divmod(int(total), parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
