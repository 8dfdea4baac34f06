"""Synthetic reports for the compare tests: steady intervals around given figures, seeded noise."""

from __future__ import annotations

import json
import random
from pathlib import Path


def make_report(tps: float = 1000.0, p99: float = 4.0, *, n: int = 30, seed: int = 0, errors: int = 0,
                scale: int = 1, workload: str = "simple", settings: dict | None = None, sd: float = 0.02,
                commit_delay: str = "0") -> dict:
    """A completed report with ``n`` one-second intervals around ``tps`` and ``p99`` (relative noise ``sd``)."""
    rng = random.Random(seed)
    intervals = []
    for t in range(1, n + 1):
        f = 1.0 + rng.gauss(0.0, sd)
        it = tps * f
        lat = {"p50": p99 / 4 / f, "p90": p99 / 2 / f, "p95": p99 / 1.5 / f, "p99": p99 / f, "p99_9": p99 * 1.5 / f,
               "max": p99 * 3 / f, "mean": p99 / 3.5 / f}
        intervals.append({"t_s": float(t), "duration_s": 1.0, "transactions": int(it), "tps": it, "qps": it * 7,
                          "errors": errors // n, "latency_ms": lat,
                          "operations": {"select-only": {"count": int(it), "tps": it, "errors": 0,
                                                         "latency_ms": {k: lat[k] for k in ("p50", "p95", "p99", "max")}}},
                          "pg": {"wal_bytes_s": 100.0 * it, "blks_hit_s": 5.0 * it, "commits_s": it, "cache_hit_ratio": 0.999}})
    total = int(tps * n)
    lat = {"p50": p99 / 4, "p90": p99 / 2, "p95": p99 / 1.5, "p99": p99, "p99_9": p99 * 1.5, "max": p99 * 3,
           "mean": p99 / 3.5, "stddev": 0.1}
    return {
        "schema_version": 1, "tool": {"name": "stormdb-tui", "version": "0.1.0"}, "status": "completed",
        "started_at": "2026-12-02T05:00:00+00:00",
        "server": {"version": "PostgreSQL 18.1 on x86_64", "settings": {"shared_buffers": "128MB",
                                                                        "commit_delay": commit_delay,
                                                                        **(settings or {})}},
        "workload": {"name": workload, "version": "1.0", "options": {"scale": scale, "script": "select-only"}},
        "run": {"workers": 2, "connections": 2, "duration_s": float(n), "model": "closed", "interval_s": 1.0},
        "summary": {"elapsed_s": float(n), "transactions": total, "tps": tps, "queries": total * 7, "qps": tps * 7,
                    "errors": errors, "retries": 0, "rollbacks": 0, "latency_ms": lat},
        "operations": {"select-only": {"count": total, "errors": 0, "tps": tps, "latency_ms": lat}},
        "intervals": intervals,
        "pg": {"per_transaction": {"transactions": total, "wal_bytes": 100.0, "blks_hit": 5.0}, "cache_hit_ratio": 0.999,
               "waits": {"samples": 100, "by_type": {"CPU": 0.8, "IO": 0.2}}},
        "client": {"driver": "multiplex", "processes": 2, "cores": 2, "cpu_per_tx_us": 40.0, "saturated_share": 0.0,
                   "client_bound": False},
        "host": {"name": "ci-1", "platform": "Linux", "cpus": 2, "python": "3.11.7"},
        "target": {"conninfo": "host=/tmp dbname=bench"},
    }


def write(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data))
    return str(path)
