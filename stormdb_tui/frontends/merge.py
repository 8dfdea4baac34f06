"""``stormdb-tui merge``: add HdrHistogram interval logs exactly and print the merged percentiles.

Inputs are interval logs or reports (and run journals) that point at one
(their ``hdr_log`` key). Several load generators driving one server, or the
repetitions of one run, merge into one log whose percentiles are those of
the added histograms: never an average of percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from stormdb_tui.errors import EXIT_OK, ConfigError, UsageError
from stormdb_tui.report.fmt import fmt
from stormdb_tui.report.hdrlog import OVERALL, PERCENTILES, HdrLog, MergedLog, merge_logs, read_log


def add_merge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("logs", nargs="+", metavar="LOG",
                   help="HdrHistogram interval logs (.hlog), or reports / run journals that name one")
    p.add_argument("-o", "--output", metavar="OUT", help="write the merged interval log here")
    p.add_argument("--json", action="store_true", help="print the merged figures as JSON")


def log_of(path: str) -> str:
    """The interval log a path stands for: itself, or the one a report or journal names."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64).lstrip()
    except FileNotFoundError:
        raise ConfigError("no such file", file=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not an interval log or a report", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from None
    if not head.startswith(b"{"):
        return path
    from stormdb_tui.report.model import Report

    report = Report.load(path)
    entry = report.data.get("hdr_log")
    target = entry.get("path") if isinstance(entry, dict) else None
    if not target:
        raise ConfigError("this report names no HdrHistogram interval log (hdr_log); it was written "
                          "without one (report.hdr_log: off, or an older version)", file=path)
    if not os.path.isabs(target):
        target = os.path.join(os.path.dirname(os.path.abspath(path)), target)
    if not os.path.exists(target):
        # Reports travel without their folder: look beside the report too.
        beside = os.path.join(os.path.dirname(os.path.abspath(path)), os.path.basename(target))
        if os.path.exists(beside):
            return beside
        raise ConfigError(f"the interval log it names is missing: {target}", file=path)
    return str(target)


def load_logs(paths: Sequence[str]) -> list[HdrLog]:
    return [read_log(log_of(path)) for path in paths]


def summary_table(merged: MergedLog) -> str:
    figures = merged.summary()
    keys = [f"p{p:g}".replace(".", "_") for p in PERCENTILES]
    width = max([9, *(len(t) for t in figures)])
    head = f"{'tag':<{width}} {'count':>12} " + " ".join(f"{k.replace('_', '.'):>9}" for k in keys) \
        + f" {'max':>9} {'mean':>9}   (latency ms)"
    lines = [head]
    order = sorted(figures, key=lambda t: (t != OVERALL, t))
    for tag in order:
        row = figures[tag]
        name = "all" if tag == OVERALL else tag
        lines.append(f"{name:<{width}} {row['count']:>12,} " + " ".join(f"{fmt(row[k], 3):>9}" for k in keys)
                     + f" {fmt(row['max'], 3):>9} {fmt(row['mean'], 3):>9}")
    return "\n".join(lines)


def run_merge(args: argparse.Namespace) -> int:
    if not args.logs:
        raise UsageError("merge: give at least one interval log")
    logs = load_logs(args.logs)
    merged = merge_logs(logs)
    out: dict[str, Any] = {"sources": merged.sources, "intervals": len(merged.intervals), "tags": merged.summary()}
    if args.output:
        out["output"] = merged.write(args.output)  # a write failure is a one-line error, exit 1
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"merged {len(logs)} log{'s' if len(logs) != 1 else ''}, {len(merged.intervals)} intervals")
        print(summary_table(merged))
        if args.output:
            print(f"stormdb-tui: merged log written to {out['output']}", file=sys.stderr)
    return EXIT_OK
