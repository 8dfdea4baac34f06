"""The compare screen: pick two or more saved reports, see every figure side by side with its verdict.

Candidates are the reports, run journals and ``run --repeat`` folders in the
report folders (``reports/`` of the working directory and the runs folder of
the data directory), newest first; the report a report screen shows can be
one of them without being saved. The comparison is the same document
``stormdb-tui compare`` prints (:func:`stormdb_tui.report.compare.build_comparison`),
computed in a thread so the bootstrap never freezes the screen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, SelectionList, Static
from textual.widgets.selection_list import Selection

from stormdb_tui.errors import StormError
from stormdb_tui.report import noise
from stormdb_tui.report.compare import Side, build_comparison, load_side
from stormdb_tui.report.compare_md import HEADLINE_METRICS, fmt_change, fmt_interval, fmt_value
from stormdb_tui.report.journal import JOURNAL_SUFFIX
from stormdb_tui.report.model import Report
from stormdb_tui.report.repeat import INDEX_NAME

VERDICT_STYLE = {noise.WORSE: "bold red", noise.BETTER: "bold green", noise.NOISE: "dim",
                 noise.CHANGED: "bold yellow", noise.UNKNOWN: "dim italic"}
MAX_CANDIDATES = 300
CURRENT = "<this report>"
RESAMPLES = 1000


@dataclass(frozen=True)
class Candidate:
    """One thing that can be a side: a file or folder (or the report on screen), as the list shows it."""

    key: str
    label: str
    kind: str
    mtime: float


def default_folders() -> list[Path]:
    from stormdb_tui.embedded import runs_dir

    return [Path("reports"), runs_dir()]


def find_candidates(folders: Sequence[str | os.PathLike[str]]) -> list[Candidate]:
    """Reports (``*.json``), journals and ``--repeat`` folders directly in ``folders``, newest first."""
    found: dict[str, Candidate] = {}
    for folder in folders:
        base = Path(folder)
        try:
            entries = list(base.iterdir())
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir():
                    if not (entry / INDEX_NAME).is_file():
                        continue
                    kind, mtime = "repeat", (entry / INDEX_NAME).stat().st_mtime
                elif entry.name.endswith(JOURNAL_SUFFIX):
                    kind, mtime = "journal", entry.stat().st_mtime
                elif entry.suffix == ".json" and not entry.name.startswith("."):
                    kind, mtime = "report", entry.stat().st_mtime
                else:
                    continue
            except OSError:
                continue
            key = str(entry.resolve())
            stamp = datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M")
            shown = f"{entry.name}{'/' if kind == 'repeat' else ''}"
            label = f"{stamp}  {shown}" + ("  (repetitions)" if kind == "repeat" else "  (journal)" if kind == "journal"
                                             else "") + f"  [{_short(base)}]"
            found[key] = Candidate(key, label, kind, mtime)
    return sorted(found.values(), key=lambda c: -c.mtime)[:MAX_CANDIDATES]


def _short(folder: Path) -> str:
    text = str(folder)
    home = str(Path.home())
    return "~" + text[len(home):] if text.startswith(home) else text


class CompareScreen(Screen):
    """Space marks reports, ``c`` compares the marked ones (the oldest marked is the base)."""

    BINDINGS = [
        Binding("c", "compare", "Compare marked"),
        Binding("a", "all_figures", "All figures"),
        Binding("f5", "rescan", "Rescan", show=False),
        Binding("q", "back", "Back"),
        Binding("escape", "back", "Back", show=False),
    ]
    DEFAULT_CSS = """
    CompareScreen #compare-pick { height: auto; max-height: 12; border: round $accent; }
    CompareScreen #compare-status { height: auto; padding: 0 1; }
    CompareScreen #compare-body { height: 1fr; }
    CompareScreen #compare-diffs { height: auto; padding: 0 1; }
    CompareScreen #compare-table { height: auto; }
    """

    def __init__(self, folders: Sequence[str | os.PathLike[str]] | None = None, *,
                 current: Report | None = None, min_effect: float = 0.02, name: str | None = None) -> None:
        super().__init__(name=name)
        self.folders = list(folders) if folders is not None else default_folders()
        self.current = current
        self.min_effect = min_effect
        self.candidates: list[Candidate] = []
        self.doc: dict[str, Any] | None = None
        self.every = False
        self.error: str | None = None
        self.order: list[str] | None = None
        """Keys in the order the sides are compared; None: oldest marked first (the base), this report last."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield SelectionList[str](id="compare-pick")
            yield Static("", id="compare-status")
            with VerticalScroll(id="compare-body"):
                yield Static("", id="compare-diffs")
                yield DataTable(id="compare-table", zebra_stripes=True, cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "compare runs"
        self.action_rescan()
        self.query_one("#compare-pick", SelectionList).focus()

    # -- candidates -------------------------------------------------------------------------

    def action_rescan(self) -> None:
        self.candidates = find_candidates(self.folders)
        if self.current is not None:
            self.candidates.insert(0, Candidate(CURRENT, "the report on screen (not saved)", "current", 0.0))
        pick = self.query_one("#compare-pick", SelectionList)
        pick.clear_options()
        pick.add_options([Selection(Text(c.label), c.key, c.key == CURRENT) for c in self.candidates])
        pick.display = bool(self.candidates)
        self._status(self._pick_hint())

    def _pick_hint(self) -> Text:
        where = ", ".join(_short(Path(f)) for f in self.folders)
        n = len(self.candidates)
        if n == 0:
            return Text(f"No reports found in {where}. Run a workload (its report is saved there), or compare "
                        "any files with `stormdb-tui compare A B`.", style="yellow")
        if n == 1:
            return Text(f"One report found in {where}: compare needs two or more. Run another, then f5 rescans.",
                        style="yellow")
        return Text(f"{n} reports in {where}. Space marks, c compares the marked ones (the oldest is the base).")

    @property
    def marked(self) -> list[str]:
        pick = self.query_one("#compare-pick", SelectionList)
        chosen = set(pick.selected)
        if self.order is not None:
            rank = {key: i for i, key in enumerate(self.order)}
            return sorted(chosen, key=lambda k: (rank.get(k, len(rank)), k))
        items = [c for c in self.candidates if c.key in chosen]
        return [c.key for c in sorted(items, key=lambda c: (c.key == CURRENT, c.mtime))]

    # -- the comparison -------------------------------------------------------------------------

    def action_compare(self) -> None:
        keys = self.marked
        if len(keys) < 2:
            self.notify("mark two or more reports with space first", severity="warning")
            return
        self._status(Text(f"comparing {len(keys)} runs…", style="dim"))
        self.run_worker(lambda: self._build(keys), thread=True, group="compare", exclusive=True, exit_on_error=False)

    def _build(self, keys: list[str]) -> None:
        try:
            sides = [self._side(k) for k in keys]
            doc = build_comparison(sides, min_effect=self.min_effect, resamples=RESAMPLES)
        except StormError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        except Exception as exc:  # a malformed old report must not take the screen down
            self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self.show, doc)

    def _side(self, key: str) -> Side:
        if key == CURRENT:
            assert self.current is not None
            return Side("this report", "", [self.current.data])
        return load_side(key)

    def _failed(self, message: str) -> None:
        self.error = message
        self._status(Text(f"cannot compare: {message}", style="bold red"))

    def show(self, doc: dict[str, Any]) -> None:
        """Fill the differences and the figures table from a comparison document."""
        self.doc = doc
        self.error = None
        self._fill()

    def _fill(self) -> None:
        doc = self.doc
        if doc is None:
            return
        diffs = self.query_one("#compare-diffs", Static)
        diffs.update(self._diffs_text(doc))
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        names = [s["name"] for s in doc["sides"]]
        columns = ["figure", names[0]]
        for name in names[1:]:
            columns += [name, "change", "interval", "verdict"]
        table.add_columns(*columns)
        comps = doc["comparisons"]
        by_key = [{r["metric"]: r for r in c["metrics"]} for c in comps]
        for base_row in comps[0]["metrics"] if comps else []:
            key = base_row["metric"]
            others = [k.get(key) for k in by_key]
            if not self.every and key not in HEADLINE_METRICS and not any(
                    o is not None and o["verdict"] in noise.BEYOND for o in others):
                continue
            cells: list[Any] = [base_row["label"], fmt_value(base_row["base"], base_row)]
            for row in others:
                if row is None:
                    cells += ["–", "–", "–", "–"]
                    continue
                verdict = row["verdict"] + (" (weak)" if row["weak"] and row["verdict"] != noise.UNKNOWN else "")
                cells += [fmt_value(row["other"], row), fmt_change(row["change"], row), fmt_interval(row),
                          Text(verdict, style=VERDICT_STYLE.get(row["verdict"], ""))]
            table.add_row(*cells, key=key)
        counts = comps[0]["counts"] if comps else {}
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        self._status(Text(f"{' vs '.join(names)}: {summary}. a: {'headline' if self.every else 'all'} figures",
                          style="bold"))

    def _diffs_text(self, doc: Mapping[str, Any]) -> Text:
        text = Text()
        diffs = doc.get("differences") or []
        if not diffs:
            text.append("What differs: nothing recorded.\n", style="dim")
        else:
            text.append("What differs:\n", style="bold")
            for d in diffs[:12]:
                style = "bold red" if d["blocking"] else ""
                text.append(f"  {d['what']}: {'  |  '.join(v[:30] for v in d['values'])}\n", style=style)
            if len(diffs) > 12:
                text.append(f"  … and {len(diffs) - 12} more\n", style="dim")
            if doc.get("blocking"):
                text.append("  These runs measure different things; their figures are not comparable.\n",
                            style="bold red")
        for warning in doc.get("warnings") or []:
            text.append(f"warning: {warning}\n", style="yellow")
        return text

    def action_all_figures(self) -> None:
        self.every = not self.every
        self._fill()

    def _status(self, text: Text) -> None:
        self.query_one("#compare-status", Static).update(text)

    def action_back(self) -> None:
        if getattr(self.app, "standalone", False):
            self.app.exit(0)
            return
        self.app.pop_screen()


class CompareApp(App[int]):
    """``stormdb-tui compare --ui``: the compare screen on its own, with the given files marked."""

    standalone = True

    def __init__(self, paths: Sequence[str], *, min_effect: float = 0.02) -> None:
        super().__init__()
        self.paths = list(paths)
        self.min_effect = min_effect

    def on_mount(self) -> None:
        folders = list(dict.fromkeys(str(Path(p).resolve().parent) for p in self.paths)) + [
            str(f) for f in default_folders()]
        screen = CompareScreen(folders, min_effect=self.min_effect)
        self.push_screen(screen)
        wanted = [str(Path(p).resolve()) for p in self.paths]

        def mark() -> None:
            pick = screen.query_one("#compare-pick", SelectionList)
            for key in wanted:
                if any(c.key == key for c in screen.candidates):
                    pick.select(key)
            screen.order = wanted  # the command line's first file stays the base
            screen.action_compare()

        self.call_after_refresh(mark)

def run_compare_app(paths: Sequence[str], *, min_effect: float = 0.02, force: bool = False) -> int:
    CompareApp(paths, min_effect=min_effect).run()
    return 0
