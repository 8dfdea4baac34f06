"""The simple workload running pgbench scripts on a real server: modes, pipelines, defines, bad scripts."""

from __future__ import annotations

import psycopg
import pytest

from stormdb_tui.config import build_config
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.runner import Runner
from stormdb_tui.pgbench import Program
from stormdb_tui.pgbench.blocking import BlockingExecutor
from stormdb_tui.registry import discover

SCHEMA = "stormdb_test_pgbscripts"


@pytest.fixture(scope="module")
def tables(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE TABLE {SCHEMA}.kv (k int PRIMARY KEY, v bigint NOT NULL DEFAULT 0)")
        conn.execute(f"INSERT INTO {SCHEMA}.kv SELECT g, 0 FROM generate_series(1, 50) g")
    yield dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def _run(dsn, tmp_path, text, **options):
    script = tmp_path / "kv.sql"
    script.write_text(text)
    run = options.pop("run", {})
    cfg = build_config(
        {
            "workload": {"name": "simple", "schema": SCHEMA, "scripts": [str(script)], **options},
            "run": {"workers": 2, "transactions": 100, "seed": 3, **run},
            "metrics": {"interval": 0.5},
        }
    )
    return Runner(make_plan(cfg, dsn=dsn, registry=discover())).run().data


def _total(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT sum(v) FROM {SCHEMA}.kv").fetchone()[0]


KV = (
    "\\set k random(1, 50)\n"
    "\\set d :step * 2\n"
    "BEGIN;\n"
    "UPDATE kv SET v = v + :d WHERE k = :k;\n"
    "SELECT v AS got FROM kv WHERE k = :k \\gset\n"
    "\\if :got < 0\n  SELECT 1/0;\n\\endif\n"
    "END;\n"
)


@pytest.mark.parametrize("mode", ["prepared", "extended", "simple"])
def test_query_modes_write_the_same_state(tables, tmp_path, mode):
    before = _total(tables)
    report = _run(tables, tmp_path, KV, query_mode=mode, defines=["step=3"])
    assert report["summary"]["transactions"] == 100 and report["summary"]["errors"] == 0
    assert report["summary"]["queries"] == 100 * 4
    assert _total(tables) - before == 100 * 6


def test_pipeline_option_and_explicit_pipelines(tables, tmp_path):
    before = _total(tables)
    plain = "\\set k random(1, 50)\n\\set d :step * 2\nBEGIN;\nUPDATE kv SET v = v + :d WHERE k = :k;\nEND;\n"
    report = _run(tables, tmp_path, plain, pipeline=True, defines=["step=1"])
    assert report["summary"]["errors"] == 0 and _total(tables) - before == 200
    explicit = "\\set k random(1, 50)\n\\startpipeline\nUPDATE kv SET v = v + 1 WHERE k = :k;\n\\syncpipeline\nUPDATE kv SET v = v + 1 WHERE k = :k;\n\\endpipeline\n"
    before = _total(tables)
    report = _run(tables, tmp_path, explicit)
    assert report["summary"]["errors"] == 0 and _total(tables) - before == 200


def test_sql_errors_are_counted_under_the_script_label(tables, tmp_path):
    report = _run(tables, tmp_path, "\\set k random(1, 2)\nSELECT 1 / (:k - 1);\n")
    errors = {e["sqlstate"]: e["count"] for e in report["errors"]}
    assert errors.get("22012", 0) > 0
    assert report["summary"]["errors"] + report["summary"]["transactions"] == 100
    assert report["operations"]["kv"]["errors"] == errors["22012"]


def test_gset_failure_leaves_the_connection_usable(tables):
    import random

    from stormdb_tui.pgbench import parse_script

    many = parse_script("SELECT k FROM kv WHERE k < 3 \\gset\n", "g.sql")
    ok = parse_script("\\startpipeline\nSELECT 40 + 1;\n\\endpipeline\nSELECT 41 + 1 AS answer \\gset\n", "ok.sql",
                      script_index=1)
    program = Program([many, ok])
    with psycopg.connect(tables, autocommit=True, options=f"-c search_path={SCHEMA}") as conn:
        executor = BlockingExecutor(conn)
        client = program.client(0, random.Random(1))
        with pytest.raises(Exception, match="expected one row, got 2"):
            executor.run(client, many)
        assert executor.run(client, ok) == 2
        assert client.vars["answer"] == "42"


def test_gset_in_a_pipeline_is_refused_as_pgbench_does(tmp_path, run_cli):
    script = tmp_path / "pg.sql"
    script.write_text("\\startpipeline\nSELECT 1 AS a \\gset\n\\endpipeline\n")
    result = run_cli("run", "--no-ui", "--workload", "simple", "--set", f"scripts={script}", "--dsn", "host=/nonexistent")
    assert result.returncode == 2 and f"{script}:2:1:" in result.stderr and "not allowed in pipeline mode" in result.stderr


def test_a_bad_script_exits_2_with_its_location(run_cli, tmp_path):
    bad = tmp_path / "bad.sql"
    bad.write_text("SELECT 1;\n\\set x random(1, 10) +* 2\n")
    result = run_cli("run", "--no-ui", "--workload", "simple", "--set", f"scripts={bad}", "--dsn", "host=/nonexistent")
    assert result.returncode == 2, result.stderr
    assert f"{bad}:2:" in result.stderr and "syntax error" in result.stderr
    assert "Traceback" not in result.stderr
    shell = tmp_path / "shell.sql"
    shell.write_text("\\shell\n")
    result = run_cli("run", "--no-ui", "--workload", "simple", "--set", f"scripts={shell}", "--dsn", "host=/nonexistent")
    assert result.returncode == 2 and f"{shell}:1:1:" in result.stderr and "missing command" in result.stderr
    result = run_cli("run", "--no-ui", "--workload", "simple", "--set", "scripts=nosuch.sql@2", "--dsn", "host=/nonexistent")
    assert result.returncode == 2 and "nosuch.sql" in result.stderr and "Traceback" not in result.stderr


def test_builtin_mix_by_name_and_weight(dsn):
    cfg = build_config(
        {
            "workload": {"name": "simple", "scale": 1, "schema": "stormdb_test_simple",
                         "scripts": ["select-only@3", "simple-update@1"]},
            "run": {"workers": 2, "transactions": 400, "seed": 11},
            "metrics": {"interval": 0.5},
        }
    )
    plan = make_plan(cfg, dsn=dsn, registry=discover())
    plan.setup = True
    runner = Runner(plan)
    runner.prepare()
    report = runner.run().data
    ops = report["operations"]
    assert set(ops) == {"select-only", "simple-update"}
    share = ops["select-only"]["count"] / report["summary"]["transactions"]
    assert 0.65 < share < 0.85


JOINED = (
    "\\; SELECT 6 AS i6 \\; SELECT 7 AS i7 \\; \\aset\n"
    "\\; \\; SELECT 0 AS last \\; SELECT :i6 + :i7 AS last \\; \\; \\gset\n"
    "UPDATE kv SET v = v + :last WHERE k = 1;\n"
)


@pytest.mark.parametrize("driver", ["multiplex", "threads"])
def test_joined_statements_store_as_pgbench_does(tables, tmp_path, driver):
    """\\aset takes every statement's row, \\gset the last statement's, in one round trip (simple mode)."""
    before = _total(tables)
    report = _run(tables, tmp_path, JOINED, query_mode="simple", run={"driver": driver, "transactions": 10})
    assert report["summary"]["errors"] == 0 and report["summary"]["transactions"] == 10
    assert _total(tables) - before == 10 * 13


def test_joined_statements_are_refused_by_the_server_in_prepared_mode(tables, tmp_path):
    report = _run(tables, tmp_path, JOINED, run={"transactions": 4})
    assert report["summary"]["transactions"] == 0
    assert [e["sqlstate"] for e in report["errors"]] == ["42601"]


@pytest.mark.parametrize("driver", ["multiplex", "threads"])
def test_shell_and_setshell_run_with_variables(tables, tmp_path, driver):
    marks = tmp_path / "marks"
    text = (
        "\\set base 20\n"
        "\\setshell step expr :base + 1\n"
        f"\\shell echo ::done >> {marks}\n"
        "UPDATE kv SET v = v + :step WHERE k = 2;\n"
    )
    before = _total(tables)
    report = _run(tables, tmp_path, text, run={"driver": driver, "transactions": 6})
    assert report["summary"]["errors"] == 0 and _total(tables) - before == 6 * 21
    assert marks.read_text().splitlines() == [":done"] * 6


@pytest.mark.parametrize(
    "text, message",
    [
        ("\\setshell n echo one\nSELECT 1;\n", 'must return an integer (not "one")'),
        ("\\setshell n true\nSELECT 1;\n", "could not read result of shell command"),
        ("\\shell exit 3\nSELECT 1;\n", "could not launch shell command (exit status 3)"),
        ("\\shell echo :nosuch\nSELECT 1;\n", 'undefined variable ":nosuch"'),
        ("SELECT 1 \\gset\n", 'invalid variable name: "?column?"'),
    ],
)
def test_failing_shell_commands_and_bad_names_fail_the_transaction(tables, tmp_path, text, message):
    report = _run(tables, tmp_path, text, run={"transactions": 4})
    assert report["summary"]["transactions"] == 0 and report["summary"]["errors"] == 4
    assert message in report["errors"][0]["first_message"]


def test_built_in_scripts_take_the_loaded_scale_unless_one_is_set(dsn):
    """pgbench without -s runs at the scale pgbench_branches holds; a scale the user sets is checked instead."""
    from stormdb_tui.errors import StormError

    schema = "stormdb_test_scale3"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
        for table in ("pgbench_accounts", "pgbench_tellers", "pgbench_history"):
            conn.execute(f"CREATE TABLE {schema}.{table} (x int)")
        conn.execute(f"CREATE TABLE {schema}.pgbench_branches AS SELECT g AS bid FROM generate_series(1, 3) g")

    def plan(**workload):
        cfg = build_config({"workload": {"name": "simple", "schema": schema, "script": "select-only", **workload},
                            "run": {"workers": 2, "processes": 2, "duration": 1}})
        return make_plan(cfg, dsn=dsn, registry=discover())

    try:
        unset = plan()
        Runner(unset).prepare()
        assert unset.workload.scale == 3 and unset.workload.program().base_vars["scale"] == 3
        from stormdb_tui.engine.processes import workload_spec

        assert workload_spec(unset.workload)["options"]["scale"] == 3  # what each client process builds
        with pytest.raises(StormError, match="loaded at scale 3, the run asks for scale 1"):
            Runner(plan(scale=1)).prepare()
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
