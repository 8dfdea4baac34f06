"""The run journal: a run killed at any moment keeps every interval it measured.

Real runs against the test server, killed with SIGKILL (nothing of ours runs
after it), then opened with ``stormdb-tui report``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stormdb_tui.report.journal import Journal
from stormdb_tui.report.model import Report

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def loaded(dsn: str) -> str:
    """The test server with the simple workload's tables loaded."""
    result = subprocess.run(
        [sys.executable, "-m", "stormdb_tui", "setup", "-w", "simple", "--dsn", dsn],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return dsn


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, STORMDB_RUNS_DIR=str(tmp_path / "runs"))


def _start(dsn: str, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-w", "simple", "--set", "script=select-only",
         "--dsn", dsn, "--duration", "60", "--workers", "2", "--interval", "0.5", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path),
    )


def _journal_line_and_progress(proc: subprocess.Popen[str], progress: int) -> str:
    """The journal path from the start-up line, after ``progress`` progress lines."""
    assert proc.stderr is not None
    path, seen = "", 0
    deadline = time.monotonic() + 60
    while (not path or seen < progress) and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if line.startswith("stormdb-tui: run journal: "):
            path = line.split("run journal: ", 1)[1].split(" (", 1)[0]
        if line.startswith("progress:"):
            seen += 1
    assert path and seen >= progress, "no journal line or no progress"
    return path


def test_sigkill_mid_run_leaves_a_journal_that_opens(loaded, tmp_path):
    proc = _start(loaded, tmp_path, "--report-json", str(tmp_path / "r.json"))
    path = _journal_line_and_progress(proc, 5)
    assert path == str(tmp_path / "r.journal.jsonl")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert not (tmp_path / "r.json").exists()

    lines = Path(path).read_text().splitlines()
    assert len(lines) >= 6  # header + at least the 5 intervals printed before the kill
    report = Report.load(path).data
    assert report["status"] == "crashed"
    assert len(report["intervals"]) == len(lines) - 1
    # Every interval up to the last one, and totals that agree with them.
    assert sum(i["transactions"] for i in report["intervals"]) == report["summary"]["transactions"] > 0
    assert report["summary"]["latency_ms"]["p99"] is not None
    assert report["workload"]["name"] == "simple"
    assert report["server"]["version_num"] >= 150000

    out_json, out_md = tmp_path / "crashed.json", tmp_path / "crashed.md"
    cli = subprocess.run([sys.executable, "-m", "stormdb_tui", "report", path, "--write-json", str(out_json),
                          "--write-md", str(out_md)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(out_json.read_text())["status"] == "crashed"
    assert "(crashed)" in out_md.read_text() and "| select-only |" in out_md.read_text()
    md = subprocess.run([sys.executable, "-m", "stormdb_tui", "report", path, "--md"],
                        capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert md.returncode == 0 and "## Time series" in md.stdout


def test_journal_cut_mid_line_keeps_the_whole_lines(loaded, tmp_path):
    proc = _start(loaded, tmp_path, "--report-json", str(tmp_path / "r.json"))
    path = _journal_line_and_progress(proc, 3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    text = Path(path).read_bytes()
    whole = text.count(b"\n") - 1
    Path(path).write_bytes(text[:-40])  # as if the kill landed inside the last write
    report = Report.load(path).data
    assert len(report["intervals"]) == whole - 1
    assert any("unfinished last line" in note for note in report["notes"])


def test_normal_end_replaces_the_journal_by_the_report(loaded, tmp_path):
    proc = _start(loaded, tmp_path, "--report-json", str(tmp_path / "r.json"), "--duration", "2")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "run journal: " in stderr
    assert (tmp_path / "r.json").exists()
    assert not (tmp_path / "r.journal.jsonl").exists()


def test_without_a_report_path_the_journal_goes_to_the_runs_folder(loaded, tmp_path):
    proc = _start(loaded, tmp_path, "--duration", "2")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    runs = sorted((tmp_path / "runs").iterdir())
    # The report took the journal's place, beside the run's interval log.
    assert [p.suffix for p in runs] == [".hlog", ".json"], runs
    assert runs[0].stem == runs[1].stem
    assert str(runs[1]) in stderr
    report = Report.load(runs[1])
    assert report.status == "completed" and report.data["hdr_log"]["path"] == str(runs[0])


def test_journal_off(loaded, tmp_path):
    proc = _start(loaded, tmp_path, "--duration", "1", "--set", "report.journal=off")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "run journal" not in stderr
    assert not (tmp_path / "runs").exists()


def test_journal_refuses_to_share_a_file(tmp_path):
    path = tmp_path / "j.journal.jsonl"
    first = Journal(path, {"started_at": None})
    with pytest.raises(Exception, match="cannot create the run journal"):
        Journal(path, {"started_at": None})
    first.close()


def test_sigkill_before_the_first_interval(loaded, tmp_path):
    proc = _start(loaded, tmp_path, "--report-json", str(tmp_path / "r.json"), "--interval", "5")
    path = ""
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("stormdb-tui: run journal: "):
            path = line.split("run journal: ", 1)[1].split(" (", 1)[0]
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    report = Report.load(path).data
    assert report["status"] == "crashed" and report["intervals"] == []
    assert "no interval was completed" in report["message"]
    assert report["workload"]["name"] == "simple" and report["run"]["workers"] == 2
