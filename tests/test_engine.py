"""The engine against a real PostgreSQL: the simple workload, end to end."""

from __future__ import annotations

import json

import psycopg
import pytest

from stormdb_tui.config import build_config
from stormdb_tui.db import Target
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.runner import Runner
from stormdb_tui.registry import discover

SCHEMA = "stormdb_test_simple"


def _plan(dsn: str, **run):
    cfg = build_config(
        {
            "workload": {"name": "simple", "scale": 1, "schema": SCHEMA, "script": run.pop("script", "tpcb-like")},
            "run": {"workers": 2, "duration": 2, **run},
            "metrics": {"interval": 0.5},
        }
    )
    return make_plan(cfg, dsn=dsn, registry=discover())


@pytest.fixture(scope="module")
def loaded(dsn):
    plan = _plan(dsn)
    plan.setup = True
    Runner(plan).prepare()
    return dsn


def test_setup_loads_pgbench_sized_tables(loaded):
    with psycopg.connect(loaded) as conn:
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {SCHEMA}.{t}").fetchone()[0]
            for t in ("pgbench_branches", "pgbench_tellers", "pgbench_accounts")
        }
        keys = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND connamespace = %s::regnamespace", (SCHEMA,)
        ).fetchone()[0]
    assert counts == {"pgbench_branches": 1, "pgbench_tellers": 10, "pgbench_accounts": 100_000}
    assert keys == 3


@pytest.mark.parametrize("script", ["tpcb-like", "select-only", "simple-update"])
def test_closed_run_report(loaded, script):
    plan = _plan(loaded, script=script, warmup=0.5)
    runner = Runner(plan)
    runner.prepare()
    report = runner.run().data
    assert report["status"] == "completed"
    s = report["summary"]
    assert s["transactions"] > 0 and s["errors"] == 0
    assert 1.9 <= s["elapsed_s"] <= 4.0
    lat = s["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]
    assert list(report["operations"]) == [script]
    assert sum(i["transactions"] for i in report["intervals"]) == s["transactions"]
    assert sum(w["transactions"] for w in report["workers"]) == s["transactions"]
    assert s["tps"] == pytest.approx(s["transactions"] / s["elapsed_s"], rel=1e-3)
    per_tx = {"tpcb-like": 7, "simple-update": 5, "select-only": 1}[script]
    assert s["queries"] == s["transactions"] * per_tx
    json.dumps(report)


def test_tpcb_like_really_writes(loaded):
    with psycopg.connect(loaded) as conn:
        before = conn.execute(f"SELECT count(*) FROM {SCHEMA}.pgbench_history").fetchone()[0]
    plan = _plan(loaded, transactions=200)
    report = Runner(plan).run().data
    with psycopg.connect(loaded) as conn:
        after = conn.execute(f"SELECT count(*) FROM {SCHEMA}.pgbench_history").fetchone()[0]
        balance = conn.execute(
            f"SELECT (SELECT sum(abalance) FROM {SCHEMA}.pgbench_accounts) = (SELECT sum(delta) FROM {SCHEMA}.pgbench_history)"
            f" AND (SELECT sum(tbalance) FROM {SCHEMA}.pgbench_tellers) = (SELECT sum(bbalance) FROM {SCHEMA}.pgbench_branches)"
        ).fetchone()[0]
    assert report["summary"]["transactions"] == 200
    assert after - before == 200
    assert balance is True


def test_open_model_measures_from_schedule(loaded):
    plan = _plan(loaded, rate=100, script="select-only")
    report = Runner(plan).run().data
    s = report["summary"]
    assert report["run"]["model"] == "open"
    assert 100 <= s["transactions"] <= 320  # 2 s at 100/s, Poisson
    assert s["service_ms"]["p50"] <= s["latency_ms"]["p50"] + 0.01
    assert "service_ms" in report["operations"]["select-only"]


def test_stop_request_marks_interrupted(loaded):
    import threading

    plan = _plan(loaded, duration=30)
    runner = Runner(plan)
    threading.Timer(1.0, runner.request_stop).start()
    report = runner.run().data
    assert report["status"] == "interrupted"
    assert report["summary"]["transactions"] > 0
    assert report["summary"]["elapsed_s"] < 10


def test_errors_are_classified(dsn):
    """A workload that fails in two known ways: errors counted by SQLSTATE, retries for 40001."""
    from stormdb_tui.workload import Workload

    class Failing(Workload):
        name = "failing"
        version = "1"

        def transaction(self, ctx):
            n = ctx.rng.random()
            if n < 0.3:
                ctx.label = "div"
                ctx.conn.execute("SELECT 1/0")
            if n < 0.5 and ctx.attempt == 0:
                ctx.label = "ser"
                ctx.conn.execute("DO $$BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END$$")
            ctx.label = "ok"
            ctx.conn.execute("SELECT 1")
            return "ok"

    cfg = build_config({"run": {"workers": 2, "transactions": 300}})
    from stormdb_tui.engine.runner import RunPlan

    runner = Runner(RunPlan(cfg, Failing(), Target(dsn, "dsn")))
    report = runner.run().data
    errors = {(e["sqlstate"], e["class"]): e for e in report["errors"]}
    assert ("22012", "data_exception") in errors
    assert errors[("22012", "data_exception")]["first_message"].startswith("division by zero")
    assert report["summary"]["retries"] > 0
    assert report["summary"]["errors"] + report["summary"]["transactions"] == 300


def test_unreachable_server_is_one_line(run_cli, tmp_path):
    result = run_cli(
        "run", "--no-ui", "--workload", "simple", "--dsn", "host=127.0.0.1 port=1 connect_timeout=2", "--duration", "1", timeout=60
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") < 3
    assert "cannot connect" in result.stderr


def test_headless_cli_writes_reports(run_cli, dsn, tmp_path):
    out = tmp_path / "r.json"
    md = tmp_path / "r.md"
    result = run_cli(
        "run", "--no-ui", "--workload", "simple", "--set", f"schema={SCHEMA}", "--dsn", dsn, "--duration", "2",
        "--workers", "2", "--report-json", str(out), "--report-md", str(md),
    )
    assert result.returncode == 0, result.stderr
    assert "progress: 1.0 s" in result.stderr
    data = json.loads(out.read_text())
    assert data["schema_version"] == 1 and data["summary"]["tps"] > 0
    assert "| tpcb-like |" in md.read_text()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--workload", "nosuch"], "unknown workload 'nosuch'"),
        (["--workload", "simple", "--workers", "-1"], "run.workers"),
        (["--workload", "simple", "--set", "scael=2"], "did you mean 'scale'"),
        (["--workload", "simple", "--duration", "2x"], "run.duration"),
        (["--workload", "simple", "--bogus"], "unrecognized arguments"),
        (["--workload", "simple", "--dsn", "host=x port=abc"], "--dsn: invalid port"),
        (["--workload", "simple", "--dsn", "host='unterminated"], "--dsn: invalid connection string"),
    ],
)
def test_bad_cli_input_exits_2(run_cli, args, fragment):
    result = run_cli("run", "--no-ui", "--dsn", "host=/nonexistent", *args)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
