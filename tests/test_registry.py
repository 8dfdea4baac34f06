"""Workload discovery: built-ins, shipped plugins, drop-in folders, entry points, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stormdb_tui.errors import ConfigError
from stormdb_tui.registry import discover

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
EXPECTED = {"simple", "tpcc", "connection_overhead", "bulk_insert", "imdb", "vector", "ecommerce", "ecommerce_basic"}


def test_all_eight_workloads_are_found():
    registry = discover()
    assert EXPECTED <= set(registry.names())
    assert not [f for f in registry.failed], [f.error for f in registry.failed]
    sources = {name: registry.entries[name].source for name in EXPECTED}
    assert sources["tpcc"] == "builtin" and sources["vector"] == "plugin"


def test_unknown_workload_suggests():
    with pytest.raises(ConfigError, match="did you mean 'tpcc'"):
        discover().get("tpc")


def test_broken_plugin_is_listed_and_others_load(tmp_path):
    (tmp_path / "broken.py").write_text("def oops(:\n")
    (tmp_path / "bad_meta.py").write_text(
        "from stormdb_tui.workload import Workload\n"
        "class Bad(Workload):\n    name = 'Bad Name'\n    version = '1'\n"
        "    def transaction(self, ctx):\n        return 'x'\n"
    )
    (tmp_path / "future.py").write_text(
        "from stormdb_tui.workload import Workload\n"
        "class Future(Workload):\n    name = 'future'\n    version = '1'\n    api_version = 99\n"
        "    def transaction(self, ctx):\n        return 'x'\n"
    )
    registry = discover([str(tmp_path), str(EXAMPLES)])
    failed = {Path(f.origin).name: f.error for f in registry.failed}
    assert "SyntaxError" in failed["broken.py"] and "line 1" in failed["broken.py"]
    assert "invalid name" in failed["bad_meta.py"]
    assert "api_version 99" in failed["future.py"]
    assert "hello" in registry.names() and "simple" in registry.names()


def test_unknown_workload_names_the_plugins_that_did_not_load(tmp_path):
    # The workload a user just wrote is "unknown" because its file or folder failed:
    # the error must point there, not only list the built-ins.
    (tmp_path / "mine.py").write_text("def oops(:\n")
    with pytest.raises(ConfigError, match=r"not loaded: .*mine.py \(SyntaxError"):
        discover([str(tmp_path)]).get("my_workload")
    with pytest.raises(ConfigError, match=r"not loaded: .*nowhere \(plugin folder does not exist\)"):
        discover([str(tmp_path / "nowhere")]).get("hello")


def test_name_clash_keeps_builtin_and_warns(tmp_path, capsys):
    (tmp_path / "clash.py").write_text(
        "from stormdb_tui.workload import Workload\n"
        "class Simple(Workload):\n    name = 'simple'\n    version = '9'\n"
        "    def transaction(self, ctx):\n        return 'x'\n"
    )
    registry = discover([str(tmp_path)])
    assert registry.entries["simple"].source == "builtin"
    assert "shadowed" in capsys.readouterr().err


def test_entry_point_plugin(tmp_path, dsn):
    """A distribution advertising the entry point is found without any path configuration."""
    pkg = tmp_path / "thirdparty_wl"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from stormdb_tui.workload import Workload

            class Third(Workload):
                name = "third"
                title = "third-party"
                version = "0.1"
                operations = ("one",)

                def transaction(self, ctx):
                    ctx.label = "one"
                    ctx.conn.execute("SELECT 1")
                    return "one"
            """
        )
    )
    dist = tmp_path / "thirdparty_wl-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-wl\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[stormdb_tui.workloads]\nthird = thirdparty_wl:Third\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    listing = subprocess.run([sys.executable, "-m", "stormdb_tui", "workloads"], capture_output=True, text=True, env=env, timeout=60)
    assert listing.returncode == 0, listing.stderr
    line = next(row for row in listing.stdout.splitlines() if row.startswith("third "))
    assert "entry-point" in line
    out = tmp_path / "r.json"
    run = subprocess.run(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "--workload", "third", "--dsn", dsn,
         "--transactions", "50", "--workers", "2", "--report-json", str(out), "-q"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text())["operations"]["one"]["count"] == 50


def test_guide_example_runs_from_a_plugin_path(run_cli, dsn, tmp_path):
    out = tmp_path / "hello.json"
    result = run_cli(
        "run", "--no-ui", "--plugin-path", str(EXAMPLES), "--workload", "hello", "--dsn", dsn,
        "--duration", "2", "--workers", "2", "--set", "rows=500", "--rebuild", "--report-json", str(out),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert set(data["operations"]) == {"read", "bump"}
    assert data["summary"]["errors"] == 0
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows, hits = conn.execute("SELECT count(*), sum(hits) FROM hello.counters").fetchone()
    assert rows == 500
    assert hits == data["operations"]["bump"]["count"]


def test_workloads_command_shows_options(run_cli):
    result = run_cli("workloads", "simple")
    assert result.returncode == 0
    assert "script" in result.stdout and "tpcb-like" in result.stdout
