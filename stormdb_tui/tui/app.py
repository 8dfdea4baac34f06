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
import os
import re
import tempfile
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding

from stormdb_tui.engine.metrics import RunSnapshot
from stormdb_tui.engine.plan import RunPlan, RunRequest, plan_from_request, validate_request
from stormdb_tui.engine.session import IntervalSink, RunSession
from stormdb_tui.engine.states import LIVE_PHASES
from stormdb_tui.errors import EXIT_FAILED, EXIT_OK, EXIT_SIGINT, StormError
from stormdb_tui.registry import Registry, discover
from stormdb_tui.report.model import Report, default_report_path
from stormdb_tui.tui.messages import (
    ConnectionTested,
    RunFinished,
    RunNotice,
    RunPhaseChanged,
    SetupProgressed,
)
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
        Binding("c", "compare", "Compare"),
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
        sinks: Sequence[IntervalSink] = (),
    ) -> None:
        super().__init__()
        self.sinks = tuple(sinks)
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
        self.internal_error: BaseException | None = None
        self._error_screen: Any = None
        self._exit_after_run: int | None = None
        self.error_reported = False
        self._last_launch: tuple[Callable[[], RunPlan], str] | None = None

    # -- startup -----------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.registry is None:
            self.registry = discover(list(self.request.plugin_paths) if self.request else [])
        request = self.request
        self.pick = PickScreen(
            self.registry, config=self.config_arg or (request.config_path if request else None),
            dsn=self.dsn or (request.dsn if request else None),
            overrides=request.overrides if request else (),
            # --setup and --rebuild were for the run the command line started, not for the next one
            switches={"monitor": request.monitor} if request else None)
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

            # the next run's dashboard does not exist yet: a pane asked for meanwhile waits for it
            self.dashboard = None
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
        """Focus a dashboard pane: throughput, latency, errors, server, connections, workers.

        Before the run's dashboard exists the focus waits for it; a dashboard
        under other screens gets it when it is back on top; a finished run's
        dashboard that was closed opens again on its final figures.
        """
        dash = self.dashboard
        if dash is None:
            self._pending_focus = name
            return False
        if dash in self.screen_stack:
            if self.screen is dash:
                return dash.focus_pane(name)
            dash.initial_focus = name
            self.notify(f"the {name} pane is on the dashboard under this screen: escape goes back to it", timeout=5)
            return False
        if self._run_active or self.session is None or self.current_snapshot() is None:
            self._pending_focus = name
            return False
        status = self.last_report.status if self.last_report is not None else "finished"
        self.dashboard = DashboardScreen(self.current_snapshot, self.session.workload_name, self.refresh_s,
                                             monitoring=self._monitoring(), run_info=self._run_info)
        self.dashboard.initial_focus = name
        self.dashboard.finish(status)
        self.push_screen(self.dashboard)
        return True

    def _run_info(self) -> dict[str, Any] | None:
        """What the engine chose for the run going: driver, processes, workers, connections."""
        runner = self.session.runner if self.session is not None else None
        driver = getattr(runner, "driver", None)
        if runner is None or driver is None:
            return None
        group = getattr(runner, "group", None)
        return {"driver": driver, "processes": getattr(runner, "processes", None),
                "workers": getattr(runner, "workers", None),
                "connections": getattr(group, "pool_size", None) if group is not None else None}

    def _monitoring(self) -> bool | None:
        plan = self.session.plan if self.session is not None else None
        return None if plan is None else bool(plan.monitor)

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
        self._last_launch = (build, workload)
        session = self.session = run_session(build, self.post_message, self.sinks)
        self.setup_screen = SetupScreen(workload)
        self.dashboard = None
        self._run_active = True
        self.push_screen(self.setup_screen)
        self.run_worker(lambda: execute(session, self.post_message), thread=True, name="run", group="run",
                        exit_on_error=False)

    def retry_run(self) -> bool:
        """``r`` on a failed setup screen: the same plan again, once the server answers."""
        if self._run_active or self._last_launch is None:
            return False
        if self.setup_screen is not None and self.screen is self.setup_screen:
            self.pop_screen()
        build, workload = self._last_launch
        self._begin(build, workload)
        return True

    def stop_run(self, *, abort: bool = False) -> None:
        """``s``: stop gracefully and show the report; ``a``: stop and leave with status 130."""
        if not self._run_active or self.session is None:
            self.notify("no run is going")
            return
        already = self.session.stop_reason is not None
        self.session.request_stop("aborted by user" if abort else "stopped by user", abort=abort)
        if not already:
            # the report, when it opens, says again that it is of a stopped run
            self.notify("stopping: in-flight transactions finish, then the report" if not abort
                        else "aborting: the run stops and the app exits", timeout=4)

    def cancel_setup(self) -> None:
        if self.session is not None and self._run_active:
            self.session.request_stop("setup cancelled")

    def on_run_notice(self, message: RunNotice) -> None:
        error = message.text.startswith("error: ")
        self.notify(message.text.removeprefix("error: "), severity="error" if error else "information",
                    timeout=10 if error else 6)

    def on_run_phase_changed(self, message: RunPhaseChanged) -> None:
        if self.setup_screen is not None and self.dashboard is None:
            self.setup_screen.show_phase(message.phase, message.detail)
        if message.phase in LIVE_PHASES and self.dashboard is None and self.session is not None:
            self.dashboard = DashboardScreen(self.current_snapshot, self.session.workload_name, self.refresh_s,
                                             monitoring=self._monitoring(), run_info=self._run_info)
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
        if self.internal_error is not None:
            self._run_ended_after_error(message)
            return
        if self._exit_after_run is not None:
            lines = self._kept_report_lines(message)
            self.exit(self._exit_after_run, return_code=self._exit_after_run,
                      message="\n".join(lines) if lines else None)
            return
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
            if session is not None and session.stop_reason == "stopped by user":
                measured = (report.data.get("summary") or {}).get("elapsed_s") or 0
                self.notify(f"stopped by you: the report covers the {measured:.1f} s measured before the stop",
                            title="run stopped", timeout=10)
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

    # -- notifications ---------------------------------------------------------------------------

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every toast goes through here: plain text (an error message's brackets are not markup),
        paths shortened and on a line of their own so they never break mid-word."""
        super().notify(readable_paths(message), title=title, severity=severity, timeout=timeout, markup=markup)

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

    def action_compare(self) -> None:
        from stormdb_tui.tui.screens.compare import CompareScreen

        if isinstance(self.screen, CompareScreen):
            return
        self.push_screen(CompareScreen())

    def action_tutorials(self) -> None:
        from stormdb_tui.tui.screens.tutorial import TutorialListScreen

        self.push_screen(TutorialListScreen())

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen, [b for b in self.BINDINGS if isinstance(b, Binding)]))

    async def action_quit(self) -> None:
        if self.internal_error is not None:
            self.leave_after_error()
            return
        if self._run_active:
            if isinstance(self.screen, ConfirmDialog) or self._exit_after_run is not None:
                return
            question = ("A run is going. Stop it and quit? In-flight transactions finish and the report "
                        "is kept (written where the config says, otherwise under reports/).")

            def answered(ok: bool | None) -> None:
                if ok and self._run_active:
                    self._exit_after_run = EXIT_OK
                    self.stop_run(abort=False)

            self.push_screen(ConfirmDialog(question, yes="Stop and quit", no="Keep running"), answered)
            return
        self.exit(self.exit_code, return_code=self.exit_code)

    # -- internal errors ---------------------------------------------------------------------

    async def _dispatch_message(self, message: Any) -> None:
        # Bindings and the app's own handlers run in the app's message loop, which
        # Textual ends on the first exception; catching it here keeps the loop alive
        # so the error screen can be shown and answered.
        try:
            await super()._dispatch_message(message)
        except Exception as error:
            self._handle_exception(error)

    def _handle_exception(self, error: Exception) -> None:
        """A bug in a handler: stop the run gracefully, keep its report, say what broke, exit 1.

        Textual's own handling prints the traceback only after the app ends,
        which with a run going means after the workers finish, and the
        process then exits 0. A second error while this one is shown falls
        back to Textual's handling.
        """
        if self.internal_error is not None or not self.is_running:
            super()._handle_exception(error)
            return
        self.internal_error = error
        self.exit_code = EXIT_FAILED
        summary = f"{type(error).__name__}: {error}"
        log_path = _write_traceback(error)
        frames = [line.rstrip() for line in traceback.format_exception(error)[-6:]]
        going = bool(self._run_active and self.session is not None)
        if going:
            assert self.session is not None
            self.session.request_stop(f"internal error: {summary}"[:300])
        try:
            from stormdb_tui.tui.screens.error import ErrorScreen

            self._error_screen = ErrorScreen(summary, frames, log_path, going)
            self.push_screen(self._error_screen)
        except Exception:
            super()._handle_exception(error)

    def _run_ended_after_error(self, message: RunFinished) -> None:
        lines = self._kept_report_lines(message)
        if self._error_screen is not None and self._error_screen.is_mounted:
            self._error_screen.run_stopped(lines)
        if self._exit_after_run is not None:
            self.exit(EXIT_FAILED, return_code=EXIT_FAILED, message=self._error_message(lines))

    def _kept_report_lines(self, message: RunFinished) -> list[str]:
        """Where the finished run's report is; written under reports/ when the config names no file."""
        report = message.report
        if report is None:
            return [f"the run ended without a report ({message.status}: {message.error or 'no detail'})"]
        self.last_report = report
        written = _written_lines(self.session)
        if written:
            return written
        try:
            return [f"JSON report written to {report.write_json(default_report_path(report.data, 'json'))}"]
        except Exception as exc:  # the report must not be the second casualty
            return [f"the report could not be written: {exc}"]

    def _error_message(self, lines: list[str]) -> str:
        error = self.internal_error
        self.error_reported = True
        head = f"stormdb-tui: internal error: {type(error).__name__}: {error}"
        log = _write_traceback(error) if error is not None else None
        tail = [f"the traceback is in {log}"] if log else []
        return "\n".join([head, *lines, *tail])

    def leave_after_error(self) -> None:
        """``q`` on the error screen: leave now, or as soon as the run has written its report."""
        if self._run_active:
            self._exit_after_run = EXIT_FAILED
            self.notify("leaving as soon as the run has stopped and its report is written", timeout=10)
            return
        lines = self._error_screen.run_lines if self._error_screen is not None else []
        self.exit(EXIT_FAILED, return_code=EXIT_FAILED, message=self._error_message(lines))


_PATH_RE = re.compile(r"(?<![\w.~])(/[^\s,;()'\"]+)")


def readable_paths(text: str, cwd: str | None = None, home: str | None = None) -> str:
    """Absolute paths relative to the working directory (or ``~``), each long one on its own line."""
    cwd = cwd or os.getcwd()
    home = home or os.path.expanduser("~")

    def short(match: re.Match[str]) -> str:
        path = match.group(1)
        trail = ""
        while path and path[-1] in ".:":  # the sentence's full stop is not part of the path
            path, trail = path[:-1], path[-1] + trail
        if path.startswith(cwd.rstrip(os.sep) + os.sep):
            path = os.path.relpath(path, cwd)
        elif home and path.startswith(home.rstrip(os.sep) + os.sep):
            path = "~" + path[len(home.rstrip(os.sep)):]
        return path + trail

    out = _PATH_RE.sub(short, text)
    words = out.split(" ")
    lines = [w if len(w) < 28 or "/" not in w or i == 0 else "\n" + w for i, w in enumerate(words)]
    return " ".join(lines).replace(" \n", "\n")


def _written_lines(session: RunSession | None) -> list[str]:
    outcome = session.outcome if session is not None else None
    return [line for _ok, line in outcome.written] if outcome is not None else []


def _write_traceback(error: BaseException) -> str | None:
    path = os.path.join(tempfile.gettempdir(), f"stormdb-tui-error-{os.getpid()}.log")
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write("".join(traceback.format_exception(error)))
    except OSError:
        return None
    return path


def run_app(
    config: str | None = None,
    dsn: str | None = None,
    data_dir: str | None = None,
    request: RunRequest | None = None,
    report_file: str | None = None,
    sinks: Sequence[IntervalSink] = (),
) -> int:
    """Open the workbench; returns the process exit code (130 when a run was aborted).

    ``sinks`` are fed every interval of every run started in it (a metrics endpoint).
    """
    registry = None
    if request is not None:
        registry = validate_request(request)
    elif report_file:
        Report.load(report_file)
    if config and not Path(config).exists():
        from stormdb_tui.config import load_config

        load_config(config)
    app = StormApp(config=config, dsn=dsn, data_dir=data_dir, request=request, report_file=report_file,
                   registry=registry, sinks=sinks)
    result = app.run()
    if app.internal_error is not None:
        return _finish_after_error(app)
    if isinstance(result, int):
        return result
    return app.return_code or app.exit_code


def _finish_after_error(app: StormApp) -> int:
    """The app closed on an internal error: let the run write its report, then say what happened."""
    import sys
    import time

    session = app.session
    if session is not None and not session.finished:
        session.request_stop(f"internal error: {type(app.internal_error).__name__}")
        deadline = time.monotonic() + 120
        while not session.finished and time.monotonic() < deadline:
            time.sleep(0.1)
    if not app.error_reported:
        lines: list[str] = []
        report = session.runner.report if session is not None and session.runner is not None else None
        if _written_lines(session):
            lines = _written_lines(session)
        elif report is not None:
            try:
                lines = [f"JSON report written to {report.write_json(default_report_path(report.data, 'json'))}"]
            except Exception as exc:
                lines = [f"the report could not be written: {exc}"]
        print(app._error_message(lines), file=sys.stderr)
    return EXIT_FAILED
