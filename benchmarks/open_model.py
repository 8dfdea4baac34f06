"""Open model against ``pgbench -R``: the same rate, clients and script, in alternating pairs.

    python -m benchmarks.open_model --dsn "host=/tmp/sock port=5491 dbname=bench" --schema pgb \\
        --clients 8 --rate 2000 --duration 15 --pairs 3 [--ours --set schedule=per_worker]

pgbench runs with ``search_path`` set to our ``simple`` workload's schema, so
both clients touch the same tables. Each pair prints pgbench's latency
average and schedule lag beside ours (mean, p99, lag) and the load average
at the start of the pair: the machine is shared, and a figure taken while
another job ran says so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"


def pgbench(dsn: str, schema: str, script: str, clients: int, rate: float, duration: int) -> dict[str, float | None]:
    env = dict(os.environ, PGOPTIONS=f"-c search_path={schema}")
    out = subprocess.run(
        [PGBENCH, "-n", "-M", "prepared", "-b", script, "-c", str(clients), "-j", "2", "-T", str(duration),
         "-R", str(rate), dsn],
        capture_output=True, text=True, env=env, check=True,
    ).stdout

    def grab(pattern: str) -> float | None:
        found = re.search(pattern, out)
        return float(found.group(1)) if found else None

    return {
        "tps": grab(r"tps = ([\d.]+)"),
        "mean_ms": grab(r"latency average = ([\d.]+) ms"),
        "stddev_ms": grab(r"latency stddev = ([\d.]+) ms"),
        "lag_ms": grab(r"schedule lag: avg ([\d.]+)"),
        "lag_max_ms": grab(r"schedule lag: avg [\d.]+ \(max ([\d.]+)\)"),
    }


def ours(dsn: str, schema: str, scale: int, script: str, clients: int, rate: float, duration: int, extra: list[str]) -> dict[str, float | None]:
    with tempfile.TemporaryDirectory(prefix="stormdb-open-") as tmp:
        path = os.path.join(tmp, "r.json")
        subprocess.run(
            [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-q", "--dsn", dsn, "--workload", "simple",
             "--set", f"schema={schema}", "--set", f"scale={scale}", "--set", f"script={script}", "--set", "pipeline=false",
             "--workers", str(clients), "--rate", str(rate), "--duration", f"{duration}s", "--warmup", "0",
             "--report-json", path, *extra],
            capture_output=True, text=True, check=True, cwd=REPO,
        )
        with open(path) as fh:
            data = json.load(fh)
    s = data["summary"]
    lag = s.get("schedule_lag_ms") or {}
    return {"tps": s["tps"], "mean_ms": s["latency_ms"]["mean"], "stddev_ms": s["latency_ms"]["stddev"],
            "p99_ms": s["latency_ms"]["p99"], "service_mean_ms": (s.get("service_ms") or {}).get("mean"),
            "lag_ms": lag.get("mean"), "lag_max_ms": lag.get("max")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.open_model", description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", required=True)
    p.add_argument("--schema", default="pgbench")
    p.add_argument("--script", default="tpcb-like")
    p.add_argument("--scale", type=int, default=1, help="scale the simple workload was loaded at")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--duration", type=int, default=15)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--ours", nargs=argparse.REMAINDER, default=[], help="extra arguments for stormdb-tui run")
    args = p.parse_args(argv)
    for pair in range(args.pairs):
        load = os.getloadavg()
        a = pgbench(args.dsn, args.schema, args.script, args.clients, args.rate, args.duration)
        b = ours(args.dsn, args.schema, args.scale, args.script, args.clients, args.rate, args.duration, args.ours)
        print(json.dumps({"pair": pair, "load_1m": round(load[0], 2), "pgbench": a, "ours": b}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
