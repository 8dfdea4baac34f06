"""Hostile files: configs, reports and journals built to hurt the reader.

Each is generated here and handed to the real CLI in a subprocess: it must be
refused with one located line and a usage exit status, never a traceback,
and without reading (or building) more than a bounded amount.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    # A hard memory cap: a reader that expands an alias bomb or loads a huge file dies instead of passing.
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
    code = limit + "import sys; from stormdb_tui.frontends.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def _alias_bomb() -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join([*lines, "workload:", "  name: simple", "plugins:", "  paths: *i"]) + "\n"


CONFIGS = {
    "alias_bomb": (_alias_bomb(), "expands to more than"),
    "deep_flow": ("run: " + "[" * 100_000 + "\n", "nested too deeply"),
    "deep_block": ("run:\n" + "".join("  " * i + f"k{i}:\n" for i in range(200)), "nested too deeply"),
    "binary": (None, "binary content"),
    "latin1": (None, "not UTF-8"),
    "huge": (None, "too large for a config file"),
    "truncated": ("run:\n  workers: [1, 2\n", "invalid YAML"),
    "not_mapping": ("- just\n- a list\n", "top level must be a mapping"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_hostile_config_is_refused_with_a_located_line(tmp_path, name):
    text, expected = CONFIGS[name]
    path = tmp_path / f"{name}.yaml"
    if name == "binary":
        path.write_bytes(b"run:\n  workers: 2\n" + bytes(range(256)) * 64)
    elif name == "latin1":
        path.write_bytes("workload:\n  name: caf\u00e9\n".encode("latin-1"))
    elif name == "huge":
        with open(path, "wb") as handle:
            handle.write(b"run:\n  workers: 2\n")
            handle.truncate(3 * 1024 * 1024 * 1024)  # sparse: large on paper, nothing on disk
    else:
        path.write_text(text)
    result = _cli("run", "--no-ui", "-c", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert str(path) in result.stderr and expected in result.stderr, result.stderr


def _report() -> dict:
    return {"schema_version": 1, "status": "completed", "workload": {"name": "x"}, "run": {}, "summary": {},
            "operations": {}, "intervals": []}


REPORTS = {
    "truncated": (lambda: json.dumps(_report())[:40], "not a JSON report"),
    "not_json": (lambda: "<html>hello</html>\n", "not a JSON report"),
    "binary": (lambda: None, "binary content"),
    "empty": (lambda: "", "not a JSON report"),
    "newer_schema": (lambda: json.dumps({**_report(), "schema_version": 99}), "newer than this tool understands"),
    "string_schema": (lambda: json.dumps({**_report(), "schema_version": "1"}), "integer schema_version"),
    "no_schema": (lambda: json.dumps({"status": "completed"}), "no schema_version"),
    "missing_summary": (lambda: json.dumps({k: v for k, v in _report().items() if k != "summary"}), "summary"),
    "missing_intervals_ok_but_bad_errors": (lambda: json.dumps({**_report(), "errors": {"a": 1}}), "errors"),
    "wrong_type": (lambda: json.dumps({**_report(), "intervals": "many"}), "intervals"),
    "deep": (lambda: "[" * 200_000 + "]" * 200_000, "nested too deeply"),
    "huge": (lambda: None, "too large for a report"),
    "journal_newer": (lambda: '{"journal": 7, "started_at": null}\n', "journal version 7 is newer"),
    "journal_bad_header": (lambda: '{"journal" oops\n', "not a run journal"),
    "journal_not_int": (lambda: '{"journal": "1"}\n', "no journal version"),
}


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_hostile_report_is_refused_with_a_located_line(tmp_path, name):
    make, expected = REPORTS[name]
    path = tmp_path / f"{name}.json"
    text = make()
    if name == "binary":
        path.write_bytes(b"\xff\xfe\x00\x01" * 1000)
    elif name == "huge":
        with open(path, "wb") as handle:
            handle.write(b'{"schema_version": 1, "x": "')
            handle.truncate(2 * 1024 * 1024 * 1024)
    else:
        path.write_text(text)
    result = _cli("report", str(path), "--md")
    assert result.returncode == 2, (result.stdout[-300:], result.stderr)
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert str(path) in result.stderr and expected in result.stderr, result.stderr


def test_a_directory_is_not_a_report(tmp_path):
    result = _cli("report", str(tmp_path), "--md")
    assert result.returncode == 2 and "directory" in result.stderr and "Traceback" not in result.stderr
