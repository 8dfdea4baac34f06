"""The report screen: one finished (or interrupted, failed, or loaded-from-disk) run.

It renders the same :class:`~stormdb_tui.report.model.Report` mapping the JSON and
Markdown files hold, so a report opened later with ``stormdb-tui report
FILE`` reads exactly as it did at the end of the run. Every section copes
with what old or partial reports lack (no server statistics, no time
series, no histogram) by saying so instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.markdown import Markdown as RichMarkdown
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label, Static, TabbedContent, TabPane

from stormdb_tui.report import plots
from stormdb_tui.report.fmt import fmt
from stormdb_tui.report.model import Report, default_report_path
from stormdb_tui.tui.widgets.charts import Chart

LAT_KEYS = ("p50", "p90", "p95", "p99", "p99_9", "max", "mean")
STATUS_STYLE = {"completed": "bold green", "interrupted": "bold yellow", "failed": "bold red"}
TABS = ("summary", "latency", "timeline", "server", "errors")


class ExportPrompt(ModalScreen[str | None]):
    """Asks where to write the report; Enter writes, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ExportPrompt { align: center middle; }
    ExportPrompt > Vertical {
        width: 70; max-width: 100%; height: auto; padding: 1 2;
        border: round $accent; background: $surface;
    }
    ExportPrompt Input { margin: 1 0 0 0; }
    """

    def __init__(self, kind: str, default: str) -> None:
        super().__init__()
        self.kind = kind
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Export the report as {self.kind} to:")
            # Not selected on focus: a key pressed by habit (m right after j) must not replace the path.
            yield Input(value=self.default, id="export-path", select_on_focus=False)
            yield Label("Enter to write, Escape to cancel", classes="dim")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReportScreen(Screen):
    """Summary, latency, timeline, (a cluster run's) hosts, server and errors tabs; ``j``/``m`` export."""

    BINDINGS = [
        Binding("j", "export('json')", "Export JSON"),
        Binding("m", "export('markdown')", "Export Markdown"),
        Binding("c", "compare", "Compare"),
        Binding("l", "next_label", "Histogram label", show=False),
        Binding("1", "tab('summary')", "Summary", show=False),
        Binding("2", "tab('latency')", "Latency", show=False),
        Binding("3", "tab('timeline')", "Timeline", show=False),
        Binding("4", "tab('server')", "Server", show=False),
        Binding("5", "tab('errors')", "Errors", show=False),
        Binding("6", "tab('hosts')", "Hosts", show=False),
        Binding("q", "back", "Back"),
        Binding("escape", "back", "Back", show=False),
    ]
    DEFAULT_CSS = """
    ReportScreen #report-head { height: auto; padding: 0 1; }
    ReportScreen #report-tabs, ReportScreen #report-tabs ContentSwitcher { height: 1fr; }
    ReportScreen TabPane { padding: 0 1; height: 1fr; }
    ReportScreen TabPane > VerticalScroll { height: 1fr; }
    ReportScreen .report-table { height: auto; max-height: 20; margin: 1 0 0 0; }
    ReportScreen .dim { color: $text-muted; }
    ReportScreen .workload-table { height: auto; margin: 1 0 0 0; }
    ReportScreen #latency-chart, ReportScreen #tps-chart, ReportScreen #p99-chart { height: 16; }
    ReportScreen #workers-chart { height: 12; }
    """

    def __init__(self, report: Report, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.report = report
        self.data: Mapping[str, Any] = report.data or {}
        self.exported: dict[str, str] = {}
        self._hist_labels = self._histogram_labels()
        self._hist_index = 0

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._headline(), id="report-head")
        with TabbedContent(initial="summary", id="report-tabs"):
            with TabPane("Summary", id="summary"), VerticalScroll():
                yield Static(self._summary_table(), id="summary-table")
                yield DataTable(id="ops-table", classes="report-table", zebra_stripes=True, cursor_type="row")
                for key, rows in self._workload_tables():
                    yield Static(self._rows_table(key, rows), classes="workload-table")
                yield Static(self._notes_text(), id="notes")
            with TabPane("Latency", id="latency"), VerticalScroll():
                yield Chart(self._latency_chart, id="latency-chart")
                yield Static(self._ladder_table(), id="ladder")
            with TabPane("Timeline", id="timeline"), VerticalScroll():
                yield Chart(self._tps_chart, id="tps-chart")
                yield Chart(self._p99_chart, id="p99-chart")
                yield Static(self._events_text(), id="events")
                if self.data.get("workers"):
                    yield Chart(self._workers_chart, id="workers-chart")
            if self.data.get("cluster"):
                from stormdb_tui.report.cluster import cluster_markdown

                with TabPane("Hosts", id="hosts"), VerticalScroll():
                    self.hosts_markdown = cluster_markdown(self.data) or ""
                    yield Static(RichMarkdown(self.hosts_markdown), id="hosts-md")
            with TabPane("Server", id="server"), VerticalScroll():
                # Rich's Markdown: tables sized to their content, one line per row (Textual's widget
                # gives every column an equal share and draws a rule between rows)
                self.server_markdown = self._server_markdown()
                yield Static(RichMarkdown(self.server_markdown), id="server-md")
            with TabPane("Errors", id="errors"), VerticalScroll():
                yield DataTable(id="errors-table", classes="report-table", zebra_stripes=True, cursor_type="row")
                yield Static("", id="errors-none")
        yield Footer()

    def on_mount(self) -> None:
        wl = self.data.get("workload") or {}
        self.sub_title = f"report: {wl.get('name', '?')} ({self.report.status})"
        self._fill_operations()
        self._fill_errors()

    # -- summary ---------------------------------------------------------------------------

    def _headline(self) -> Text:
        data = self.data
        wl = data.get("workload") or {}
        run = data.get("run") or {}
        status = str(data.get("status") or "unknown")
        text = Text()
        text.append(f"{wl.get('name', '?')} {wl.get('version') or ''}".strip(), style="bold")
        text.append("  ")
        text.append(status, style=STATUS_STYLE.get(status, "bold"))
        if data.get("message"):
            text.append(f" ({data['message']})")
        started = str(data.get("started_at") or "")[:19].replace("T", " ")
        model = run.get("model") or "closed"
        text.append(f"\n{started}  {run.get('workers', '?')} workers, {model} model", style="dim")
        if model == "open":
            text.append(f" at {fmt(run.get('rate'))} tx/s", style="dim")
        return text

    def _summary_table(self) -> Table:
        data = self.data
        s = data.get("summary") or {}
        run = data.get("run") or {}
        server = data.get("server") or {}
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style="dim", no_wrap=True)
        table.add_column()
        lat = s.get("latency_ms") or {}
        rows: list[tuple[str, str]] = [
            ("TPS", fmt(s.get("tps"))),
            ("QPS", fmt(s.get("qps"))),
            ("transactions", fmt(s.get("transactions"))),
            ("measured window", f"{fmt(s.get('elapsed_s'))} s (warm-up {fmt(run.get('warmup_s'))} s excluded)"),
            ("latency ms", "  ".join(f"{k.replace('_', '.')} {fmt(lat.get(k), 3)}" for k in ("p50", "p95", "p99", "max"))),
            ("errors / retries / rollbacks",
             f"{fmt(s.get('errors'))} / {fmt(s.get('retries'))} / {fmt(s.get('rollbacks'))}"),
        ]
        if run.get("model") == "open":
            svc = s.get("service_ms") or {}
            rows.append(("service time ms", "  ".join(f"{k} {fmt(svc.get(k), 3)}" for k in ("p50", "p95", "p99", "max"))))
            rows.append(("skipped / late", f"{fmt(s.get('skipped'))} / {fmt(s.get('late'))}"))
        rows.append(("workers / connections", f"{fmt(run.get('workers'))} / {fmt(run.get('connections'))}"))
        rows.append(("server", str(server.get("version") or "?").split(" on ")[0]))
        for key, value in ((data.get("workload") or {}).get("summary") or {}).items():
            if not isinstance(value, (dict, list)):
                rows.append((key, fmt(value, 4 if isinstance(value, float) and abs(value) < 1 else 2)))
        for key, value in rows:
            table.add_row(key, value)
        return table

    def _workload_tables(self) -> list[tuple[str, list[Mapping[str, Any]]]]:
        """A workload's own tables (bulk_insert's ranking by rows/s): lists of rows in its summary."""
        summary = (self.data.get("workload") or {}).get("summary") or {}
        return [(key, value) for key, value in summary.items()
                if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value)]

    @staticmethod
    def _rows_table(title: str, rows: list[Mapping[str, Any]]) -> Table:
        table = Table(title=title.replace("_", " "), title_justify="left", box=None, padding=(0, 1))
        headers = list(rows[0])
        for header in headers:
            numeric = all(isinstance(r.get(header), (int, float)) for r in rows)
            table.add_column(header.replace("_", " "), justify="right" if numeric else "left")
        for row in rows:
            table.add_row(*(fmt(row.get(h)) for h in headers))
        return table

    def _fill_operations(self) -> None:
        table = self.query_one("#ops-table", DataTable)
        table.add_columns("operation", "count", "errors", "TPS", *(k.replace("_", ".") for k in LAT_KEYS))
        s = self.data.get("summary") or {}
        ops = list((self.data.get("operations") or {}).items())
        ops.append(("all", {**s, "count": s.get("transactions")}))
        for label, op in ops:
            lat = op.get("latency_ms") or {}
            table.add_row(label, fmt(op.get("count")), fmt(op.get("errors")), fmt(op.get("tps")),
                          *(fmt(lat.get(k), 3) for k in LAT_KEYS), key=label)

    def _notes_text(self) -> Text:
        notes = list(self.data.get("notes") or [])
        if self.data.get("pg_note"):
            notes.append(self.data["pg_note"])
        text = Text()
        for warning in self.data.get("warnings") or []:  # figures not to take at face value: loud
            text.append(f"warning: {warning}\n", style="bold yellow")
        for note in notes:
            text.append(f"note: {note}\n", style="dim")
        return text

    # -- latency -----------------------------------------------------------------------------

    def _histogram_labels(self) -> list[str]:
        hist = self.data.get("latency_histogram") or {}
        return list((hist.get("counts") or {}).keys())

    def _latency_chart(self, plt: Any) -> None:
        label = self._hist_labels[self._hist_index % len(self._hist_labels)] if self._hist_labels else "*"
        if not plots.report_histogram(plt, self.data, label):
            plots.report_ladder(plt, self.data)
        elif len(self._hist_labels) > 1:
            plt.xlabel("latency ≤ ms   (l: next operation)")

    def _ladder_table(self) -> Table:
        table = Table(title="Percentiles by operation (ms)", title_justify="left", box=None, padding=(0, 1))
        table.add_column("operation")
        for key in LAT_KEYS[:-1]:
            table.add_column(key.replace("_", "."), justify="right")
        s = self.data.get("summary") or {}
        items = list((self.data.get("operations") or {}).items()) + [("all", s)]
        for label, op in items:
            lat = op.get("latency_ms") or {}
            table.add_row(label, *(fmt(lat.get(k), 3) for k in LAT_KEYS[:-1]))
        svc = s.get("service_ms")
        if svc:
            table.add_row("service time", *(fmt(svc.get(k), 3) for k in LAT_KEYS[:-1]), style="dim")
        return table

    def action_next_label(self) -> None:
        if len(self._hist_labels) > 1:
            self._hist_index = (self._hist_index + 1) % len(self._hist_labels)
            self.query_one("#latency-chart", Chart).refresh()

    # -- timeline ----------------------------------------------------------------------------

    def _intervals(self) -> list[Mapping[str, Any]]:
        return [i for i in (self.data.get("intervals") or []) if isinstance(i, Mapping)]

    def _tps_chart(self, plt: Any) -> None:
        plots.report_throughput(plt, self.data)

    def _p99_chart(self, plt: Any) -> None:
        plots.report_latency(plt, self.data)

    def _workers_chart(self, plt: Any) -> None:
        plots.report_workers(plt, self.data)

    def _events_text(self) -> Text:
        events = list(self.data.get("events") or [])
        text = Text()
        if not events:
            text.append("No server events recorded.", style="dim")
            return text
        text.append(f"Server events, marked on the charts: {plots.EVENT_LEGEND}\n", style="bold")
        for event in events[:30]:
            mark = plots.event_mark(event.get("type"))
            text.append(f"  {mark} {fmt(event.get('t_s'), 1)} s  {event.get('type')}: {event.get('detail', '')}\n")
        return text

    # -- server and errors -----------------------------------------------------------------------

    def _server_markdown(self) -> str:
        server = self.data.get("server") or {}
        head = [f"**{server.get('version') or 'server version unknown'}**", ""]
        settings = server.get("settings") or {}
        pg = self.data.get("pg")
        if pg:
            try:
                from stormdb_tui.report.server import render_pg_markdown

                return "\n".join(head) + "\n" + render_pg_markdown(dict(pg))
            except Exception as exc:  # a malformed section of an old file must not take the screen down
                return "\n".join(head) + f"\nThe server section could not be shown: {exc}\n"
        if settings:
            head += ["| setting | value |", "|---|---|"]
            head += [f"| {k} | {v} |" for k, v in sorted(settings.items())]
            head.append("")
        head.append(self.data.get("pg_note") or "Server statistics were not collected for this run.")
        return "\n".join(head)

    def _fill_errors(self) -> None:
        table = self.query_one("#errors-table", DataTable)
        errors = [e for e in (self.data.get("errors") or []) if isinstance(e, Mapping)]
        table.add_columns("operation", "SQLSTATE", "class", "count", "first message")
        for err in errors:
            table.add_row(str(err.get("operation", "")), str(err.get("sqlstate", "")), str(err.get("class", "")),
                          fmt(err.get("count")), str(err.get("first_message", ""))[:200])
        table.display = bool(errors)
        self.query_one("#errors-none", Static).update("" if errors else "No errors.")

    # -- actions ---------------------------------------------------------------------------------

    def default_path(self, kind: str) -> str:
        """``reports/<workload>-<start time>.json`` (or ``.md``)."""
        return default_report_path(self.data, kind)

    def action_export(self, kind: str) -> None:
        label = "JSON" if kind == "json" else "Markdown"

        def chosen(path: str | None) -> None:
            self.export_to(kind, path)

        self.app.push_screen(ExportPrompt(label, self.exported.get(kind) or self.default_path(kind)), chosen)

    def export_to(self, kind: str, path: str | None) -> str | None:
        """Write the report; a notification says where it went, or why it could not be written."""
        if not path:
            return None
        writer = self.report.write_json if kind == "json" else self.report.write_markdown
        label = "JSON" if kind == "json" else "Markdown"
        try:
            where = writer(path)
        except OSError as exc:
            self.notify(f"could not write {path}: {exc.strerror or exc}", title=f"{label} export failed",
                        severity="error", timeout=10)
            return None
        except Exception as exc:  # never lose the screen (and the unsaved report) over an export
            self.notify(f"could not write {path}: {exc}", title=f"{label} export failed", severity="error", timeout=10)
            return None
        self.exported[kind] = where
        self.notify(f"{label} report written to {where}", title="exported", timeout=8)
        return where

    def action_compare(self) -> None:
        """Compare this report with saved ones (it is marked already, as the newest side)."""
        from stormdb_tui.tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(current=self.report))

    def action_tab(self, tab: str) -> None:
        tabs = self.query_one("#report-tabs", TabbedContent)
        if tabs.query(f"TabPane#{tab}"):  # a single-host run has no Hosts tab
            tabs.active = tab

    def action_back(self) -> None:
        self.app.pop_screen()
