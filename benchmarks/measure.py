"""Run one client (pgbench or stormdb-tui) and measure it the same way.

Every measurement is a child process: its CPU time and peak RSS come from
``os.wait4`` (the kernel's accounting of that process and the children it
reaped, so worker processes count too), its transactions and latencies from
its own output: pgbench's summary and per-transaction log (PostgreSQL 15's
pgbench has no ``--latency-percentiles``), stormdb-tui's JSON report.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.server import BenchServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Result:
    """One run of one client."""

    client: str
    tps: float
    transactions: int
    cpu_s: float
    p50_ms: float | None
    p99_ms: float | None
    max_rss_mb: float
    wall_s: float
    mean_ms: float | None = None
    own_cpu_us_per_tx: float | None = None
    """Ours only: the client CPU per transaction the run measured itself (start-up excluded)."""
    compiled_share: float | None = None
    """Ours only: the share of transactions the compiled loop ran (``client.compiled_share``)."""

    @property
    def cpu_ms_per_ktx(self) -> float | None:
        """Client CPU seconds per 1,000 transactions, in milliseconds (pgbench ≈ 14)."""
        return self.cpu_s / self.transactions * 1e6 if self.transactions else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cpu_ms_per_ktx": self.cpu_ms_per_ktx}


def run_measured(args: list[str], env: dict[str, str], timeout: float, cwd: str | None = None) -> tuple[str, str, float, float, float]:
    """Run a command; (stdout, stderr, cpu seconds, peak RSS MiB, wall seconds)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=cwd)
        try:
            _, status, usage = _wait4(proc.pid, timeout)
        except TimeoutError:
            proc.kill()
            os.waitpid(proc.pid, 0)
            proc.returncode = -9
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{os.path.basename(args[0])} exited {proc.returncode}: {stderr.strip()[-600:]}")
    return stdout, stderr, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, wall


def _wait4(pid: int, timeout: float) -> tuple[int, int, Any]:
    deadline = time.monotonic() + timeout
    while True:
        wpid, status, usage = os.wait4(pid, os.WNOHANG)
        if wpid:
            return wpid, status, usage
        if time.monotonic() > deadline:
            raise TimeoutError(f"pid {pid} still running after {timeout:.0f}s")
        time.sleep(0.05)


def percentile(sorted_values: list[int], p: float) -> float | None:
    """Nearest-rank percentile (as HdrHistogram reports it), or None when empty."""
    if not sorted_values:
        return None
    rank = max(int(-(-p * len(sorted_values) // 100)), 1)
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def run_pgbench(
    server: BenchServer, transport: str, script: str, clients: int, duration: float, *, jobs: int, sampling: float,
    script_file: str | None = None, rate: float | None = None,
) -> Result:
    """``pgbench -n -M prepared -b SCRIPT`` (or ``-f FILE``, ``-R RATE``) with a sampled log for percentiles."""
    with tempfile.TemporaryDirectory(prefix="pgblog-") as logdir:
        args = [
            server.tool("pgbench"), "-n", "-M", "prepared", *(["-f", script_file] if script_file else ["-b", script]),
            "-c", str(clients), "-j", str(min(jobs, clients)), "-T", str(int(duration)),
            "-l", "--sampling-rate", str(sampling), "--log-prefix", os.path.join(logdir, "pgb"),
            *(["-R", f"{rate:g}"] if rate else []),
        ]
        stdout, _, cpu, rss, wall = run_measured(args, server.env(transport), timeout=duration + 120)
        latencies: list[int] = []
        for path in glob.glob(os.path.join(logdir, "pgb*")):
            with open(path) as fh:
                for line in fh:
                    fields = line.split()
                    if len(fields) >= 3 and fields[2].isdigit():  # "skipped" under -L
                        latencies.append(int(fields[2]))
    latencies.sort()
    tx = int(re.search(r"number of transactions actually processed: (\d+)", stdout).group(1))  # type: ignore[union-attr]
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", stdout).group(1))  # type: ignore[union-attr]
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    mean = re.search(r"latency average = ([\d.]+) ms", stdout)
    return Result(
        "pgbench", tps, tx, cpu,
        p50 / 1000 if p50 is not None else None, p99 / 1000 if p99 is not None else None, rss, wall,
        float(mean.group(1)) if mean else None,
    )


def ours_command(server: BenchServer, transport: str, script: str, clients: int, duration: float,
                 report: str, extra: list[str] | None = None, script_file: str | None = None) -> list[str]:
    return [
        sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-q",
        "--dsn", server.conninfo(transport), "--workload", "simple",
        "--set", f"scripts={script_file}" if script_file else f"script={script}", "--set", "scale=10",
        "--workers", str(clients), "--duration", f"{duration:g}s", "--seed", "1",
        "--report-json", report, *(extra or []),
    ]


def run_ours(
    server: BenchServer, transport: str, script: str, clients: int, duration: float, *, extra: list[str] | None = None,
    script_file: str | None = None,
) -> Result:
    """``stormdb-tui run --no-ui --workload simple`` with the same script, clients and duration."""
    with tempfile.TemporaryDirectory(prefix="stormdb-rep-") as tmp:
        report = os.path.join(tmp, "report.json")
        args = ours_command(server, transport, script, clients, duration, report, extra, script_file)
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        _, _, cpu, rss, wall = run_measured(args, env, timeout=duration + 180, cwd=REPO)
        with open(report) as fh:
            data = json.load(fh)
    summary = data["summary"]
    if data["status"] != "completed":
        raise RuntimeError(f"stormdb-tui run {data['status']}: {data.get('message')}")
    lat = summary["latency_ms"]
    client = data.get("client") or {}
    return Result("ours", summary["tps"], summary["transactions"], cpu, lat["p50"], lat["p99"], rss, wall, lat.get("mean"),
                  client.get("cpu_per_tx_us"), client.get("compiled_share"))


def load_pgbench(server: BenchServer, scale: int) -> tuple[float, int, float | None]:
    """``pgbench -i -s SCALE`` into the default schema; (wall seconds, rows, seconds pgbench reports)."""
    args = [server.tool("pgbench"), "-i", "-q", "-s", str(scale)]
    _, stderr, _, _, wall = run_measured(args, server.env("unix"), timeout=1800)
    own = re.search(r"done in ([\d.]+) s", stderr)
    return wall, scale * 100_011, float(own.group(1)) if own else None


def load_ours(server: BenchServer, scale: int) -> tuple[float, int, float | None]:
    """``stormdb-tui setup --rebuild --workload simple`` into schema ``pgbench``; (wall, rows, reported seconds)."""
    args = [
        sys.executable, "-m", "stormdb_tui", "setup", "--rebuild", "--dsn", server.conninfo("unix"),
        "--workload", "simple", "--set", f"scale={scale}",
    ]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    stdout, _, _, _, wall = run_measured(args, env, timeout=1800, cwd=REPO)
    own = re.search(r"rows in ([\d.]+)s", stdout)
    return wall, scale * 100_011, float(own.group(1)) if own else None


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (worker processes count)."""
    total_kb = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total_kb += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total_kb / 1024.0


def run_soak(server: BenchServer, duration: float, *, extra: list[str] | None = None) -> dict[str, Any]:
    """A long select-only run, sampling the process tree's RSS every second (memory must stay flat)."""
    with tempfile.TemporaryDirectory(prefix="stormdb-soak-") as tmp:
        report = os.path.join(tmp, "report.json")
        args = ours_command(server, "unix", "select-only", 8, duration, report, extra)
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        samples: list[tuple[float, float]] = []
        while proc.poll() is None:
            samples.append((time.monotonic() - t0, tree_rss_mb(proc.pid)))
            time.sleep(1.0)
        with open(report) as fh:
            data = json.load(fh)
    live = [(t, mb) for t, mb in samples if mb > 0]
    start = next((mb for t, mb in live if t >= 5), live[0][1] if live else None)
    return {
        "duration_s": duration,
        "tps": data["summary"]["tps"],
        "start_mb": start,
        "peak_1min_mb": max((mb for t, mb in live if t <= 60), default=None),
        "peak_mb": max((mb for _, mb in live), default=None),
        "series": [(round(t), round(mb, 1)) for t, mb in live[::10]],
    }


def load_tpcc(server: BenchServer, warehouses: int) -> tuple[float, int]:
    """``stormdb-tui setup --rebuild --workload tpcc``; (wall seconds, rows it reports loading)."""
    args = [
        sys.executable, "-m", "stormdb_tui", "setup", "--rebuild", "--dsn", server.conninfo("unix"),
        "--workload", "tpcc", "--set", f"scale={warehouses}",
    ]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    stdout, _, _, _, wall = run_measured(args, env, timeout=3600, cwd=REPO)
    found = re.search(r"loaded tpcc: ([\d,]+) rows", stdout)
    if found is None:
        raise RuntimeError(f"no row count in the tpcc setup output: {stdout.strip()[-300:]}")
    return wall, int(found.group(1).replace(",", ""))
