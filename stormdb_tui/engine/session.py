"""One run's lifecycle, the same for every front end.

A :class:`RunSession` takes a plan (or a function that builds one, which may
start the embedded server), prepares the data, runs, writes the configured
report files and decides the exit status. Front ends only choose how to show
it, through :class:`Hooks`:

* headless prints progress lines from ``interval`` and a summary at the end;
* the workbench posts a message from each hook (thread-safe, non-blocking)
  and reads :attr:`RunSession.snapshot` on its own timer;
* tutorials run their steps through it and keep the reports.

Hooks are called from the engine's threads (the sampler, the loader) and
must return at once: a blocked hook would stall the measurements.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from stormdb_tui import db
from stormdb_tui.engine.metrics import IntervalSample, RunSnapshot
from stormdb_tui.engine.plan import RunPlan
from stormdb_tui.engine.runner import Runner
from stormdb_tui.engine.states import Phase, Status
from stormdb_tui.errors import EXIT_FAILED, EXIT_OK, EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM, StormError
from stormdb_tui.report.journal import Journal, JournalWriteError, journal_path, totals_from_snapshot
from stormdb_tui.report.model import Report
from stormdb_tui.workload import SetupProgress

PlanSource = RunPlan | Callable[[], RunPlan]


@dataclass
class Hooks:
    """What a front end wants to hear while a run goes (each optional, none may block)."""

    phase: Callable[[Phase, str], None] | None = None
    progress: Callable[[SetupProgress], None] | None = None
    interval: Callable[[RunSnapshot, IntervalSample], None] | None = None
    notice: Callable[[str], None] | None = None
    """One line the user should see at once (where the run journal is, why it stopped)."""


@dataclass(frozen=True)
class Outcome:
    """How a session ended: its status, its report (when a run happened) and the exit code."""

    status: Status
    exit_code: int
    report: Report | None = None
    error: str | None = None
    """One line saying why the run failed or was cancelled before measuring."""
    written: tuple[tuple[bool, str], ...] = field(default_factory=tuple)
    """(written, message) per configured report file."""


JOURNAL_OFF = frozenset({"off", "false", "no", "none", "0"})


def write_reports(report: Report, paths: Mapping[str, Any]) -> list[tuple[bool, str]]:
    """Write the configured report files; (written, one-line message) per file, never raises."""
    results = []
    for key, writer in (("json", report.write_json), ("markdown", report.write_markdown)):
        path = paths.get(key)
        if not path:
            continue
        try:
            results.append((True, f"{key} report written to {writer(path)}"))
        except OSError as exc:
            results.append((False, f"could not write the {key} report to {path}: {exc.strerror or exc}"))
    return results


def exit_code(status: Status | str, signum: int = 0, *, aborted: bool = False) -> int:
    """0 completed, 1 failed, 130 interrupted (SIGINT or an abort), 143 terminated (SIGTERM), 129 hung up (SIGHUP)."""
    status = Status(status)
    if status is Status.INTERRUPTED or (status is Status.CANCELLED and (signum or aborted)):
        codes: dict[int, int] = {signal.SIGTERM: EXIT_SIGTERM, signal.SIGHUP: EXIT_SIGHUP}
        return codes.get(signum, EXIT_SIGINT)
    if status in (Status.FAILED, Status.CANCELLED):
        return EXIT_FAILED
    return EXIT_OK


class RunSession:
    """Drives one run from plan to exit status; :meth:`request_stop` may be called from any thread."""

    def __init__(self, plan: PlanSource, hooks: Hooks | None = None, *, write_files: bool = True) -> None:
        self._source = plan
        self.hooks = hooks or Hooks()
        self.write_files = write_files
        self.plan: RunPlan | None = plan if isinstance(plan, RunPlan) else None
        self.runner: Runner | None = None
        self.stop_reason: str | None = None
        self.aborted = False
        self.signum = 0
        self.outcome: Outcome | None = None
        self.journal: Journal | None = None
        self.journal_error: str | None = None
        self._lock = threading.Lock()

    # -- what front ends read ------------------------------------------------------

    @property
    def workload_name(self) -> str:
        return self.plan.workload.name if self.plan is not None else ""

    @property
    def snapshot(self) -> RunSnapshot | None:
        runner = self.runner
        return runner.snapshot if runner is not None else None

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    # -- control -------------------------------------------------------------------

    def request_stop(self, reason: str, *, abort: bool = False, signum: int = 0) -> None:
        """Stop gracefully: in-flight transactions finish and the report is kept."""
        with self._lock:
            self.aborted = self.aborted or abort
            self.signum = self.signum or signum
            if self.stop_reason is None:
                self.stop_reason = reason
            runner = self.runner
        if runner is not None:
            runner.request_stop(reason)

    # -- the lifecycle ---------------------------------------------------------------

    def _runner(self) -> Runner:
        if self.plan is None:
            self._phase(Phase.CONNECTING, "resolving the target")
            assert callable(self._source)
            self.plan = self._source()
        phase_hook = self.hooks.phase
        runner = Runner(
            self.plan,
            on_interval=self._on_interval,
            on_phase=(lambda phase, detail: phase_hook(Phase(phase), detail)) if phase_hook else None,
        )
        with self._lock:
            self.runner = runner
            if self.stop_reason is not None:
                runner.request_stop(self.stop_reason)
        return runner

    def _notice(self, text: str) -> None:
        if self.hooks.notice is not None:
            self.hooks.notice(text)

    # -- the journal (sampler thread, once per interval) ----------------------------

    def _open_journal(self, runner: Runner) -> None:
        assert self.plan is not None
        paths = self.plan.config.report
        setting = paths.get("journal")
        if not self.write_files or (setting is not None and str(setting).strip().lower() in JOURNAL_OFF):
            return
        from datetime import datetime, timezone

        from stormdb_tui.embedded import runs_dir

        header = runner.journal_header()
        path = journal_path(paths, runs_dir(), self.plan.workload.name, datetime.now(timezone.utc))
        try:
            self.journal = Journal(path, header)
        except JournalWriteError as exc:
            self.journal_error = str(exc)
            self._notice(f"error: {exc}; the run goes on without a journal")
            return
        self._notice(f"run journal: {path} (kept if the run is killed; `stormdb-tui report` opens it)")

    def _on_interval(self, snap: RunSnapshot, sample: IntervalSample) -> None:
        journal = self.journal
        if journal is not None and not journal.closed:
            try:
                journal.append(sample.as_dict(), totals_from_snapshot(snap))
            except JournalWriteError as exc:
                self.journal_error = str(exc)
                self._notice(f"error: {exc}; the journal stops here, the run goes on")
        if self.hooks.interval is not None:
            self.hooks.interval(snap, sample)

    def _finish_journal(self, report: Report | None, written: list[tuple[bool, str]]) -> None:
        """Replace the journal by the report; keep it when a report could not be written."""
        journal = self.journal
        if journal is None:
            if self.journal_error:
                written.append((False, self.journal_error))
            return
        assert self.plan is not None
        paths = self.plan.config.report
        if report is not None and not (paths.get("json") or paths.get("markdown")):
            # No report was asked for: the journal's place gets the full JSON report.
            target = journal.path.removesuffix(".journal.jsonl") + ".json"
            written.extend(write_reports(report, {"json": target}))
        report_failed = any(not ok for ok, _ in written)
        if self.journal_error:
            written.append((False, self.journal_error))
        if report is not None and not report_failed:
            journal.close(remove=True)
            return
        journal.close()
        if os.path.exists(journal.path):
            written.append((True, f"what was measured is kept in the run journal {journal.path}"))

    def _phase(self, phase: Phase, detail: str) -> None:
        if self.hooks.phase is not None:
            self.hooks.phase(phase, detail)

    def _end(self, status: Status, *, report: Report | None = None, error: str | None = None,
             written: tuple[tuple[bool, str], ...] = (), code: int | None = None) -> Outcome:
        if code is None:
            code = exit_code(status, self.signum, aborted=self.aborted)
            if code == EXIT_OK and any(not ok for ok, _ in written):
                code = EXIT_FAILED
        self.outcome = Outcome(status, code, report, error, written)
        return self.outcome

    def execute(self) -> Outcome:
        """Build the plan, prepare, run and write the reports; never raises for a run that went wrong."""
        try:
            runner = self._runner()
            if self.stop_reason is not None:
                return self._end(Status.CANCELLED, error="cancelled before the run started")
            runner.prepare(self.hooks.progress)
            if self.stop_reason is not None:
                return self._end(Status.CANCELLED, error="cancelled during setup")
            self._open_journal(runner)
            report = runner.run()
        except StormError as exc:
            self._keep_journal()
            if self.stop_reason is not None:
                return self._end(Status.CANCELLED, error=str(exc))
            return self._end(Status.FAILED, error=str(exc), code=exc.exit_code)
        except Exception as exc:
            kept = self._keep_journal()
            status = Status.CANCELLED if self.stop_reason is not None else Status.FAILED
            return self._end(status, error=f"internal error: {type(exc).__name__}: {db.first_line(exc)}" + kept)
        written: list[tuple[bool, str]] = []
        if self.write_files and self.plan is not None:
            written = write_reports(report, self.plan.config.report)
            self._finish_journal(report, written)
        return self._end(Status(report.status), report=report, written=tuple(written))

    def _keep_journal(self) -> str:
        journal = self.journal
        if journal is None:
            return ""
        journal.close()
        return f"; what was measured is kept in the run journal {journal.path}" if os.path.exists(journal.path) else ""

    def setup_only(self) -> SetupProgress | None:
        """Create and load the workload's data (the plan asks for setup); what was loaded."""
        runner = self._runner()
        runner.prepare(self.hooks.progress)
        return runner.setup_result

    def check(self) -> list[tuple[str, bool | None, str]]:
        """The workload's readiness check and, when it has them, its consistency conditions.

        A condition's verdict is None when it was skipped (it says why in its detail).
        """
        runner = self._runner()
        assert self.plan is not None
        workload = self.plan.workload
        with runner.connect_admin() as conn:
            problems = workload.check(conn)
            results: list[tuple[str, bool | None, str]] = [("data present", not problems, "; ".join(problems))]
            consistency = getattr(workload, "consistency", None)
            if not problems and consistency is not None:
                results.extend((str(n), None if ok is None else bool(ok), str(d or "")) for n, ok, d in consistency(conn))
        return results


@contextmanager
def signals_stop(session: RunSession) -> Iterator[None]:
    """While inside: SIGINT, SIGTERM and SIGHUP stop ``session`` gracefully; a second SIGINT exits at once.

    SIGHUP (the terminal closed) is treated like SIGTERM: the run stops, its
    report is written and the embedded server is stopped on the way out.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        if session.signum and signum == signal.SIGINT:
            os._exit(EXIT_SIGINT)
        reasons: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGHUP: "hung up"}
        reason = reasons.get(signum, "terminated")
        session.request_stop(reason, signum=signum)

    names = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, handler) for signum in names}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
