"""``stormdb-tui run --no-ui --repeat N``: the same run N times, every repetition kept, for ``compare``.

Each repetition is a full run through the engine's session with its own
report (``rep-01.json`` …) in one folder, beside an index (``repeat.json``)
rewritten after every repetition. Only the first repetition loads or
rebuilds data; the others run against what it left, as a rerun would.
``--append`` adds repetitions to an existing folder, so two configurations
can be run in turns (A, B, A, B …) and a drift of the machine hits both.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from stormdb_tui.engine.plan import RunRequest, plan_from_request
from stormdb_tui.engine.session import Hooks, RunSession, signals_stop
from stormdb_tui.errors import EXIT_OK, EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM, UsageError
from stormdb_tui.frontends.headless import interval_line, progress_printer
from stormdb_tui.report.fmt import fmt
from stormdb_tui.report.repeat import (
    build_index,
    default_repeat_dir,
    is_repeat_dir,
    read_index,
    repetition_name,
    write_index,
)

MAX_REPEAT = 1000


def check_repeat_args(args: argparse.Namespace) -> None:
    count = args.repeat
    if count is None:
        if getattr(args, "repeat_dir", None):
            raise UsageError("--repeat-dir needs --repeat N")
        return
    if count < 1 or count > MAX_REPEAT:
        raise UsageError(f"--repeat {count}: expected 1 to {MAX_REPEAT}")
    if not args.no_ui:
        raise UsageError("--repeat runs headless: add --no-ui")
    if args.report_json or args.report_md:
        raise UsageError("--repeat writes one report per repetition into a folder: give --repeat-dir DIR "
                         "instead of --report-json/--report-md")


def run_repeat(args: argparse.Namespace, request: RunRequest, warn: Any) -> int:
    """Run ``args.repeat`` repetitions; the exit code is the first non-zero one, else 0."""
    count = int(args.repeat)
    quiet = bool(args.quiet)
    started = datetime.now(timezone.utc)
    folder = args.repeat_dir
    repetitions: list[dict[str, Any]] = []
    first = 1
    if getattr(args, "append", False):
        if folder is None:
            raise UsageError("--append needs --repeat-dir DIR (the folder to add repetitions to)")
        if is_repeat_dir(folder):
            index, _ = read_index(folder)
            repetitions = [dict(r) for r in index["repetitions"]]
            first = 1 + max((int(r.get("index") or 0) for r in repetitions), default=0)
            started = datetime.fromisoformat(str(index.get("started_at"))) if index.get("started_at") else started
    code = EXIT_OK
    status = "completed"
    total = first - 1 + count
    for number in range(first, total + 1):
        name = repetition_name(number)
        rep_request = replace(request, setup=request.setup and number == 1, rebuild=request.rebuild and number == 1)
        plan = plan_from_request(rep_request, monitor_default=False, warn=None if quiet or number > 1 else warn,
                                 quiet=quiet)
        if folder is None:
            folder = default_repeat_dir(plan.workload.name, count)
        if os.path.exists(os.path.join(folder, name)):
            raise UsageError(f"{folder}: already holds {name}: give an empty or new --repeat-dir (or --append)")
        # One file per repetition: a config's own report and journal paths would be overwritten N times.
        plan.config.report.update({"json": os.path.join(folder, name), "markdown": None, "journal": None})
        workload = plan.workload.name
        if not quiet:
            print(f"stormdb-tui: repetition {number} of {total} -> {os.path.join(folder, name)}", file=sys.stderr,
                  flush=True)
        session = RunSession(plan, _hooks(quiet))
        with signals_stop(session):
            outcome = session.execute()
        report = outcome.report
        summary = (report.data.get("summary") or {}) if report is not None else {}
        repetitions.append({"index": number, "report": name, "status": str(outcome.status),
                            "exit_code": outcome.exit_code, "error": outcome.error,
                            "tps": summary.get("tps"), "p99_ms": (summary.get("latency_ms") or {}).get("p99")})
        for ok, line in outcome.written:
            if not ok:
                print(f"stormdb-tui: error: {line}", file=sys.stderr)
        print(f"repetition {number}: {outcome.status}  {fmt(summary.get('tps'), 1)} tps  "
              f"p99 {fmt((summary.get('latency_ms') or {}).get('p99'), 3)} ms"
              + (f"  ({outcome.error})" if outcome.error else ""), flush=True)
        interrupted = outcome.exit_code in (EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM) or session.stop_reason is not None
        if outcome.exit_code != EXIT_OK and code == EXIT_OK:
            code = outcome.exit_code
        status = "interrupted" if interrupted else ("failed" if code != EXIT_OK else "completed")
        index = build_index(workload=workload, requested=total, started_at=started, repetitions=repetitions,
                            status=status if number == total or interrupted else "running",
                            request={"config": request.config_path, "overrides": [list(o) for o in request.overrides]})
        write_index(folder, index)
        if interrupted:
            break
    assert folder is not None
    print(f"stormdb-tui: {len(repetitions)} repetition{'s' if len(repetitions) != 1 else ''} in {folder} "
          f"(`stormdb-tui compare {folder} OTHER` compares them)", file=sys.stderr)
    return code


def _hooks(quiet: bool) -> Hooks:
    if quiet:
        return Hooks()

    def on_interval(snap: Any, sample: Any) -> None:
        print(interval_line(snap, sample), file=sys.stderr, flush=True)

    return Hooks(progress=progress_printer(), interval=on_interval)
