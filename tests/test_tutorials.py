"""Tutorials: every demo parses, every demo runs headless, the screens walk and do the steps."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from textual.app import App

from stormdb_tui.engine import tutorials
from stormdb_tui.errors import ConfigError
from stormdb_tui.report.model import Report

ROOT = Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos"
ALL = tutorials.discover(DEMOS)
QUICK = {"vector": {"rows": 2000, "recall_samples": 10}}


def test_every_demo_parses_and_covers_the_curriculum() -> None:
    assert len(ALL) >= 6
    titles = " ".join(t.title.lower() for t in ALL)
    for topic in ("first run", "percentiles", "coordinated omission", "tpc-c", "saturates", "recall"):
        assert topic in titles, topic
    for tut in ALL:
        actions = [s.action for s in tut.steps if s.action is not None]
        assert any(a.runnable for a in actions), tut.path
        assert tut.summary and all(s.text.strip() for s in tut.steps)
        for action in actions:
            if action.config:
                assert Path(action.config).is_file()
                tutorials.load_tutorial_config(action.config)  # valid YAML config, plugins resolvable
    sweeps = [s.action.sweep for t in ALL for s in t.steps if s.action and s.action.sweep]
    assert ("workers", (1, 2, 4, 8, 16)) in sweeps


@pytest.mark.parametrize(
    "text, message",
    [
        ("## a\n```stormdb\nrunn: true\n```\n", "unknown action"),
        ("## a\n```stormdb\ncompare: [nope]\n```\n", "compare"),
        ("## a\n```stormdb\nlook: everything\n```\n", "look"),
        ("## a\n```stormdb\nconfig: missing.yaml\n```\n", "does not exist"),
        ("## a\n```stormdb\nrun: true\n```\n```stormdb\nrun: true\n```\n", "at most one"),
        ("## a\n```stormdb\nsweep: {workers: 4}\n```\n", "sweep"),
    ],
)
def test_bad_tutorials_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.md"
    path.write_text("# Bad\n\nintro\n\n" + text)
    with pytest.raises(ConfigError) as err:
        tutorials.load_tutorial(path)
    assert message in str(err.value) and "bad.md" in str(err.value)
    assert re.search(r"bad\.md:(5|7): ", str(err.value))  # the step's line, or the block's first line


def test_state_carries_config_and_overrides() -> None:
    tut = tutorials.parse_tutorial(
        "# T\n\n## one\n```stormdb\nconfig: ../configs/simple.yaml\nset: {run.workers: 2}\n```\n"
        "## two\n```stormdb\nset: {run.rate: 50}\nrun: open\n```\n## three\n```stormdb\ncompare: [open]\n```\n",
        str(DEMOS / "inline.md"),
    )
    state = tutorials.TutorialState()
    for step in tut.steps:
        state.apply(step.action)
    assert state.config and state.config.endswith("configs/simple.yaml")
    assert state.overrides == {"run.workers": 2, "run.rate": 50}
    assert [s.title for s in tut.steps] == ["one", "two", "three"]


@pytest.mark.parametrize("tut", ALL, ids=[Path(t.path).stem for t in ALL])
def test_every_demo_runs_headless(dsn: str, tut: tutorials.Tutorial) -> None:
    """Each runnable step, with short runs: completed reports with transactions, checks passing."""
    results = tutorials.run_tutorial(tut, dsn, duration_override=1.0, workload_overrides=QUICK)
    by_index = {r.index: r for r in results}
    for index, step in enumerate(tut.steps):
        action = step.action
        if action is None or not (action.runnable or action.compare):
            continue
        result = by_index[index]
        expected_runs = (action.run is not None) + (len(action.sweep[1]) if action.sweep else 0)
        assert len(result.runs) == expected_runs, step.title
        for run in result.runs:
            assert run.report.status == "completed", (step.title, run.varied, run.report.data.get("message"))
            assert run.report.data["summary"]["transactions"] > 0, (step.title, run.varied)
        if action.check:
            assert result.checks and all(ok for _, ok, _ in result.checks), result.checks
        if action.compare:
            assert {r.name for r in result.compared} == set(action.compare)
            headers, rows = tutorials.comparison(result.compared)
            assert rows and "p99" in headers
    names = {r.report.data["workload"]["name"] for res in results for r in res.runs}
    if "vector" in names:
        assert all("recall_at_k" in r.row() for res in results for r in res.runs)
    if "hiccup" in names:
        models = {r.name: r.report.data["run"]["model"] for res in results for r in res.runs}
        assert models == {"closed": "closed", "open": "open"}


# -- the screens -------------------------------------------------------------------------------


class FakeStorm(App):
    """The app contract the tutorial screen drives, recorded instead of performed."""

    def __init__(self, screen_factory: Any) -> None:
        super().__init__()
        self.screen_factory = screen_factory
        self.calls: list[tuple[str, Any]] = []
        self.last_report: Report | None = None
        self.dsn: str | None = None
        self.data_dir = None

    def on_mount(self) -> None:
        self.push_screen(self.screen_factory())

    async def load_config(self, path: str) -> bool:
        self.calls.append(("load_config", path))
        return True

    def start_run(self, overrides: dict | None = None) -> bool:
        self.calls.append(("start_run", overrides))
        return True

    def focus_pane(self, name: str) -> bool:
        self.calls.append(("focus_pane", name))
        return True


def _tutorial(stem: str) -> tutorials.Tutorial:
    return next(t for t in ALL if Path(t.path).stem == stem)


@pytest.mark.tui
def test_tutorial_screen_walks_steps_and_drives_the_app() -> None:
    from stormdb_tui.tui.screens.tutorial import TutorialListScreen, TutorialScreen

    tut = _tutorial("02-latency-percentiles")

    async def main() -> None:
        app = FakeStorm(lambda: TutorialScreen(tut))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, TutorialScreen)
            assert "step 1/" in str(screen.query_one("#step-head").render())
            await pilot.press("d")  # the introduction has no action
            await pilot.pause()
            assert app.calls == []
            await pilot.press("n")
            await pilot.press("d")
            await pilot.pause()
            assert app.calls == [("load_config", str(DEMOS / "configs" / "percentiles.yaml")), ("start_run", None),
                                 ("focus_pane", "latency")]
            # Back from the run: its report is kept under the step's run name.
            report = Report({"schema_version": 1, "status": "completed", "summary": {"tps": 10.0, "latency_ms": {}}})
            app.last_report = report
            screen.on_screen_resume()
            assert screen.named["four"][0].report is report
            app.calls.clear()
            await pilot.press("n", "n", "d")  # "More workers than cores": the overrides pile up
            await pilot.pause()
            assert app.calls == [("start_run", {"run.workers": 16}), ("focus_pane", "latency")]
            await pilot.press("p")
            assert screen.index == 2
            await pilot.press("n", "n", "n", "n")  # past the end stays on the last step
            assert screen.index == len(tut.steps) - 1
            await pilot.press("d")
            await pilot.pause()
            table = screen.query_one("#step-results")
            assert table.display and table.row_count == 1  # "four" known, "sixteen" not yet
            await pilot.press("q")
            await pilot.pause()
            assert not isinstance(app.screen, TutorialScreen)

        app = FakeStorm(lambda: TutorialListScreen(str(DEMOS)))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            listing = app.screen.query_one("#tutorial-list")
            assert listing.option_count == len(ALL)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, TutorialScreen)
            assert app.screen.tutorial.title == ALL[0].title

    asyncio.run(main())


@pytest.mark.tui
def test_sweep_runs_headless_and_fills_the_table(dsn: str, tmp_path: Path) -> None:
    from stormdb_tui.tui.screens.tutorial import TutorialScreen

    (tmp_path / "sweep.md").write_text(
        "# Sweep\n\nTwo worker counts.\n\n## sweep\n\n```stormdb\nconfig: "
        + str(DEMOS / "configs" / "saturation.yaml")
        + "\nsweep: {workers: [1, 2]}\n```\n"
    )
    tut = tutorials.load_tutorial(tmp_path / "sweep.md")

    async def main() -> None:
        app = FakeStorm(lambda: TutorialScreen(tut, duration_override=1.0))
        app.dsn = dsn
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            screen = app.screen
            await pilot.press("n", "d")
            await pilot.pause()
            # Short runs on an idle machine can finish before this line: the results below prove the sweep ran.
            for _ in range(600):
                await pilot.pause(0.1)
                if not screen.sweeping:
                    break
            assert not screen.sweeping
            runs = screen.named["sweep"]
            assert [r.varied for r in runs] == ["workers=1", "workers=2"]
            assert all(r.report.status == "completed" for r in runs)
            assert [r.report.data["run"]["workers"] for r in runs] == [1, 2]
            table = screen.query_one("#step-results")
            assert table.row_count == 2
            assert not screen.query_one("#step-fit").display  # two steps are too few for a fit

    asyncio.run(main())


def test_a_workers_sweep_gets_the_scalability_fit() -> None:
    """Three or more worker counts: the knee ``stormdb-tui sweep`` would report, from the same fit."""
    from stormdb_tui.report.usl import usl

    action = tutorials.parse_tutorial("# t\n\n## s\n\n```stormdb\nsweep: {workers: [1, 2, 4, 8, 16]}\n```\n",
                                      "t.md").steps[0].action
    assert action is not None

    def result(n: int) -> tutorials.RunResult:
        tps = usl(n, 1000.0, 0.05, 0.002)
        return tutorials.RunResult("sweep", f"workers={n}", Report({"status": "completed", "summary": {"tps": tps}}))

    line = tutorials.sweep_fit(action, [result(n) for n in (1, 2, 4, 8, 16)])
    assert line is not None and "over 5 steps" in line and "R² 1.000" in line
    assert "predicted peak 21.8 workers" in line and "measured peak 16 workers" in line
    assert tutorials.sweep_fit(action, [result(1), result(2)]) is None
    rates = tutorials.parse_tutorial("# t\n\n## s\n\n```stormdb\nsweep: {rate: [10, 20, 40]}\n```\n", "t.md")
    assert tutorials.sweep_fit(rates.steps[0].action, [result(1), result(2), result(4)]) is None
