"""Guided tutorials: Markdown walkthroughs in ``demos/`` with runnable steps.

A tutorial is one Markdown file. Its ``#`` heading is the title, the text
before the first ``##`` is the introduction, and every ``##`` section is one
step. A step may carry one fenced ``stormdb`` block, a tiny declarative
action language (YAML)::

    ```stormdb
    config: configs/first-run.yaml        # relative to the Markdown file; resets `set`
    set: {run.duration: 10s, run.workers: 4}   # overrides, kept for later steps
    run: closed                           # run once (true, or a name to compare later)
    sweep: {workers: [1, 2, 4, 8]}        # run once per value, side by side
    check: true                           # the workload's data and consistency checks
    compare: [closed, open]               # show named runs side by side
    look: latency                         # the dashboard pane to watch
    ```

Keys apply in that order. State carries over between steps, so a later
step can ``set: {run.rate: 300}`` and ``run`` again without repeating the
config. The same actions run headless (:func:`run_tutorial`), which is how
the tests keep every tutorial working, and in the app's tutorial screen.
This module never imports Textual.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stormdb_tui.config import RunConfig, load_config
from stormdb_tui.engine.plan import RunPlan, make_plan
from stormdb_tui.engine.session import RunSession
from stormdb_tui.errors import ConfigError, StormError
from stormdb_tui.report.model import Report
from stormdb_tui.report.usl import fit_usl

ACTION_KEYS = ("config", "set", "run", "sweep", "check", "compare", "look")
PANES = ("throughput", "server", "latency", "errors", "waits", "io", "connections", "workers")
"""The dashboard's panes, in its order: a step points at one with ``look:`` (the dashboard uses this list)."""

_FENCE = re.compile(r"^```stormdb[ \t]*\n(.*?)^```[ \t]*$\n?", re.S | re.M)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Action:
    """What one step does; every field is optional."""

    config: str | None = None
    set: Mapping[str, Any] = field(default_factory=dict)
    run: str | None = None
    sweep: tuple[str, tuple[Any, ...]] | None = None
    check: bool = False
    compare: tuple[str, ...] = ()
    look: str | None = None

    @property
    def runnable(self) -> bool:
        """True when the step talks to the database (a run, a sweep or a check)."""
        return self.run is not None or self.sweep is not None or self.check


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    action: Action | None = None


@dataclass(frozen=True)
class Tutorial:
    title: str
    path: str
    steps: tuple[Step, ...]

    @property
    def summary(self) -> str:
        """The first paragraph of the introduction, for the tutorial list."""
        intro = self.steps[0].text if self.steps else ""
        for para in intro.split("\n\n"):
            para = " ".join(para.split())
            if para and not para.startswith(("#", "```")):
                return para
        return ""


def demos_dir() -> Path:
    """``$STORMDB_DEMOS``, ``./demos`` or the ``demos/`` beside the package (a source checkout)."""
    env = os.environ.get("STORMDB_DEMOS")
    if env:
        return Path(env)
    here = Path.cwd() / "demos"
    return here if here.is_dir() else ROOT / "demos"


def discover(folder: str | os.PathLike[str] | None = None) -> list[Tutorial]:
    """Every ``*.md`` tutorial in ``folder`` (default :func:`demos_dir`), in file-name order."""
    root = Path(folder) if folder is not None else demos_dir()
    if not root.is_dir():
        return []
    return [load_tutorial(p) for p in sorted(root.glob("*.md")) if p.name.lower() != "readme.md"]


def load_tutorial(path: str | os.PathLike[str]) -> Tutorial:
    with open(path, encoding="utf-8") as handle:
        return parse_tutorial(handle.read(), os.fspath(path))


def parse_tutorial(text: str, path: str = "<tutorial>") -> Tutorial:
    """Split Markdown into steps and parse their action blocks; errors name the file and line."""
    title = ""
    sections: list[tuple[str, int, list[str]]] = [("Introduction", 1, [])]
    for lineno, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.startswith("# ") and not title and len(sections) == 1:
            title = line[2:].strip()
            continue
        if line.startswith("## "):
            sections.append((line[3:].strip(), lineno, []))
            continue
        sections[-1][2].append(line)
    steps = []
    names: set[str] = set()
    base = Path(path).parent
    for heading, lineno, lines in sections:
        body = "".join(lines)
        blocks = list(_FENCE.finditer(body))
        if len(blocks) > 1:
            raise ConfigError("a step holds at most one stormdb block", file=path, line=lineno, path=heading)
        action = None
        if blocks:
            block = blocks[0]
            block_line = lineno + body[: block.start()].count("\n") + 2
            action = parse_action(block.group(1), base, path, block_line, names)
            body = body[: block.start()] + body[block.end():]
        if heading == "Introduction" and not body.strip() and action is None:
            continue
        steps.append(Step(heading, body.strip() + "\n", action))
    if not steps:
        raise ConfigError("no steps: add ## sections", file=path)
    return Tutorial(title or Path(path).stem.replace("-", " "), path, tuple(steps))


def parse_action(text: str, base: Path, path: str, line: int, names: set[str]) -> Action:
    """Validate one block. ``names`` collects run names so ``compare`` can only name earlier runs."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid stormdb block: {exc}", file=path, line=line) from None
    if not isinstance(data, dict):
        raise ConfigError("a stormdb block is a mapping", file=path, line=line, expected="key: value lines", found=data)

    def bad(key: str, expected: str) -> ConfigError:
        return ConfigError("invalid action", file=path, line=line, path=key, expected=expected, found=data[key])

    unknown = [k for k in data if k not in ACTION_KEYS]
    if unknown:
        raise ConfigError("unknown action", file=path, line=line, path=str(unknown[0]),
                          hint="actions: " + ", ".join(ACTION_KEYS))
    config = None
    if "config" in data:
        if not isinstance(data["config"], str):
            raise bad("config", "a path relative to the tutorial")
        found = base / data["config"]
        if not found.is_file():
            raise ConfigError(f"config {found} does not exist", file=path, line=line, path="config")
        config = os.path.normpath(found)
    overrides = data.get("set") or {}
    if not isinstance(overrides, dict):
        raise bad("set", "a mapping such as {run.workers: 4}")
    run = data.get("run")
    if run is False or run is None:
        run = None
    elif run is True:
        run = ""
    elif isinstance(run, str):
        names.add(run)
    else:
        raise bad("run", "true or a name")
    sweep = None
    if "sweep" in data:
        value = data["sweep"]
        if not (isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), list)):
            raise bad("sweep", "one setting and its values, e.g. {workers: [1, 2, 4]}")
        key, values = next(iter(value.items()))
        sweep = (str(key), tuple(values))
        names.add("sweep")
    compare = data.get("compare") or []
    if isinstance(compare, str):
        compare = [compare]
    if not isinstance(compare, list) or any(n not in names for n in compare):
        raise bad("compare", "names of earlier runs: " + (", ".join(sorted(names)) or "none yet"))
    look = data.get("look")
    if look is not None and look not in PANES:
        raise bad("look", "one of " + ", ".join(PANES))
    return Action(config, dict(overrides), run, sweep, bool(data.get("check")), tuple(compare), look)


# -- running steps (headless) ----------------------------------------------------------------


@dataclass
class RunResult:
    """One finished run of a step: what it varied and its report."""

    name: str
    varied: str
    report: Report

    def row(self) -> dict[str, Any]:
        """The figures a side-by-side comparison shows."""
        data = self.report.data
        s = data.get("summary") or {}
        lat = s.get("latency_ms") or {}
        row = {"run": self.varied or self.name or "run", "status": data.get("status"), "tps": s.get("tps"),
               "p50": lat.get("p50"), "p95": lat.get("p95"), "p99": lat.get("p99"), "max": lat.get("max"),
               "errors": s.get("errors")}
        if s.get("service_ms"):
            row["service p99"] = s["service_ms"].get("p99")
        for key, value in ((data.get("workload") or {}).get("summary") or {}).items():
            if key in ("tpmC", "recall_at_k", "search_qps"):
                row[key] = value
        return row


def comparison(results: Iterable[RunResult]) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows for a side-by-side table (columns are the union of the rows' keys)."""
    rows = [r.row() for r in results]
    headers: list[str] = []
    for row in rows:
        headers.extend(k for k in row if k not in headers)
    return headers, [[row.get(h) for h in headers] for row in rows]


def sweep_fit(action: Action, results: Sequence[RunResult]) -> str | None:
    """The knee of a sweep over workers, in one line: the Universal Scalability Law fit ``stormdb-tui sweep`` makes.

    None for a sweep of another setting, or before three steps have a throughput.
    """
    if action.sweep is None or action.sweep[0] not in ("workers", "run.workers"):
        return None
    pairs = [(float(value), float(tps)) for value, r in zip(action.sweep[1], results, strict=False)
             if (tps := (r.report.data.get("summary") or {}).get("tps"))]
    fit = fit_usl([n for n, _ in pairs], [x for _, x in pairs]) if pairs else None
    if fit is None:
        return None
    measured = f"measured peak {fit.measured_peak_n:g} workers at {fit.measured_peak_x:,.0f} tps"
    if fit.peak_n is None or fit.peak_x is None:
        peak = "no predicted peak (κ = 0: throughput levels off instead of falling)"
    else:
        peak = f"predicted peak {fit.peak_n:.1f} workers at {fit.peak_x:,.0f} tps"
    return (f"Scalability fit over {fit.points} steps (R² {fit.r2:.3f}): contention σ {fit.sigma:.4f}, "
            f"coherency κ {fit.kappa:.6f}; {peak}; {measured}")


@dataclass
class StepResult:
    index: int
    title: str
    runs: list[RunResult] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    compared: list[RunResult] = field(default_factory=list)
    fit: str | None = None
    """A sweep over workers: its scalability fit (:func:`sweep_fit`)."""


class TutorialState:
    """The config and overrides the steps have built up, and the named results so far."""

    def __init__(self) -> None:
        self.config: str | None = None
        self.overrides: dict[str, Any] = {}
        self.named: dict[str, list[RunResult]] = {}

    def apply(self, action: Action) -> None:
        """Take the step's config and overrides (before anything runs)."""
        if action.config is not None:
            self.config = action.config
            self.overrides = {}
        self.overrides.update(action.set)

    def load(self) -> RunConfig:
        if self.config is None:
            raise ConfigError("this step runs before any step chose a config")
        return load_tutorial_config(self.config)


def load_tutorial_config(path: str) -> RunConfig:
    """Load a step's config (plugin folders in it are relative to the config file)."""
    return load_config(path)


def make_step_plan(state: TutorialState, dsn: str | None, extra: Sequence[tuple[str, Any]] = (),
                   data_dir: str | None = None) -> RunPlan:
    """A :class:`~stormdb_tui.engine.plan.RunPlan` for the current state plus ``extra`` overrides."""
    cfg = state.load()
    overrides = list(state.overrides.items()) + list(extra)
    return make_plan(cfg, overrides=overrides, dsn=dsn, data_dir=data_dir, monitor_default=True, quiet=True)


def run_plan(plan: RunPlan, stop: Callable[[RunSession], None] | None = None) -> Report:
    """Prepare (load data when missing) and run; ``stop`` receives the session so a UI can cancel.

    A step's report stays with the tutorial: no report files are written.
    """
    session = RunSession(plan, write_files=False)
    if stop is not None:
        stop(session)
    outcome = session.execute()
    if outcome.report is None:
        raise StormError(outcome.error or f"the run {outcome.status}")
    return outcome.report


def run_checks(plan: RunPlan) -> list[tuple[str, bool, str]]:
    """The workload's readiness check and, when it has them, its consistency conditions."""
    # A skipped condition (None) is no failure here; `stormdb-tui check` prints it as SKIP.
    return [(name, passed is not False, detail) for name, passed, detail in RunSession(plan).check()]


def sweep_overrides(action: Action) -> list[tuple[str, list[tuple[str, Any]]]]:
    """One (label, overrides) per sweep value: ``workers=4`` and ``[("workers", 4)]``."""
    if action.sweep is None:
        return []
    key, values = action.sweep
    return [(f"{key}={value}", [(key, value)]) for value in values]


def run_tutorial(
    tutorial: Tutorial,
    dsn: str | None = None,
    *,
    duration_override: float | None = None,
    workload_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    data_dir: str | None = None,
    on_result: Callable[[StepResult], None] | None = None,
) -> list[StepResult]:
    """Run every runnable step in order, headless; returns one result per runnable step.

    ``duration_override`` shortens every run (and drops warm-up) so the whole
    tutorial can run in a test; ``workload_overrides`` maps a workload name
    to options forced on its runs (smaller data, say).
    """
    state = TutorialState()
    results = []
    for index, step in enumerate(tutorial.steps):
        action = step.action
        if action is None:
            continue
        state.apply(action)
        if not (action.runnable or action.compare):
            continue
        extra: list[tuple[str, Any]] = []
        if duration_override is not None:
            extra += [("run.duration", duration_override), ("run.warmup", 0)]
        if workload_overrides and state.config is not None:
            name = state.load().workload or state.overrides.get("workload.name")
            extra += [(f"workload.{k}", v) for k, v in (workload_overrides.get(str(name)) or {}).items()]
        result = StepResult(index, step.title)
        if action.check:
            result.checks = run_checks(make_step_plan(state, dsn, extra, data_dir))
        if action.run is not None:
            report = run_plan(make_step_plan(state, dsn, extra, data_dir))
            run = RunResult(action.run, action.run, report)
            result.runs.append(run)
            if action.run:
                state.named[action.run] = [run]
        for label, more in sweep_overrides(action):
            report = run_plan(make_step_plan(state, dsn, extra + more, data_dir))
            result.runs.append(RunResult("sweep", label, report))
        if action.sweep is not None:
            state.named["sweep"] = [r for r in result.runs if r.name == "sweep"]
            result.fit = sweep_fit(action, state.named["sweep"])
        for name in action.compare:
            result.compared.extend(state.named.get(name, []))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
