"""compare against real runs: a server made slower on purpose is called worse and gates with exit 1; two runs
of the same configuration are within noise and pass; ``run --repeat`` keeps every repetition.

The runs use a database of their own, so the per-database settings that slow
one side (index scans off: the select-only script's primary-key lookup becomes
a scan of 100,000 rows) touch no other test.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from stormdb_tui.frontends.cli import main

ROOT = Path(__file__).resolve().parent.parent
DB = "stormdb_compare_tests"
RUN = ("run", "--no-ui", "-q", "-w", "simple", "--set", "script=select-only", "-j", "2", "--warmup", "0",
       "--interval", "0.25", "--pg-stats", "--rate", "100", "--set", "run.arrival=uniform")
"""A fixed arrival rate: on a shared machine a closed-model run's throughput follows whatever else runs
there, while 100 lookups a second are served on time unless the server itself is slowed. The slowed server
keeps up with them too (at 200 a second it sometimes did not, and a queue that grows through the run makes
its latency a trend the noise model cannot call worse)."""
CLOSED = RUN[: RUN.index("--rate")]
"""Back to back: what the slowed pair is compared in. At a fixed rate a slowed server that still keeps up
(a quiet machine scans the 100,000 rows in a few ms) shows the slowdown only in its latency, which is
right for an open model but leaves nothing for a throughput rule to catch."""


@pytest.fixture(scope="module")
def target(dsn: str):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    yield make_conninfo(dsn, dbname=DB)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


@pytest.fixture(scope="module")
def runs(target: str, dsn: str, tmp_path_factory) -> dict[str, str]:
    """A warm-up run that loads the data, two runs of the same configuration, then one with index scans off
    (2 workers then serve about a tenth of the rate)."""
    import os
    import subprocess
    import sys

    cli_env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    folder = tmp_path_factory.mktemp("compare-runs")
    out: dict[str, str] = {}

    def run(name: str, seconds: str = "3", args: tuple[str, ...] = RUN) -> None:
        path = str(folder / f"{name}.json")
        proc = subprocess.run([sys.executable, "-m", "stormdb_tui", *args, "--dsn", target, "-T", seconds,
                               "--report-json", path], capture_output=True, text=True, timeout=180, env=cli_env,
                              cwd=str(folder))
        assert proc.returncode == 0, proc.stderr
        out[name] = path

    run("warm", "1")
    run("base")
    run("same")
    run("base_closed", args=CLOSED)
    with psycopg.connect(target, autocommit=True) as conn:
        for setting in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
            conn.execute(f"ALTER DATABASE {DB} SET {setting} = off")
    try:
        run("slow")
        run("slow_closed", args=CLOSED)
    finally:
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {DB} RESET ALL")
    return out


def test_a_slowed_server_is_worse_and_the_gate_fails(runs, run_cli, tmp_path):
    """Back to back, the slowed server's throughput falls; at the fixed rate its latency rises."""
    md, js = tmp_path / "pr.md", tmp_path / "cmp.json"
    proc = run_cli("compare", runs["base_closed"], runs["slow_closed"], "--fail-on", "tps<-20%,p99>+50%,select-only:p95>+50%",
                   "--markdown", str(md), "--json", str(js))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "gate: tps<-20% broken" in proc.stderr and "gate: p99>+50% broken" in proc.stderr
    doc = json.loads(js.read_text())
    rows = {r["metric"]: r for r in doc["comparisons"][0]["metrics"]}
    assert rows["tps"]["verdict"] == "worse" and rows["tps"]["change"] < -0.5
    assert rows["p99"]["verdict"] == "worse" and rows["select-only:p95"]["verdict"] == "worse"
    assert rows["tps"]["method"] == "intervals" and rows["tps"]["high"] < 0
    assert rows["blks_hit_per_tx"]["verdict"] == "worse"  # a scan touches every page, a lookup a few
    differs = {d["key"]: d["values"] for d in doc["differences"]}
    assert differs["server.settings.enable_indexscan"][1] == "off"
    assert not doc["blocking"]
    text = md.read_text()
    assert "**Gate failed**" in text and "server setting enable_indexscan" in text
    assert proc.stdout.index("what differs") < proc.stdout.index("TPS")
    at_rate = run_cli("compare", runs["base"], runs["slow"], "--fail-on", "p99>+50%")
    assert at_rate.returncode == 1 and "gate: p99>+50% broken" in at_rate.stderr, at_rate.stdout + at_rate.stderr


def test_two_runs_of_one_configuration_are_within_noise_and_pass(runs, run_cli):
    """One pair: throughput at a fixed rate is within noise and its gate passes. (Latency of a single pair on
    a shared machine follows whatever else runs there between the two runs, which no single pair can see:
    the repetitions test below gates latency.)"""
    proc = run_cli("compare", runs["base"], runs["same"], "--fail-on", "tps<-20%,errors>+1%")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate passed" in proc.stderr
    tps = next(line for line in proc.stdout.splitlines() if line.startswith("TPS "))
    assert tps.rstrip().endswith(("within noise", "within noise (weak)")), tps


def test_a_different_scale_needs_force(runs, tmp_path, capsys):
    data = json.loads(Path(runs["same"]).read_text())
    data["workload"]["options"]["scale"] = 10
    other = tmp_path / "scale10.json"
    other.write_text(json.dumps(data))
    assert main(["compare", runs["base"], str(other)]) == 2
    err = capsys.readouterr().err
    assert "workload option scale: 1 vs 10" in err and "--force" in err
    assert main(["compare", runs["base"], str(other), "--force", "-q"]) == 0


def test_repeat_keeps_every_repetition_and_compares_as_one_side(target, runs, run_cli, tmp_path):
    folder = tmp_path / "reps"
    proc = run_cli(*RUN, "--dsn", target, "-T", "1", "--repeat", "2", "--repeat-dir", str(folder))
    assert proc.returncode == 0, proc.stderr
    index = json.loads((folder / "repeat.json").read_text())
    assert index["status"] == "completed" and index["requested"] == 2
    assert [r["report"] for r in index["repetitions"]] == ["rep-01.json", "rep-02.json"]
    assert all(r["tps"] > 0 for r in index["repetitions"])
    assert not list(folder.glob("*.journal.jsonl"))  # each journal was replaced by its report
    assert proc.stdout.count("repetition ") == 2
    proc = run_cli("compare", str(folder), runs["base"], "--json", str(tmp_path / "c.json"), "-q")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["sides"][0]["runs"] == 2 and doc["sides"][0]["repeat"] and doc["sides"][1]["runs"] == 1
    again = run_cli(*RUN, "--dsn", target, "-T", "1", "--repeat", "2", "--repeat-dir", str(folder))
    assert again.returncode == 2 and "already holds rep-01.json" in again.stderr and "--append" in again.stderr


@pytest.mark.slow
def test_same_configuration_in_turns_passes_the_latency_gate(target, runs, run_cli, tmp_path):
    """Two sides of one configuration, repeated in turns (a, b, a, b, a, b) so that whatever else the
    machine does between runs falls on both: within noise, and the latency gate passes."""
    sides = [str(tmp_path / "a"), str(tmp_path / "b")]
    for turn in range(1, 4):
        for folder in sides:
            proc = run_cli(*RUN, "--dsn", target, "-T", "1", "--repeat", "1", "--repeat-dir", folder, "--append")
            assert proc.returncode == 0, proc.stderr
            assert f"repetition {turn}:" in proc.stdout
    index = json.loads((tmp_path / "a" / "repeat.json").read_text())
    assert [r["report"] for r in index["repetitions"]] == ["rep-01.json", "rep-02.json", "rep-03.json"]
    assert json.loads((tmp_path / "b" / "repeat.json").read_text())["requested"] == 3
    proc = run_cli("compare", *sides, "--fail-on", "tps<-20%,p99>+50%", "--json", str(tmp_path / "c.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "c.json").read_text())
    assert [s["runs"] for s in doc["sides"]] == [3, 3] and doc["sides"][0]["repeat"]
    rows = {r["metric"]: r for r in doc["comparisons"][0]["metrics"]}
    assert rows["tps"]["method"] == "repetitions" and rows["tps"]["verdict"] == "within noise"
    assert rows["p99"]["verdict"] in ("within noise", "better"), rows["p99"]


def test_repeat_usage_errors(capsys):
    for args, message in ((("--repeat", "0"), "expected 1 to"), (("--repeat", "2"), "add --no-ui"),
                          (("--repeat-dir", "x"), "need --repeat"), (("--append",), "need --repeat"),
                          (("--repeat", "1", "--append"), "--append needs --repeat-dir"),
                          (("--repeat", "2", "--report-json", "x.json"), "--repeat-dir")):
        base = [a for a in RUN if a != "--no-ui"] if message == "add --no-ui" else list(RUN)
        assert main([*base, *args]) == 2
        assert message in capsys.readouterr().err
