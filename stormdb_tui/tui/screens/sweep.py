"""The sweep screen: each step as it finishes, and throughput and p99 against the swept value.

The sweep runs in a worker thread through the engine's :class:`~stormdb_tui.engine.sweep.Sweep`
(the same code as ``stormdb-tui sweep``); each finished step reaches the
screen as a :class:`StepFinished` message (``post_message`` is thread-safe
and never blocks the engine). When the last step is in, the screen shows
the USL fit (worker sweeps), the rate found (``--find-rate``) or the best
QPS at the recall threshold, from the same document the headless command
writes. ``s`` stops after the current step, ``m`` writes the Markdown.

:class:`SweepApp` hosts the screen on its own for ``stormdb-tui sweep --ui``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from stormdb_tui.engine.plan import RunRequest
from stormdb_tui.engine.sweep import Step, Sweep, SweepHooks, SweepSpec
from stormdb_tui.registry import Registry
from stormdb_tui.report.fmt import fmt
from stormdb_tui.report.slo import Slo
from stormdb_tui.report.sweep import build_sweep_document, sweep_markdown, write_sweep, xy_plot
from stormdb_tui.report.usl import usl
from stormdb_tui.tui.widgets.charts import Chart

COLUMNS = ("step", "value", "tps", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "errors", "hit", "extra")


class StepFinished(Message):
    """A sweep step ended (posted from the sweep thread)."""

    def __init__(self, step: Step) -> None:
        super().__init__()
        self.step = step


class SweepFinished(Message):
    """The whole sweep ended; ``doc`` is its document (None when it could not start)."""

    def __init__(self, doc: dict[str, Any] | None, error: str | None = None) -> None:
        super().__init__()
        self.doc = doc
        self.error = error


class SweepScreen(Screen[None]):
    """Runs one sweep and shows it live."""

    BINDINGS = [
        Binding("s", "stop", "Stop after this step"),
        Binding("m", "markdown", "Write Markdown"),
        Binding("escape", "close", "Close"),
    ]
    DEFAULT_CSS = """
    SweepScreen #sweep-status { height: auto; padding: 0 1; }
    SweepScreen #sweep-steps { height: 1fr; }
    SweepScreen #sweep-charts { height: 16; }
    SweepScreen #sweep-charts Chart { width: 1fr; height: 16; }
    SweepScreen #sweep-verdict { height: auto; padding: 0 1; }
    """

    def __init__(self, request: RunRequest, spec: SweepSpec | None, *, slo: Slo | None = None,
                 find_rate: dict[str, Any] | None = None, registry: Registry | None = None,
                 markdown_path: str = "sweep.md") -> None:
        super().__init__()
        self.request = request
        self.spec = spec
        self.slo = slo
        self.find_rate = find_rate
        self.registry = registry
        self.markdown_path = markdown_path
        self.steps: list[Step] = []
        self.doc: dict[str, Any] | None = None
        self.sweep: Sweep | None = None

    @property
    def setting(self) -> str:
        return self.spec.key if self.spec is not None else "run.rate"

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static(self._status_text(), id="sweep-status")
            yield DataTable(id="sweep-steps", zebra_stripes=True, cursor_type="row")
            with Horizontal(id="sweep-charts"):
                yield Chart(lambda plt: self._chart(plt, "tps"), id="chart-tps")
                yield Chart(lambda plt: self._chart(plt, "p99"), id="chart-p99")
            yield Static("", id="sweep-verdict")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.sweep = Sweep(self.request, self.spec, hooks=SweepHooks(step_done=self._posted),
                           registry=self.registry, monitor_default=True, quiet=True)
        self.run_worker(self._work, thread=True, exclusive=True, name="sweep")

    # -- the sweep thread ------------------------------------------------------------

    def _posted(self, step: Step) -> None:
        self.post_message(StepFinished(step))

    def _work(self) -> None:
        sweep = self.sweep
        assert sweep is not None
        found = None
        try:
            if self.find_rate is not None:
                assert self.slo is not None
                found = sweep.find_rate(self.slo, spec=self.spec, **self.find_rate)
            else:
                sweep.run(self.slo)
        except Exception as exc:  # an error must reach the screen, not vanish with the thread
            self.post_message(SweepFinished(None, f"{type(exc).__name__}: {exc}"))
            return
        status = "interrupted" if sweep.stop_reason else (
            "failed" if any(s.status == "failed" or s.report is None for s in sweep.steps) else "completed")
        doc = build_sweep_document(
            setting=self.setting,
            strategy=self.spec.strategy if self.spec is not None else "find-rate",
            steps=[s.__dict__ for s in sweep.steps],
            started_at=sweep.started_at.isoformat(),
            ended_at=(sweep.ended_at or datetime.now(timezone.utc)).isoformat(),
            status=status,
            slo=self.slo.as_dict() if self.slo else None,
            find_rate=found,
        )
        self.post_message(SweepFinished(doc))

    # -- messages ------------------------------------------------------------------------

    def on_step_finished(self, message: StepFinished) -> None:
        step = message.step
        self.steps.append(step)
        f = step.figures
        lat = f.get("latency_ms") or {}
        extra = ""
        if f.get("recall_at_k") is not None:
            extra = f"recall {f['recall_at_k']:.3f}"
        if step.slo_met is not None:
            extra = (extra + " " if extra else "") + ("SLO met" if step.slo_met else "SLO missed")
        if step.error:
            extra = (extra + " " if extra else "") + step.error[:60]
        hit = f.get("cache_hit_ratio")
        self.query_one(DataTable).add_row(
            str(step.index + 1), fmt(step.value), fmt(f.get("tps"), 1), fmt(lat.get("p50"), 3),
            fmt(lat.get("p95"), 3), fmt(lat.get("p99"), 3), fmt(lat.get("p99_9"), 3), fmt(f.get("errors")),
            f"{hit * 100:.1f}%" if hit is not None else "–", extra,
        )
        self.query_one("#sweep-status", Static).update(self._status_text())
        for chart in self.query(Chart):
            chart.refresh()

    def on_sweep_finished(self, message: SweepFinished) -> None:
        self.doc = message.doc
        verdict = self.query_one("#sweep-verdict", Static)
        if message.doc is None:
            verdict.update(Text(f"sweep failed: {message.error}", style="bold red"))
            return
        verdict.update(self._verdict(message.doc))
        self.query_one("#sweep-status", Static).update(self._status_text())
        for chart in self.query(Chart):
            chart.refresh()

    # -- rendering -------------------------------------------------------------------------

    def _status_text(self) -> Text:
        total = len(self.spec.values) if self.spec is not None and self.spec.values else None
        state = self.doc["status"] if self.doc else "running"
        count = f"{len(self.steps)}/{total}" if total else str(len(self.steps))
        return Text(f"sweep of {self.setting}: {count} steps, {state}", style="bold")

    def _chart(self, plt: Any, what: str) -> None:
        if what == "tps":
            points = [(s.value, s.figures.get("tps")) for s in self.steps]
            fit = (self.doc or {}).get("usl")
            curve = (lambda n: usl(n, fit["lambda"], fit["sigma"], fit["kappa"])) if fit else None
            xy_plot(plt, points, title=f"tps against {self.setting}", x_label=self.setting, curve=curve)
        else:
            points = [(s.value, (s.figures.get("latency_ms") or {}).get("p99")) for s in self.steps]
            xy_plot(plt, points, title=f"p99 ms against {self.setting}", x_label=self.setting)

    def _verdict(self, doc: dict[str, Any]) -> Text:
        out = Text()
        fit = doc.get("usl")
        if fit:
            out.append("USL: ", style="bold")
            out.append(f"λ {fmt(fit['lambda'], 1)}  σ {fit['sigma']:.4f}  κ {fit['kappa']:.6f}  R² {fit['r2']:.3f}  ")
            if fit.get("peak_concurrency") is not None:
                out.append(f"predicted peak N* {fit['peak_concurrency']:.1f} ({fmt(fit['peak_throughput'], 0)} tps)  ")
            out.append(f"measured peak {fmt(fit['measured_peak_concurrency'], 0)} "
                       f"({fmt(fit['measured_peak_throughput'], 0)} tps)")
        found = doc.get("find_rate")
        if found:
            out.append("highest rate meeting the SLO: ", style="bold")
            out.append(f"{fmt(found['rate'], 1)}/s ({found['reason']})" if found.get("rate") else
                       f"none ({found['reason']})")
        rec = doc.get("recall")
        if rec and rec.get("step") is not None:
            out.append(f"best QPS at recall ≥ {rec['threshold']}: {fmt(rec['qps'], 1)}")
        return out

    # -- actions ------------------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.sweep is not None:
            self.sweep.request_stop("stopped from the sweep screen")
            self.notify("stopping after the current step")

    def action_markdown(self) -> None:
        if self.doc is None:
            self.notify("the sweep is still running", severity="warning")
            return
        try:
            (path,) = write_sweep(self.doc, None, self.markdown_path)
        except OSError as exc:
            self.notify(f"could not write {self.markdown_path}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"written to {path}")

    def action_close(self) -> None:
        if self.doc is None and self.sweep is not None:
            self.sweep.request_stop("closed")
        if isinstance(self.app, SweepApp):
            self.app.exit()
        else:
            self.app.pop_screen()

    def markdown(self) -> str | None:
        return sweep_markdown(self.doc) if self.doc is not None else None


class SweepApp(App[None]):
    """The sweep screen on its own (``stormdb-tui sweep --ui``)."""

    TITLE = "stormdb-tui sweep"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit")]

    def __init__(self, screen: SweepScreen) -> None:
        super().__init__()
        self._sweep_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self._sweep_screen)
