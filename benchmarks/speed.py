"""The speed comparison's rules: pgbench at its best, a quiet machine, enough alternating pairs.

* pgbench runs with ``-j`` equal to the cores the client may use: its best
  setting, so a ratio is against pgbench as a user would tune it.
* Before each (pgbench, ours) pair the harness sits idle for a moment and
  measures how much CPU the rest of the machine uses meanwhile (from
  ``/proc/stat``): that is load from others, which the comparison cannot
  control. The 1-minute load average is logged too, but it cannot decide:
  on a 2-core machine the harness's own previous run (8 clients and their
  8 server backends) keeps it above the core count for a minute or more,
  so every pair would look busy. A pair that started while others used
  more than :data:`QUIET_CORES` cores (after waiting up to
  :data:`QUIET_WAIT_S` for them to settle) ran on a busy machine; a case's
  ratio is computed from quiet pairs only and refused (``None``, with the
  reason) when fewer than :data:`MIN_PAIRS` of them remain.
* The goal matrix: select-only, simple-update and tpcb-like at 1, 8 and 32
  clients, a custom script with ``random_zipfian`` and ``\\gset``, the open
  model at half of pgbench's measured capacity (latency against ``pgbench
  -R``), and the ``processes: auto`` check (ours at 1 … cores + 1 processes).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

MIN_PAIRS = 5
GOAL_SCRIPTS = ("select-only", "simple-update", "tpcb-like")
GOAL_CLIENTS = (1, 8, 32)
ZIPF_CASE = "zipf-gset"
ZIPF_SCRIPT = """\
-- A skewed read with \\gset, then a write that uses the value read: hot rows, client-side logic.
\\set aid random_zipfian(1, 100000 * {scale}, 1.1)
\\set delta random(-5000, 5000)
SELECT abalance AS bal FROM pgbench_accounts WHERE aid = :aid \\gset
\\set newbal :bal + :delta
UPDATE pgbench_accounts SET abalance = :newbal WHERE aid = :aid;
"""
OPEN_SHARE = 0.5
OPEN_CLIENTS = 8
OPEN_GOALS = {"mean": 0.15, "p99": 0.50}
"""Open model: ours' mean latency within 15 % of pgbench -R's, p99 within 50 %."""


def client_cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


QUIET_CORES = 0.25
"""Others may use at most a quarter of one core while a pair starts."""
QUIET_WINDOW_S = 2.0
QUIET_WAIT_S = 30.0


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from the first line of /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def outside_load(window_s: float = QUIET_WINDOW_S, sleep: Callable[[float], None] = time.sleep) -> float | None:
    """Cores' worth of CPU the machine used over ``window_s`` while the harness ran nothing."""
    before = _cpu_times()
    sleep(window_s)
    after = _cpu_times()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1)


def settled_load(wait_s: float = QUIET_WAIT_S, measure: Callable[[], float | None] = outside_load) -> float | None:
    """Others' load once it is quiet, or the last reading after ``wait_s`` (a checkpoint or an
    autovacuum that our previous run caused is given time to finish)."""
    deadline = time.monotonic() + wait_s
    while True:
        value = measure()
        if value is None or value <= QUIET_CORES or time.monotonic() >= deadline:
            return value
        time.sleep(1.0)


def busy(load: float | None, cores: int) -> bool:
    """Others using more than :data:`QUIET_CORES` of the machine leave it too busy to compare on."""
    return load is not None and load > QUIET_CORES


def zipf_script(scale: int) -> str:
    return ZIPF_SCRIPT.format(scale=scale)


def goal_cases() -> list[tuple[str, int]]:
    return [(s, c) for s in GOAL_SCRIPTS for c in GOAL_CLIENTS] + [(ZIPF_CASE, 8)]


def pairs(
    runs: int,
    first: Callable[[], Any],
    second: Callable[[], Any],
    what: str,
    *,
    cores: int,
    load: Callable[[], float | None] = settled_load,
    log: Callable[[str], None] = print,
    load_avg: Callable[[], float | None] = load_average,
) -> list[dict[str, Any]]:
    """A B, A B …, others' load measured and logged before each pair; a failed run leaves None."""
    out: list[dict[str, Any]] = []
    for i in range(runs):
        before = load()
        avg = load_avg()
        quiet = not busy(before, cores)
        shown = f"{before:.2f}" if before is not None else "?"
        log(f"  pair {i + 1}/{runs}: others use {shown} of {cores} cores"
            + (f" (load average {avg:.2f}, our previous run included)" if avg is not None else "")
            + ("" if quiet else " — BUSY, this pair will not count"))
        pair: dict[str, Any] = {"load": before, "load_average": avg, "quiet": quiet, "a": None, "b": None}
        for key, fn in (("a", first), ("b", second)):
            try:
                pair[key] = fn()
            except Exception as exc:  # one failed run must not lose the others
                log(f"  {what} pair {i + 1}: {type(exc).__name__}: {exc}")
        out.append(pair)
    return out


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def compare(
    pair_list: Sequence[dict[str, Any]], keys: Sequence[str], *, cores: int, min_pairs: int = MIN_PAIRS,
    allow_busy: bool = False,
) -> dict[str, Any]:
    """Medians of each side over the quiet, complete pairs; ratios ours/pgbench or a refusal.

    ``allow_busy`` counts busy pairs too (an indicative run on a shared
    machine): the row then says how many of its pairs were busy.
    """
    complete = [p for p in pair_list if p["a"] is not None and p["b"] is not None]
    good = complete if allow_busy else [p for p in complete if p["quiet"]]
    loads = [p["load"] for p in pair_list if p["load"] is not None]
    out: dict[str, Any] = {
        "pairs": len(pair_list),
        "quiet_pairs": len(good),
        "load_max": max(loads) if loads else None,
        "cores": cores,
        "refused": None,
        "busy_pairs_counted": sum(1 for p in good if not p["quiet"]),
    }
    if len(good) < min_pairs:
        out["refused"] = (
            f"only {len(good)} of {len(pair_list)} pairs ran on a quiet machine (others using at most "
            f"{QUIET_CORES:g} of {cores} cores; highest seen {_round(out['load_max'])}); at least {min_pairs} are needed"
        )
    for key in keys:
        a = median([_get(p["a"], key) for p in good])
        b = median([_get(p["b"], key) for p in good])
        ratio = b / a if a and b is not None and out["refused"] is None else None
        out[key] = {"pgbench": a, "ours": b, "ratio": ratio}
    return out


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def _get(result: Any, key: str) -> float | None:
    if result is None:
        return None
    if isinstance(result, dict):
        return result.get(key)
    return getattr(result, key, None)


def open_rate(capacity_tps: float | None, share: float = OPEN_SHARE) -> float | None:
    """The open model's target: a share of pgbench's measured closed-model capacity."""
    if not capacity_tps or capacity_tps <= 0:
        return None
    return round(capacity_tps * share, 1)


def open_verdict(row: dict[str, Any]) -> dict[str, Any]:
    """Mean within 15 % and p99 within 50 % of pgbench -R's (None when refused or missing)."""
    out: dict[str, Any] = {}
    for key, column in (("mean", "mean_ms"), ("p99", "p99_ms")):
        ratio = (row.get(column) or {}).get("ratio")
        out[key] = None if ratio is None else abs(ratio - 1.0) <= OPEN_GOALS[key]
    return out


def processes_verdict(medians: dict[int, float | None], auto: int, tolerance: float = 0.05) -> dict[str, Any]:
    """Is ``processes: auto``'s pick as good as the best count measured (within ``tolerance``)?"""
    measured = {n: tps for n, tps in medians.items() if tps}
    if not measured:
        return {"auto": auto, "best": None, "ok": None, "auto_share_of_best": None}
    best = max(measured, key=lambda n: measured[n])
    auto_tps = measured.get(auto)
    share = auto_tps / measured[best] if auto_tps else None
    return {
        "auto": auto,
        "best": best,
        "ok": share is not None and share >= 1.0 - tolerance,
        "auto_share_of_best": share,
    }


def auto_processes_on(cores: int, workers: int) -> int:
    """What ``processes: auto`` picks for the multiplexed driver on a machine with ``cores`` usable cores."""
    from stormdb_tui.engine.multiplex import auto_processes

    return auto_processes(workers, "multiplex", cores=cores)
