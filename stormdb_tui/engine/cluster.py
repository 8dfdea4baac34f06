"""Client processes on a Ray cluster: the worker groups of a local run, as actors spread over its nodes.

``run.cluster: ADDRESS`` replaces the local child processes of
:mod:`~stormdb_tui.engine.processes` with Ray actors. Each actor is what a
child process is: a :class:`~stormdb_tui.engine.processes.GroupHost` running
the same worker group over a contiguous slice of the worker ids, answering
the same ``start``/``measuring``/``swap``/``stop``/``close`` requests. An
actor call's result reference plays the part of the pipe's sequence number:
a swap reply that misses its interval stays pending and is merged into the
next one, never taken for another request's answer.

The driver (this process: headless or the workbench) loads the data,
monitors the server and owns the clock. Every interval it asks all actors
for their interval at once and merges the encoded HdrHistograms exactly,
so intervals are aligned on the driver's clock (each actor swaps when the
request reaches it, half a round trip after the tick) and the time series,
report and journal are those of a single-host run. Per host it keeps the
same figures again (transactions, errors, a latency histogram, the client's
own CPU and whether it was the limit) for the report's ``cluster`` section.

Each actor's clock offset against the driver is measured at start (the
least-delayed of a few calls); above :data:`CLOCK_SKEW_WARN_MS` it is a
warning. An actor or node lost mid-run is reported with everything up to
its last interval kept; the run goes on with the others, or fails with
``run.on_host_loss: fail``. Stopping the run (Ctrl-C included) stops and
then kills every actor; actors also die with the driver, which owns them.

Ray is imported only here and only when a cluster run starts: nothing else
in the program needs it installed.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any

from stormdb_tui.config import RunSettings
from stormdb_tui.db import first_line
from stormdb_tui.engine.audit import ClientTally
from stormdb_tui.engine.metrics import CONNECTION_LABEL, IntervalPart, latency_summary, new_histogram
from stormdb_tui.engine.multiplex import auto_processes, client_cores
from stormdb_tui.engine.processes import REPLY_TIMEOUT_S, GroupHost, child_specs
from stormdb_tui.engine.workers import _split
from stormdb_tui.errors import ConfigError, DatabaseError
from stormdb_tui.workload import Workload

INSTALL_HINT = 'install it with: pip install "stormdb-tui[cluster]"'
CLOCK_SKEW_WARN_MS = 50.0
"""An actor's clock this far from the driver's is a warning (NTP keeps hosts within a few ms)."""
CLOCK_ROUNDS = 5
PLACEMENT_TIMEOUT_S = 60.0
"""How long actors may wait for a node to place them, on top of run.connect_timeout."""
COLLECT_KEYS = ("p50", "p99", "max")


def require_ray() -> Any:
    """The ``ray`` module, or a usage error (exit 2) saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("a cluster run needs Ray, which is not installed", path="run.cluster",
                          hint=INSTALL_HINT) from None
    return ray


# -- the actor ----------------------------------------------------------------------


def _node_info() -> dict[str, Any]:
    import ray

    api: Any = ray  # Ray's annotations are partial
    return {
        "node_id": api.get_runtime_context().get_node_id(),
        "hostname": socket.gethostname(),
        "ip": api.util.get_node_ip_address(),
        "pid": os.getpid(),
        "cores": client_cores(),
    }


class ClusterMember:
    """One client process on a cluster node (made a Ray actor by :class:`ClusterGroup`)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._spec = spec
        self._host: GroupHost | None = None
        self._node = ""

    def open(self) -> tuple[Any, ...]:
        info = _node_info()
        self._node = info["node_id"]
        try:
            self._host = GroupHost(self._spec)
        except Exception as exc:
            return ("error", f"{type(exc).__name__}: {exc}", info)
        return ("ready", self._host.group.pool_size, info)

    def clock(self) -> float:
        return time.time()

    def call(self, op: str, arg: Any) -> tuple[Any, ...] | None:
        assert self._host is not None
        reply = self._host.handle(op, arg)
        if op == "swap" and reply is not None:
            # The driver judges each host's client on its own cores (engine.audit).
            for record in reply[1].get("client") or ():
                record["host"] = self._node
        return reply

    def wait_ended(self) -> bool:
        """Returns once this actor's workers have all finished (runs beside the control calls)."""
        assert self._host is not None
        self._host.ended.wait()
        return True


# -- the driver's side ---------------------------------------------------------------


@dataclass
class _Host:
    """One node's share of the run, as the report's per-host breakdown shows it."""

    node_id: str
    ip: str
    hostname: str
    cores: int
    name: str = ""
    actors: list[int] = field(default_factory=list)
    workers: int = 0
    transactions: int = 0
    errors: int = 0
    hist: Any = field(default_factory=new_histogram)
    client: ClientTally = field(default_factory=ClientTally)
    records: list[dict[str, Any]] = field(default_factory=list)
    interval_tx: int = 0
    series: list[int] = field(default_factory=list)
    """Transactions per measured interval, aligned with the report's intervals."""


@dataclass
class _Member:
    index: int
    worker_ids: list[int]
    actor: Any
    node_id: str
    host: _Host | None = None
    pid: int | None = None
    clock_offset_ms: float | None = None
    rtt_ms: float | None = None
    pending: list[Any] = field(default_factory=list)
    """Swap replies not yet received: merged into the interval in which they arrive."""
    done: Any = None
    ended: bool = False
    stop_ref: Any = None
    stopped: bool = False
    lost: dict[str, Any] | None = None
    abandoned: bool = False
    """Did not confirm its stop within the grace and was ended on purpose (not a loss)."""
    busy: list[tuple[int, str, float]] = field(default_factory=list)
    """Its workers inside one call past run.transaction_timeout, as of its last interval."""
    failing: str | None = None

    @property
    def name(self) -> str:
        ids = self.worker_ids
        where = self.host.name if self.host is not None and self.host.name else f"node {self.node_id[:8]}"
        return f"cluster actor {self.index} on {where} (workers {ids[0]}-{ids[-1]})"


class ClusterGroup:
    """The :class:`~stormdb_tui.engine.workers.WorkerGroup` interface the runner uses, over Ray actors."""

    def __init__(
        self,
        workload: Workload,
        conninfo: str,
        workers: int,
        settings: RunSettings,
        *,
        seed: int,
        connections: int | None = None,
        driver: str = "threads",
        events: MutableSequence[dict[str, Any]] | None = None,
        notes: MutableSequence[str] | None = None,
        origin: Any = None,
    ) -> None:
        self.workload = workload
        self.conninfo = conninfo
        self.workers = workers
        self.settings = settings
        self.seed = seed
        self.connections = connections
        self.driver = driver
        self.address = str(settings.cluster)
        self.on_host_loss = settings.on_host_loss
        self.per_node = settings.cluster_processes == "per_node"
        self.events = events if events is not None else []
        self.notes = notes if notes is not None else []
        self._origin = origin
        """Returns the measured start (``time.monotonic()``) once there is one: lost actors are placed on it."""
        self.fatal_errors: list[str] = []
        self.crashed: list[str] = []
        self.abandoned: list[tuple[int, str]] = []
        self.warnings: list[str] = []
        self.stop_grace = settings.stop_grace
        self.stop_margin_s = 3.0
        """How much longer than the grace an actor may take: its own abandon and join, and the call."""
        self.reply_timeout = REPLY_TIMEOUT_S
        self.connect_timeout = settings.connect_timeout
        self.warmup = settings.warmup
        self.pool_size = min(connections or workers, workers)
        self.processes = 0
        self.stopping = False
        self._measuring = False
        self._stats: list[dict[str, Any]] = []
        self.members: list[_Member] = []
        self.hosts: dict[str, _Host] = {}
        self.collect_ms: list[float] = []
        """Wall time of each interval's collection: the actors' own swap, the round trip and the merge."""
        self.collect_cpu_ms: list[float] = []
        """The driver's own CPU time for each interval's collection (requests, decoding, merging)."""
        self._last_swap = time.monotonic()
        self._ray: Any = None
        self._owns_ray = False
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    def open(self) -> None:
        """Connect to the cluster, place the actors, and wait until each has opened its connections."""
        ray = self._ray = require_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, namespace="stormdb-tui", log_to_driver=False,
                         logging_level=logging.ERROR)
            except Exception as exc:
                raise DatabaseError(f"could not connect to the Ray cluster at {self.address}: "
                                    f"{type(exc).__name__}: {first_line(exc)}") from None
            self._owns_ray = True
        try:
            self._place(ray)
        except BaseException:
            self.close()
            raise

    def _place(self, ray: Any) -> None:
        nodes = self._nodes(ray)
        counts = self._actor_counts(nodes)
        # Node by node in turn, so that fewer workers than processes still spread over the nodes.
        placement = [node for r in range(max(counts, default=0)) for node, n in zip(nodes, counts, strict=True) if n > r]
        sizes = [n for n in _split(self.workers, len(placement)) if n]
        placement = placement[: len(sizes)]
        self.processes = len(placement)
        specs, self.pool_size = child_specs(self.workload, self.conninfo, self.workers, self.settings, sizes, seed=self.seed,
                                            connections=self.connections, quiet=True, driver=self.driver)
        self._warn_local_target(nodes)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # One CPU per client process, as on one host; the watch call runs beside the control calls,
        # which keep their order in the default group.
        remote = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0,
                            concurrency_groups={"watch": 1})(ClusterMember)
        for index, (node, spec) in enumerate(zip(placement, specs, strict=True)):
            actor = remote.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
            ).remote(spec)
            self.members.append(_Member(index, spec["worker_ids"], actor, node["NodeID"]))
        asked = [(m, m.actor.open.remote()) for m in self.members]
        ready, _ = ray.wait([ref for _, ref in asked], num_returns=len(asked),
                            timeout=self.connect_timeout + PLACEMENT_TIMEOUT_S + REPLY_TIMEOUT_S)
        ready_set = set(ready)
        errors = []
        opened = 0
        for member, ref in asked:
            if ref not in ready_set:
                errors.append(f"{member.name} did not start (no node could place it, or it could not connect)")
                continue
            try:
                reply = ray.get(ref)
            except Exception as exc:
                errors.append(f"{member.name} failed to start: {first_line(exc)}")
                continue
            self._register(member, reply[2])
            if reply[0] == "error":
                errors.append(f"{member.name}: {reply[1]}")
            else:
                opened += reply[1]
        if errors:
            raise DatabaseError(errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
        self.pool_size = opened
        self._name_hosts()
        for member in self.members:
            self._measure_clock(ray, member)

    def _nodes(self, ray: Any) -> list[dict[str, Any]]:
        """The live nodes that can run a client process (at least one CPU), in a stable order."""
        nodes = [n for n in ray.nodes() if n.get("Alive") and float((n.get("Resources") or {}).get("CPU", 0)) >= 1]
        if not nodes:
            raise DatabaseError(f"the Ray cluster at {self.address} has no live node with a CPU for a client process")
        return sorted(nodes, key=lambda n: (n.get("NodeManagerAddress", ""), n["NodeID"]))

    def _actor_counts(self, nodes: Sequence[Mapping[str, Any]]) -> list[int]:
        """How many actors each node runs: run.processes in total, or on each node; auto as on one host."""
        cpus = [int(float(n["Resources"]["CPU"])) for n in nodes]
        value = self.settings.processes
        if value in (None, "auto"):
            counts = [auto_processes(self.workers, self.driver, c) for c in cpus]
        elif self.per_node:
            counts = [int(value)] * len(nodes)
        else:
            counts = [0] * len(nodes)
            for _ in range(int(value)):  # one at a time to the node with the most free CPUs left
                best = max(range(len(nodes)), key=lambda i: (cpus[i] - counts[i], -counts[i]))
                counts[best] += 1
        over = [(n, c, k) for n, c, k in zip(nodes, cpus, counts, strict=True) if k > c]
        if over:
            node, c, k = over[0]
            raise DatabaseError(
                f"run.processes: {sum(counts)} client processes do not fit the cluster at {self.address}: node "
                f"{node.get('NodeManagerAddress')} has {c} CPU{'s' if c != 1 else ''} for {k} "
                f"(the nodes have {sum(cpus)} in all)"
            )
        total = sum(counts)
        if total > self.workers:
            # More processes than workers: the first ones get one worker each, the rest none.
            self.notes.append(f"{total} client processes asked for on the cluster, but only {self.workers} workers: "
                              f"{self.workers} processes run")
        return counts

    def _register(self, member: _Member, info: Mapping[str, Any]) -> None:
        member.pid = info.get("pid")
        node_id = str(info.get("node_id") or member.node_id)
        host = self.hosts.get(node_id)
        if host is None:
            host = self.hosts[node_id] = _Host(node_id, str(info.get("ip") or ""), str(info.get("hostname") or ""),
                                               int(info.get("cores") or 1))
        host.actors.append(member.index)
        host.workers += len(member.worker_ids)
        member.host = host

    def _name_hosts(self) -> None:
        """Hosts by name and address; nodes that share both (one machine) by their node id too."""
        labels: dict[str, list[_Host]] = {}
        for host in self.hosts.values():
            labels.setdefault(f"{host.hostname} ({host.ip})", []).append(host)
        for label, hosts in labels.items():
            for host in hosts:
                host.name = label if len(hosts) == 1 else f"{label} node {host.node_id[:8]}"

    def _measure_clock(self, ray: Any, member: _Member) -> None:
        """The actor's clock against the driver's: the least-delayed of a few round trips."""
        best: tuple[float, float] | None = None
        for _ in range(CLOCK_ROUNDS):
            t0 = time.time()
            remote = ray.get(member.actor.clock.remote(), timeout=self.reply_timeout)
            t1 = time.time()
            rtt = t1 - t0
            if best is None or rtt < best[0]:
                best = (rtt, remote - (t0 + t1) / 2)
        assert best is not None
        member.rtt_ms = round(best[0] * 1000, 3)
        member.clock_offset_ms = round(best[1] * 1000, 3)
        if abs(member.clock_offset_ms) > CLOCK_SKEW_WARN_MS:
            self.warnings.append(
                f"the clock of {member.name} is {member.clock_offset_ms:+.0f} ms off the driver's (more than "
                f"{CLOCK_SKEW_WARN_MS:g} ms): intervals follow the driver's clock, but check the hosts' time sync"
            )

    def _warn_local_target(self, nodes: Sequence[Mapping[str, Any]]) -> None:
        """A socket or loopback target reaches only the driver's machine, not other nodes."""
        from psycopg.conninfo import conninfo_to_dict

        try:
            host = str(conninfo_to_dict(self.conninfo).get("host") or os.environ.get("PGHOST") or "")
        except Exception:
            return
        local = not host or host.startswith("/") or host in ("localhost", "127.0.0.1", "::1")
        if not local:
            return
        here = {_local_ip(self._ray)}
        elsewhere = sorted({str(n.get("NodeManagerAddress")) for n in nodes} - here)
        if elsewhere:
            self.warnings.append(
                f"the target ({host or 'the default socket'}) is local to this machine, but client processes run on "
                f"{', '.join(elsewhere)}: give a TCP address every node can reach (--dsn host=...)"
            )

    def start(self) -> None:
        """Start every actor's workers; returns once each has confirmed them running."""
        ray = self._ray
        if self._closed:
            return
        asked = [(m, m.actor.call.remote("start", self.warmup == 0)) for m in self._live()]
        ready, _ = ray.wait([ref for _, ref in asked], num_returns=len(asked), timeout=self.reply_timeout)
        ready_set = set(ready)
        for member, ref in asked:
            try:
                if ref not in ready_set:
                    raise TimeoutError("no answer")
                ray.get(ref)
            except Exception as exc:
                message = f"{member.name} did not confirm that its workers started: {first_line(exc)}"
                self.fatal_errors.append(message)
                self.crashed.append(message)
                member.lost = {"reason": message, "at_s": None}
                continue
            member.done = member.actor.wait_ended.options(concurrency_group="watch").remote()
        self._last_swap = time.monotonic()

    @property
    def measuring(self) -> bool:
        return self._measuring

    @measuring.setter
    def measuring(self, value: bool) -> None:
        self._measuring = value
        if self._closed or not self.members:
            return
        asked = [(m, m.actor.call.remote("measuring", value)) for m in self._live()]
        self._ray.wait([ref for _, ref in asked], num_returns=len(asked), timeout=self.reply_timeout)

    def swap(self, measuring: bool) -> IntervalPart:
        """Ask every actor for its interval at once and merge the answers (and any late ones) into one part."""
        ray = self._ray
        t0 = time.monotonic()
        cpu0 = time.thread_time()
        duration = t0 - self._last_swap
        self._last_swap = t0
        merged = IntervalPart()
        if self._closed:  # never started: nothing to collect
            return merged
        live = self._live()
        for member in live:
            member.pending.append(member.actor.call.remote("swap", measuring))
        refs = [ref for m in live for ref in m.pending]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=self.reply_timeout) if refs else ([], [])
        ready_set = set(ready)
        replies = self._replies(ray, ready)
        for member in live:
            arrived = [ref for ref in member.pending if ref in ready_set]
            member.pending = [ref for ref in member.pending if ref not in ready_set]
            for ref in arrived:
                reply = replies[ref]
                if isinstance(reply, BaseException):
                    self._lose(member, reply)
                    break
                part = IntervalPart.decode(reply[1])
                self.fatal_errors.extend(reply[2])
                if len(reply) > 3:
                    member.busy = [(int(w), str(c), float(t)) for w, c, t in reply[3]["busy"]]
                    member.failing = reply[3]["failing"]
                if measuring and member.host is not None:
                    self._tally(member.host, part)  # before the merge, which may take over its histograms
                merged.merge(part)
        if measuring:
            for host in self.hosts.values():
                host.client.add(host.records, duration)
                host.records = []
                host.series.append(host.interval_tx)
                host.interval_tx = 0
        self.collect_ms.append((time.monotonic() - t0) * 1000)
        self.collect_cpu_ms.append((time.thread_time() - cpu0) * 1000)
        return merged

    @staticmethod
    def _replies(ray: Any, refs: Sequence[Any]) -> dict[Any, Any]:
        """Each ref's value, or the exception its actor's failure raised.

        One ``ray.get`` for all of them: a call per reply cost the driver about
        0.4 ms each on a busy machine. Only when one failed are they fetched one by one.
        """
        try:
            return dict(zip(refs, ray.get(list(refs)), strict=True))
        except Exception:
            out: dict[Any, Any] = {}
            for ref in refs:
                try:
                    out[ref] = ray.get(ref)
                except Exception as exc:
                    out[ref] = exc
            return out

    def _tally(self, host: _Host, part: IntervalPart) -> None:
        count = 0
        for hist in part.hists.values():
            count += hist.get_total_count()
            host.hist.add(hist)
        host.transactions += count
        host.interval_tx += count
        host.errors += sum(k.count for k in part.errors.values() if k.label != CONNECTION_LABEL)
        host.records.extend(part.client)

    def alive(self) -> int:
        """Running workers over the actors still there; 0 ends the run (also when a loss must fail it)."""
        self._poll()
        if self.on_host_loss == "fail" and any(m.lost for m in self.members):
            return 0
        return sum(len(m.worker_ids) for m in self._live() if not m.ended)

    def _poll(self) -> None:
        """Which actors' workers have ended, and which actors have died (their watch call fails at once)."""
        ray = self._ray
        watching = [m for m in self._live() if m.done is not None and not m.ended]
        if self._closed or not watching:
            return
        ready, _ = ray.wait([m.done for m in watching], num_returns=len(watching), timeout=0)
        ready_set = set(ready)
        for member in watching:
            if member.done in ready_set:
                try:
                    ray.get(member.done)
                    member.ended = True
                except Exception as exc:
                    self._lose(member, exc)

    def _lose(self, member: _Member, exc: BaseException) -> None:
        if member.lost is not None:
            return
        origin = self._origin() if callable(self._origin) else None
        at_s = round(time.monotonic() - origin, 1) if origin is not None else None
        why = type(exc).__name__
        detail = first_line(exc)
        if "node" in detail.lower() and ("died" in detail.lower() or "dead" in detail.lower()):
            why += ": its node died"
        when = f" at t = {at_s:.1f} s" if at_s is not None else ""
        message = (f"{member.name} was lost{when} ({why}); its measurements up to its last interval are kept, "
                   "what it did after that is not counted")
        member.lost = {"at_s": at_s, "reason": why}
        member.pending = []
        self.events.append({"t_s": at_s, "type": "host_lost", "detail": f"lost {member.name}"})
        if self.on_host_loss == "fail":
            message += " (run.on_host_loss: fail)"
            self.crashed.append(message)
            self.fatal_errors.append(message)
        else:
            self.notes.append(message)
            if not self._live():
                self.crashed.append("every client actor of the cluster was lost")

    def busy(self, limit_s: float) -> list[tuple[int, str, float]]:
        """The actors' workers inside one call for longer than ``limit_s`` at their last interval."""
        return [entry for m in self._live() for entry in m.busy if entry[2] > limit_s]

    def failing(self) -> str | None:
        """An actor's workload exception when every live actor's workers all keep failing."""
        live = self._live()
        if live and all(m.failing for m in live):
            return live[0].failing
        return None

    def abandon(self) -> list[tuple[int, str]]:
        """Give up on actors that did not confirm their stop in time: end them; their workers each."""
        left: list[tuple[int, str]] = []
        for member in self._live():
            if member.stopped or member.host is None:
                continue
            left.extend((wid, "a cluster actor that did not stop") for wid in member.worker_ids)
            member.abandoned = True
            try:
                self._ray.kill(member.actor, no_restart=True)
            except Exception:
                pass
        return left

    def stop(self) -> None:
        self.stopping = True
        if self._closed:
            return
        for member in self._live():
            try:
                member.stop_ref = member.actor.call.remote("stop", self.stop_grace)
            except Exception as exc:
                self._lose(member, exc)

    def join(self, timeout: float | None = None) -> bool:
        ray = self._ray
        deadline = time.monotonic() + (timeout if timeout is not None else REPLY_TIMEOUT_S)
        waiting = [m for m in self._live() if m.stop_ref is not None and not m.stopped]
        if waiting and not self._closed:
            ready, _ = ray.wait([m.stop_ref for m in waiting], num_returns=len(waiting),
                                timeout=max(deadline - time.monotonic(), 0.1))
            ready_set = set(ready)
            for member in waiting:
                if member.stop_ref not in ready_set:
                    continue
                try:
                    reply = ray.get(member.stop_ref)
                except Exception as exc:
                    self._lose(member, exc)
                    continue
                member.stopped = True
                self.abandoned.extend((int(wid), str(call)) for wid, call in reply[2])
        return self._closed or all(m.stopped for m in self._live())

    def close(self) -> None:
        """Collect per-worker figures, let every actor close its pool, then end the actors."""
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        if ray is None:
            return
        live = [m for m in self._live() if m.host is not None]
        asked = []
        for member in live:
            try:
                asked.append((member, member.actor.call.remote("close", None)))
            except Exception as exc:
                self._lose(member, exc)
        stats: list[dict[str, Any]] = []
        if asked:
            ready, _ = ray.wait([ref for _, ref in asked], num_returns=len(asked), timeout=self.reply_timeout)
            ready_set = set(ready)
            for member, ref in asked:
                if ref not in ready_set:
                    continue
                try:
                    reply = ray.get(ref)
                except Exception as exc:
                    self._lose(member, exc)
                    continue
                stats.extend(reply[1])
                self.fatal_errors.extend(reply[2])
        for member in self.members:
            try:
                ray.kill(member.actor, no_restart=True)
            except Exception:
                pass
        self._stats = sorted(stats, key=lambda row: row["id"])
        if self._owns_ray:
            ray.shutdown()

    def worker_stats(self, elapsed_s: float) -> list[dict[str, Any]]:
        rows = []
        for row in self._stats:
            row = dict(row)
            row["tps"] = round(row["transactions"] / elapsed_s, 2) if elapsed_s > 0 else 0.0
            rows.append(row)
        return rows

    def _live(self) -> list[_Member]:
        return [m for m in self.members if m.lost is None and not m.abandoned]

    # -- the report ------------------------------------------------------------------

    def cluster_report(self, elapsed_s: float) -> dict[str, Any]:
        """The report's ``cluster`` section: every host's own figures, the actors, the collection cost."""
        hosts = []
        for host in sorted(self.hosts.values(), key=lambda h: h.name):
            members = [m for m in self.members if m.host is host]
            client = host.client.summary(host.transactions) or {}
            offsets = [m.clock_offset_ms for m in members if m.clock_offset_ms is not None]
            hosts.append({
                "name": host.name,
                "hostname": host.hostname,
                "ip": host.ip,
                "node_id": host.node_id,
                "cores": host.cores,
                "actors": len(host.actors),
                "workers": host.workers,
                "transactions": host.transactions,
                "tps": round(host.transactions / elapsed_s, 3) if elapsed_s > 0 else 0.0,
                "errors": host.errors,
                "latency_ms": latency_summary(host.hist) if host.hist.get_total_count() else None,
                "latency_hist": host.hist.encode().decode("ascii") if host.hist.get_total_count() else None,
                "client_cpu_s": client.get("cpu_s"),
                "client_cpu_per_tx_us": client.get("cpu_per_tx_us"),
                "client_saturated_intervals": client.get("saturated_intervals"),
                "client_bound": bool(client.get("client_bound")),
                "client_reasons": client.get("reasons") or {},
                "clock_offset_ms": max(offsets, key=abs) if offsets else None,
                "lost": [m.lost | {"actor": m.index} for m in members if m.lost is not None],
                "interval_transactions": list(host.series),
            })
        collect = sorted(self.collect_ms)
        collect_cpu = sorted(self.collect_cpu_ms)
        return {
            "address": self.address,
            "ray_version": getattr(self._ray, "__version__", None),
            "on_host_loss": self.on_host_loss,
            "processes_per": "node" if self.per_node else "total",
            "nodes": len(self.hosts),
            "actors": [
                {"index": m.index, "host": m.host.name if m.host is not None else m.node_id,
                 "workers": [m.worker_ids[0], m.worker_ids[-1]], "pid": m.pid,
                 "clock_offset_ms": m.clock_offset_ms, "rtt_ms": m.rtt_ms, "lost": m.lost}
                for m in self.members
            ],
            "hosts": hosts,
            "clock_skew_limit_ms": CLOCK_SKEW_WARN_MS,
            "collect_ms": {
                "intervals": len(collect),
                **{k: round(_rank(collect, p), 3) if collect else None for k, p in zip(COLLECT_KEYS, (50, 99, 100),
                                                                                      strict=True)},
            },
            "collect_cpu_ms": {k: round(_rank(collect_cpu, p), 3) if collect_cpu else None
                               for k, p in zip(COLLECT_KEYS, (50, 99, 100), strict=True)},
            "warnings": list(self.warnings),
        }


def _rank(values: Sequence[float], p: float) -> float:
    index = min(max(int(-(-p * len(values) // 100)), 1), len(values)) - 1
    return values[index]


def _local_ip(ray: Any) -> str:
    try:
        return str(ray.util.get_node_ip_address())
    except Exception:
        return ""

