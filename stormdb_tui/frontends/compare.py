"""``stormdb-tui compare A B [C ...]``: runs side by side, verdicts beyond noise, and a CI gate.

    stormdb-tui compare before.json after.json
    stormdb-tui compare reports/simple-x5/ reports/simple-tuned-x5/ --markdown pr-comment.md
    stormdb-tui compare base.json head.json --fail-on "tps<-5%,p99>+10%,new_order:p95>+10%"

Exit codes: 0 compared (and no gate rule broken), 1 a ``--fail-on`` rule is
broken beyond noise, 2 bad input (a file that is not a report, a malformed
rule, runs of different workloads or scales without ``--force``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from stormdb_tui.errors import EXIT_FAILED, EXIT_OK, UsageError
from stormdb_tui.report import noise
from stormdb_tui.report.compare import (
    DEFAULT_MIN_EFFECT,
    build_comparison,
    check_comparable,
    evaluate_gate,
    load_sides,
    parse_gate,
    parse_share,
)
from stormdb_tui.report.compare_md import comparison_markdown, comparison_text
from stormdb_tui.report.model import write_atomic


def add_compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="REPORT",
                   help="report JSON files, run journals, or folders written by `run --repeat` (the first is the base)")
    p.add_argument("--fail-on", metavar="RULES",
                   help='exit 1 when a rule is broken beyond noise, e.g. "tps<-5%%,p99>+10%%,new_order:p95>+10%%"')
    p.add_argument("--min-effect", default=f"{DEFAULT_MIN_EFFECT * 100:g}%", metavar="PCT",
                   help="changes smaller than this are within noise whatever the interval says (default %(default)s)")
    p.add_argument("--force", action="store_true", help="compare runs of different workloads or scales anyway")
    p.add_argument("--markdown", metavar="FILE", help="write the comparison as Markdown (for a pull-request comment)")
    p.add_argument("--json", dest="json_file", metavar="FILE", help="write the comparison as JSON")
    p.add_argument("--html", metavar="FILE", help="write a self-contained comparison page (no network needed)")
    p.add_argument("--all", action="store_true", help="show every figure, not only the headline ones and changes")
    p.add_argument("--seed", type=int, default=1, help="seed of the bootstrap resampling (default 1)")
    p.add_argument("--resamples", type=int, default=noise.RESAMPLES,
                   help=f"bootstrap resamples (default {noise.RESAMPLES})")
    p.add_argument("--ui", action="store_true", help="show the comparison in the workbench")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the gate's result")


def run_compare(args: argparse.Namespace) -> int:
    if len(args.inputs) < 2:
        raise UsageError("compare: give at least two reports (or --repeat folders); the first is the base")
    if not 100 <= args.resamples <= 100_000:
        raise UsageError(f"--resamples {args.resamples}: expected 100 to 100000")
    min_effect = parse_share(args.min_effect, "--min-effect")
    rules = parse_gate(args.fail_on) if args.fail_on is not None else []
    sides = load_sides(args.inputs)
    check_comparable(sides, args.force)
    doc = build_comparison(sides, min_effect=min_effect, seed=args.seed, resamples=args.resamples)
    if rules:
        evaluate_gate(doc, rules)
    if args.ui:
        from stormdb_tui.tui.screens.compare import run_compare_app

        run_compare_app(list(args.inputs), min_effect=min_effect, force=args.force)
    elif not args.quiet:
        sys.stdout.write(comparison_text(doc, every=args.all))
    code = EXIT_OK
    outputs: list[tuple[str | None, Callable[[dict[str, Any]], str]]] = [
        (args.markdown, comparison_markdown), (args.json_file, _json), (args.html, _html)]
    for path, render in outputs:
        if not path:
            continue
        try:
            where = write_atomic(path, render(doc))
        except OSError as exc:
            print(f"stormdb-tui: error: could not write {path}: {exc.strerror or exc}", file=sys.stderr)
            code = EXIT_FAILED
            continue
        print(f"stormdb-tui: comparison written to {where}", file=sys.stderr)
    gate = doc.get("gate")
    if gate is not None:
        if not gate["passed"]:
            for check in gate["broken"]:
                print(f"stormdb-tui: gate: {check['rule']} broken: {check['other']} {check['metric']} "
                      f"{check['change'] * 100:+.1f} % against {check['base']} ({check['verdict']}"
                      f"{', weak' if check['weak'] else ''})", file=sys.stderr)
            return EXIT_FAILED
        print("stormdb-tui: gate passed: no rule broken beyond noise", file=sys.stderr)
    return code


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, default=str) + "\n"


def _html(doc: dict[str, Any]) -> str:
    from stormdb_tui.report.compare_html import comparison_html

    return comparison_html(doc)
