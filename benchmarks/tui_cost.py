"""What the live dashboard costs the engine: TPS with the workbench on screen versus ``--no-ui``.

One invocation starts a throwaway server (see ``server.py``), loads ``simple``
at scale 10, then alternates the same run headless and in the workbench
inside a real terminal (tmux), and prints the medians and their ratio::

    python -m benchmarks.tui_cost                       # select-only, 8 workers, 15 s, 3 pairs
    python -m benchmarks.tui_cost --workers 64 --script tpcb-like --repeats 5

Both sides collect server statistics (the workbench's default), so the only
difference is the UI: its timer reading snapshots and redrawing the panes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import REPO, load_ours
from benchmarks.server import DEFAULT_PG_BIN, start_server


def _command(dsn: str, args: argparse.Namespace, report: str, headless: bool) -> list[str]:
    cmd = [
        sys.executable, "-m", "stormdb_tui", "run", "--dsn", dsn, "--workload", "simple",
        "--set", f"script={args.script}", "--set", "scale=10", "--workers", str(args.workers),
        "--duration", f"{args.duration:g}s", "--warmup", "2s", "--seed", "1", "--report-json", report, "--pg-stats",
    ]
    if headless:
        cmd[4:4] = ["--no-ui", "-q"]
    return cmd


def _tps(report: str) -> float:
    with open(report) as handle:
        data = json.load(handle)
    if data["status"] != "completed":
        raise RuntimeError(f"run {data['status']}: {data.get('message')}")
    return float(data["summary"]["tps"])


def run_headless(dsn: str, args: argparse.Namespace, tmp: str, i: int) -> float:
    report = os.path.join(tmp, f"noui-{i}.json")
    env = dict(os.environ, PYTHONPATH=REPO)
    subprocess.run(_command(dsn, args, report, True), cwd=REPO, env=env, check=True, timeout=args.duration + 120,
                   stdout=subprocess.DEVNULL)
    return _tps(report)


def run_tui(dsn: str, args: argparse.Namespace, tmp: str, i: int) -> float:
    report = os.path.join(tmp, f"ui-{i}.json")
    session = f"stormdb-tui-cost-{os.getpid()}"
    inner = " ".join(_quote(c) for c in _command(dsn, args, report, False))
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", f"cd {_quote(REPO)} && PYTHONPATH={_quote(REPO)} {inner}"],
        check=True,
    )
    try:
        deadline = time.monotonic() + args.duration + 120
        while not os.path.exists(report):
            if time.monotonic() > deadline:
                raise RuntimeError("the workbench run never wrote its report")
            time.sleep(0.5)
        time.sleep(0.5)
    finally:
        subprocess.run(["tmux", "send-keys", "-t", session, "C-q"], check=False)
        time.sleep(1)
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)
    return _tps(report)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--script", default="select-only", choices=("select-only", "tpcb-like", "simple-update"))
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pg-bin", default=DEFAULT_PG_BIN)
    parser.add_argument("--embedded", action="store_true", help="use the embedded PostgreSQL 18 instead of --pg-bin")
    args = parser.parse_args(argv)
    if shutil.which("tmux") is None:
        print("tui_cost needs tmux (apt-get install tmux)", file=sys.stderr)
        return 2
    server = start_server(args.pg_bin, embedded=args.embedded)
    try:
        dsn = server.conninfo("unix")
        load_ours(server, 10)
        headless, tui = [], []
        with tempfile.TemporaryDirectory(prefix="stormdb-tui-cost-") as tmp:
            for i in range(args.repeats):
                headless.append(run_headless(dsn, args, tmp, i))
                tui.append(run_tui(dsn, args, tmp, i))
                print(f"pair {i + 1}: --no-ui {headless[-1]:,.0f} tps, workbench {tui[-1]:,.0f} tps", flush=True)
        a, b = statistics.median(headless), statistics.median(tui)
        print(f"\n{args.script}, {args.workers} workers, {args.duration:g} s, {args.repeats} pairs (medians)")
        print(f"  --no-ui    {a:,.0f} tps")
        print(f"  workbench  {b:,.0f} tps")
        print(f"  ratio      {b / a:.3f}  (workbench / --no-ui; the goal is >= 0.95)")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
