"""The workbench application: screens, the run lifecycle, and the entry point.

Screens stack as pick → setup → dashboard (replacing setup) → report. One run
at a time is driven by the engine's :class:`~stormdb_tui.engine.session.RunSession`
in a Textual thread worker; its hooks post messages (never
``call_from_thread``, which would block the engine), and the dashboard polls
the session's immutable snapshot on a timer.

Other screens (the tutorials) drive the app through :meth:`StormApp.load_config`,
:meth:`StormApp.start_run`, :meth:`StormApp.focus_pane` and
:attr:`StormApp.last_report`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding

from stormdb_tui.engine.metrics import RunSnapshot
from stormdb_tui.engine.plan import RunPlan, RunRequest, plan_from_request, validate_request
from stormdb_tui.engine.session import RunSession
from stormdb_tui.engine.states import LIVE_PHASES
from stormdb_tui.errors import EXIT_FAILED, EXIT_OK, EXIT_SIGINT, StormError
from stormdb_tui.registry import Registry, discover
from stormdb_tui.report.model import Report
from stormdb_tui.tui.messages import ConnectionTested, RunFinished, RunPhaseChanged, SetupProgressed
from stormdb_tui.tui.screens.dashboard import DashboardScreen
from stormdb_tui.tui.screens.help import HelpScreen
from stormdb_tui.tui.screens.pick import PickScreen
from stormdb_tui.tui.screens.setup import SetupScreen
from stormdb_tui.tui.session import PickSettings, build_plan, check_connection, execute, run_session
from stormdb_tui.tui.widgets.confirm import ConfirmDialog


class StormApp(App[int]):
    """stormdb-tui's terminal workbench."""

    CSS_PATH = "app.tcss"
    TITLE = "stormdb-tui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("r", "report", "Report"),
        Binding("t", "tutorials", "Tutorials"),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(
        self,
        config: str | None = None,
        dsn: str | None = None,
        data_dir: str | None = None,
        request: RunRequest | None = None,
        report_file: str | None = None,
        *,
        registry: Registry | None = None,
        refresh_s: float = 0.5,
    ) -> None:
        super().__init__()
        self.config_arg = config
        self.dsn = dsn
        self.data_dir = data_dir
        self.request = request
        self.report_file = report_file
        self.refresh_s = refresh_s
        self.registry = registry
        self.pick: PickScreen | None = None
        self.session: RunSession | None = None
        self.setup_screen: SetupScreen | None = None
        self.dashboard: DashboardScreen | None = None
        self.last_report: Report | None = None
        self.exit_code = EXIT_OK
        self._run_active = False
        self._pending_focus: str | None = None
        self._pick_task: asyncio.Future[Any] | None = None

    # -- startup -----------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.registry is None:
            self.registry = discover(list(self.request.plugin_paths) if self.request else [])
        self.pick = PickScreen(self.registry, config=self.config_arg, dsn=self.dsn)
        self.push_screen(self.pick)
        if self.report_file:
            try:
                self.open_report(Report.load(self.report_file))
            except StormError as exc:
                self.notify(str(exc), severity="error", timeout=10)
        elif self.request is not None:
            request, registry = self.request, self.registry
            self._launch(lambda: plan_from_request(request, monitor_default=True, registry=registry, quiet=True),
                         request.workload or "", rebuild=request.rebuild)

    # -- the contract other screens use ----------------------------------------------------

    def load_config(self, path: str) -> asyncio.Future[Any]:
        """Select ``path`` on the pick screen (its workload, options and run settings).

        Returns an awaitable; :meth:`start_run` waits for it by itself.
        """
        assert self.pick is not None
        self._pick_task = asyncio.ensure_future(self.pick.select_config(str(path)))
        return self._pick_task

    def start_run(self, overrides: Mapping[str, Any] | None = None) -> bool:
        """Start a run with the pick screen's settings plus ``overrides`` (``{"run.duration": "10s"}``).

        False (with a notification) when a run is already going or a field is invalid.
        """
        if self._run_active:
            self.notify("a run is already going", severity="warning")
            return False
        if self._pick_task is not None and not self._pick_task.done():
            pending = self._pick_task

            async def later() -> None:
                await pending
                self.start_run(overrides)

            self.run_worker(later(), group="start")
            return True
        assert self.pick is not None and self.registry is not None
        settings: PickSettings = self.pick.settings()
        if settings.errors:
            first = next(iter(settings.errors.items()))
            self.notify(f"cannot start: {first[0]}: {first[1]}", severity="error", timeout=8)
            return False
        registry, extra, data_dir = self.registry, dict(overrides or {}), self.data_dir
        self._launch(lambda: build_plan(settings, registry, extra=extra, data_dir=data_dir),
                     settings.workload or "", rebuild=settings.rebuild)
        return True

    def focus_pane(self, name: str) -> bool:
        """Focus a dashboard pane: throughput, latency, errors, server, connections, workers."""
        if self.dashboard is not None and self.dashboard.is_mounted:
            return self.dashboard.focus_pane(name)
        self._pending_focus = name
        return False

    @property
    def run_active(self) -> bool:
        return self._run_active

    def current_snapshot(self) -> RunSnapshot | None:
        """The runner's latest immutable snapshot (read on the dashboard's timer)."""
        return self.session.snapshot if self.session is not None else None

    # -- run lifecycle -------------------------------------------------------------------------

    def _launch(self, build: Callable[[], RunPlan], workload: str, *, rebuild: bool) -> None:
        if rebuild:
            question = (
                f"--rebuild drops every object owned by the workload {workload or ''} (its own schema "
                "or tables, nothing else) and loads them again. Drop and reload?"
            )

            def answered(ok: bool | None) -> None:
                if ok:
                    self._begin(build, workload)
                else:
                    self.notify("rebuild cancelled: nothing was dropped")

            self.push_screen(ConfirmDialog(question, yes="Drop and reload", no="Cancel"), answered)
            return
        self._begin(build, workload)

    def _begin(self, build: Callable[[], RunPlan], workload: str) -> None:
        session = self.session = run_session(build, self.post_message)
        self.setup_screen = SetupScreen(workload)
        self.dashboard = None
        self._run_active = True
        self.push_screen(self.setup_screen)
        self.run_worker(lambda: execute(session, self.post_message), thread=True, name="run", group="run",
                        exit_on_error=False)

    def stop_run(self, *, abort: bool = False) -> None:
        """``s``: stop gracefully and show the report; ``a``: stop and leave with status 130."""
        if not self._run_active or self.session is None:
            self.notify("no run is going")
            return
        already = self.session.stop_reason is not None
        self.session.request_stop("aborted by user" if abort else "stopped by user", abort=abort)
        if not already:
            self.notify("stopping: in-flight transactions finish, then the report" if not abort
                        else "aborting: the run stops and the app exits", timeout=4)

    def cancel_setup(self) -> None:
        if self.session is not None and self._run_active:
            self.session.request_stop("setup cancelled")

    def on_run_phase_changed(self, message: RunPhaseChanged) -> None:
        if self.setup_screen is not None and self.dashboard is None:
            self.setup_screen.show_phase(message.phase, message.detail)
        if message.phase in LIVE_PHASES and self.dashboard is None and self.session is not None:
            self.dashboard = DashboardScreen(self.current_snapshot, self.session.workload_name, self.refresh_s)
            if self._pending_focus:
                self.dashboard.initial_focus = self._pending_focus
                self._pending_focus = None
            if self.screen is self.setup_screen:
                self.switch_screen(self.dashboard)
            else:
                self.push_screen(self.dashboard)
        if self.dashboard is not None:
            self.dashboard.set_phase(message.phase, message.detail)

    def on_setup_progressed(self, message: SetupProgressed) -> None:
        if self.setup_screen is not None and self.setup_screen.is_mounted:
            self.setup_screen.show_progress(message.progress)

    def on_run_finished(self, message: RunFinished) -> None:
        self._run_active = False
        session = self.session
        aborted = session is not None and session.aborted
        if message.report is not None:
            report = message.report
            self.last_report = report
            written = session.outcome.written if session is not None and session.outcome else ()
            for _, note in written:
                self.notify(note, timeout=6)
            self.exit_code = EXIT_SIGINT if aborted else (EXIT_FAILED if report.status == "failed" else EXIT_OK)
            if self.dashboard is not None:
                self.dashboard.finish(report.status)
            if report.status == "failed":
                self.notify(f"run failed: {report.data.get('message')}", severity="error", timeout=10)
            if aborted:
                self.exit(EXIT_SIGINT)
                return
            self.open_report(report)
            return
        if message.status == "cancelled":
            self.notify(f"cancelled: {message.error}" if message.error else "cancelled", timeout=5)
            if aborted:
                self.exit(EXIT_SIGINT)
                return
            if self.setup_screen is not None and self.screen is self.setup_screen:
                self.pop_screen()
            return
        self.exit_code = EXIT_FAILED
        self.notify(message.error or "the run failed", title="run failed", severity="error", timeout=15)
        if aborted:
            self.exit(EXIT_SIGINT)
            return
        if self.setup_screen is not None and self.setup_screen.is_mounted:
            self.setup_screen.show_error(message.error or "failed")

    # -- connection test -----------------------------------------------------------------------

    def test_connection(self, dsn: str | None, config_path: str | None) -> None:
        data_dir = self.data_dir

        def work() -> None:
            ok, text = check_connection(dsn, config_path, data_dir)
            self.post_message(ConnectionTested(ok, text))

        self.run_worker(work, thread=True, group="conn", exclusive=True, exit_on_error=False)

    def on_connection_tested(self, message: ConnectionTested) -> None:
        if self.pick is not None:
            self.pick.set_conn_status(message.ok, message.text)

    # -- other screens --------------------------------------------------------------------------

    def open_report(self, report: Report) -> bool:
        from stormdb_tui.tui.screens.report import ReportScreen

        self.push_screen(ReportScreen(report))
        return True

    def action_report(self) -> None:
        if self.last_report is None:
            self.notify("no finished run yet")
            return
        self.open_report(self.last_report)

    def action_tutorials(self) -> None:
        from stormdb_tui.tui.screens.tutorial import TutorialListScreen

        self.push_screen(TutorialListScreen())

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen, list(self.BINDINGS)))

    async def action_quit(self) -> None:
        if self._run_active:
            self.stop_run(abort=True)
            return
        self.exit(self.exit_code)


def run_app(
    config: str | None = None,
    dsn: str | None = None,
    data_dir: str | None = None,
    request: RunRequest | None = None,
    report_file: str | None = None,
) -> int:
    """Open the workbench; returns the process exit code (130 when a run was aborted)."""
    registry = None
    if request is not None:
        registry = validate_request(request)
    elif report_file:
        Report.load(report_file)
    if config and not Path(config).exists():
        from stormdb_tui.config import load_config

        load_config(config)
    app = StormApp(config=config, dsn=dsn, data_dir=data_dir, request=request, report_file=report_file,
                   registry=registry)
    result = app.run()
    return result if isinstance(result, int) else app.exit_code
