"""Worker processes: the same worker threads, spread over N client processes.

One Python process runs Python code on one core at a time (the GIL). When
the client is what limits a run, ``run.processes: N`` starts N children
(the ``spawn`` start method: no inherited threads, sockets or locks), each
building its own workload instance from the plan's class and options and
its own :class:`~stormdb_tui.engine.workers.WorkerGroup` over a contiguous slice of
the worker ids. The parent's sampler asks every child for its interval
(``IntervalPart.encode()``: HdrHistograms in their compressed wire form plus
counters) and merges the answers into one part, so the aggregator, the time
series, the TUI and the report see exactly what a single process produces.

Control travels over one pipe per child: ``start``, ``measuring``, ``swap``,
``stop``, ``close``. Children ignore SIGINT (the terminal sends it to the
whole process group): the parent decides when to stop and tells them. A child
that dies is reported (``crashed``) and makes the run fail with a message;
a child whose parent vanishes sees its pipe close and stops.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from stormdb_tui.config import RunSettings
from stormdb_tui.engine.metrics import IntervalPart
from stormdb_tui.engine.workers import WorkerGroup, _split
from stormdb_tui.errors import DatabaseError
from stormdb_tui.workload import Workload

REPLY_TIMEOUT_S = 30.0


def workload_spec(workload: Workload) -> dict[str, Any]:
    """How a child rebuilds ``workload``: its class by module (or file) and its options."""
    cls = type(workload)
    module = sys.modules.get(cls.__module__)
    origin = getattr(module, "__file__", None)
    if origin and Path(origin).name == "__init__.py":
        origin = str(Path(origin).parent)
    return {
        "module": cls.__module__,
        "qualname": cls.__qualname__,
        "origin": origin,
        "options": dict(workload.opts),
        "run": dict(workload.run_settings),
    }


def build_workload(spec: Mapping[str, Any]) -> Workload:
    """Import the class (path-loaded plugins by their file) and construct it with the same options."""
    try:
        module = importlib.import_module(spec["module"])
    except ImportError:
        if not spec.get("origin"):
            raise
        from stormdb_tui.registry import load_path_module

        module = load_path_module(Path(spec["origin"]))
    obj: Any = module
    for part in spec["qualname"].split("."):
        obj = getattr(obj, part)
    workload: Workload = obj(spec["options"], spec["run"])
    return workload


def _child_main(pipe: Connection, spec: Mapping[str, Any], alive: Any) -> None:
    """A child process: build the workload and a WorkerGroup, then obey the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if spec.get("quiet"):
        # Under the workbench the terminal belongs to the UI: a stray warning from a
        # child must not draw over it (failures still reach the parent by the pipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    try:
        workload = build_workload(spec["workload"])
        group_class: Any = WorkerGroup
        if spec.get("driver") == "multiplex":
            from stormdb_tui.engine.multiplex import MultiplexGroup

            group_class = MultiplexGroup
        group = group_class(
            workload,
            spec["conninfo"],
            spec["worker_ids"],
            spec["settings"],
            total_workers=spec["total_workers"],
            seed=spec["seed"],
            connections=spec["connections"],
        )
        group.open()
    except Exception as exc:
        pipe.send(("error", 0, f"{type(exc).__name__}: {exc}"))
        return
    pipe.send(("ready", 0, group.pool_size))
    reported = 0
    limit_s = spec["settings"].transaction_timeout
    while True:
        try:
            seq, op, arg = pipe.recv()
        except (EOFError, OSError):  # the parent is gone: stop quietly
            group.stop()
            group.join(5)
            group.close()
            return
        if op == "start":
            group.measuring = arg  # no warm-up: measured from the first transaction, as in one process
            group.start()
            alive.value = len(group.workers)
            threading.Thread(target=_count_alive, args=(group, alive), daemon=True).start()
            pipe.send(("started", seq, group.alive()))
        elif op == "measuring":
            group.measuring = arg
        elif op == "swap":
            part = group.swap(measuring=arg)
            # What the parent's sampler watches each interval, as it would in one process.
            watch = {"busy": group.busy(limit_s), "failing": group.failing()}
            pipe.send(("part", seq, part.encode(), group.fatal_errors[reported:], watch))
            reported = len(group.fatal_errors)
        elif op == "stop":
            group.stop()
            left = [] if group.join(arg) else group.abandon()  # named to the parent, then given up on
            if left:
                group.join(2.0)
            pipe.send(("stopped", seq, group.alive(), left))
        elif op == "close":
            stats = group.worker_stats(1.0)
            group.close()
            pipe.send(("closed", seq, stats, group.fatal_errors[reported:]))
            return


def _count_alive(group: WorkerGroup, alive: Any) -> None:
    """Keep the shared count of running workers current, so the parent sees the end at once."""
    for worker in group.workers:
        worker.thread.join()
        with alive.get_lock():
            alive.value -= 1


class _Child:
    def __init__(self, index: int, worker_ids: list[int], process: Any, pipe: Connection, alive: Any) -> None:
        self.index = index
        self.worker_ids = worker_ids
        self.process = process
        self.pipe = pipe
        self.alive = alive
        self.dead = False
        self.stopped = False
        self.seq = 0
        self.late_parts: list[tuple[Any, ...]] = []
        """Swap replies that arrived after their request timed out, merged into the next interval."""
        self.busy: list[tuple[int, str, float]] = []
        """The child's workers inside one call past run.transaction_timeout, as of its last interval."""
        self.failing: str | None = None

    @property
    def name(self) -> str:
        ids = self.worker_ids
        return f"worker process {self.index} (pid {self.process.pid}, workers {ids[0]}-{ids[-1]})"


@contextlib.contextmanager
def _real_stdio() -> Iterator[None]:
    """Put the process's real stdout/stderr back while children start.

    multiprocessing hands ``sys.stderr.fileno()`` to the process it starts;
    a UI that captures the standard streams replaces them with objects
    without a usable descriptor, and the start would fail.
    """
    saved = sys.stdout, sys.stderr
    try:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            try:
                usable = stream is not None and stream.fileno() >= 0
            except (AttributeError, OSError, ValueError):
                usable = False
            if not usable:
                setattr(sys, name, getattr(sys, f"__{name}__"))
        yield
    finally:
        sys.stdout, sys.stderr = saved


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Start children with SIGINT blocked, so a Ctrl-C during their start-up cannot kill them.

    A terminal sends SIGINT to the whole process group, and a spawned child
    needs a while (importing psycopg on a busy machine) before it can ignore
    it. The signal mask survives fork and exec: the child starts with SIGINT
    blocked, ignores it and only then unblocks it (a pending one is dropped).
    Here a SIGINT that arrives meanwhile stays pending and is handled when the
    mask is restored, so the user's Ctrl-C is never lost.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class ProcessGroup:
    """The :class:`WorkerGroup` interface the runner uses, over N child processes."""

    def __init__(
        self,
        workload: Workload,
        conninfo: str,
        workers: int,
        settings: RunSettings,
        *,
        processes: int,
        seed: int,
        connections: int | None = None,
        quiet: bool = False,
        driver: str = "threads",
    ) -> None:
        self.fatal_errors: list[str] = []
        self.crashed: list[str] = []
        self.abandoned: list[tuple[int, str]] = []
        """(worker id, call) the children gave up on after run.stop_grace."""
        self.stop_grace = settings.stop_grace
        self.stop_margin_s = 3.0
        """How much longer than the grace a child may take: its own abandon and join."""
        processes = max(1, min(processes, workers))
        sizes = [n for n in _split(workers, processes) if n]
        # run.connections is split over the children as the workers are; each child needs one.
        shares = [max(c or 0, 1) for c in _split(connections, len(sizes))] if connections else list(sizes)
        self.pool_size = sum(min(c, n) for c, n in zip(shares, sizes, strict=True))
        """Connections actually opened: the children's own counts once :meth:`open` returns."""
        self.reply_timeout = REPLY_TIMEOUT_S
        self.stopping = False
        self._measuring = False
        self._stats: list[dict[str, Any]] = []
        self.connect_timeout = settings.connect_timeout
        self.warmup = settings.warmup
        per_worker = _split(settings.transactions, workers)  # the same shares as in one process
        mp = multiprocessing.get_context("spawn")
        with _real_stdio():  # shared values start multiprocessing's resource tracker
            from multiprocessing import resource_tracker

            resource_tracker.ensure_running()
        self.children: list[_Child] = []
        start = 0
        for index, size in enumerate(sizes):
            ids = list(range(start, start + size))
            start += size
            child_settings = settings
            if settings.transactions is not None:
                child_settings = replace(settings, transactions=sum(per_worker[i] or 0 for i in ids))
            spec = {
                "workload": workload_spec(workload),
                "conninfo": conninfo,
                "worker_ids": ids,
                "settings": child_settings,
                "total_workers": workers,
                "seed": seed,
                "connections": None if connections is None else shares[index],
                "quiet": quiet,
                "driver": driver,
            }
            parent_end, child_end = mp.Pipe()
            alive = mp.Value("i", 0)
            proc = mp.Process(target=_child_main, args=(child_end, spec, alive), name=f"stormdb-procs-{index}", daemon=True)
            self.children.append(_Child(index, ids, proc, parent_end, alive))

    # -- lifecycle -------------------------------------------------------------

    def open(self) -> None:
        """Start the children and wait until each has opened its connections."""
        with _real_stdio(), _sigint_blocked():
            for child in self.children:
                child.process.start()
        errors = []
        opened = 0
        for child in self.children:
            reply = self._recv(child, self.connect_timeout + REPLY_TIMEOUT_S, "ready", 0)
            if reply is None:
                errors.append(f"{child.name} did not start")
            elif reply[0] == "error":
                errors.append(reply[2])
            else:
                opened += reply[2]
        if errors:
            self.close()
            raise DatabaseError(errors[0])
        self.pool_size = opened

    def start(self) -> None:
        """Start every child's workers; returns once each child has confirmed them running.

        Without the confirmation the runner could look at the children's
        running-worker counts before they were set, see zero, and end the
        run as "completed" after a fraction of a second.
        """
        asked = [(c, self._send(c, ("start", self.warmup == 0))) for c in self.children]
        for child, seq in asked:
            if seq is None:
                continue
            reply = self._recv(child, self.reply_timeout, "started", seq)
            if reply is None or reply[0] != "started":
                message = f"{child.name} did not confirm that its workers started"
                if reply is not None and reply[0] == "error":
                    message += f": {reply[2]}"
                self.fatal_errors.append(message)
                self.crashed.append(message)
                child.dead = True

    @property
    def measuring(self) -> bool:
        return self._measuring

    @measuring.setter
    def measuring(self, value: bool) -> None:
        self._measuring = value
        self._send_all(("measuring", value))

    def swap(self, measuring: bool) -> IntervalPart:
        """Ask every child for its interval and merge the answers into one part."""
        asked = [(c, self._send(c, ("swap", measuring))) for c in self.children]
        merged = IntervalPart()
        for child, seq in asked:
            if seq is None:
                continue
            reply = self._recv(child, self.reply_timeout, "part", seq)
            replies = child.late_parts + ([reply] if reply is not None and reply[0] == "part" else [])
            child.late_parts = []
            for late in replies:
                part = IntervalPart.decode(late[2])
                self.fatal_errors.extend(late[3])
                if len(late) > 4:
                    child.busy = [(int(w), str(c), float(s)) for w, c, s in late[4]["busy"]]
                    child.failing = late[4]["failing"]
                merged.merge(part)
        return merged

    def alive(self) -> int:
        """Running workers over all children; 0 once a child has died, which ends the run."""
        total = 0
        for child in self.children:
            if child.dead:
                return 0
            if not child.process.is_alive():
                self._lost(child)
                return 0
            total += child.alive.value
        return total

    def busy(self, limit_s: float) -> list[tuple[int, str, float]]:
        """The children's workers inside one call for longer than ``limit_s`` at their last interval."""
        return [entry for child in self.children if not child.dead for entry in child.busy if entry[2] > limit_s]

    def failing(self) -> str | None:
        """A child's workload exception when every live child's workers all keep failing."""
        live = [child for child in self.children if not child.dead]
        if live and all(child.failing for child in live):
            return live[0].failing
        return None

    def abandon(self) -> list[tuple[int, str]]:
        """Give up on children that did not confirm their stop in time: end them; their workers each."""
        left: list[tuple[int, str]] = []
        for child in self.children:
            if child.dead or child.stopped or child.process.pid is None:
                continue
            left.extend((wid, "a worker process that did not stop") for wid in child.worker_ids)
            child.dead = True  # ended on purpose: named as abandoned, not reported as a crash
            child.process.terminate()
        return left

    def stop(self) -> None:
        self.stopping = True
        self._send_all(("stop", self.stop_grace))

    def join(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout if timeout is not None else REPLY_TIMEOUT_S)
        for child in self.children:
            if not child.dead and not child.stopped:
                reply = self._recv(child, max(deadline - time.monotonic(), 0.1), "stopped", child.seq)
                if reply is not None and reply[0] == "stopped":
                    child.stopped = True
                    self.abandoned.extend((int(wid), str(call)) for wid, call in (reply[3] if len(reply) > 3 else ()))
        return self.alive() == 0

    def close(self) -> None:
        """Collect per-worker figures, let every child close its pool, and reap it."""
        stats: list[dict[str, Any]] = []
        # Every child closes and exits at once: one after the other, a busy machine took
        # over a second per child, which the server's window (it ends after the close) counted.
        asked = [(c, self._send(c, ("close", None))) for c in self.children if c.process.pid is not None]
        for child, seq in asked:
            if seq is not None:
                reply = self._recv(child, self.reply_timeout, "closed", seq)
                if reply is not None and reply[0] == "closed":
                    stats.extend(reply[2])
                    self.fatal_errors.extend(reply[3])
        deadline = time.monotonic() + 5
        for child, _ in asked:
            child.process.join(max(deadline - time.monotonic(), 0.1))
            if child.process.is_alive():
                child.process.terminate()
                child.process.join(2)
        self._stats = sorted(stats, key=lambda row: row["id"])

    def worker_stats(self, elapsed_s: float) -> list[dict[str, Any]]:
        """Per-worker totals (collected at close); tps over the run's measured window."""
        rows = []
        for row in self._stats:
            row = dict(row)
            row["tps"] = round(row["transactions"] / elapsed_s, 2) if elapsed_s > 0 else 0.0
            rows.append(row)
        return rows

    # -- the pipes -------------------------------------------------------------

    def _send_all(self, message: tuple[str, Any]) -> None:
        for child in self.children:
            self._send(child, message)

    def _send(self, child: _Child, message: tuple[str, Any]) -> int | None:
        """Send a request tagged with the child's next sequence number; the number, or None."""
        if child.dead:
            return None
        child.seq += 1
        try:
            child.pipe.send((child.seq, *message))
            return child.seq
        except (OSError, ValueError):
            self._lost(child)
            return None

    def _recv(self, child: _Child, timeout: float, expect: str, seq: int) -> tuple[Any, ...] | None:
        """The child's reply to request ``seq`` (or an error).

        Replies carry the number of the request they answer, so a reply that
        comes after its request timed out is never taken for the answer to a
        later one: a late interval is kept for the next swap, anything else
        stale is dropped.
        """
        if child.dead:
            return None
        deadline = time.monotonic() + timeout
        try:
            while child.pipe.poll(max(deadline - time.monotonic(), 0)):
                reply: tuple[Any, ...] = child.pipe.recv()
                if reply[0] == "error" or (reply[0] == expect and reply[1] == seq):
                    return reply
                if reply[0] == "part":
                    child.late_parts.append(reply)
        except (EOFError, OSError):
            pass
        if not child.process.is_alive() or child.pipe.closed:
            self._lost(child)
        return None

    def _lost(self, child: _Child) -> None:
        if child.dead:
            return
        child.dead = True
        child.process.join(1)
        code = child.process.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        message = f"{child.name} {how}; its workers' measurements end there"
        self.crashed.append(message)
        self.fatal_errors.append(message)
