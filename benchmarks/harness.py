"""stormdb-tui against pgbench, side by side, on a server of our own.

    python -m benchmarks.harness --goals         # the speed goal set, one command (see below)
    python -m benchmarks.harness                 # quick set: select-only and tpcb-like at 1 and 8 clients
    python -m benchmarks.harness --full          # 1/4/8/16 clients, unix and TCP
    python -m benchmarks.harness --cases select-only:8,zipf-gset:8 --repeats 5 --duration 20
    python -m benchmarks.harness --cases my-script.sql:8    # a pgbench script of your own, by both
    python -m benchmarks.harness --soak 600      # add a 10-minute memory soak

One invocation starts a throwaway PostgreSQL (see :mod:`benchmarks.server`),
loads ``pgbench -i -s 10`` into the default schema and our ``simple``
workload at scale 10 into schema ``pgbench``, then runs each case as
pgbench, ours, pgbench, ours … with the same script, clients, duration and
transport, so drift on a shared machine hits both alike. Medians and the
ratios ours/pgbench are printed and written to ``benchmarks/RESULTS.md``.

pgbench runs at its best: ``-j`` equals the cores the client may use. The
CPU others use is measured in an idle moment before every pair (the load
average is logged too); pairs started while others used more than a quarter
of a core do not count, and a case whose quiet pairs are fewer than 5
gets no ratio (the table says why). Run the goals on a quiet machine:
``--goals`` is select-only, simple-update and tpcb-like at 1, 8 and 32
clients, a custom script with random_zipfian and \\gset (``zipf-gset``), the
open model at 50 % of pgbench's capacity (latency against ``pgbench -R``) and
the ``processes: auto`` check (ours at 1 … cores + 1 processes), 5 pairs of
20 s each (about 45 minutes on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/harness.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import measure, speed
from benchmarks.results import machine, render_markdown
from benchmarks.server import DEFAULT_PG_BIN, BenchServer, start_server

SCRIPTS = ("select-only", "simple-update", "tpcb-like", speed.ZIPF_CASE)
QUICK_SCRIPTS = ("select-only", "tpcb-like")
QUICK_CLIENTS = (1, 8)
FULL_CLIENTS = (1, 4, 8, 16)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.harness", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="the full matrix: 1, 4, 8, 16 clients over unix and TCP")
    p.add_argument("--cases", help="comma list of SCRIPT:CLIENTS, or none (default: select-only and tpcb-like at 1 and 8 clients)")
    p.add_argument("--transports", default=None, help="unix,tcp (default: unix; --full: both)")
    p.add_argument("--goals", action="store_true",
                   help="the goal set: 3 scripts x 1/8/32 clients, zipf-gset, open model at 50%%, processes check")
    p.add_argument("--duration", type=float, default=None, help="seconds per run (default 10; --goals: 20)")
    p.add_argument("--repeats", type=int, default=speed.MIN_PAIRS,
                   help=f"A/B pairs per case (default {speed.MIN_PAIRS}; fewer quiet pairs give no ratio)")
    p.add_argument("--jobs", type=int, default=None,
                   help="pgbench -j threads (default: the cores the client may use, pgbench's best)")
    p.add_argument("--open", action="store_true", help="add the open-model case (50%% of pgbench's capacity)")
    p.add_argument("--processes-check", action="store_true",
                   help="add the processes: auto check (select-only, 8 clients, ours at 1 .. cores+1 processes)")
    p.add_argument("--allow-busy", action="store_true",
                   help="count pairs even when others use the machine (results marked)")
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
    p.add_argument("--embedded", action="store_true", help="use the embedded PostgreSQL 18 and its pgbench (unix socket only)")
    p.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"))
    p.add_argument("--json", help="also write every raw measurement here")
    p.add_argument("--append", action="store_true", help="add this session to the results file instead of replacing it")
    args = p.parse_args(argv)
    args.cores = speed.client_cores()
    if args.jobs is None:
        args.jobs = args.cores
    if args.duration is None:
        args.duration = 20.0 if args.goals else 10.0
    if args.goals:
        args.open = args.processes_check = True
        args.no_load = args.no_pg_stats_cost = True
    return args


def cases_of(args: argparse.Namespace) -> list[tuple[str, int, str]]:
    transports = (args.transports or ("unix,tcp" if args.full else "unix")).split(",")
    if args.embedded:
        transports = ["unix"]
    if args.cases == "none":  # a load-only (or soak-only) session
        return []
    if args.goals and not args.cases:
        return [(s, c, t) for t in transports for s, c in speed.goal_cases()]
    if args.cases:
        pairs = []
        for item in args.cases.split(","):
            script, _, clients = item.rpartition(":")
            own = script.endswith(".sql") and os.path.isfile(script)
            if not (script in SCRIPTS or own) or not clients.isdigit():
                raise SystemExit(
                    f"--cases: expected SCRIPT:CLIENTS with SCRIPT in {SCRIPTS} or a .sql file, got {item!r}"
                )
            if own:
                script = os.path.abspath(script)
            pairs.append((script, int(clients)))
    else:
        clients = FULL_CLIENTS if args.full else QUICK_CLIENTS
        pairs = [(s, c) for s in QUICK_SCRIPTS for c in clients]
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


def _script_file(script: str, scale: int, folder: str) -> str | None:
    if script.endswith(".sql"):  # a script of the user's, run by both as it is
        return script
    if script != speed.ZIPF_CASE:
        return None
    path = os.path.join(folder, f"{speed.ZIPF_CASE}.sql")
    with open(path, "w") as fh:
        fh.write(speed.zipf_script(scale))
    return path


def run_case(server: BenchServer, args: argparse.Namespace, script: str, clients: int, transport: str) -> dict[str, Any]:
    extra = args.ours.split() if args.ours else []
    what = f"{script} c={clients} {transport}"
    log(f"case {what}: {args.repeats} x (pgbench -j {min(args.jobs, clients)}, ours) of {args.duration:g}s")
    with tempfile.TemporaryDirectory(prefix="stormdb-case-") as folder:
        file = _script_file(script, args.scale, folder)
        pair_list = speed.pairs(
            args.repeats,
            lambda: measure.run_pgbench(server, transport, script, clients, args.duration, jobs=args.jobs,
                                        sampling=args.sampling_rate, script_file=file),
            lambda: measure.run_ours(server, transport, script, clients, args.duration, extra=extra, script_file=file),
            what, cores=args.cores, log=log,
        )
    return _row(pair_list, args, script=script, clients=clients, transport=transport)


def _row(pair_list: list[dict[str, Any]], args: argparse.Namespace, **fields: Any) -> dict[str, Any]:
    for pair in pair_list:
        for r in (pair["a"], pair["b"]):
            if r is not None:
                log(f"  {r.client:8s} tps {r.tps:10.1f}  cpu {r.cpu_ms_per_ktx or 0:7.1f} ms/1k tx  "
                    f"p50 {r.p50_ms} p99 {r.p99_ms} mean {r.mean_ms} ms"
                    + (f"  (own audit: {r.own_cpu_us_per_tx} µs CPU/tx" if r.own_cpu_us_per_tx else "")
                    + (f", compiled loop {r.compiled_share:.0%}" if r.compiled_share is not None else "")
                    + (")" if r.own_cpu_us_per_tx else ""))
    cmp = speed.compare(pair_list, ("tps", "cpu_ms_per_ktx", "p50_ms", "p99_ms", "mean_ms"), cores=args.cores,
                        min_pairs=1 if args.allow_busy else speed.MIN_PAIRS, allow_busy=args.allow_busy)
    if cmp["refused"]:
        log(f"  no ratio: {cmp['refused']}")
    row: dict[str, Any] = {**fields, "runs": cmp["quiet_pairs"], "runs_ours": cmp["quiet_pairs"], **cmp}
    row["raw"] = [
        {"load": p["load"], "load_average": p.get("load_average"), "quiet": p["quiet"], "pgbench": p["a"].as_dict() if p["a"] else None,
         "ours": p["b"].as_dict() if p["b"] else None}
        for p in pair_list
    ]
    return row


def run_open(server: BenchServer, args: argparse.Namespace, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """select-only, 8 clients, at half of pgbench's closed-model capacity: latency against pgbench -R."""
    clients = speed.OPEN_CLIENTS
    capacity = next((c["tps"]["pgbench"] for c in cases if c.get("script") == "select-only" and c.get("clients") == clients
                     and c.get("transport") == "unix"), None)
    if not capacity:
        log(f"open model: measuring pgbench's capacity (select-only, {clients} clients)")
        capacity = measure.run_pgbench(server, "unix", "select-only", clients, args.duration, jobs=args.jobs,
                                       sampling=args.sampling_rate).tps
    rate = speed.open_rate(capacity)
    log(f"open model: {rate} tx/s = {speed.OPEN_SHARE:.0%} of pgbench's {capacity:,.0f} tps")
    extra = (args.ours.split() if args.ours else []) + ["--rate", f"{rate:g}"]
    pair_list = speed.pairs(
        args.repeats,
        lambda: measure.run_pgbench(server, "unix", "select-only", clients, args.duration, jobs=args.jobs,
                                    sampling=args.sampling_rate, rate=rate),
        lambda: measure.run_ours(server, "unix", "select-only", clients, args.duration, extra=extra),
        "open model", cores=args.cores, log=log,
    )
    row = _row(pair_list, args, script="select-only (open model)", clients=clients, transport="unix")
    row.update(rate=rate, capacity=capacity, verdict=speed.open_verdict(row))
    return row


def run_processes_check(server: BenchServer, args: argparse.Namespace) -> dict[str, Any]:
    """Ours at 1 … cores + 1 processes, round-robin, to show what processes: auto should pick here."""
    clients = 8
    counts = list(range(1, min(args.cores + 1, clients) + 1))
    auto = speed.auto_processes_on(args.cores, clients)
    log(f"processes check: select-only, {clients} clients, ours at {counts} processes (auto picks {auto})")
    runs: dict[int, list[float | None]] = {n: [] for n in counts}
    loads = []
    for i in range(args.repeats):
        loads.append(speed.settled_load())
        log(f"  round {i + 1}/{args.repeats}: others use {loads[-1]} of {args.cores} cores "
            f"(load average {speed.load_average()})")
        for n in counts:
            try:
                r = measure.run_ours(server, "unix", "select-only", clients, args.duration,
                                     extra=["--processes", str(n)] + (args.ours.split() if args.ours else []))
                runs[n].append(r.tps)
                log(f"    {n} processes: {r.tps:,.0f} tps, {r.cpu_ms_per_ktx or 0:.1f} ms CPU/1k tx")
            except Exception as exc:
                log(f"    {n} processes: {type(exc).__name__}: {exc}")
                runs[n].append(None)
    medians = {n: speed.median(v) for n, v in runs.items()}
    verdict = speed.processes_verdict(medians, auto)
    busy = any(speed.busy(x, args.cores) for x in loads) and not args.allow_busy
    return {"clients": clients, "medians": medians, "loads": loads, "busy": busy, **verdict,
            "on_16_cores": speed.auto_processes_on(16, 32), "cores": args.cores}


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
        if args.open:
            results["open_model"] = run_open(server, args, results["cases"])
        if args.processes_check:
            results["processes_check"] = run_processes_check(server, args)
        if not args.no_pg_stats_cost:
            results["pg_stats"] = run_pg_stats_cost(server, args)
        if args.soak:
            log(f"memory soak: select-only, 8 clients, {args.soak:g}s")
            results["soak"] = measure.run_soak(server, args.soak, extra=args.ours.split() if args.ours else [])
    finally:
        server.stop()
    results["settings"] = {"duration_s": args.duration, "repeats": args.repeats, "pgbench_jobs": args.jobs,
                           "cores": args.cores, "min_pairs": speed.MIN_PAIRS, "quiet_cores": speed.QUIET_CORES,
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
