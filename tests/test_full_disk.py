"""Full disks and unwritable paths while writing the journal, the report and exports.

A 64 kB tmpfs fills up mid-run (the journal, then the report); a read-only
tmpfs refuses everything. Needs root and a kernel that lets us mount; skipped
with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stormdb_tui.report.hdrlog import read_log
from stormdb_tui.report.model import Report

ROOT = Path(__file__).resolve().parent.parent


def _mount(options: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="stormdb-tmpfs-"))
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or 'mount failed'}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)
        folder.rmdir()


@pytest.fixture
def small_disk() -> Iterator[Path]:
    yield from _mount("size=64k")


@pytest.fixture
def read_only_disk() -> Iterator[Path]:
    yield from _mount("ro,size=64k")


@pytest.fixture(scope="module")
def loaded(dsn: str) -> str:
    result = subprocess.run([sys.executable, "-m", "stormdb_tui", "setup", "-w", "simple", "--dsn", dsn],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    return dsn


def _run(dsn: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-q", "-w", "simple", "--set", "script=select-only",
         "--dsn", dsn, "--workers", "2", *extra],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )


def test_disk_fills_during_the_run(loaded, small_disk, tmp_path):
    report = small_disk / "r.json"
    md = tmp_path / "r.md"  # on a disk with room: still written
    result = _run(loaded, "--duration", "12", "--interval", "0.1", "--report-json", str(report), "--report-md", str(md))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    journal = small_disk / "r.journal.jsonl"
    assert f"could not write the run journal {journal}: No space left on device" in result.stderr
    assert f"could not write the json report to {report}: No space left on device" in result.stderr
    assert "transactions:" in result.stdout  # the summary is still printed
    assert md.exists() and "| select-only |" in md.read_text()
    # No half-written file: no report, no temporary file; the journal and the interval log end on a
    # whole line and open.
    assert sorted(p.name for p in small_disk.iterdir()) == ["r.hlog", "r.journal.jsonl"]
    assert journal.read_bytes().endswith(b"\n")
    hlog = small_disk / "r.hlog"
    assert f"could not write the interval log {hlog}: No space left on device" in result.stderr
    assert hlog.read_bytes().endswith(b"\n") and read_log(hlog).intervals
    kept = Report.load(journal).data
    assert kept["status"] == "crashed" and len(kept["intervals"]) >= 5
    assert not any("unfinished" in note for note in kept["notes"])
    assert f"what was measured is kept in the run journal {journal}" in result.stderr


def test_read_only_folder(loaded, read_only_disk):
    report = read_only_disk / "r.json"
    result = _run(loaded, "--duration", "1", "--report-json", str(report))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot create the run journal {read_only_disk / 'r.journal.jsonl'}: Read-only file system" in result.stderr
    assert f"could not write the json report to {report}: Read-only file system" in result.stderr
    assert "transactions:" in result.stdout
    assert list(read_only_disk.iterdir()) == []


def test_export_to_a_full_disk(loaded, small_disk, tmp_path):
    source = tmp_path / "r.json"
    assert _run(loaded, "--duration", "1", "--report-json", str(source)).returncode == 0
    data = json.loads(source.read_text())
    data["notes"] = ["x" * 100_000]  # larger than the disk
    source.write_text(json.dumps(data))
    for flag, name in (("--write-json", "out.json"), ("--write-md", "out.md")):
        target = small_disk / name
        result = subprocess.run([sys.executable, "-m", "stormdb_tui", "report", str(source), flag, str(target)],
                                capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert result.returncode == 1, result.stderr
        assert f"could not write {target}: No space left on device" in result.stderr
        assert "Traceback" not in result.stderr
    assert list(small_disk.iterdir()) == []


def test_runs_folder_unwritable(loaded, read_only_disk):
    env = dict(os.environ, STORMDB_RUNS_DIR=str(read_only_disk / "runs"))
    result = subprocess.run(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-q", "-w", "simple", "--set", "script=select-only",
         "--dsn", loaded, "--workers", "1", "--duration", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env=env,
    )
    assert result.returncode == 1
    assert str(read_only_disk / "runs") in result.stderr and "Traceback" not in result.stderr
    assert "transactions:" in result.stdout
