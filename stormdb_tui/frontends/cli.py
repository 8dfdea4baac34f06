"""The ``stormdb-tui`` command.

``stormdb-tui`` alone opens the Textual workbench. Subcommands:

* ``run`` — run a workload (``--no-ui`` for headless, pgbench-style progress);
* ``sweep`` — a series of runs over one setting (see :mod:`stormdb_tui.frontends.sweep`);
* ``workloads [NAME]`` — list workloads, or show one's options;
* ``check`` — check a workload's data (and TPC-C's consistency conditions);
* ``setup`` — create and load a workload's data only;
* ``report FILE`` — open a saved JSON report (``--md`` to print Markdown, ``--html OUT`` to write HTML);
* ``merge LOG...`` — add HdrHistogram interval logs exactly (see :mod:`stormdb_tui.frontends.merge`).
* ``compare A B [C ...]`` — runs side by side with verdicts beyond noise and a
  ``--fail-on`` gate (see :mod:`stormdb_tui.frontends.compare`).

Exit codes: 0 done, 1 run failed, 2 bad config or usage, 129 hung up
(SIGHUP: the terminal closed), 130 interrupted (SIGINT), 143 terminated
(SIGTERM). Errors are one line, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NoReturn

from stormdb_tui import __version__
from stormdb_tui.config import METRICS_OPTIONS, RUN_OPTIONS
from stormdb_tui.engine.plan import RunRequest, plan_from_request
from stormdb_tui.engine.session import Hooks, RunSession, signals_stop
from stormdb_tui.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SIGHUP,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_USAGE,
    StormError,
    UsageError,
)
from stormdb_tui.options import Option


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and exit 2, like every other bad input
        # main() prints "stormdb-tui: error: " before it: name only the subcommand, if any
        command = self.prog.removeprefix("stormdb-tui").strip()
        where = f"{command}: " if command else ""
        raise UsageError(f"{where}{message} (see stormdb-tui {command + ' ' if command else ''}--help)")


# Subcommand flags that the top level also takes default to SUPPRESS: argparse copies
# every subparser default over the parent's namespace, so `stormdb-tui --dsn X check`
# would otherwise silently drop --dsn and check the embedded server instead.
_KEEP = argparse.SUPPRESS


def _add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", default=_KEEP, help="YAML config file")
    p.add_argument("--dsn", default=_KEEP,
                   help="libpq conninfo or URI of the target (default: config, PG* variables, or the embedded server)")
    p.add_argument("--data-dir", default=_KEEP, help="data directory of the embedded server")
    p.add_argument("-w", "--workload", help="workload name (see `stormdb-tui workloads`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting: a workload option (scale=10), or section.key (run.warmup=5s)")
    p.add_argument("--plugin-path", action="append", default=_KEEP, help="extra folder of drop-in workloads")


# pgbench's letters for the flags a pgbench user reaches for first.
_SHORT_FLAGS = {"workers": "-j", "duration": "-T", "transactions": "-t", "rate": "-R", "latency_limit": "-L"}
_FLAG_SECTIONS = (("run", RUN_OPTIONS), ("metrics", tuple(o for o in METRICS_OPTIONS if o.name == "interval")))


_RUN_BY_NAME = {option.name: option for option in RUN_OPTIONS}


def _flag_dest(section: str, option: Option) -> str:
    return f"opt_{section}_{option.name}"


def _add_run_args(p: argparse.ArgumentParser) -> None:
    _add_target_args(p)
    # One flag per declared run setting: the option declarations are the single source of
    # names, help and validation (values are parsed like the same keys in a config file).
    for section, options in _FLAG_SECTIONS:
        for option in options:
            flags = [f"--{option.name.replace('_', '-')}"]
            if section == "run" and option.name in _SHORT_FLAGS:
                flags.append(_SHORT_FLAGS[option.name])
            p.add_argument(*flags, dest=_flag_dest(section, option), metavar=option.name.upper(),
                           help=f"{option.help} ({option.describe_type()}; {section}.{option.name})")
    p.add_argument("--setup", action="store_true", help="create and load the workload's data before running")
    p.add_argument("--rebuild", action="store_true", help="drop the workload's own objects and reload them")
    stats = p.add_mutually_exclusive_group()
    stats.add_argument("--pg-stats", dest="pg_stats", action="store_true", default=None, help="collect server statistics (default: on in the workbench, off with --no-ui)")
    stats.add_argument("--no-pg-stats", dest="pg_stats", action="store_false", help="do not collect server statistics")
    p.add_argument("--report-json", help="write the JSON report here")
    p.add_argument("--report-md", help="write the Markdown report here")
    p.add_argument("--report-html", help="write a self-contained HTML report here (report.html)")
    p.add_argument("--hdr-log", metavar="PATH", help="the HdrHistogram interval log: a path, or off (report.hdr_log; "
                   "default beside the report)")
    p.add_argument("--no-ui", action="store_true", help="headless: progress lines on stderr, summary on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stormdb-tui", description="PostgreSQL load-testing workbench")
    parser.add_argument("--version", action="version", version=f"stormdb-tui {__version__}")
    parser.add_argument("-c", "--config", help="config to preselect in the workbench")
    parser.add_argument("--dsn", help="target database for the workbench")
    parser.add_argument("--data-dir", help="data directory of the embedded server")
    parser.add_argument("--plugin-path", action="append", default=[], dest="global_plugin_path",
                        help="extra folder of drop-in workloads")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    rn = sub.add_parser("run", help="run a workload")
    _add_run_args(rn)
    rn.add_argument("--repeat", type=int, metavar="N",
                    help="run the same configuration N times (headless), keeping every repetition for `compare`")
    rn.add_argument("--repeat-dir", metavar="DIR",
                    help="folder of the repetitions' reports and index (default reports/<workload>-<time>-xN)")
    rn.add_argument("--append", action="store_true",
                    help="add the repetitions to an existing --repeat-dir (to run two configurations in turns)")
    from stormdb_tui.frontends.sweep import add_sweep_args

    sw = sub.add_parser("sweep", help="run a series of steps over one setting: the knee, --find-rate, --recall")
    _add_run_args(sw)
    add_sweep_args(sw)
    wl = sub.add_parser("workloads", help="list workloads or show one's options")
    wl.add_argument("name", nargs="?")
    wl.add_argument("--plugin-path", action="append", default=_KEEP, help="extra folder of drop-in workloads")
    for name, text in (("check", "check a workload's data and consistency"), ("setup", "create and load a workload's data")):
        sp = sub.add_parser(name, help=text)
        _add_target_args(sp)
        sp.add_argument("--rebuild", action="store_true", help="drop the workload's own objects first")
    from stormdb_tui.frontends.compare import add_compare_args

    add_compare_args(sub.add_parser("compare", help="compare runs side by side, verdicts beyond noise, a CI gate"))
    rp = sub.add_parser("report", help="open a saved JSON report")
    rp.add_argument("file")
    rp.add_argument("--md", action="store_true", help="print it as Markdown instead of opening the workbench")
    rp.add_argument("--write-md", metavar="PATH", help="write it as Markdown to PATH")
    rp.add_argument("--write-json", metavar="PATH", help="write it as a JSON report to PATH (turns a run journal into a report)")
    rp.add_argument("--html", metavar="OUT", help="write it as a self-contained HTML report to OUT")
    from stormdb_tui.frontends.merge import add_merge_args

    add_merge_args(sub.add_parser("merge", help="add HdrHistogram interval logs exactly; the merged percentiles"))
    return parser


def _overrides(args: argparse.Namespace) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    if getattr(args, "workload", None):
        pairs.append(("workload.name", args.workload))
    for section, options in _FLAG_SECTIONS:
        for option in options:
            value = getattr(args, _flag_dest(section, option), None)
            if value is not None:
                pairs.append((f"{section}.{option.name}", value))
    for flag, key in (("report_html", "report.html"), ("hdr_log", "report.hdr_log")):
        if getattr(args, flag, None):
            pairs.append((key, getattr(args, flag)))
    if getattr(args, _flag_dest("run", _RUN_BY_NAME["transactions"]), None) is not None:
        pairs.append(("run.duration", 0))  # a transaction count replaces the duration
    for item in getattr(args, "set", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        pairs.append((key.strip(), _yaml_scalar(value)))
    return pairs


def _yaml_scalar(text: str) -> Any:
    """``--set`` values are read as YAML scalars/flow collections (``10``, ``true``, ``{a: 1}``)."""
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        return text


def request_from_args(args: argparse.Namespace) -> RunRequest:
    """What ``run``, ``setup`` and ``check`` were asked to do, as the engine's typed request."""
    return RunRequest(
        config_path=getattr(args, "config", None),
        overrides=tuple(_overrides(args)),
        dsn=getattr(args, "dsn", None),
        data_dir=getattr(args, "data_dir", None),
        setup=bool(getattr(args, "setup", False)),
        rebuild=bool(getattr(args, "rebuild", False)),
        monitor=getattr(args, "pg_stats", None),
        report_json=getattr(args, "report_json", None),
        report_md=getattr(args, "report_md", None),
        plugin_paths=tuple(getattr(args, "plugin_path", None) or ()),
    )


def _warn(text: str) -> None:
    print(f"stormdb-tui: warning: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _exit_on_hangup()
    try:
        args = build_parser().parse_args(argv)
        # Plugin folders given before and after the subcommand both count.
        args.plugin_path = list(args.global_plugin_path) + list(getattr(args, "plugin_path", None) or [])
        from stormdb_tui.db import PASSWORD_HINT, has_password

        if has_password(getattr(args, "dsn", None)):
            _warn(PASSWORD_HINT)
        if args.command is None:
            return _tui(args)
        handler = {
            "run": _cmd_run,
            "sweep": _cmd_sweep,
            "workloads": _cmd_workloads,
            "check": _cmd_check,
            "setup": _cmd_setup,
            "report": _cmd_report,
            "merge": _cmd_merge,
            "compare": _cmd_compare,
        }[args.command]
        return handler(args)
    except StormError as exc:
        print(f"stormdb-tui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("stormdb-tui: interrupted", file=sys.stderr)
        return EXIT_SIGINT
    except BrokenPipeError:
        return EXIT_OK


def _tui(args: argparse.Namespace, request: RunRequest | None = None) -> int:
    from stormdb_tui.registry import PATH_ENV
    from stormdb_tui.tui.app import run_app

    extra = getattr(args, "plugin_path", None) or []
    if extra:
        current = [p for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p]
        os.environ[PATH_ENV] = os.pathsep.join([*extra, *current])
    exporter = None
    port = getattr(args, _flag_dest("run", _RUN_BY_NAME["metrics_port"]), None)
    if port is None and request is not None and request.config_path:
        from stormdb_tui.engine.plan import request_config

        port = request_config(request).run.get("metrics_port")
    if port is not None:
        from stormdb_tui.frontends.metrics import MetricsExporter

        exporter = MetricsExporter(int(_RUN_BY_NAME["metrics_port"].convert(port, "run.metrics_port")))
        exporter.start()  # before the app takes the terminal: a taken port is a one-line error
    try:
        return run_app(config=getattr(args, "config", None), dsn=getattr(args, "dsn", None),
                       data_dir=getattr(args, "data_dir", None), request=request,
                       sinks=(exporter,) if exporter is not None else ())
    finally:
        if exporter is not None:
            exporter.stop()


def _cmd_run(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    if args.repeat is not None:
        from stormdb_tui.frontends.repeat import check_repeat_args, run_repeat

        check_repeat_args(args)
        return run_repeat(args, request, _warn)
    if args.repeat_dir or args.append:
        raise UsageError("--repeat-dir and --append need --repeat N")
    if not args.no_ui:
        return _tui(args, request)
    from stormdb_tui.frontends.headless import run_headless

    plan = plan_from_request(request, monitor_default=False, warn=None if args.quiet else _warn, quiet=args.quiet)
    return run_headless(plan, quiet=args.quiet)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from stormdb_tui.frontends.sweep import run_sweep

    if getattr(args, _flag_dest("run", _RUN_BY_NAME["metrics_port"]), None) is not None:
        raise UsageError("--metrics-port serves one run: use it with `stormdb-tui run --no-ui`")

    return run_sweep(args, request_from_args(args), None if args.quiet else _warn)


def _cmd_compare(args: argparse.Namespace) -> int:
    from stormdb_tui.frontends.compare import run_compare

    return run_compare(args)


def _cmd_workloads(args: argparse.Namespace) -> int:
    from stormdb_tui.options import describe_options
    from stormdb_tui.registry import discover

    registry = discover(args.plugin_path)
    if args.name:
        cls = registry.get(args.name)
        print(f"{cls.name} {cls.version} — {cls.title}")
        print(cls.description)
        if cls.operations:
            print("operations: " + ", ".join(cls.operations))
        if cls.required_extensions:
            print("requires extensions: " + ", ".join(cls.required_extensions))
        print()
        rows = describe_options(cls.options)
        if not rows:
            print("(no options)")
        width = max((len(r["name"]) for r in rows), default=4)
        for row in rows:
            print(f"  {row['name']:<{width}}  default {row['default']}  ({row['type']})")
            if row["help"]:
                print(f"  {'':<{width}}  {row['help']}")
        return EXIT_OK
    entries = registry.all()
    width = max((len(e.name) for e in entries), default=4)
    print(f"{'NAME':<{width}}  {'VERSION':<8} {'SOURCE':<11} {'STATUS':<7} DESCRIPTION")
    for entry in entries:
        if entry.ok:
            assert entry.cls is not None
            text = entry.cls.title or entry.cls.description.split(". ")[0]
            print(f"{entry.name:<{width}}  {entry.cls.version:<8} {entry.source:<11} {'ok':<7} {text}")
        else:
            print(f"{entry.name:<{width}}  {'-':<8} {entry.source:<11} {'failed':<7} {entry.error} [{entry.origin}]")
    print("\n`stormdb-tui workloads NAME` shows a workload's description and options.")
    return EXIT_OK


def _cmd_setup(args: argparse.Namespace) -> int:
    from stormdb_tui.frontends.headless import progress_printer

    request = replace(request_from_args(args), setup=True)
    session = RunSession(plan_from_request(request, monitor_default=False, warn=_warn), Hooks(progress=progress_printer()))
    with signals_stop(session):
        result = session.setup_only()
    print(file=sys.stderr)
    name = session.workload_name
    if result is not None:
        if result.rows:
            print(f"loaded {name}: {result.rows:,} rows in {result.elapsed_s:.1f}s ({result.rows_per_s:,.0f} rows/s)")
        else:
            # Idempotent setups skip data that already matches; "loaded 0 rows" read like a failed load.
            print(f"{name}: nothing loaded (the data already matches the options, or the "
                  "workload has none); --rebuild drops and reloads it")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    session = RunSession(plan_from_request(request_from_args(args), monitor_default=False, warn=_warn))
    (_, present, problems), *conditions = session.check()
    if present:
        print(f"PASS  {session.workload_name}: data present and matches the options")
    else:
        for problem in problems.split("; "):
            print(f"FAIL  {problem}")
    for name, passed, detail in conditions:
        verdict = "SKIP" if passed is None else "PASS" if passed else "FAIL"
        print(f"{verdict}  {name}" + (f": {detail}" if detail else ""))
    return EXIT_OK if present and all(passed is not False for _, passed, _ in conditions) else EXIT_FAILED


def _cmd_report(args: argparse.Namespace) -> int:
    from stormdb_tui.report.model import Report, write_atomic

    report = Report.load(args.file)
    try:
        markdown = report.to_markdown() if (args.write_md or args.md or not sys.stdout.isatty()) else None
        html = report.to_html() if args.html else None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise UsageError(f"{args.file}: not a well-formed report ({type(exc).__name__}: {exc})") from None
    if args.write_json or args.write_md or args.html:
        for path, write in ((args.write_json, report.write_json), (args.write_md, lambda p: write_atomic(p, markdown or "")),
                            (args.html, lambda p: write_atomic(p, html or ""))):
            if not path:
                continue
            try:
                print(write(path))
            except OSError as exc:
                print(f"stormdb-tui: error: could not write {path}: {exc.strerror or exc}", file=sys.stderr)
                return EXIT_FAILED
        return EXIT_OK
    if markdown is not None:
        sys.stdout.write(markdown)
        return EXIT_OK
    from stormdb_tui.tui.app import run_app

    return run_app(report_file=args.file)


def _cmd_merge(args: argparse.Namespace) -> int:
    from stormdb_tui.frontends.merge import run_merge

    return run_merge(args)


def _exit_on_hangup() -> None:
    """SIGTERM and SIGHUP (a closed terminal) exit through the interpreter's normal shutdown.

    Their default action ends the process without running exit handlers, and
    the embedded server is stopped by one: a closed terminal would leave it
    running. A run replaces these with a graceful stop
    (:func:`stormdb_tui.engine.session.signals_stop`).
    """

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(EXIT_SIGHUP if signum == signal.SIGHUP else EXIT_SIGTERM)

    if threading.current_thread() is threading.main_thread():  # signal.signal works only there
        for signum in _TERMINATING:
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, handler)


_TERMINATING = tuple(s for s in (getattr(signal, "SIGHUP", None), signal.SIGTERM) if s is not None)


__all__ = ["main", "build_parser", "EXIT_USAGE"]
