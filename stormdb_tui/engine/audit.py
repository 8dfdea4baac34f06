"""The load generator audits itself: is the client, not the server, the limit?

Every worker process measures itself once per interval (:class:`ClientMeter`):
the CPU it used (``time.process_time``), the time its threads waited on the
kernel's run queue for a core they wanted (``/proc/self/task/*/schedstat``),
and the lag of a probe — a timer every 10 ms in the multiplexed event loop, a
sleeping thread beside threaded workers — whose lateness is how long a ready
socket or a woken worker waits for the Python interpreter. The record travels
with the interval's part; :class:`ClientTally` judges each interval and keeps
the run's totals for the report.

An interval is **client-bound** when

* the client's CPU reached 90 % of the cores it uses (processes, at most the
  cores it may run on), or
* one client process wanted a core for 90 % of the interval (CPU plus run-queue
  wait): a Python process runs its Python code on one core at a time, so such
  a process is saturated even when the machine's other work keeps it from
  getting the CPU it wants, or
* the probe's p99 lag exceeded :data:`LAG_LIMIT_MS`: transactions wait that
  long for the client before they are sent or their results are read.

The last two count only when the client's delay matters next to the
transactions' own time (the probe's median lag is at least
:data:`MATERIAL_SHARE` of the interval's median latency). On a machine the
server saturates, a client that needs little CPU still waits on the run
queue and its probe runs late; 3 ms late for 800 ms queries does not make
the client the limit. The CPU rule needs no such check: it measures the
client's own work.

Then the figures describe the client: the fix is more client processes or
more client hosts, not a faster server.
"""

from __future__ import annotations

import os
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CPU_LIMIT = 0.9
"""Share of the client's cores (or of one core for one process) that marks it saturated."""
LAG_LIMIT_MS = 20.0
"""p99 probe lag above which the client is late to serve its own connections."""
LAG_BUCKET_US = 100
"""Run-wide lag percentiles are kept in 0.1 ms buckets: compact for any run length."""
MATERIAL_SHARE = 0.1
"""Median probe lag, as a share of the median transaction latency, from which client delay counts."""
PROBE_S = 0.01
ADVICE = (
    "The client was the bottleneck: these figures describe the load generator, not the server. "
    "Run more client processes (run.processes: auto uses one per core), give the client more cores, "
    "or drive the server from more client hosts."
)


def _runqueue_wait() -> dict[str, int]:
    """Nanoseconds each thread of this process has waited for a CPU (Linux schedstat), by thread id."""
    out: dict[str, int] = {}
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", "rb") as fh:
                fields = fh.read().split()
            out[tid] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    return out


def _cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


class ClientMeter:
    """One process's CPU, run-queue wait and wall time between two readings."""

    def __init__(self) -> None:
        self.cores = _cores()
        self.pid = os.getpid()
        self.reset()

    def reset(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self._waits = _runqueue_wait()

    def take(self, lag_us: Iterable[int], driver: str, compiled: int = 0) -> dict[str, Any]:
        """The record of the interval since the last reading (plain values: it crosses process pipes).

        ``compiled``: transactions whose round trips the compiled loop ran.
        """
        wall = time.perf_counter()
        cpu = time.process_time()
        waits = _runqueue_wait()
        # A thread started since the last reading waited only within this interval.
        waited = sum(max(ns - self._waits.get(tid, 0), 0) for tid, ns in waits.items())
        record = {
            "pid": self.pid,
            "driver": driver,
            "cores": self.cores,
            "wall_s": max(wall - self._wall, 0.0),
            "cpu_s": max(cpu - self._cpu, 0.0),
            "wait_s": waited / 1e9,
            "lag_us": list(lag_us),
            "compiled": compiled,
        }
        self._wall, self._cpu, self._waits = wall, cpu, waits
        return record


class LagProbe:
    """A thread that sleeps 10 ms at a time and records how late it wakes (threaded workers' lag)."""

    def __init__(self) -> None:
        self.lag_us = array("q")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stormdb-lag-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def take(self) -> array[int]:
        lag, self.lag_us = self.lag_us, array("q")
        return lag

    def _run(self) -> None:
        perf = time.perf_counter_ns
        wait = self._stop.wait
        target = int(PROBE_S * 1e9)
        while True:
            t0 = perf()
            if wait(PROBE_S):
                return
            self.lag_us.append(max(perf() - t0 - target, 0) // 1000)


def _percentile(sorted_values: Sequence[float], p: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(int(-(-p * len(sorted_values) // 100)), 1)
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def assess(
    records: Sequence[Mapping[str, Any]], duration_s: float, latency_ms: float | None = None
) -> dict[str, Any] | None:
    """One interval's verdict from its processes' records; None when no process reported.

    ``latency_ms`` is the interval's median transaction time (service time in the
    open model; the interval's length when none finished); without it every
    delay counts.
    """
    if not records:
        return None
    wall = max(max(float(r["wall_s"]) for r in records), duration_s, 1e-9)
    cpu = sum(float(r["cpu_s"]) for r in records)
    # Processes on one host share its cores; a cluster's hosts each bring their own.
    by_host: dict[Any, list[Mapping[str, Any]]] = {}
    for r in records:
        by_host.setdefault(r.get("host"), []).append(r)
    cores = sum(max(1, min(len(rs), max(int(r.get("cores") or 1) for r in rs))) for rs in by_host.values())
    cpu_share = cpu / (wall * cores)
    busiest = max((float(r["cpu_s"]) + float(r.get("wait_s") or 0.0)) / max(float(r["wall_s"]), 1e-9) for r in records)
    lags = sorted(v for r in records for v in r.get("lag_us") or ())
    p99 = _percentile(lags, 99)
    lag_p50 = _percentile(lags, 50)
    lag_ms = {
        "p50": None if lag_p50 is None else round(lag_p50 / 1000, 3),
        "p99": None if p99 is None else round(p99 / 1000, 3),
        "max": None if not lags else round(lags[-1] / 1000, 3),
    }
    material = not latency_ms or lag_p50 is None or lag_p50 / 1000 >= MATERIAL_SHARE * latency_ms
    reasons = []
    codes = []
    if cpu_share >= CPU_LIMIT:
        codes.append("cpu")
        reasons.append(f"client CPU at {cpu_share:.0%} of {cores} core{'s' if cores > 1 else ''}")
    if busiest >= CPU_LIMIT and material:
        codes.append("process")
        if busiest <= 1.0:
            reasons.append(f"a client process wanted a core {busiest:.0%} of the time")
        else:  # its threads queued for the CPU at once: more than one core's worth of wanting
            reasons.append(f"a client process's threads wanted {busiest:.1f} cores (CPU plus run-queue wait)")
    if p99 is not None and p99 / 1000 > LAG_LIMIT_MS and material:
        codes.append("lag")
        reasons.append(f"client lag p99 {p99 / 1000:.1f} ms")
    return {
        "processes": len(records),
        "cores": cores,
        "cpu_s": round(cpu, 4),
        "cpu_share": round(cpu_share, 3),
        "busiest_process": round(busiest, 3),
        "lag_ms": lag_ms,
        "bound": bool(reasons),
        "reasons": reasons,
        "codes": codes,
        "_lags": lags,
    }


class ClientTally:
    """The run's client figures over its measured intervals (used by the aggregator only)."""

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.intervals = 0
        self.bound_intervals = 0
        self.lag_buckets: Counter[int] = Counter()
        self.reasons: Counter[str] = Counter()
        self.processes = 0
        self.cores = 0
        self.drivers: set[str] = set()
        self.compiled = 0

    def add(
        self, records: Sequence[Mapping[str, Any]], duration_s: float, latency_ms: float | None = None
    ) -> dict[str, Any] | None:
        verdict = assess(records, duration_s, latency_ms)
        if verdict is None:
            return None
        lags = verdict.pop("_lags")
        self.cpu_s += verdict["cpu_s"]
        self.intervals += 1
        self.processes = max(self.processes, verdict["processes"])
        self.cores = max(self.cores, verdict["cores"])
        self.drivers.update(str(r.get("driver")) for r in records if r.get("driver"))
        self.compiled += sum(int(r.get("compiled") or 0) for r in records)
        if verdict["bound"]:
            self.bound_intervals += 1
            self.reasons.update(verdict["codes"])
        self.lag_buckets.update(v // LAG_BUCKET_US for v in lags)
        return verdict

    def lag_percentiles(self) -> dict[str, float | None]:
        total = sum(self.lag_buckets.values())
        out: dict[str, float | None] = {"p50": None, "p90": None, "p99": None, "max": None}
        if not total:
            return out
        ordered = sorted(self.lag_buckets.items())
        for key, p in (("p50", 50.0), ("p90", 90.0), ("p99", 99.0)):
            rank = max(int(-(-p * total // 100)), 1)
            seen = 0
            for bucket, count in ordered:
                seen += count
                if seen >= rank:
                    out[key] = round((bucket + 1) * LAG_BUCKET_US / 1000, 1)
                    break
        out["max"] = round((ordered[-1][0] + 1) * LAG_BUCKET_US / 1000, 1)
        return out

    def summary(self, transactions: int) -> dict[str, Any] | None:
        """The report's ``client`` section; None when no interval carried client figures."""
        if not self.intervals:
            return None
        share = self.bound_intervals / self.intervals
        return {
            "driver": ",".join(sorted(self.drivers)) or None,
            "processes": self.processes,
            "cores": self.cores,
            "cpu_s": round(self.cpu_s, 3),
            "cpu_per_tx_us": round(self.cpu_s * 1e6 / transactions, 2) if transactions else None,
            "compiled_share": round(min(self.compiled / transactions, 1.0), 3) if transactions else None,
            "saturated_share": round(share, 3),
            "saturated_intervals": self.bound_intervals,
            "intervals": self.intervals,
            "lag_ms": self.lag_percentiles(),
            "limits": {"cpu_share": CPU_LIMIT, "lag_p99_ms": LAG_LIMIT_MS},
            "client_bound": share >= 0.5,
            "reasons": dict(self.reasons),
            "advice": ADVICE if share >= 0.5 else None,
        }
