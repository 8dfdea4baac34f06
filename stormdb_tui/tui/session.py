"""One run driven from the workbench: the pick screen's settings and the thread that runs them.

The run itself is the engine's :class:`~stormdb_tui.engine.session.RunSession`,
executed by a thread worker (``app.run_worker(fn, thread=True)``). It builds
the plan (which may start the embedded server), prepares the data, runs the
workload and writes the report files; the only things it sends to the UI are
messages posted with ``app.post_message`` (thread-safe and non-blocking) from
the session's hooks. The dashboard reads the session's immutable snapshot on
its own timer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stormdb_tui import db
from stormdb_tui.config import RunConfig, load_config
from stormdb_tui.engine.plan import RunPlan
from stormdb_tui.engine.session import Hooks, IntervalSink, RunSession
from stormdb_tui.errors import StormError
from stormdb_tui.registry import Registry
from stormdb_tui.tui.messages import RunFinished, RunNotice, RunPhaseChanged, SetupProgressed

RUN_FIELDS = ("workers", "duration", "warmup", "rate", "think_time")
"""The run settings the pick screen offers (declared in :data:`stormdb_tui.config.RUN_OPTIONS`)."""
CLUSTER_FIELDS = ("cluster",)
"""The run settings the pick screen shows with the target: where the client processes run."""


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
    base_overrides: list[tuple[str, Any]] = field(default_factory=list)
    """Applied before the forms' values (the command line's flags the forms do not show)."""

    def overrides(self) -> list[tuple[str, Any]]:
        pairs: list[tuple[str, Any]] = list(self.base_overrides)
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


def run_session(build: Callable[[], RunPlan], post: Callable[[Any], Any],
                sinks: Sequence[IntervalSink] = ()) -> RunSession:
    """An engine session whose hooks post messages to the app (thread-safe, non-blocking).

    Its plan runs its workers in a child process, so the UI in this process
    never competes with them for the GIL. ``sinks`` (a metrics endpoint)
    are fed every interval, as in a headless run.
    """

    def isolated() -> RunPlan:
        plan = build()
        plan.isolate_workers = True
        return plan

    hooks = Hooks(
        phase=lambda phase, detail: post(RunPhaseChanged(phase, detail)),
        progress=lambda progress: post(SetupProgressed(progress)),
        notice=lambda text: post(RunNotice(text)),
        sinks=tuple(sinks),
    )
    return RunSession(isolated, hooks)


def execute(session: RunSession, post: Callable[[Any], Any]) -> None:
    """The body of the run thread: every outcome ends in one :class:`RunFinished`."""
    outcome = session.execute()
    post(RunFinished(str(outcome.status), report=outcome.report, error=outcome.error))


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
