"""Tutorial screens: the list of ``demos/`` walkthroughs and one tutorial, step by step.

A step's action is carried out through the app's contract
(``load_config``, ``start_run``, ``focus_pane``, ``last_report``), so a
tutorial run is an ordinary run with the dashboard and the report screen.
Sweeps and checks are the exception: they run headless in a thread worker
(a sweep is several runs back to back, and the point is the side-by-side
table, not the dashboards), and reach the screen only by ``post_message``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Markdown, OptionList, Static
from textual.widgets.option_list import Option as ListOption

from stormdb_tui.engine import tutorials
from stormdb_tui.errors import StormError
from stormdb_tui.report.fmt import fmt
from stormdb_tui.report.model import Report


class TutorialListScreen(Screen):
    """Every tutorial in ``demos/``; Enter opens one."""

    HELP_TITLE = "Tutorials"
    BINDINGS = [Binding("q", "back", "Back"), Binding("escape", "back", "Back", show=False)]
    DEFAULT_CSS = """
    TutorialListScreen #tutorial-list { height: 1fr; }
    TutorialListScreen #tutorial-head { padding: 0 1; height: auto; }
    """

    def __init__(self, folder: str | None = None) -> None:
        super().__init__()
        self.folder = Path(folder) if folder else tutorials.demos_dir()
        self.tutorials: list[tutorials.Tutorial] = []
        self.problems: list[str] = []
        for path in sorted(self.folder.glob("*.md")) if self.folder.is_dir() else []:
            if path.name.lower() == "readme.md":
                continue
            try:
                self.tutorials.append(tutorials.load_tutorial(path))
            except (StormError, OSError) as exc:
                self.problems.append(f"{path.name}: {exc}")

    def compose(self) -> ComposeResult:
        head = f"Tutorials in {self.folder}: Enter opens one, n/p walk its steps, d does a step."
        if not self.tutorials:
            head = f"No tutorials found in {self.folder}."
        yield Static(head, id="tutorial-head", markup=False)
        options = [ListOption(f"{t.title}\n  {shorten(t.summary, 110)}\n", id=f"tut-{i}")
                   for i, t in enumerate(self.tutorials)]
        options += [ListOption(f"(broken) {p}", disabled=True) for p in self.problems]
        yield OptionList(*options, id="tutorial-list")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "tutorials"
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected, "#tutorial-list")
    def _open(self, event: OptionList.OptionSelected) -> None:
        index = int(str(event.option.id).removeprefix("tut-"))
        self.app.push_screen(TutorialScreen(self.tutorials[index]))

    def action_back(self) -> None:
        self.app.pop_screen()


class SweepProgressed(Message):
    """One run of a sweep finished (``result``) or failed (``error``); posted from the sweep thread."""

    def __init__(self, step: int, label: str, result: tutorials.RunResult | None, error: str | None,
                 done: bool) -> None:
        super().__init__()
        self.step = step
        self.label = label
        self.result = result
        self.error = error
        self.done = done


class ChecksDone(Message):
    def __init__(self, step: int, checks: list[tuple[str, bool, str]], error: str | None) -> None:
        super().__init__()
        self.step = step
        self.checks = checks
        self.error = error


class TutorialScreen(Screen):
    """One tutorial: the step's text, what its action does, and its results."""

    BINDINGS = [
        Binding("n", "step(1)", "Next"),
        Binding("p", "step(-1)", "Previous"),
        Binding("right", "step(1)", "Next", show=False),
        Binding("left", "step(-1)", "Previous", show=False),
        Binding("d", "do", "Do it"),
        Binding("s", "stop_sweep", "Stop sweep", show=False),
        Binding("q", "back", "Back"),
        Binding("escape", "back", "Back", show=False),
    ]
    DEFAULT_CSS = """
    TutorialScreen #step-head { height: auto; padding: 0 1; text-style: bold; }
    TutorialScreen #step-scroll { height: 1fr; }
    TutorialScreen #step-text { margin: 0 1; }
    TutorialScreen #step-action { height: auto; padding: 0 1; color: $accent; }
    TutorialScreen #step-results { height: auto; max-height: 12; margin: 0 1; }
    TutorialScreen #step-fit { height: auto; padding: 0 1; }
    TutorialScreen #step-status { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, tutorial: tutorials.Tutorial, *, duration_override: float | None = None) -> None:
        super().__init__()
        self.tutorial = tutorial
        self.index = 0
        self.duration_override = duration_override
        self.named: dict[str, list[tutorials.RunResult]] = {}
        self.checks: dict[int, list[tuple[str, bool, str]]] = {}
        self._pending: tuple[str, Report | None] | None = None
        self._loaded_config: str | None = None
        self._sweep_runner: Any = None
        self._sweep_stop = False
        self.sweeping = False

    def compose(self) -> ComposeResult:
        yield Static("", id="step-head", markup=False)
        with VerticalScroll(id="step-scroll"):
            yield Markdown("", id="step-text")
            yield Static("", id="step-action", markup=False)
            yield DataTable(id="step-results", zebra_stripes=True, cursor_type="row")
            yield Static("", id="step-fit", markup=False)
            yield Static("", id="step-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.tutorial.title
        self.show_step()

    # -- showing a step -----------------------------------------------------------------------

    @property
    def step(self) -> tutorials.Step:
        return self.tutorial.steps[self.index]

    def state(self) -> tutorials.TutorialState:
        """Config and overrides as the steps up to this one set them (jumping around stays consistent)."""
        state = tutorials.TutorialState()
        state.named = self.named
        for step in self.tutorial.steps[: self.index + 1]:
            if step.action is not None:
                state.apply(step.action)
        return state

    def show_step(self) -> None:
        step = self.step
        self.query_one("#step-head", Static).update(
            f"{self.tutorial.title} — step {self.index + 1}/{len(self.tutorial.steps)}: {step.title}")
        self.query_one("#step-text", Markdown).update(step.text)
        self.query_one("#step-action", Static).update(describe(step.action))
        self.query_one("#step-scroll", VerticalScroll).scroll_home(animate=False)
        self.refresh_results()

    def refresh_results(self) -> None:
        """The table this step has to show: its sweep, its comparison or its checks."""
        table = self.query_one("#step-results", DataTable)
        table.clear(columns=True)
        action = self.step.action
        rows: list[list[Any]] = []
        headers: list[str] = []
        fit = None
        if action is not None and self.index in self.checks:
            headers = ["check", "result", "detail"]
            rows = [[name, "PASS" if ok else "FAIL", detail] for name, ok, detail in self.checks[self.index]]
        elif action is not None and (action.sweep is not None or action.compare):
            names = ["sweep"] if action.sweep is not None else list(action.compare)
            results = [r for name in names for r in self.named.get(name, [])]
            if results:
                headers, rows = tutorials.comparison(results)
                fit = tutorials.sweep_fit(action, results)
        if headers:
            table.add_columns(*headers)
            for row in rows:
                table.add_row(*(fmt(cell, 3) if isinstance(cell, float) else fmt(cell) for cell in row))
        table.display = bool(headers)
        line = self.query_one("#step-fit", Static)
        line.update(fit or "")
        line.display = fit is not None

    def action_step(self, delta: int) -> None:
        self.index = min(max(self.index + delta, 0), len(self.tutorial.steps) - 1)
        self.show_step()

    def action_back(self) -> None:
        self.app.pop_screen()

    def status(self, text: str) -> None:
        self.query_one("#step-status", Static).update(text)

    # -- doing a step ---------------------------------------------------------------------------

    async def action_do(self) -> None:
        action = self.step.action
        if action is None:
            self.notify("nothing to do in this step: read on (n)")
            return
        state = self.state()
        if action.sweep is not None or action.check:
            if self.sweeping:
                self.notify("a sweep is already running (s stops it)", severity="warning")
                return
            if getattr(self.app, "run_active", False):
                self.notify("wait for the current run to finish", severity="warning")
                return
            self.start_headless(state, action)
        if action.config is not None or (action.run is not None and state.config != self._loaded_config):
            if not await self.load_config(state.config):
                return
        if action.run is not None:
            start = self._contract("start_run")
            if start is None:
                return
            self._pending = (action.run or "run", getattr(self.app, "last_report", None))
            if start(dict(state.overrides) or None) is False:
                self._pending = None
                return
        if action.look is not None:
            focus = self._contract("focus_pane")
            if focus is not None:
                focus(action.look)
        if action.compare:
            missing = [n for n in action.compare if n not in self.named]
            if missing:
                self.notify("do the earlier steps first: no results yet for " + ", ".join(missing), severity="warning")
            self.refresh_results()

    def _contract(self, name: str) -> Any:
        method = getattr(self.app, name, None)
        if method is None:
            self.notify(f"this app cannot {name.replace('_', ' ')}: the step cannot run here", severity="error")
        return method

    async def load_config(self, path: str | None) -> bool:
        if path is None:
            self.notify("no config chosen yet: do the step that loads it", severity="warning")
            return False
        load = self._contract("load_config")
        if load is None:
            return False
        self._register_plugins(path)
        result = load(path)
        if hasattr(result, "__await__"):
            result = await result
        if result is False:
            return False
        self._loaded_config = path
        self.status(f"loaded {path}")
        return True

    def _register_plugins(self, path: str) -> None:
        """Make a config's drop-in plugin folders known to the app's registry before it is selected."""
        registry = getattr(self.app, "registry", None)
        if registry is None:
            return
        try:
            folders = tutorials.load_tutorial_config(path).plugins.get("paths") or []
            if folders:
                from stormdb_tui.registry import discover

                for entry in discover(folders).all():
                    if entry.source == "path" and entry.name not in registry.entries:
                        registry.add(entry)
        except StormError as exc:
            self.notify(str(exc), severity="error")

    def on_screen_resume(self) -> None:
        """Back from a run's dashboard and report: keep its report under the step's run name."""
        if self._pending is None:
            return
        name, before = self._pending
        report = getattr(self.app, "last_report", None)
        if report is not None and report is not before:
            self.named[name] = [tutorials.RunResult(name, name, report)]
            self._pending = None
            self.status(f"run {name!r} recorded ({report.status}): later steps can compare it")
            self.refresh_results()

    # -- sweeps and checks, headless in a thread --------------------------------------------------

    def _dsn(self) -> str | None:
        pick = getattr(self.app, "pick", None)
        try:
            dsn = pick.settings().dsn if pick is not None else None
        except Exception:
            dsn = None
        return dsn or getattr(self.app, "dsn", None)

    def start_headless(self, state: tutorials.TutorialState, action: tutorials.Action) -> None:
        dsn, data_dir = self._dsn(), getattr(self.app, "data_dir", None)
        extra: list[tuple[str, Any]] = []
        if self.duration_override is not None:
            extra += [("run.duration", self.duration_override), ("run.warmup", 0)]
        step = self.index
        runs = tutorials.sweep_overrides(action)
        if action.sweep is not None:
            self.named["sweep"] = []
            self.refresh_results()
        self.sweeping = True
        self._sweep_stop = False
        self.status(f"running {runs[0][0]} (1/{len(runs)})…" if runs else "checking…")

        def keep(runner: Any) -> None:
            self._sweep_runner = runner

        def work() -> None:
            if action.check:
                try:
                    checks = tutorials.run_checks(tutorials.make_step_plan(state, dsn, extra, data_dir))
                    self.post_message(ChecksDone(step, checks, None))
                except Exception as exc:
                    self.post_message(ChecksDone(step, [], str(exc)))
            for n, (label, more) in enumerate(runs):
                if self._sweep_stop:
                    break
                try:
                    plan = tutorials.make_step_plan(state, dsn, extra + more, data_dir)
                    report = tutorials.run_plan(plan, keep)
                    result, error = tutorials.RunResult("sweep", label, report), None
                except Exception as exc:
                    result, error = None, f"{label}: {exc}"
                self.post_message(SweepProgressed(step, label, result, error, n == len(runs) - 1))
            self.post_message(SweepProgressed(step, "", None, None, True))

        self.run_worker(work, thread=True, group="tutorial", exit_on_error=False)

    def action_stop_sweep(self) -> None:
        if not self.sweeping:
            return
        self._sweep_stop = True
        runner = self._sweep_runner
        if runner is not None:
            runner.request_stop("sweep stopped")
        self.status("stopping the sweep after the current run…")

    def on_sweep_progressed(self, message: SweepProgressed) -> None:
        if message.result is not None:
            self.named.setdefault("sweep", []).append(message.result)
        if message.error:
            self.notify(message.error, title="sweep run failed", severity="error", timeout=10)
        if message.done and not message.label:
            self.sweeping = False
            self._sweep_runner = None
            self.status(f"sweep finished: {len(self.named.get('sweep', []))} runs")
        elif message.label:
            self.status(f"finished {message.label}")
        if self.index == message.step or (self.step.action and "sweep" in self.step.action.compare):
            self.refresh_results()

    def on_checks_done(self, message: ChecksDone) -> None:
        if message.error:
            self.notify(message.error, title="check failed", severity="error", timeout=10)
        self.checks[message.step] = message.checks
        failed = [c for c in message.checks if not c[1]]
        self.status(f"{len(message.checks)} checks, {len(failed)} failed" if message.checks else "")
        if not self.step.action or not self.step.action.sweep:
            self.sweeping = False
        if self.index == message.step:
            self.refresh_results()


def shorten(text: str, width: int) -> str:
    """Cut at a word boundary with an ellipsis, for one-line summaries."""
    if len(text) <= width:
        return text
    return text[:width].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def describe(action: tutorials.Action | None) -> str:
    """What pressing ``d`` will do, in words."""
    if action is None:
        return "(no action in this step: n for the next one)"
    parts = []
    if action.config:
        where = os.path.relpath(action.config) if not os.path.relpath(action.config).startswith("..") else action.config
        parts.append(f"load {where}")
    if action.set:
        parts.append("set " + ", ".join(f"{k}={v}" for k, v in action.set.items()))
    if action.check:
        parts.append("check the data and its consistency")
    if action.run is not None:
        parts.append("start a run" + (f" (kept as {action.run!r})" if action.run else ""))
    if action.sweep is not None:
        key, values = action.sweep
        parts.append(f"run once per {key} in {', '.join(str(v) for v in values)} (s stops)")
    if action.look:
        parts.append(f"watch the {action.look} pane")
    if action.compare:
        parts.append("compare " + ", ".join(action.compare) + " side by side")
    return "d: " + "; ".join(parts)
