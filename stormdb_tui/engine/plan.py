"""From a config and the user's choices to a :class:`RunPlan`.

A :class:`RunRequest` is what a user asked for (a config file, overrides,
a target, switches), typed and free of any front end's argument objects;
:func:`plan_from_request` turns it into a plan. The headless CLI, the
workbench and the tutorials all go through here, so they resolve targets,
workloads and overrides the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stormdb_tui import db
from stormdb_tui.config import RunConfig, apply_override, check_window, load_config
from stormdb_tui.errors import ConfigError
from stormdb_tui.registry import Registry, discover
from stormdb_tui.workload import Workload


@dataclass
class RunPlan:
    """Everything a run needs, resolved: config, workload instance, target, switches."""

    config: RunConfig
    workload: Workload
    target: db.Target
    setup: bool = False
    rebuild: bool = False
    monitor: bool = False
    isolate_workers: bool = False
    """Run the workers in a child process even with ``processes: 1``, so a UI in
    this process never competes with them for the GIL (the workbench sets it)."""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for, before anything is resolved (``stormdb-tui run …`` or the pick screen)."""

    config_path: str | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    dsn: str | None = None
    data_dir: str | None = None
    setup: bool = False
    rebuild: bool = False
    monitor: bool | None = None
    """Server statistics: None takes the config's choice, then the front end's default."""
    report_json: str | None = None
    report_md: str | None = None
    plugin_paths: tuple[str, ...] = ()

    @property
    def workload(self) -> str | None:
        names = [str(v) for k, v in self.overrides if k in ("workload", "workload.name")]
        return names[-1] if names else None


def request_config(request: RunRequest) -> RunConfig:
    """The request's config file (or the defaults) with its extra plugin folders and report paths."""
    cfg = load_config(request.config_path) if request.config_path else RunConfig()
    if request.plugin_paths:
        cfg.plugins["paths"] = list(cfg.plugins.get("paths") or []) + list(request.plugin_paths)
    if request.report_json:
        cfg.report["json"] = request.report_json
    if request.report_md:
        cfg.report["markdown"] = request.report_md
    return cfg


def validate_request(request: RunRequest) -> Registry:
    """Reject a bad config, flag or option before anything starts (exit status 2)."""
    cfg = request_config(request)
    registry = discover(cfg.plugins.get("paths") or [])
    cls = apply_overrides(cfg, registry, request.overrides)
    cfg.workload_options(tuple(cls.options))
    return registry


def plan_from_request(
    request: RunRequest,
    *,
    monitor_default: bool,
    registry: Registry | None = None,
    warn: Callable[[str], None] | None = None,
    quiet: bool = False,
) -> RunPlan:
    """The plan for a request; config warnings go to ``warn`` (dropped when it is None)."""
    cfg = request_config(request)
    warnings, cfg.warnings = cfg.warnings, []
    if warn is not None:
        for warning in warnings:
            warn(warning)
    return make_plan(
        cfg,
        overrides=request.overrides,
        registry=registry,
        dsn=request.dsn,
        data_dir=request.data_dir,
        setup=request.setup,
        rebuild=request.rebuild,
        monitor=request.monitor,
        monitor_default=monitor_default,
        quiet=quiet,
    )


def resolve_target(cfg: RunConfig, dsn: str | None = None, data_dir: str | None = None, *, quiet: bool = False) -> db.Target:
    """``--dsn``, then the config's database section, then ``PG*`` variables, then the embedded server."""
    if dsn:
        _check_conninfo(dsn)
        return db.Target(dsn, "dsn", db.redact(dsn))
    section = {k: v for k, v in cfg.database.items() if v is not None and k != "data_dir"}
    if section:
        conninfo = db.conninfo_from_section(section)
        return db.Target(conninfo, "config", db.redact(conninfo))
    if db.env_targets_set():
        return db.Target("", "environment", "server from PG* environment variables")
    from stormdb_tui.embedded import start_embedded

    return start_embedded(data_dir or cfg.database.get("data_dir"), quiet=quiet)


def _check_conninfo(dsn: str) -> None:
    """Syntax errors in ``--dsn`` are usage errors (exit 2), found before any connection attempt."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except ProgrammingError as exc:
        raise ConfigError(f"invalid connection string: {db.first_line(exc)}", path="--dsn") from None
    port = str(params.get("port") or "")
    if port and not all(p.strip().isdigit() for p in port.split(",")):
        raise ConfigError("invalid port", path="--dsn", expected="a port number", found=port)


def apply_overrides(cfg: RunConfig, registry: Registry, overrides: Sequence[tuple[str, Any]]) -> type[Workload]:
    """Apply CLI overrides in order; returns the chosen workload class.

    ``workload.name`` is applied first so that bare ``--set`` keys can be
    matched against the chosen workload's options.
    """
    from_file = True
    for key, value in overrides:
        if key in ("workload", "workload.name"):
            cfg.workload = str(value)
            from_file = False
    try:
        cls = registry.get(cfg.workload)
    except ConfigError as exc:
        if from_file and cfg.source:
            raise exc.located(cfg.source, cfg.lines.get("workload.name") or cfg.lines.get("workload")) from None
        raise
    for key, value in overrides:
        if key in ("workload", "workload.name"):
            continue
        apply_override(cfg, key, value, tuple(cls.options))
    return cls


def make_plan(
    cfg: RunConfig,
    *,
    overrides: Sequence[tuple[str, Any]] = (),
    registry: Registry | None = None,
    dsn: str | None = None,
    data_dir: str | None = None,
    setup: bool = False,
    rebuild: bool = False,
    monitor: bool | None = None,
    monitor_default: bool = False,
    quiet: bool = False,
) -> RunPlan:
    """Validate everything that can be validated before touching the server, then resolve the target."""
    registry = registry or discover(cfg.plugins.get("paths") or [])
    cls = apply_overrides(cfg, registry, overrides)
    check_window(cfg.run, cfg.source, cfg.lines)
    options = cfg.workload_options(tuple(cls.options))
    try:
        workload = cls(options, _run_settings(cfg.run))
    except ConfigError as exc:
        # Cross-option rules live in the workload's __init__; point at the file like every other config error.
        if cfg.source and not exc.file:
            raise exc.located(cfg.source, cfg.lines.get(exc.path or "") or cfg.lines.get("workload")) from None
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid options for workload {cls.name}: {exc}", file=cfg.source) from None
    workload.given = frozenset(cfg.workload_raw)
    from stormdb_tui.engine.multiplex import choose_driver

    try:
        choose_driver(workload, cfg.settings())  # driver: multiplex on a Python workload is a usage error
        if cfg.settings().cluster:
            from stormdb_tui.engine.cluster import require_ray

            require_ray()  # before the embedded server starts: without Ray this is a usage error
    except ConfigError as exc:
        if cfg.source and not exc.file:
            raise exc.located(cfg.source, cfg.lines.get(exc.path or "")) from None
        raise
    enabled = cfg.monitoring.get("enabled")
    if monitor is None:
        monitor = monitor_default if enabled is None else bool(enabled)
    target = resolve_target(cfg, dsn, data_dir, quiet=quiet)
    plan = RunPlan(cfg, workload, target, setup=setup, rebuild=rebuild, monitor=monitor)
    plan.notes.extend(cfg.warnings)
    return plan


def _run_settings(run: Mapping[str, Any]) -> dict[str, Any]:
    return dict(run)
