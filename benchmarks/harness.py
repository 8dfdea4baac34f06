"""stormdb-tui against pgbench, side by side, on a server of our own.

    python -m benchmarks.harness                 # quick set (about 5 minutes)
    python -m benchmarks.harness --full          # 1/4/8/16 clients, unix and TCP
    python -m benchmarks.harness --cases select-only:8 --repeats 5 --duration 20
    python -m benchmarks.harness --soak 600      # add a 10-minute memory soak

One invocation starts a throwaway PostgreSQL (see :mod:`benchmarks.server`),
loads ``pgbench -i -s 10`` into the default schema and our ``simple``
workload at scale 10 into schema ``pgbench``, then runs each case as
pgbench, ours, pgbench, ours … with the same script, clients, duration and
transport, so drift on a shared machine hits both alike. Medians and the
ratios ours/pgbench are printed and written to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/harness.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import measure
from benchmarks.results import machine, render_markdown
from benchmarks.server import DEFAULT_PG_BIN, BenchServer, start_server

SCRIPTS = ("select-only", "tpcb-like")
QUICK_CLIENTS = (1, 8)
FULL_CLIENTS = (1, 4, 8, 16)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.harness", description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="the full matrix: 1, 4, 8, 16 clients over unix and TCP")
    p.add_argument("--cases", help="comma list of SCRIPT:CLIENTS, or none (default: both scripts at 1 and 8 clients)")
    p.add_argument("--transports", default=None, help="unix,tcp (default: unix; --full: both)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="A/B pairs per case (default 3)")
    p.add_argument("--jobs", type=int, default=1, help="pgbench -j threads (default 1, pgbench's default)")
    p.add_argument("--sampling-rate", type=float, default=0.1, help="pgbench per-transaction log sampling")
    p.add_argument("--ours", default="", help="extra arguments for stormdb-tui run, e.g. '--processes 2'")
    p.add_argument("--scale", type=int, default=10)
    p.add_argument("--no-load", action="store_true", help="skip the load-speed comparison")
    p.add_argument("--load-repeats", type=int, default=2)
    p.add_argument("--tpcc-load", type=int, default=1, metavar="WAREHOUSES",
                   help="also time a TPC-C load of this many warehouses (0: skip)")
    p.add_argument("--no-pg-stats-cost", action="store_true", help="skip the --pg-stats cost comparison")
    p.add_argument("--soak", type=float, default=0.0, help="seconds of a memory soak run (600 for the 10-minute figure)")
    p.add_argument("--pg-bin", default=DEFAULT_PG_BIN, help="PostgreSQL binaries (initdb, pg_ctl, pgbench)")
    p.add_argument("--embedded", action="store_true", help="use the embedded pgserver PostgreSQL 16 (unix socket only)")
    p.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"))
    p.add_argument("--json", help="also write every raw measurement here")
    p.add_argument("--append", action="store_true", help="add this session to the results file instead of replacing it")
    return p.parse_args(argv)


def cases_of(args: argparse.Namespace) -> list[tuple[str, int, str]]:
    transports = (args.transports or ("unix,tcp" if args.full else "unix")).split(",")
    if args.embedded:
        transports = ["unix"]
    if args.cases == "none":  # a load-only (or soak-only) session
        return []
    if args.cases:
        pairs = []
        for item in args.cases.split(","):
            script, _, clients = item.partition(":")
            if script not in SCRIPTS or not clients.isdigit():
                raise SystemExit(f"--cases: expected SCRIPT:CLIENTS with SCRIPT in {SCRIPTS}, got {item!r}")
            pairs.append((script, int(clients)))
    else:
        clients = FULL_CLIENTS if args.full else QUICK_CLIENTS
        pairs = [(s, c) for s in SCRIPTS for c in clients]
    return [(s, c, t) for t in transports for s, c in pairs]


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def alternate(runs: int, first: Callable[[], Any], second: Callable[[], Any], what: str) -> tuple[list[Any], list[Any]]:
    """A B A B …: the two sides share whatever the machine does meanwhile."""
    a_side: list[Any] = []
    b_side: list[Any] = []
    for i in range(runs):
        for side, fn in ((a_side, first), (b_side, second)):
            try:
                side.append(fn())
            except Exception as exc:  # one failed run must not lose the others
                log(f"  {what} run {i + 1}: {type(exc).__name__}: {exc}")
    return a_side, b_side


def run_case(server: BenchServer, args: argparse.Namespace, script: str, clients: int, transport: str) -> dict[str, Any]:
    extra = args.ours.split() if args.ours else []
    what = f"{script} c={clients} {transport}"
    log(f"case {what}: {args.repeats} x (pgbench, ours) of {args.duration:g}s")
    pgb, ours = alternate(
        args.repeats,
        lambda: measure.run_pgbench(server, transport, script, clients, args.duration, jobs=args.jobs, sampling=args.sampling_rate),
        lambda: measure.run_ours(server, transport, script, clients, args.duration, extra=extra),
        what,
    )
    for r in pgb + ours:
        log(f"  {r.client:8s} tps {r.tps:10.1f}  cpu {r.cpu_ms_per_ktx or 0:7.1f} ms/1k tx  p50 {r.p50_ms} p99 {r.p99_ms} ms")
    row: dict[str, Any] = {"script": script, "clients": clients, "transport": transport, "runs": len(pgb), "runs_ours": len(ours)}
    for key in ("tps", "cpu_ms_per_ktx", "p50_ms", "p99_ms"):
        a = median([getattr(r, key) for r in pgb])
        b = median([getattr(r, key) for r in ours])
        row[key] = {"pgbench": a, "ours": b, "ratio": ratio(b, a)}
    row["raw"] = {"pgbench": [r.as_dict() for r in pgb], "ours": [r.as_dict() for r in ours]}
    return row


def run_load(server: BenchServer, args: argparse.Namespace) -> dict[str, Any]:
    log(f"load speed: {args.load_repeats} x (pgbench -i, stormdb-tui setup) at scale {args.scale}")
    pgb, ours = alternate(
        args.load_repeats, lambda: measure.load_pgbench(server, args.scale), lambda: measure.load_ours(server, args.scale), "load"
    )
    a = median([rows / wall for wall, rows, _ in pgb])
    b = median([rows / wall for wall, rows, _ in ours])
    a_own = median([rows / own if own else None for _, rows, own in pgb])
    b_own = median([rows / own if own else None for _, rows, own in ours])
    log(f"  rows/s pgbench -i {a or 0:,.0f}  ours {b or 0:,.0f} (as each tool reports it: {a_own or 0:,.0f} / {b_own or 0:,.0f})")
    out = {"rows": args.scale * 100_011, "pgbench_rows_s": a, "ours_rows_s": b, "ratio": ratio(b, a),
           "pgbench_own_rows_s": a_own, "ours_own_rows_s": b_own, "own_ratio": ratio(b_own, a_own),
           "raw": {"pgbench": pgb, "ours": ours}}
    if args.tpcc_load:
        try:
            wall, rows = measure.load_tpcc(server, args.tpcc_load)
            out["tpcc"] = {"warehouses": args.tpcc_load, "rows": rows, "wall_s": wall, "rows_s": rows / wall}
            log(f"  tpcc {args.tpcc_load} warehouse(s): {rows:,} rows in {wall:.1f}s = {rows / wall:,.0f} rows/s")
        except Exception as exc:
            log(f"  tpcc load: {type(exc).__name__}: {exc}")
    return out


def run_pg_stats_cost(server: BenchServer, args: argparse.Namespace) -> dict[str, Any]:
    log("--pg-stats cost: select-only, 8 clients, ours without and with --pg-stats")
    extra = args.ours.split() if args.ours else []
    off, on = alternate(
        args.repeats,
        lambda: measure.run_ours(server, "unix", "select-only", 8, args.duration, extra=extra + ["--no-pg-stats"]),
        lambda: measure.run_ours(server, "unix", "select-only", 8, args.duration, extra=extra + ["--pg-stats"]),
        "pg-stats",
    )
    a, b = median([r.tps for r in off]), median([r.tps for r in on])
    log(f"  tps without {a or 0:,.0f}  with {b or 0:,.0f}")
    return {"tps_without": a, "tps_with": b, "ratio": ratio(b, a),
            "cpu_without": median([r.cpu_ms_per_ktx for r in off]), "cpu_with": median([r.cpu_ms_per_ktx for r in on])}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = cases_of(args)
    log("starting a throwaway PostgreSQL server …")
    server = start_server(args.pg_bin, embedded=args.embedded)
    log(f"  PostgreSQL {server.version} on port {server.port}, socket in {server.socket_dir}")
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "argv": sys.argv[1:]}
    try:
        results["machine"] = machine(server)
        log(f"initial load at scale {args.scale}")
        measure.load_pgbench(server, args.scale)
        measure.load_ours(server, args.scale)
        if not args.no_load:
            results["load"] = run_load(server, args)
        results["cases"] = [run_case(server, args, *case) for case in cases]
        if not args.no_pg_stats_cost:
            results["pg_stats"] = run_pg_stats_cost(server, args)
        if args.soak:
            log(f"memory soak: select-only, 8 clients, {args.soak:g}s")
            results["soak"] = measure.run_soak(server, args.soak, extra=args.ours.split() if args.ours else [])
    finally:
        server.stop()
    results["settings"] = {"duration_s": args.duration, "repeats": args.repeats, "pgbench_jobs": args.jobs,
                           "sampling_rate": args.sampling_rate, "ours_extra": args.ours, "scale": args.scale}
    text = render_markdown(results)
    print(text)
    with open(args.results, "a" if args.append else "w") as fh:
        fh.write(("\n---\n\n" if args.append and fh.tell() else "") + text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    log(f"results written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
