"""One run driven from the workbench: plan building and the thread that runs it.

The run thread is started with ``app.run_worker(fn, thread=True)``. It builds
the plan (which may start the embedded server), prepares the data and runs the
workload; the only things it sends to the UI are messages posted with
``app.post_message`` (thread-safe and non-blocking) from the runner's
``on_phase`` and progress callbacks. The dashboard reads
:attr:`RunSession.runner`'s immutable snapshot on its own timer.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stormdb_tui import db
from stormdb_tui.config import RunConfig, load_config
from stormdb_tui.errors import StormError
from stormdb_tui.frontends.headless import write_reports
from stormdb_tui.registry import Registry
from stormdb_tui.engine.runner import Runner, RunPlan
from stormdb_tui.tui.messages import RunFinished, RunPhaseChanged, SetupProgressed

RUN_FIELDS = ("workers", "duration", "warmup", "rate", "think_time")
"""The run settings the pick screen offers (declared in :data:`stormdb_tui.config.RUN_OPTIONS`)."""


@dataclass
class PickSettings:
    """What the pick screen holds: enough to build a :class:`RunPlan`."""

    config_path: str | None
    workload: str | None
    workload_values: dict[str, Any] = field(default_factory=dict)
    run_values: dict[str, Any] = field(default_factory=dict)
    dsn: str | None = None
    setup: bool = False
    rebuild: bool = False
    monitor: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    def overrides(self) -> list[tuple[str, Any]]:
        pairs: list[tuple[str, Any]] = []
        if self.workload:
            pairs.append(("workload.name", self.workload))
        pairs += [(f"workload.{k}", v) for k, v in self.workload_values.items()]
        pairs += [(f"run.{k}", v) for k, v in self.run_values.items()]
        return pairs


def build_plan(
    settings: PickSettings,
    registry: Registry,
    *,
    extra: Mapping[str, Any] | None = None,
    data_dir: str | None = None,
) -> RunPlan:
    """The plan for the pick screen's settings plus ``extra`` overrides (``{"run.duration": "10s"}``)."""
    from stormdb_tui.engine.plan import make_plan

    cfg = load_config(settings.config_path) if settings.config_path else RunConfig()
    cfg.warnings = []
    overrides = settings.overrides() + list((extra or {}).items())
    return make_plan(
        cfg,
        overrides=overrides,
        registry=registry,
        dsn=settings.dsn or None,
        data_dir=data_dir,
        setup=settings.setup,
        rebuild=settings.rebuild,
        monitor=settings.monitor,
        quiet=True,
    )


def plan_from_args(args: argparse.Namespace) -> RunPlan:
    """The plan for ``stormdb-tui run ...`` without ``--no-ui``; server statistics default to on here."""
    from stormdb_tui.frontends.cli import plan_from_run_args

    return plan_from_run_args(args, monitor_default=True, quiet=True)


class RunSession:
    """The state of one run: its plan, its runner, and how it was asked to stop."""

    def __init__(self, build: Callable[[], RunPlan], post: Callable[[Any], Any]) -> None:
        self._build = build
        self._post = post
        self.plan: RunPlan | None = None
        self.runner: Runner | None = None
        self.stop_reason: str | None = None
        self.aborted = False
        self.finished = False
        self.written: list[str] = []
        """One line per report file written at the end (config ``report:`` paths)."""

    @property
    def workload_name(self) -> str:
        return self.plan.workload.name if self.plan is not None else ""

    def request_stop(self, reason: str, *, abort: bool = False) -> None:
        """Graceful stop (``s``) or abort (``a``): in-flight transactions end, the report is kept."""
        self.aborted = self.aborted or abort
        if self.stop_reason is None:
            self.stop_reason = reason
        runner = self.runner
        if runner is not None:
            runner.request_stop(reason)

    def run(self) -> None:
        """The body of the thread worker; every outcome ends in one :class:`RunFinished`."""
        post = self._post
        try:
            post(RunPhaseChanged("connecting", "resolving the target"))
            self.plan = self._build()
            self.plan.isolate_workers = True
            runner = Runner(self.plan, on_phase=lambda phase, detail: post(RunPhaseChanged(phase, detail)))
            self.runner = runner
            if self.stop_reason is not None:
                post(RunFinished("cancelled", error="cancelled before the run started"))
                return
            runner.prepare(lambda progress: post(SetupProgressed(progress)))
            if self.stop_reason is not None:
                post(RunFinished("cancelled", error="cancelled during setup"))
                return
            report = runner.run()
            self._write_reports(report)
            post(RunFinished(report.status, report=report))
        except StormError as exc:
            status = "cancelled" if self.stop_reason is not None else "failed"
            post(RunFinished(status, error=str(exc)))
        except Exception as exc:
            status = "cancelled" if self.stop_reason is not None and self.plan is not None else "failed"
            post(RunFinished(status, error=f"{type(exc).__name__}: {db.first_line(exc)}"))
        finally:
            self.finished = True

    def _write_reports(self, report: Any) -> None:
        if self.plan is not None:
            self.written = [line for _, line in write_reports(report, self.plan.config.report)]


def check_connection(dsn: str | None, config_path: str | None, data_dir: str | None) -> tuple[bool, str]:
    """Connect to the target the settings resolve to; ``(ok, one line)`` for the pick screen."""
    from stormdb_tui.engine.plan import resolve_target

    try:
        cfg = load_config(config_path) if config_path else RunConfig()
        target = resolve_target(cfg, dsn or None, data_dir, quiet=True)
        with db.connect(target.conninfo, role="admin", connect_timeout=5) as conn:
            info = db.server_info(conn)
        version = str(info.get("version") or "").split(" on ")[0]
        where = target.description or target.redacted or target.source
        return True, f"connected: {version}, database {info.get('database')} ({where})"
    except StormError as exc:
        return False, str(exc)
    except Exception as exc:
        return False, f"connection failed: {db.first_line(exc)}"


def config_candidates(extra: Sequence[str] = (), cwd: str | None = None) -> list[str]:
    """YAML configs in ``configs/`` of the working directory and of the source tree, plus ``extra``."""
    import os
    from pathlib import Path

    import stormdb_tui

    roots = [Path(cwd or os.getcwd()) / "configs", Path(stormdb_tui.__file__).resolve().parent.parent / "configs"]
    seen: set[Path] = set()
    found: list[str] = []
    for path in [Path(p) for p in extra]:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            found.append(str(path))
    for root in roots:
        if not root.is_dir():
            continue
        for path in sorted(root.glob("*.y*ml")):
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            try:
                shown = str(path.relative_to(Path(cwd or os.getcwd())))
            except ValueError:
                shown = str(path)
            found.append(shown)
    return found
