"""``stormdb-tui sweep``: a series of runs over one setting, the knee, the highest rate at an SLO, recall.

    stormdb-tui sweep -w simple --set script=select-only --over workers --values 1,2,4,8,16 -T 10s
    stormdb-tui sweep -w simple --over workers --strategy exponential --from 1 --to 32
    stormdb-tui sweep -c stormdb.yaml                       # its progressive: section
    stormdb-tui sweep -w simple --find-rate --slo "p99<20ms,errors<0.1%"
    stormdb-tui sweep -w vector --recall --values 10,20,40,80,160 --min-recall 0.95

Each step is one run through the engine's run session; a line per step goes
to stdout as it finishes, the table, fit and chart at the end; the sweep's
JSON document (every step's report embedded) and Markdown go to
``--report-json``/``--report-md``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, cast

from stormdb_tui.engine.plan import RunRequest, request_config
from stormdb_tui.engine.session import Hooks, signals_stop
from stormdb_tui.engine.sweep import (
    STRATEGIES,
    Step,
    Sweep,
    SweepHooks,
    SweepSpec,
    canonical_setting,
    step_values,
)
from stormdb_tui.errors import EXIT_FAILED, EXIT_OK, EXIT_SIGINT, UsageError
from stormdb_tui.options import parse_duration
from stormdb_tui.registry import discover
from stormdb_tui.report.fmt import fmt
from stormdb_tui.report.slo import Slo, parse_slo
from stormdb_tui.report.sweep import build_sweep_document, sweep_markdown, write_sweep


def add_sweep_args(p: argparse.ArgumentParser) -> None:
    """The sweep's own flags (the run flags are added by the CLI)."""
    g = p.add_argument_group("sweep")
    g.add_argument("--over", metavar="SETTING",
                   help="what to sweep: workers (closed model), rate (open model), or a workload option such as "
                        "ef_search (default: workers, or the config's progressive: section)")
    g.add_argument("--values", metavar="LIST", help="comma-separated values, e.g. 1,2,4,8")
    g.add_argument("--strategy", choices=STRATEGIES[1:], help="generate the values from --from to --to")
    g.add_argument("--from", dest="start", type=float, metavar="N", help="first value of a generated sweep")
    g.add_argument("--to", dest="stop", type=float, metavar="N", help="last value of a generated sweep")
    g.add_argument("--steps", type=int, help="number of values (linear; a cap for the others)")
    g.add_argument("--factor", type=float, default=2.0, help="exponential growth per step (default 2)")
    g.add_argument("--step-warmup", metavar="DURATION", help="warm-up before each step's measurement")
    g.add_argument("--cooldown", metavar="DURATION", help="pause between steps")
    g.add_argument("--find-rate", action="store_true",
                   help="search the open-model rate for the highest rate meeting --slo")
    g.add_argument("--slo", help='objectives every step is judged by, e.g. "p99<20ms,errors<0.1%%"')
    g.add_argument("--start-rate", type=float, default=100.0, help="first rate of --find-rate (default 100/s)")
    g.add_argument("--max-rate", type=float, default=1_000_000.0, help="highest rate --find-rate tries")
    g.add_argument("--tolerance", type=float, default=0.05,
                   help="--find-rate stops when the passing and failing rates are this close (default 0.05)")
    g.add_argument("--max-steps", type=int, default=14, help="most runs --find-rate makes (default 14)")
    g.add_argument("--recall", action="store_true",
                   help="vector workload: sweep ef_search (hnsw) or probes (ivfflat), reporting recall@k per step")
    g.add_argument("--min-recall", type=float, default=0.9, help="recall@k threshold for the best QPS (default 0.9)")
    g.add_argument("--recall-samples", type=int, default=200,
                   help="distinct queries measuring recall@k per step (default 200)")
    g.add_argument("--ui", action="store_true", help="show the sweep in the workbench's sweep screen")


def _duration(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{flag} {text!r}: expected {exc}") from None


def _values(text: str) -> list[float]:
    out = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            out.append(float(part))
        except ValueError:
            raise UsageError(f"--values: {part.strip()!r} is not a number") from None
    if not out:
        raise UsageError("--values: no values given")
    return out


def _recall_setting(request: RunRequest, args: argparse.Namespace) -> str:
    """ef_search for HNSW, probes for IVFFlat, from the options the run will use."""
    index = None
    for key, value in request.overrides:
        if key in ("index", "workload.index"):
            index = str(value)
    if index is None:
        cfg = request_config(request)
        index = str(cfg.workload_raw.get("index") or "hnsw")
    if index == "none":
        raise UsageError("--recall needs an approximate index (index: hnsw or ivfflat), not index: none")
    return "workload.probes" if index == "ivfflat" else "workload.ef_search"


def build_spec(args: argparse.Namespace, request: RunRequest) -> SweepSpec | None:
    """The sweep from the flags, else from the config's progressive: section; None for --find-rate alone."""
    warmup = _duration("--step-warmup", args.step_warmup)
    cooldown = _duration("--cooldown", args.cooldown) or 0.0
    if args.find_rate:
        return SweepSpec("run.rate", (), warmup=warmup, cooldown=cooldown, strategy="find-rate")
    setting = args.over
    if args.recall and setting is None:
        setting = _recall_setting(request, args)
    if args.values or args.strategy:
        setting = canonical_setting(setting or "workers")
        integer = setting != "run.rate"
        if args.values:
            if args.strategy:
                raise UsageError("give --values or --strategy, not both")
            values = _values(args.values)
            strategy = "list"
        else:
            if args.start is None or args.stop is None:
                raise UsageError(f"--strategy {args.strategy} needs --from and --to")
            values = step_values(args.strategy, args.start, args.stop, args.steps, factor=args.factor,
                                 integer=integer)
            strategy = args.strategy
        if integer and any(not v.is_integer() for v in values):
            raise UsageError(f"--values for {setting} must be whole numbers")
        return SweepSpec(setting, tuple(values), warmup=warmup, cooldown=cooldown, strategy=strategy)
    cfg = request_config(request)
    if cfg.sweep:
        p = cfg.sweep
        values = step_values(p["strategy"], p["start"], p["stop"], p.get("steps"))
        return SweepSpec(p["setting"], tuple(values), duration=p.get("duration"),
                         warmup=warmup if warmup is not None else p.get("warmup"),
                         cooldown=cooldown or p.get("cooldown") or 0.0, connections=p.get("connections"),
                         strategy=p["strategy"])
    raise UsageError("sweep: give --values LIST or --strategy with --from/--to (or a config with a progressive: "
                     "section, or --find-rate --slo ...)")


def step_line(step: Step, setting: str) -> str:
    f = step.figures
    if not f:
        return f"step {step.index + 1}: {setting}={fmt(step.value)}: {step.status}: {step.error}"
    lat = f.get("latency_ms") or {}
    text = (f"step {step.index + 1}: {setting}={_num(step.value)}  {fmt(f.get('tps'), 1)} tps  "
            f"p50 {fmt(lat.get('p50'), 3)}  p95 {fmt(lat.get('p95'), 3)}  p99 {fmt(lat.get('p99'), 3)}  "
            f"p99.9 {fmt(lat.get('p99_9'), 3)} ms  errors {f.get('errors', 0)}")
    if f.get("cache_hit_ratio") is not None:
        text += f"  hit {f['cache_hit_ratio'] * 100:.1f}%"
    if f.get("wal_bytes_per_tx") is not None:
        text += f"  WAL {f['wal_bytes_per_tx']:.0f} B/tx"
    if f.get("recall_at_k") is not None:
        text += f"  recall@k {f['recall_at_k']:.4f}"
    if f.get("client_bound"):
        text += "  (client-bound)"
    if step.slo_met is not None:
        text += "  SLO " + ("met" if step.slo_met else "missed")
    if step.status != "completed":
        text += f"  [{step.status}{': ' + step.error if step.error else ''}]"
    return text


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _run_ui(args: argparse.Namespace, request: RunRequest, spec: SweepSpec | None, slo: Slo | None,
            registry: Any) -> int:
    from stormdb_tui.tui.screens.sweep import SweepApp, SweepScreen

    find = (dict(start=args.start_rate, max_rate=args.max_rate, tolerance=args.tolerance, max_steps=args.max_steps)
            if args.find_rate else None)
    screen = SweepScreen(request, spec, slo=slo, find_rate=find, registry=registry,
                         markdown_path=request.report_md or "sweep.md")
    SweepApp(screen).run()
    if screen.doc is not None and request.report_json:
        write_sweep(screen.doc, request.report_json, None)
    return EXIT_OK if screen.doc is not None and screen.doc["status"] == "completed" else EXIT_FAILED


def run_sweep(args: argparse.Namespace, request: RunRequest, warn: Any) -> int:
    """Run the sweep the flags describe; print a line per step, then the Markdown; exit status."""
    slo: Slo | None = parse_slo(args.slo) if args.slo else None
    if args.find_rate and slo is None:
        raise UsageError("--find-rate needs --slo, e.g. --slo \"p99<20ms,errors<0.1%\"")
    extra: list[tuple[str, Any]] = []
    if args.recall:
        if args.recall_samples < 1:
            raise UsageError("--recall-samples: expected at least 1")
        extra.append(("workload.recall_samples", args.recall_samples))
        names = {k.rpartition(".")[2] for k, _ in request.overrides}
        if "weights" not in names:
            # Writes between steps would change the data the next step's recall is measured on.
            extra.append(("workload.weights", {"knn_search": 100}))
    request = replace(request, overrides=tuple(request.overrides) + tuple(extra))
    spec = build_spec(args, request)
    registry = discover(list(request.plugin_paths) + list(request_config(request).plugins.get("paths") or []))
    setting = spec.key if spec is not None else "run.rate"
    if getattr(args, "ui", False):
        return _run_ui(args, request, spec, slo, registry)

    def done(step: Step) -> None:
        print(step_line(step, setting), flush=True)

    hooks = SweepHooks(step_done=done, run=Hooks(), warn=warn)
    sweep = Sweep(request, spec, hooks=hooks, registry=registry, monitor_default=True, quiet=True)
    find_result = None
    # A Sweep stops like a run session (request_stop with the signal, signum), so the same handler serves.
    with signals_stop(cast(Any, sweep)):
        if args.find_rate:
            assert slo is not None
            find_result = sweep.find_rate(slo, start=args.start_rate, max_rate=args.max_rate,
                                          tolerance=args.tolerance, max_steps=args.max_steps, spec=spec)
        else:
            assert spec is not None
            sweep.run(slo)
    status = "interrupted" if sweep.stop_reason else (
        "failed" if any(s.status == "failed" or s.report is None for s in sweep.steps) else "completed")
    doc = build_sweep_document(
        setting=setting,
        strategy=spec.strategy if spec is not None else "find-rate",
        steps=[step.__dict__ for step in sweep.steps],
        started_at=sweep.started_at.isoformat(),
        ended_at=(sweep.ended_at or datetime.now(timezone.utc)).isoformat(),
        status=status,
        config={"request": {k: v for k, v in request.__dict__.items() if k not in ("dsn",)}},
        slo=slo.as_dict() if slo else None,
        find_rate=find_result,
        recall_threshold=args.min_recall if args.recall else None,
    )
    print()
    sys.stdout.write(sweep_markdown(doc))
    code = EXIT_OK
    try:
        for path in write_sweep(doc, request.report_json, request.report_md):
            print(f"stormdb-tui: sweep written to {path}", file=sys.stderr)
    except OSError as exc:
        print(f"stormdb-tui: error: could not write the sweep: {exc.strerror or exc}", file=sys.stderr)
        code = EXIT_FAILED
    if sweep.stop_reason:
        return EXIT_SIGINT
    if status == "failed":
        failed = next(s for s in sweep.steps if s.status == "failed" or s.report is None)
        print(f"stormdb-tui: error: step {failed.index + 1} failed: {failed.error}", file=sys.stderr)
        return EXIT_FAILED
    return code
