"""connection_overhead against a real PostgreSQL: the paths really differ, the summary reads them right."""

from __future__ import annotations

import json
import random
import time

import pytest

from stormdb_tui import db
from stormdb_tui.builtin.connection_overhead import ConnectionOverhead
from stormdb_tui.errors import ConfigError, DatabaseError
from stormdb_tui.workload import WorkerContext

PIDS = "public.connection_overhead_test_pids"


@pytest.fixture
def conn(dsn):
    with db.connect(dsn, role="test") as c:
        c.execute(f"DROP TABLE IF EXISTS {PIDS}")
        yield c
        c.execute(f"DROP TABLE IF EXISTS {PIDS}")


def make_ctx(conn) -> WorkerContext:
    return WorkerContext(1, conn, random.Random(7), {}, 1, 1, lambda: False)


def run_for(wl, ctx, seconds: float) -> dict[str, list[float]]:
    lat: dict[str, list[float]] = {}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        label = wl.transaction(ctx)
        lat.setdefault(label, []).append((time.perf_counter() - t0) * 1000)
    return lat


def totals_from(lat: dict[str, list[float]], elapsed: float) -> dict:
    ops = {}
    for label, values in lat.items():
        ordered = sorted(values)
        ops[label] = {
            "count": len(values),
            "latency_ms": {"mean": sum(values) / len(values), "p50": ordered[len(ordered) // 2]},
        }
    return {"elapsed_s": elapsed, "operations": ops}


def test_each_path_uses_the_connection_it_claims(conn, dsn):
    """Log the backend pid and application_name of every transaction and compare per path."""
    conn.execute(f"CREATE TABLE {PIDS} (pid int, app text)")
    query = f"INSERT INTO {PIDS} SELECT pg_backend_pid(), current_setting('application_name')"
    wl = ConnectionOverhead({"query": query, "pooler_dsn": dsn}, {"conninfo": dsn})
    assert wl.operations == ("persistent", "new_connection", "pooler")
    ctx = make_ctx(conn)
    wl.start_worker(ctx)
    labels = [wl.transaction(ctx) for _ in range(60)]
    assert set(labels) == {"persistent", "new_connection", "pooler"}
    assert ctx.queries == 60
    rows = conn.execute(f"SELECT app, count(*), count(DISTINCT pid) FROM {PIDS} GROUP BY app").fetchall()
    by_app = {app: (n, pids) for app, n, pids in rows}
    fresh = labels.count("new_connection") + labels.count("pooler")
    # Persistent transactions share one backend; every other one had a backend of its own.
    assert by_app["stormdb-tui:test"] == (labels.count("persistent"), 1)
    assert by_app["stormdb-tui:overhead"] == (fresh, fresh)
    # Closed, not leaked: no overhead session outlives its transaction.
    time.sleep(0.2)
    left = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stormdb-tui:overhead'"
    ).fetchone()[0]
    assert left == 0


def test_new_connection_costs_more_and_summary_says_so(conn, dsn):
    wl = ConnectionOverhead({}, {"conninfo": dsn})
    ctx = make_ctx(conn)
    wl.start_worker(ctx)
    t0 = time.perf_counter()
    lat = run_for(wl, ctx, 1.5)
    elapsed = time.perf_counter() - t0
    assert set(lat) == {"persistent", "new_connection"}
    out = wl.summary(totals_from(lat, elapsed))
    assert out["connects_per_s"] == pytest.approx(len(lat["new_connection"]) / elapsed, rel=0.01)
    assert out["overhead_ratio"] > 2, out
    assert out["connect_cost_ms"] > 0
    assert out["p50_ratio"] > 2
    assert "pooler_ratio" not in out


def test_without_run_conninfo_the_worker_connection_is_reused(conn):
    wl = ConnectionOverhead({"mode": "new_connection"})
    ctx = make_ctx(conn)
    wl.start_worker(ctx)
    assert "application_name" not in ctx.state["targets"]["new_connection"]
    assert wl.transaction(ctx) == "new_connection"


def test_mix_and_mode_choose_the_paths(dsn):
    only = ConnectionOverhead({"mode": "persistent"})
    assert only.operations == ("persistent",)
    weighted = ConnectionOverhead({"mix": "persistent:3,new_connection:1"})
    assert weighted.weights == {"persistent": 3.0, "new_connection": 1.0}
    both = ConnectionOverhead({"mode": "both", "pooler_dsn": dsn})
    assert both.operations == ("persistent", "new_connection")
    skip_pooler = ConnectionOverhead({"pooler_dsn": dsn, "mix": "persistent:1,pooler:0,new_connection:1"})
    assert skip_pooler.operations == ("persistent", "new_connection")
    # auto runs what is available, so a profile can keep a pooler weight for when a pooler is set.
    waiting = ConnectionOverhead({"mix": "persistent:1,new_connection:1,pooler:1"})
    assert waiting.operations == ("persistent", "new_connection")


def test_unreachable_pooler_fails_the_transaction_under_its_label(conn):
    wl = ConnectionOverhead({"mode": "pooler", "pooler_dsn": "host=/nonexistent-socket-dir port=1",
                             "connect_timeout": 1})
    ctx = make_ctx(conn)
    wl.start_worker(ctx)
    with pytest.raises(DatabaseError):
        wl.transaction(ctx)
    assert ctx.label == "pooler"
    assert not conn.closed  # the worker's own connection is unaffected


def test_check_reports_a_failing_query(conn):
    assert ConnectionOverhead().check(conn) == []
    problems = ConnectionOverhead({"query": "SELECT * FROM no_such_table_here"}).check(conn)
    assert len(problems) == 1 and "no_such_table_here" in problems[0]


def test_summary_contract():
    wl = ConnectionOverhead({"pooler_dsn": "host=localhost port=6432"})
    totals = {
        "elapsed_s": 10.0,
        "operations": {
            "persistent": {"count": 5000, "latency_ms": {"mean": 0.2, "p50": 0.1}},
            "new_connection": {"count": 400, "latency_ms": {"mean": 2.0, "p50": 1.5}},
            "pooler": {"count": 600, "latency_ms": {"mean": 0.5, "p50": 0.4}},
        },
    }
    out = wl.summary(totals)
    assert out["connects_per_s"] == pytest.approx(100.0)
    assert out["new_connection_connects_per_s"] == pytest.approx(40.0)
    assert out["pooler_connects_per_s"] == pytest.approx(60.0)
    assert out["overhead_ratio"] == pytest.approx(10.0)
    assert out["connect_cost_ms"] == pytest.approx(1.8)
    assert out["pooler_ratio"] == pytest.approx(2.5)
    assert out["p50_ratio"] == pytest.approx(15.0)
    assert wl.summary({"elapsed_s": 0.0, "operations": {}}) == {}
    # Without a pooler the summary says why the declared `pooler` operation has no rows.
    plain = ConnectionOverhead({})
    no_pooler = {"elapsed_s": 1.0, "operations": {"persistent": totals["operations"]["persistent"]}}
    assert plain.summary(no_pooler)["pooler"] == "not run: set pooler_dsn to compare a pooler"
    assert "pooler" not in wl.summary(totals)


@pytest.mark.parametrize(
    "options",
    [
        {"mode": "bogus"},
        {"mode": "pooler"},
        {"mode": "all"},
        {"mix": "pooler:1"},
        {"mix": "persistent:0,new_connection:0"},
        {"mix": "persistent:1,warp:2"},
        {"mix": "persistent:-1"},
        {"mode": "persistent", "mix": "new_connection:1"},
        {"mode": "both", "mix": "persistent:1,pooler:1"},
        {"query": "  "},
        {"pooler_dsn": "this is not a conninfo"},
        {"connect_timeout": 0},
        {"qurey": "SELECT 1"},
    ],
)
def test_bad_options_raise_config_error(options):
    with pytest.raises(ConfigError):
        ConnectionOverhead(options)


def test_every_option_is_documented():
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "workloads" / "connection_overhead.md").read_text()
    for option in ConnectionOverhead.options:
        assert f"| `{option.name}` |" in doc, option.name
    for label in ("persistent", "new_connection", "pooler"):
        assert f"| `{label}` |" in doc, label


def test_quick_profile_through_the_cli(run_cli, dsn, tmp_path):
    out = tmp_path / "overhead.json"
    result = run_cli(
        "run", "--no-ui", "--config", "configs/connection_overhead-quick.yaml", "--dsn", dsn,
        "--duration", "2", "--warmup", "0", "--report-json", str(out),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    ops = data["operations"]
    assert set(ops) == {"persistent", "new_connection"}
    assert ops["persistent"]["errors"] == 0 and ops["new_connection"]["errors"] == 0
    summary = data["workload"]["summary"]
    assert summary["overhead_ratio"] > 2
    expected = ops["new_connection"]["count"] / data["summary"]["elapsed_s"]
    assert summary["connects_per_s"] == pytest.approx(expected, rel=0.02)


def test_pooler_mode_without_pooler_exits_2_through_the_cli(run_cli):
    result = run_cli("run", "--no-ui", "--workload", "connection_overhead", "--dsn", "host=/nonexistent",
                     "--set", "mode=pooler")
    assert result.returncode == 2, result.stderr
    assert "pooler_dsn" in result.stderr and "Traceback" not in result.stderr
