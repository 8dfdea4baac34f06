"""The compiled loop: what it accepts whole, what it steps, and that it counts, draws and fails as Python does."""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest

from stormdb_tui.config import build_config
from stormdb_tui.db import APP_NAME
from stormdb_tui.engine import fastloop
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.runner import Runner
from stormdb_tui.pgbench import parse_script
from stormdb_tui.pgbench.client import Program
from stormdb_tui.pgbench.randoms import PgRandom
from stormdb_tui.pgbench.script import BUILTIN_SCRIPTS
from stormdb_tui.registry import discover

SCHEMA = "stormdb_test_fastloop"

pytestmark = pytest.mark.skipif(not fastloop.available(), reason="the compiled loop is not built here")


@pytest.fixture(scope="module")
def tables(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE TABLE {SCHEMA}.kv (k int PRIMARY KEY, v bigint NOT NULL DEFAULT 0)")
        conn.execute(f"INSERT INTO {SCHEMA}.kv SELECT g, 0 FROM generate_series(1, 20) g")
        conn.execute(f"CREATE TABLE {SCHEMA}.draws (id bigserial PRIMARY KEY, client int, k bigint, d int)")
        conn.execute(
            f"CREATE FUNCTION {SCHEMA}.flaky(p float8) RETURNS int LANGUAGE plpgsql AS $$ "
            "BEGIN IF random() < p THEN RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF; RETURN 1; END $$"
        )
    yield dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def _report(dsn, tmp_path, text, *, workers=4, options=None, **run):
    script = tmp_path / "fl.sql"
    script.write_text(text)
    cfg = build_config(
        {
            "workload": {"name": "simple", "schema": SCHEMA, "scripts": [str(script)], **(options or {})},
            "run": {"workers": workers, "seed": 5, "driver": "multiplex", "processes": 1, **run},
            "metrics": {"interval": 0.5},
        }
    )
    return Runner(make_plan(cfg, dsn=dsn, registry=discover())).run().data


def _query(dsn, sql):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def _client(text, *, stream="python", scale=10):
    script = parse_script(text, "s.sql")
    program = Program([script], scale=scale, stream=stream, seed=1)
    return script, program.client(3, program.client_rng(3, random.Random(1)))


def test_the_builtin_scripts_compile_and_what_the_loop_cannot_repeat_does_not():
    for name, text in BUILTIN_SCRIPTS.items():
        script, client = _client(text)
        ops = fastloop.plan(script, client)
        assert ops is not None, name
        assert ops[0] == ("set", "aid", 1, 1_000_000, 0)  # random(1, 100000 * :scale) at scale 10
        assert ops[-1][0] == "sql"
    script, client = _client("\\set d random(-5000, 5000)\nSELECT :d, :client_id;\n")
    assert fastloop.plan(script, client) == [("set", "d", -5000, 10001, 0), ("sql", script.commands[1].prepname, (0, b"3"))]
    refused = {
        "zipfian": "\\set k random_zipfian(1, 100, 1.5)\nSELECT :k;\n",
        "arithmetic": "\\set k :scale + 1\nSELECT :k;\n",
        "used before it is set": "SELECT :k;\n\\set k random(1, 10)\nSELECT :k;\n",
        "bound set by the script": "\\set n random(1, 5)\n\\set k random(1, :n)\nSELECT :k;\n",
        "more than 2^32 values": "\\set k random(1, 10000000000)\nSELECT :k;\n",
        "gset": "SELECT 1 AS one \\gset\n",
        "empty range": "\\set k random(5, 1)\nSELECT :k;\n",
    }
    for why, text in refused.items():
        script, client = _client(text)
        assert fastloop.plan(script, client) is None, why
    script, client = _client(BUILTIN_SCRIPTS["select-only"], stream="pgbench")
    assert isinstance(client.rng, PgRandom) and fastloop.plan(script, client) is None


DRAWS = "\\set k random(1, 1000000000)\n\\set d random(-5, 5)\nINSERT INTO draws (client, k, d) VALUES (:client_id, :k, :d);\n"


def _draws(dsn):
    out: dict[int, list[tuple[int, int]]] = {}
    for client, k, d in _query(dsn, f"SELECT client, k, d FROM {SCHEMA}.draws ORDER BY id"):
        out.setdefault(client, []).append((k, d))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {SCHEMA}.draws")
    return out


@pytest.mark.parametrize("run", [{"transactions": 120}, {"duration": 1.0}], ids=["quota", "closed-model restarts"])
def test_a_seeded_run_draws_the_same_values_on_either_path(tables, tmp_path, monkeypatch, run):
    _draws(tables)
    compiled = _report(tables, tmp_path, DRAWS, workers=3, **run)
    assert compiled["client"]["compiled_share"] > 0.9
    c_draws = _draws(tables)
    monkeypatch.setenv(fastloop.ENV, "off")
    python = _report(tables, tmp_path, DRAWS, workers=3, **run)
    assert not python["client"]["compiled_share"]
    py_draws = _draws(tables)
    assert set(c_draws) == set(py_draws) == {0, 1, 2}
    for client in c_draws:
        a, b = c_draws[client], py_draws[client]
        n = min(len(a), len(b))
        assert n >= 30 and a[:n] == b[:n], client
        if "transactions" in run:
            assert len(a) == len(b) == 40


def test_failures_in_the_loop_are_counted_by_sqlstate_and_the_rows_match(tables, tmp_path):
    before = _query(tables, f"SELECT sum(v) FROM {SCHEMA}.kv")[0][0]
    text = "\\set k random(1, 20)\n\\set z random(0, 3)\nBEGIN;\nUPDATE kv SET v = v + 1 WHERE k = :k;\nSELECT 1 / :z;\nEND;\n"
    report = _report(tables, tmp_path, text, duration=1.5)
    s = report["summary"]
    errors = {e["sqlstate"]: e for e in report["errors"]}
    assert set(errors) == {"22012"} and "division by zero" in errors["22012"]["first_message"]
    assert 0.1 < errors["22012"]["count"] / (s["transactions"] + s["errors"]) < 0.4
    assert _query(tables, f"SELECT sum(v) FROM {SCHEMA}.kv")[0][0] - before == s["transactions"]
    assert s["queries"] == 4 * s["transactions"]
    assert report["client"]["compiled_share"] > 0.5  # a failed transaction's successor goes back to the loop


def test_serialization_failures_in_the_loop_are_retried(tables, tmp_path):
    report = _report(tables, tmp_path, "BEGIN;\nSELECT flaky(0.3);\nEND;\n", duration=1.5, max_tries=20)  # ten in a row happen once in 170k
    s = report["summary"]
    assert s["retries"] > 20 and s["errors"] == 0 and s["transactions"] > 100, report["errors"]
    assert s["queries"] == 3 * s["transactions"]


def test_a_connection_killed_under_the_loop_reconnects(tables, tmp_path):
    def kill() -> None:
        time.sleep(0.8)
        with psycopg.connect(tables, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
                (f"{APP_NAME}:load",),
            )

    killer = threading.Thread(target=kill)
    killer.start()
    report = _report(tables, tmp_path, "\\set k random(1, 20)\nSELECT v FROM kv WHERE k = :k;\n", duration=2.5)
    killer.join()
    s = report["summary"]
    assert report["status"] == "completed"
    assert s["reconnects"] >= 4 and s["transactions"] > 1000
    assert {e["sqlstate"] for e in report["errors"]} <= {"08006", "57P01"}, report["errors"]
    assert report["client"]["compiled_share"] > 0.9


def test_a_statement_larger_than_the_socket_buffer_is_sent_whole(tables, tmp_path):
    big = "x" * 3_000_000
    # 1 / 0 unless the server received all 3 MB of the parameter
    text = "\\set k random(1, 20)\nSELECT 1 / (length(:big::text) / 3000000) + :k;\n"
    report = _report(tables, tmp_path, text, workers=2, transactions=12, options={"defines": [f"big={big}"]})
    s = report["summary"]
    assert s["errors"] == 0 and s["transactions"] == 12 and s["queries"] == 12


def test_the_open_model_runs_in_the_loop_with_pgbench_r_figures(tables, tmp_path):
    report = _report(tables, tmp_path, "\\set k random(1, 20)\nSELECT v FROM kv WHERE k = :k;\n", rate=400, duration=2)
    s = report["summary"]
    assert report["run"]["model"] == "open" and report["status"] == "completed"
    assert 560 <= s["transactions"] <= 1040  # 2 s at 400/s, Poisson
    assert report["client"]["compiled_share"] > 0.9
    assert s["schedule_lag_ms"]["p50"] is not None and s["service_ms"]["p50"] <= s["latency_ms"]["p50"]
    assert s["errors"] == 0 and s["queries"] == s["transactions"]


def test_the_latency_limit_skips_and_counts_late_in_the_loop(tables, tmp_path):
    # 8 ms statements arriving at 300/s on 2 clients: most arrivals find both busy and wait past 5 ms.
    report = _report(tables, tmp_path, "\\set k random(1, 20)\nSELECT pg_sleep(0.008 + :k * 0);\n", workers=2,
                     rate=300, duration=2, latency_limit=0.005)
    s = report["summary"]
    assert s["skipped"] > 50 and s["late"] > 0, s
    assert report["client"]["compiled_share"] > 0.9


# -- stepped clients: any other script, its round trips in the loop and its steps in Python ------------

STEPPED = """\\set k random_zipfian(1, 1000, 1.2)
\\set g random_gaussian(1, 100, 2.5)
\\set h abs(hash(:k)) % 1000
\\if :k % 2 = 0
SELECT :k * 2 AS twice, :g AS gg \\gset
\\else
SELECT :k + 1 AS twice, :g - 1 AS gg \\gset
\\endif
\\set d :twice + :gg + :h
INSERT INTO draws (client, k, d) VALUES (:client_id, :k, :d);
"""


def _expected_d(k: int, d: int) -> bool:
    """d is twice + gg + h for some gg in 0..100: what the \\gset values and the branch taken must give."""
    twice = 2 * k if k % 2 == 0 else k + 1
    return twice <= d <= twice + 100 + 999


def test_scripts_the_loop_cannot_compile_are_stepped():
    for text in (STEPPED, "SELECT 1 AS one \\gset\nSELECT :one;\n", "\\set k random(1, 9)\n\\sleep 1 ms\nSELECT :k;\n"):
        script, client = _client(text)
        assert fastloop.plan(script, client) is None


@pytest.mark.parametrize("mode", ["prepared", "extended", "simple"])
def test_a_stepped_script_draws_and_stores_the_same_values_on_either_path(tables, tmp_path, monkeypatch, mode):
    _draws(tables)
    options = {"query_mode": mode}
    stepped = _report(tables, tmp_path, STEPPED, workers=3, transactions=90, options=options)
    assert stepped["summary"]["errors"] == 0, stepped["errors"]
    assert stepped["client"]["compiled_share"] > 0.9
    c_draws = _draws(tables)
    monkeypatch.setenv(fastloop.ENV, "off")
    python = _report(tables, tmp_path, STEPPED, workers=3, transactions=90, options=options)
    assert not python["client"]["compiled_share"]
    py_draws = _draws(tables)
    assert set(c_draws) == set(py_draws) == {0, 1, 2}
    for client in c_draws:
        assert len(c_draws[client]) == 30 and c_draws[client] == py_draws[client], client
        assert all(_expected_d(k, d) for k, d in c_draws[client])
    assert stepped["summary"]["queries"] == python["summary"]["queries"] == 180


def test_a_stepped_script_restarts_in_the_loop_in_the_closed_model(tables, tmp_path):
    _draws(tables)
    report = _report(tables, tmp_path, STEPPED, workers=2, duration=1.0)
    s = report["summary"]
    assert s["errors"] == 0 and s["transactions"] > 200 and s["queries"] == 2 * s["transactions"]
    assert report["client"]["compiled_share"] > 0.9
    rows = _draws(tables)
    assert sum(len(v) for v in rows.values()) == s["transactions"]
    assert all(_expected_d(k, d) for v in rows.values() for k, d in v)


def test_a_stepped_script_hands_sleeps_and_pipelines_to_python_and_comes_back(tables, tmp_path):
    text = (
        "\\set k random(1, 20)\nSELECT :k * 0 AS zero \\gset\n\\sleep 1 ms\n"
        "\\startpipeline\nUPDATE kv SET v = v + 1 WHERE k = :k;\nSELECT :zero;\n\\endpipeline\n"
        "SELECT 1 / (1 - :zero);\n"
    )
    before = _query(tables, f"SELECT sum(v) FROM {SCHEMA}.kv")[0][0]
    report = _report(tables, tmp_path, text, workers=2, duration=1.0)
    s = report["summary"]
    assert s["errors"] == 0 and s["transactions"] > 50, report["errors"]
    assert s["queries"] == 4 * s["transactions"]
    assert _query(tables, f"SELECT sum(v) FROM {SCHEMA}.kv")[0][0] - before == s["transactions"]
    # Each transaction begins in the loop and ends in Python's, after the sleep and the pipeline.
    assert report["client"]["compiled_share"] < 0.1


def test_script_errors_in_a_stepped_client_fail_the_transaction_and_the_run_goes_on(tables, tmp_path):
    cases = {
        "division by zero": "\\set z random(0, 3)\n\\set q 10 / :z\nSELECT :q;\n",  # one draw in four
        "\\gset: expected one row, got 0": "\\set r random(1, 4)\nSELECT 1 AS got WHERE :r > 1 \\gset\nSELECT :got;\n",
    }
    for message, text in cases.items():
        report = _report(tables, tmp_path, text, workers=2, duration=1.0)
        s = report["summary"]
        assert [e["first_message"] for e in report["errors"]] == [f"script fl line 2: {message}"], report["errors"]
        assert 0.15 < s["errors"] / (s["errors"] + s["transactions"]) < 0.35, s
        assert s["transactions"] > 100 and report["client"]["compiled_share"] > 0.5


def test_several_weighted_scripts_are_stepped_one_transaction_at_a_time(tables, tmp_path):
    (tmp_path / "a.sql").write_text("\\set k random(1, 20)\nSELECT v FROM kv WHERE k = :k;\n")
    (tmp_path / "b.sql").write_text("\\set k random(1, 20)\nSELECT :k AS kk \\gset\nSELECT v FROM kv WHERE k = :kk;\n")
    cfg = build_config(
        {
            "workload": {"name": "simple", "schema": SCHEMA,
                         "scripts": [f"{tmp_path / 'a.sql'}@3", f"{tmp_path / 'b.sql'}@1"]},
            "run": {"workers": 2, "seed": 5, "driver": "multiplex", "processes": 1, "duration": 1.0},
            "metrics": {"interval": 0.5},
        }
    )
    report = Runner(make_plan(cfg, dsn=tables, registry=discover())).run().data
    s = report["summary"]
    ops = {name: figures["count"] for name, figures in report["operations"].items()}
    assert s["errors"] == 0 and 2.2 < ops["a"] / ops["b"] < 3.9, ops
    assert s["queries"] == ops["a"] + 2 * ops["b"]
    assert report["client"]["compiled_share"] > 0.9


def test_the_open_model_runs_stepped_scripts_in_the_loop(tables, tmp_path):
    text = "\\set k random_exponential(1, 20, 2.0)\nSELECT :k AS kk \\gset\nSELECT v FROM kv WHERE k = :kk;\n"
    report = _report(tables, tmp_path, text, rate=400, duration=2)
    s = report["summary"]
    assert 560 <= s["transactions"] <= 1040 and s["errors"] == 0
    assert s["queries"] == 2 * s["transactions"]
    assert report["client"]["compiled_share"] > 0.9
    assert s["service_ms"]["p50"] <= s["latency_ms"]["p50"]


@pytest.mark.parametrize("run", [{"duration": 1.0}, {"duration": 1.0, "rate": 300}], ids=["closed", "open"])
def test_a_script_that_sends_nothing_is_stepped_without_spinning_in_the_loop(tables, tmp_path, run):
    report = _report(tables, tmp_path, "\\set k random_zipfian(1, 10, 1.5)\n", workers=2, **run)
    s = report["summary"]
    assert report["status"] == "completed" and s["errors"] == 0 and s["queries"] == 0
    assert s["transactions"] > (200 if "rate" in run else 1000), s
