"""bulk_insert against a real PostgreSQL: every method lands its rows, COPY wins, the bind limit holds."""

from __future__ import annotations

import json
import random
import time

import pytest

from stormdb_tui import db
from stormdb_tui.builtin.bulk_insert import MAX_BIND_PARAMS, BulkInsert
from stormdb_tui.errors import ConfigError
from stormdb_tui.workload import Progress, WorkerContext


@pytest.fixture
def conn(dsn):
    with db.connect(dsn, role="test") as c:
        yield c
        c.execute("DROP SCHEMA IF EXISTS bulk_insert CASCADE")


def make_ctx(conn, worker_id: int = 1) -> WorkerContext:
    return WorkerContext(worker_id, conn, random.Random(worker_id), {}, 1, 1, lambda: False)


def start(conn, worker_id: int = 1, **options) -> tuple[BulkInsert, WorkerContext]:
    wl = BulkInsert(options)
    wl.setup(conn, Progress())
    assert wl.check(conn) == []
    ctx = make_ctx(conn, worker_id)
    wl.start_worker(ctx)
    return wl, ctx


def run_for(
    wl: BulkInsert, ctx: WorkerContext, seconds: float, until_labels: set[str] | None = None, cap: float = 15.0
) -> dict[str, list[float]]:
    """Transactions back to back for ``seconds``: latencies in ms per label.

    With ``until_labels``, keep going (up to ``cap`` seconds) until each has run:
    slices follow the wall clock, so on a loaded machine one slow batch can
    overrun a short slice and the next method misses its turn within a second.
    """
    lat: dict[str, list[float]] = {}
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end or (
        until_labels and not until_labels <= set(lat) and time.perf_counter() < start + cap
    ):
        t0 = time.perf_counter()
        label = wl.transaction(ctx)
        lat.setdefault(label, []).append((time.perf_counter() - t0) * 1000)
    return lat


def totals_from(lat: dict[str, list[float]], elapsed: float) -> dict:
    return {
        "elapsed_s": elapsed,
        "operations": {
            k: {"count": len(v), "latency_ms": {"mean": sum(v) / len(v)}} for k, v in lat.items()
        },
    }


def count_rows(conn, worker_id: int = 1) -> int:
    return conn.execute(f"SELECT count(*) FROM bulk_insert.w{worker_id}").fetchone()[0]


def test_every_method_runs_and_its_rows_land(conn):
    wl, ctx = start(conn, slice_time=0.05, truncate_every=0, batch_rows=200)
    assert wl.schedule == [
        "insert_single", "insert_multi_10", "insert_multi_100", "insert_multi_1000", "executemany", "copy"
    ]
    lat = run_for(wl, ctx, 1.0, until_labels=set(wl.schedule))
    assert set(lat) == set(wl.schedule)
    expected = sum(len(v) * wl.rows_per_batch[k] for k, v in lat.items())
    assert count_rows(conn) == expected
    ids = conn.execute("SELECT min(id), max(id), count(DISTINCT id) FROM bulk_insert.w1").fetchone()
    assert ids == (1, expected, expected)
    # Values arrive intact: the text columns have the configured length, nothing is NULL.
    text_len, nulls = conn.execute(
        "SELECT min(length(c2)), count(*) FILTER (WHERE c1 IS NULL OR c3 IS NULL OR c4 IS NULL) "
        "FROM bulk_insert.w1"
    ).fetchone()
    assert (text_len, nulls) == (100, 0)
    assert ctx.queries >= sum(len(v) for v in lat.values())


def test_slices_give_each_method_an_equal_share():
    wl = BulkInsert({"slice_time": 0.5})
    seen = [wl.current_method(0.5 * k + 0.25) for k in range(12)]
    assert seen == wl.schedule * 2
    # Slices follow the epoch clock, so workers in separate processes switch together.
    assert wl.current_method(1_700_000_000.1) == wl.current_method(1_700_000_000.4)


def test_copy_beats_single_row_insert_by_more_than_10x(conn):
    best = 0.0
    for _ in range(3):  # a busy machine can slow one round; COPY must win by 10x in one of three
        rates = _rates(conn)
        best = max(best, rates["copy"] / rates["insert_single"])
        if best > 10:
            break
    assert best > 10, rates


def _rates(conn) -> dict[str, float]:
    rates = {}
    for method in ("insert_single", "copy"):
        wl, ctx = start(conn, methods=method, truncate_every=0)
        t0 = time.perf_counter()
        lat = run_for(wl, ctx, 1.0)
        elapsed = time.perf_counter() - t0
        ranking = wl.summary(totals_from(lat, elapsed))["ranking"]
        rows = sum(len(v) for v in lat.values()) * wl.rows_per_batch[method]
        assert count_rows(conn) == rows
        assert ranking[0]["method"] == method
        assert ranking[0]["rows"] == rows
        # One method ran the whole time, so its share of the window is the window.
        assert ranking[0]["rows_per_s"] == pytest.approx(rows / elapsed, rel=1e-3)
        rates[method] = ranking[0]["rows_per_s"]
    return rates


def test_multi_row_batches_stay_under_the_bind_parameter_limit(conn):
    wl, ctx = start(conn, columns=1000, column_types="int,text", payload_bytes=4,
                    methods="insert_multi", batch_sizes="10,100,1000,70000", truncate_every=0)
    assert wl.max_multi_rows == 65
    assert wl.rows_per_batch == {"insert_multi_10": 10, "insert_multi_65": 65}
    for label, rows in wl.rows_per_batch.items():
        assert rows * 1000 <= MAX_BIND_PARAMS
        assert ctx.state["queries"][label].count("%s") <= MAX_BIND_PARAMS
    for label in wl.schedule:
        wl.schedule = [label]
        assert wl.transaction(ctx) == label
    assert count_rows(conn) == 75
    # The widest table PostgreSQL allows, at its tightest cap.
    wl, ctx = start(conn, worker_id=2, columns=1600, column_types="int", methods="insert_multi",
                    batch_sizes="1000")
    assert wl.rows_per_batch == {"insert_multi_40": 40}
    assert wl.transaction(ctx) == "insert_multi_40"
    assert count_rows(conn, 2) == 40


def test_truncate_keeps_the_table_bounded(conn):
    wl, ctx = start(conn, methods="insert_multi", batch_sizes="10", truncate_every=30)
    labels = [wl.transaction(ctx) for _ in range(8)]
    assert labels == ["insert_multi_10"] * 3 + ["truncate"] + ["insert_multi_10"] * 3 + ["truncate"]
    assert count_rows(conn) == 0
    wl.transaction(ctx)
    assert conn.execute("SELECT min(id), count(*) FROM bulk_insert.w1").fetchone() == (1, 10)


def test_restarted_worker_keeps_its_rows_and_ids(conn):
    wl, ctx = start(conn, methods="copy", batch_rows=50)
    wl.transaction(ctx)
    wl.start_worker(ctx)  # what a reconnect or a borrowed pooled connection does
    wl.transaction(ctx)
    assert conn.execute("SELECT count(DISTINCT id), max(id) FROM bulk_insert.w1").fetchone() == (100, 100)


def test_summary_ranks_by_rows_per_second():
    wl = BulkInsert({"columns": 3, "column_types": "int,text", "payload_bytes": 88, "batch_rows": 1000})
    assert wl.row_bytes == 8 + 4 + 88
    totals = {
        "elapsed_s": 10.0,
        "operations": {
            # busy ms: 4000, 1000, 4000, 1000 -> 4 s, 1 s, 4 s, 1 s of the 10 s window
            "insert_single": {"count": 4000, "latency_ms": {"mean": 1.0}},
            "copy": {"count": 100, "latency_ms": {"mean": 10.0}},
            "executemany": {"count": 200, "latency_ms": {"mean": 20.0}},
            "truncate": {"count": 10, "latency_ms": {"mean": 100.0}},
        },
    }
    out = wl.summary(totals)
    assert [r["method"] for r in out["ranking"]] == ["copy", "executemany", "insert_single"]
    copy = out["ranking"][0]
    assert copy["seconds"] == pytest.approx(1.0)
    assert copy["rows_per_s"] == pytest.approx(100_000)
    assert copy["mb_per_s"] == pytest.approx(10.0)
    assert out["copy_vs_insert_single"] == pytest.approx(100.0)
    assert out["fastest"] == "copy"
    assert wl.summary({"elapsed_s": 0, "operations": {}})["ranking"] == []


@pytest.mark.parametrize(
    "options",
    [
        {"columns": 0},
        {"columns": 1601},
        {"payload_bytes": -1},
        {"methods": "insert_single,bogus"},
        {"methods": ""},
        {"column_types": "int,varchar"},
        {"batch_sizes": "10,0"},
        {"batch_sizes": "ten"},
        {"batch_sizes": "", "methods": "insert_multi"},
        {"batch_rows": 0},
        {"slice_time": 0},
        {"truncate_every": -5},
        {"columns": 1100, "column_types": "bigint"},
        {"colums": 8},
    ],
)
def test_bad_options_raise_config_error(options):
    with pytest.raises(ConfigError):
        BulkInsert(options)


def test_check_reports_a_missing_schema(conn):
    conn.execute("DROP SCHEMA IF EXISTS bulk_insert CASCADE")
    problems = BulkInsert().check(conn)
    assert len(problems) == 1 and "--setup" in problems[0]


def test_every_option_is_documented():
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "workloads" / "bulk_insert.md").read_text()
    for option in BulkInsert.options:
        assert f"| `{option.name}` |" in doc, option.name
    for label in BulkInsert().operations:
        assert f"`{label.rstrip('0123456789')}" in doc, label


def test_quick_profile_through_the_cli(run_cli, dsn, conn, tmp_path):
    """The shipped profile, shortened: every method ran, the report ranks them, the rows are there."""
    out = tmp_path / "bulk.json"
    result = run_cli(
        "run", "--no-ui", "--config", "configs/bulk_insert-quick.yaml", "--dsn", dsn, "--setup",
        "--duration", "4", "--warmup", "0", "--set", "slice_time=0.25", "--set", "truncate_every=0",
        "--set", "batch_rows=200", "--report-json", str(out),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    ops = data["operations"]
    methods = ["insert_single", "insert_multi_10", "insert_multi_100", "insert_multi_1000", "executemany", "copy"]
    assert set(methods) <= set(ops)
    assert all(ops[m]["errors"] == 0 and ops[m]["count"] > 0 for m in methods)
    ranking = data["workload"]["summary"]["ranking"]
    assert sorted(r["method"] for r in ranking) == sorted(methods)
    assert [r["rows_per_s"] for r in ranking] == sorted((r["rows_per_s"] for r in ranking), reverse=True)
    # The methods' time shares add up to the measured window (no truncate ran). How equal the
    # shares are depends on batches finishing near slice ends, which a loaded test machine skews;
    # test_slices_give_each_method_an_equal_share covers the schedule itself.
    assert all(r["seconds"] > 0 for r in ranking)
    assert sum(r["seconds"] for r in ranking) == pytest.approx(data["summary"]["elapsed_s"], rel=0.01)
    reported = sum(r["rows"] for r in ranking)
    landed = sum(
        conn.execute(f"SELECT count(*) FROM bulk_insert.w{w}").fetchone()[0] for w in range(2)
    )
    assert landed >= reported > 0


def test_bad_option_exits_2_through_the_cli(run_cli):
    result = run_cli("run", "--no-ui", "--workload", "bulk_insert", "--dsn", "host=/nonexistent",
                     "--set", "methods=copy,teleport")
    assert result.returncode == 2, result.stderr
    assert "workload.methods" in result.stderr and "Traceback" not in result.stderr
