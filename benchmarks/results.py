"""The machine description and the Markdown tables of a harness session."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

from benchmarks.server import BenchServer

GOALS = {
    ("select-only", 8): 0.8,
    ("tpcb-like", 8): 0.95,
    ("simple-update", 8): 0.95,
}
CPU_GOALS = {("select-only", 8): 2.0}
"""Client CPU per transaction, ours/pgbench, at most this."""


def machine(server: BenchServer) -> dict[str, Any]:
    """What the numbers were measured on: they mean nothing without it."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as fh:
            kb = int(next(line.split()[1] for line in fh if line.startswith("MemTotal")))
            mem_gb = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass
    try:
        pgbench = subprocess.run([server.tool("pgbench"), "--version"], capture_output=True, text=True).stdout.strip()
    except Exception:
        pgbench = "?"
    import psycopg

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "memory_gb": mem_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__})",
        "server": f"PostgreSQL {server.version}" + (" (embedded)" if server.embedded else ""),
        "pgbench": pgbench,
        "loadavg_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def ratio_of(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def render_markdown(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    st = results.get("settings", {})
    out = [
        "# stormdb-tui vs pgbench",
        "",
        f"Measured {results.get('started')} with `python -m benchmarks.harness {' '.join(results.get('argv') or [])}`.",
        "",
        "## Machine",
        "",
        f"- {m.get('nproc')} CPUs: {m.get('cpu')}; {m.get('memory_gb')} GB RAM; {m.get('os')}",
        f"- server: {m.get('server')} (throwaway, started by the harness; client and server share the CPUs)",
        f"- clients: {m.get('pgbench')} (`-M prepared -j {st.get('jobs', st.get('pgbench_jobs'))}`), "
        f"stormdb-tui on Python {m.get('python')}, psycopg {m.get('psycopg')}"
        + (f", extra `{st.get('ours_extra')}`" if st.get("ours_extra") else ""),
        f"- load average at start: {_f(m.get('loadavg_at_start'), 2)}; scale {st.get('scale')}; "
        f"{st.get('repeats')} alternating pgbench/ours pairs of {st.get('duration_s'):g} s per case, medians shown",
        f"- before every pair the harness idles and measures the CPU others use (the load average, which includes "
        f"the harness's own previous run, is logged beside it); pairs started while others used more than "
        f"{st.get('quiet_cores', 0.25)} of {st.get('cores', '?')} cores do not count, and a case with fewer than "
        f"{st.get('min_pairs', 5)} quiet pairs gets no ratio",
    ]
    if results.get("cases"):
        out += _throughput(results["cases"])
    if results.get("open_model"):
        out += _open_model(results["open_model"])
    if results.get("processes_check"):
        out += _processes(results["processes_check"])
    return _rest(out, results, st)


def _refusals(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for row in rows:
        if row.get("refused"):
            out.append(f"- {row.get('script')} at {row.get('clients')} clients: no ratio, {row['refused']}.")
        elif row.get("busy_pairs_counted"):
            out.append(f"- {row.get('script')} at {row.get('clients')} clients: {row['busy_pairs_counted']} pairs ran "
                       "on a busy machine (--allow-busy): indicative only.")
    return ([""] + out) if out else []


def _open_model(row: dict[str, Any]) -> list[str]:
    mean, p99 = row.get("mean_ms") or {}, row.get("p99_ms") or {}
    verdict = row.get("verdict") or {}

    def ok(v: Any) -> str:
        return "–" if v is None else ("yes" if v else "no")

    return [
        "",
        "## Open model",
        "",
        f"select-only, {row.get('clients')} clients, {_f(row.get('rate'))} tx/s = 50 % of pgbench's measured "
        f"{_f(row.get('capacity'))} tps; latency from the scheduled start (`pgbench -R` vs `--rate`).",
        "",
        "| | pgbench -R | ours | ratio | goal | met |",
        "|---|---:|---:|---:|---:|---|",
        f"| mean latency ms | {_f(mean.get('pgbench'), 3)} | {_f(mean.get('ours'), 3)} | {_x(mean.get('ratio'))} "
        f"| within 15 % | {ok(verdict.get('mean'))} |",
        f"| p99 latency ms | {_f(p99.get('pgbench'), 3)} | {_f(p99.get('ours'), 3)} | {_x(p99.get('ratio'))} "
        f"| within 50 % | {ok(verdict.get('p99'))} |",
        *_refusals([row]),
    ]


def _processes(check: dict[str, Any]) -> list[str]:
    medians = check.get("medians") or {}
    rows = [f"| {n} | {_f(tps, 0)} |{' auto' if int(n) == check.get('auto') else ''}{' best' if int(n) == check.get('best') else ''} |"
            for n, tps in sorted(medians.items(), key=lambda kv: int(kv[0]))]
    share = check.get("auto_share_of_best")
    verdict = (
        "the machine was busy during the check: no verdict" if check.get("busy")
        else f"auto reaches {share:.0%} of the best count" if share is not None else "no measurement"
    )
    return [
        "",
        "## processes: auto",
        "",
        f"select-only, {check.get('clients')} clients, ours at each process count (medians of alternating rounds). "
        f"auto picks {check.get('auto')} here ({check.get('cores')} usable cores); on a 16-core machine it would "
        f"pick {check.get('on_16_cores')} for 32 clients (one event loop per core). Verdict: {verdict}.",
        "",
        "| processes | tps | |",
        "|---:|---:|---|",
        *rows,
    ]


def _throughput(cases: list[dict[str, Any]]) -> list[str]:
    out = [
        "",
        "## Throughput, client CPU and latency",
        "",
        "CPU is client CPU (user + system, from `wait4`) in milliseconds per 1,000 transactions, "
        "process start-up included. pgbench latencies come from its sampled per-transaction log, "
        "ours from the JSON report (HdrHistogram).",
        "",
        "| script | clients | transport | pgbench tps | ours tps | ratio | goal | pgbench CPU | ours CPU | ratio "
        "| pgbench p50 | ours p50 | pgbench p99 | ours p99 |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in cases:
        tps, cpu, p50, p99 = row["tps"], row["cpu_ms_per_ktx"], row["p50_ms"], row["p99_ms"]
        goal = GOALS.get((row["script"], row["clients"]))
        goal_text = f"≥ {goal:.2f}x" if goal else ""
        cpu_goal = CPU_GOALS.get((row["script"], row["clients"]))
        if cpu_goal:
            goal_text += f" (CPU ≤ {cpu_goal:.1f}x)"
        out.append(
            f"| {row['script']} | {row['clients']} | {row['transport']} | {_f(tps['pgbench'])} | {_f(tps['ours'])} "
            f"| {_x(tps['ratio'])} | {goal_text} | {_f(cpu['pgbench'])} | {_f(cpu['ours'])} "
            f"| {_x(cpu['ratio'])} | {_f(p50['pgbench'], 3)} | {_f(p50['ours'], 3)} | {_f(p99['pgbench'], 3)} "
            f"| {_f(p99['ours'], 3)} |"
        )
    return out + _refusals(cases)


def _rest(out: list[str], results: dict[str, Any], st: dict[str, Any]) -> str:
    load = results.get("load")
    if load:
        out += [
            "",
            "## Load speed",
            "",
            f"Scale {st.get('scale')} ({load['rows']:,} rows), wall time of the whole initialisation "
            "(tables, COPY, primary keys, vacuum): `pgbench -i` vs `stormdb-tui setup --rebuild --workload simple`.",
            "",
            "| measured as | pgbench -i rows/s | ours rows/s | ratio | goal |",
            "|---|---:|---:|---:|---:|",
            f"| whole command, wall clock | {_f(load['pgbench_rows_s'], 0)} | {_f(load['ours_rows_s'], 0)} "
            f"| {_x(load['ratio'])} | ≥ 0.80x |",
        ]
        if load.get("own_ratio") is not None:
            out.append(
                f"| load only, as each tool reports it | {_f(load['pgbench_own_rows_s'], 0)} "
                f"| {_f(load['ours_own_rows_s'], 0)} | {_x(load['own_ratio'])} | |"
            )
        out += [
            "",
            "The whole-command figure includes process start-up (for stormdb-tui: Python, imports and "
            "workload discovery, about a second of wall time on a busy 2-core machine); pgbench's own "
            "figure leaves out its connection, ours leaves out start-up and the checks before and after.",
        ]
        tpcc = load.get("tpcc")
        if tpcc:
            out += [
                "",
                f"TPC-C, {tpcc['warehouses']} warehouse(s), `stormdb-tui setup --rebuild --workload tpcc` "
                f"(parallel COPY, keys after the load): {tpcc['rows']:,} rows in {tpcc['wall_s']:.1f} s = "
                f"{tpcc['rows_s']:,.0f} rows/s ({_x(ratio_of(tpcc['rows_s'], load['pgbench_rows_s']))} of pgbench -i's "
                "rows/s; TPC-C rows are wider and carry more indexes).",
            ]
    pgs = results.get("pg_stats")
    if pgs:
        out += [
            "",
            "## Cost of --pg-stats",
            "",
            "select-only, 8 clients, unix socket; ours without and with the server monitor, alternating.",
            "",
            "| tps without | tps with | ratio | goal | CPU without | CPU with |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {_f(pgs['tps_without'])} | {_f(pgs['tps_with'])} | {_x(pgs['ratio'])} | ≥ 0.97x "
            f"| {_f(pgs['cpu_without'])} | {_f(pgs['cpu_with'])} |",
        ]
    soak = results.get("soak")
    if soak:
        out += [
            "",
            "## Memory",
            "",
            f"select-only, 8 clients, {soak['duration_s']:g} s; resident memory of the stormdb-tui process tree.",
            "",
            "| RSS after start | peak in the first minute | peak over the run | tps |",
            "|---:|---:|---:|---:|",
            f"| {_f(soak['start_mb'])} MB | {_f(soak['peak_1min_mb'])} MB | {_f(soak['peak_mb'])} MB | {_f(soak['tps'])} |",
        ]
    notes = results.get("notes")
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"
