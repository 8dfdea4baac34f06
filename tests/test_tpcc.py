"""tpcc against a real PostgreSQL: spec row counts, the five transactions, consistency, options.

The scale-1 load (~600k rows) takes a few seconds, so it runs once per module
and every test reads or advances the same database in file order.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from decimal import Decimal

import psycopg
import pytest

from stormdb_tui import db
from stormdb_tui.builtin.tpcc import WORKLOAD, TpccWorkload, consistency_checks
from stormdb_tui.builtin.tpcc.rand import (
    LAST_NAMES,
    NURandConstants,
    StringPool,
    nurand,
    valid_c_last_delta,
)
from stormdb_tui.builtin.tpcc.workload import KEYING_S, NEXT_KEY, THINK_MEAN_S
from stormdb_tui.errors import ConfigError, WorkloadError
from stormdb_tui.workload import Progress, WorkerContext

COUNT_TABLES = ("warehouse", "district", "customer", "history", "orders", "new_order", "order_line", "item", "stock")


def counts(conn) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM tpcc.{t}").fetchone()[0] for t in COUNT_TABLES}


def make_ctx(conn, worker_id: int = 0, seed: int = 1, stopping=lambda: False) -> WorkerContext:
    return WorkerContext(worker_id, conn, random.Random(seed), {}, 1, 1, stopping)


def run_only(wl_options: dict, dsn: str, conn, label: str, n: int, seed: int = 3) -> WorkerContext:
    """Run ``n`` transactions of one type through the workload API; returns the worker context."""
    wl = TpccWorkload({**wl_options, "mix": {label: 1}}, {"conninfo": dsn, "seed": 11})
    ctx = make_ctx(conn, seed=seed)
    wl.start_worker(ctx)
    for _ in range(n):
        ctx.attempt = 0
        assert wl.transaction(ctx) == label
    wl.stop_worker(ctx)
    return ctx


@pytest.fixture(scope="module")
def loaded(dsn):
    """A fresh scale-1 TPC-C database and the workload that loaded it."""
    with db.connect(dsn, role="test") as c:
        wl = TpccWorkload({"scale": 1}, {"conninfo": dsn})
        wl.drop(c)
        seen = []
        wl.setup(c, Progress(seen.append))
        assert seen and seen[-1].rows >= 590_000
        yield wl


# -- pure functions ----------------------------------------------------------------------------


def test_options_reject_bad_values():
    with pytest.raises(ConfigError, match="scale"):
        TpccWorkload({"scale": 0})
    with pytest.raises(ConfigError, match="positive sum"):
        TpccWorkload({"mix": {"new_order": 0, "payment": 0}})
    with pytest.raises(ConfigError, match="did you mean 'new_order'"):
        TpccWorkload({"mix": {"neworder": 1}})
    with pytest.raises(ConfigError, match="unknown option"):
        TpccWorkload({"warehouses": 2})
    wl = WORKLOAD({"scale": "3", "mix": "new_order:1,payment:1"})
    assert wl.scale == 3 and wl.mix.share("payment") == 0.5
    assert WORKLOAD().mix.share("new_order") == pytest.approx(0.45)


def test_last_names_and_nurand():
    assert LAST_NAMES[371] == "PRICALLYOUGHT"  # the example of clause 4.3.2.3
    assert LAST_NAMES[0] == "BARBARBAR" and len(set(LAST_NAMES)) == 1000
    rng = random.Random(5)
    values = [nurand(rng, 1023, 1, 3000, 77) for _ in range(20_000)]
    assert min(values) >= 1 and max(values) <= 3000
    top = Counter(values).most_common(1)[0][1]
    assert top > 20_000 / 3000 * 3  # skewed, far from uniform


def test_c_run_respects_delta_rule():
    for seed in range(200):
        load = NURandConstants.for_load(random.Random(seed))
        run = NURandConstants.for_run(random.Random(seed + 1000), load)
        delta = abs(run.c_last - load.c_last)
        assert 65 <= delta <= 119 and delta not in (96, 112)
        assert 0 <= run.c_last <= 255 and 0 <= run.c_id <= 1023 and 0 <= run.ol_i_id <= 8191
    assert not valid_c_last_delta(96, 0) and valid_c_last_delta(100, 0) and not valid_c_last_delta(10, 0)


def test_string_pool_lengths_and_original():
    pool = StringPool(random.Random(2))
    lengths = {len(pool.astring(26, 50)) for _ in range(2000)}
    assert min(lengths) == 26 and max(lengths) == 50
    data = [pool.data(26, 50) for _ in range(5000)]
    share = sum("ORIGINAL" in d for d in data) / len(data)
    assert 0.07 < share < 0.13
    assert len(pool.zip()) == 9 and pool.zip().endswith("11111")


def test_summary_reports_tpmc_and_nopm():
    wl = TpccWorkload()
    totals = {"elapsed_s": 30.0, "operations": {"new_order": {"count": 1000}, "payment": {"count": 900}},
              "rollbacks": 10}
    s = wl.summary(totals)
    assert s["tpmC"] == pytest.approx(990 * 2) and s["nopm"] == pytest.approx(2000)
    assert s["new_order_rollbacks"] == 10
    assert wl.summary({"elapsed_s": 0, "operations": {}})["tpmC"] == 0


# -- the load ----------------------------------------------------------------------------------


def test_row_counts_match_the_specification(loaded, conn):
    got = counts(conn)
    expected = {"warehouse": 1, "district": 10, "customer": 30_000, "history": 30_000, "orders": 30_000,
                "new_order": 9_000, "item": 100_000, "stock": 100_000}
    assert {k: got[k] for k in expected} == expected
    ol_cnt = conn.execute("SELECT sum(o_ol_cnt), min(o_ol_cnt), max(o_ol_cnt) FROM tpcc.orders").fetchone()
    assert got["order_line"] == ol_cnt[0] and (ol_cnt[1], ol_cnt[2]) == (5, 15)
    assert 280_000 < got["order_line"] < 320_000


def test_loaded_values_follow_clause_4_3(loaded, conn):
    q = conn.execute
    # first 1,000 customers of a district take the 1,000 names in order
    names = [r[0] for r in q("SELECT c_last FROM tpcc.customer WHERE c_w_id = 1 AND c_d_id = 4 AND c_id <= 1000 "
                             "ORDER BY c_id").fetchall()]
    assert names == list(LAST_NAMES)
    bc = q("SELECT avg((c_credit = 'BC')::int) FROM tpcc.customer").fetchone()[0]
    assert 0.08 < bc < 0.12
    assert q("SELECT min(no_o_id), max(no_o_id) FROM tpcc.new_order").fetchone() == (2101, 3000)
    assert q("SELECT count(*) FROM tpcc.orders WHERE (o_carrier_id IS NULL) <> (o_id >= 2101)").fetchone()[0] == 0
    # every customer has exactly one order (O_C_ID is a permutation)
    assert q("SELECT count(DISTINCT (o_d_id, o_c_id)) FROM tpcc.orders").fetchone()[0] == 30_000
    original = q("SELECT avg((i_data LIKE '%ORIGINAL%')::int) FROM tpcc.item").fetchone()[0]
    assert 0.08 < original < 0.12
    assert q("SELECT min(s_quantity), max(s_quantity) FROM tpcc.stock").fetchone() == (10, 100)
    assert q("SELECT w_ytd FROM tpcc.warehouse").fetchone()[0] == Decimal("300000.00")
    assert q("SELECT count(*) FROM pg_indexes WHERE schemaname = 'tpcc'").fetchone()[0] == 8 + 2 + 1


def test_check_and_idempotent_setup(loaded, dsn, conn):
    assert loaded.check(conn) == []
    problems = TpccWorkload({"scale": 2}).check(conn)
    assert len(problems) == 1 and "scale=1" in problems[0] and "--rebuild" in problems[0]
    before = counts(conn)
    TpccWorkload({"scale": 1}, {"conninfo": dsn}).setup(conn, Progress())  # a no-op
    assert counts(conn) == before
    with pytest.raises(WorkloadError, match="--rebuild"):
        TpccWorkload({"scale": 2}, {"conninfo": dsn}).setup(conn, Progress())


def test_consistency_after_load(loaded, conn):
    results = loaded.consistency(conn)
    assert len(results) >= 4 and [r[0][:2] for r in results[:4]] == ["1:", "2:", "3:", "4:"]
    assert all(passed for _, passed, _ in results), results


def test_consistency_detects_a_broken_database(loaded, conn):
    with conn.transaction():
        conn.execute("UPDATE tpcc.warehouse SET w_ytd = w_ytd + 1")
        conn.execute("DELETE FROM tpcc.new_order WHERE no_w_id = 1 AND no_d_id = 2 AND no_o_id = 2500")
        failed = {name[:2] for name, passed, _ in consistency_checks(conn) if not passed}
        assert {"1:", "3:", "5:", "8:"} <= failed
        raise psycopg.Rollback()  # undo the damage
    assert all(passed for _, passed, _ in consistency_checks(conn, quick=True))


# -- transactions ------------------------------------------------------------------------------


def test_new_order_commits_and_intended_rollbacks(loaded, dsn, conn):
    before = counts(conn)
    next_o = conn.execute("SELECT sum(d_next_o_id) FROM tpcc.district").fetchone()[0]
    ctx = run_only({"scale": 1}, dsn, conn, "new_order", 250)
    after = counts(conn)
    committed = 250 - ctx.rollbacks
    assert 0 < ctx.rollbacks < 15  # 1% of New-Orders roll back on an unused item
    assert after["orders"] - before["orders"] == committed
    assert after["new_order"] - before["new_order"] == committed
    assert conn.execute("SELECT sum(d_next_o_id) FROM tpcc.district").fetchone()[0] - next_o == committed
    new_lines = after["order_line"] - before["order_line"]
    assert 5 * committed <= new_lines <= 15 * committed
    assert conn.execute("SELECT count(*) FROM tpcc.stock WHERE s_order_cnt > 0").fetchone()[0] > 100
    assert ctx.queries >= 6 * committed


def test_payment_updates_ytd_history_and_bad_credit(loaded, dsn, conn):
    before = counts(conn)
    ytd = conn.execute("SELECT w_ytd FROM tpcc.warehouse").fetchone()[0]
    run_only({"scale": 1}, dsn, conn, "payment", 300)
    assert counts(conn)["history"] - before["history"] == 300
    assert conn.execute("SELECT w_ytd FROM tpcc.warehouse").fetchone()[0] > ytd
    bad = conn.execute(
        "SELECT count(*) FROM tpcc.customer WHERE c_credit = 'BC' AND c_payment_cnt > 1 "
        "AND c_data ~ ('^' || c_id || ' ' || c_d_id || ' 1 ')"
    ).fetchone()[0]
    assert bad > 5
    good = conn.execute(
        "SELECT count(*) FROM tpcc.customer WHERE c_credit = 'GC' AND c_payment_cnt > 1 "
        "AND c_data ~ ('^' || c_id || ' ')"
    ).fetchone()[0]
    assert good == 0


def test_delivery_takes_oldest_new_order_of_each_district(loaded, dsn, conn):
    oldest = conn.execute("SELECT min(no_o_id) FROM tpcc.new_order WHERE no_d_id = 1").fetchone()[0]
    before = counts(conn)["new_order"]
    ctx = run_only({"scale": 1}, dsn, conn, "delivery", 5)
    assert counts(conn)["new_order"] == before - 50
    assert conn.execute("SELECT min(no_o_id) FROM tpcc.new_order WHERE no_d_id = 1").fetchone()[0] == oldest + 5
    carrier = conn.execute(
        "SELECT o_carrier_id FROM tpcc.orders WHERE o_d_id = 1 AND o_id = %s", (oldest,)
    ).fetchone()[0]
    assert 1 <= carrier <= 10
    assert ctx.queries == 50


def test_order_status_and_stock_level_run(loaded, dsn, conn):
    ctx = run_only({"scale": 1}, dsn, conn, "order_status", 30)
    assert ctx.queries == 90 and ctx.rollbacks == 0
    ctx = run_only({"scale": 1}, dsn, conn, "stock_level", 30)
    assert ctx.queries == 30


def test_mix_runs_every_label_and_stays_consistent(loaded, dsn, conn):
    wl = TpccWorkload({"scale": 1}, {"conninfo": dsn, "seed": 4})
    ctx = make_ctx(conn, seed=9)
    wl.start_worker(ctx)
    labels = Counter()
    for _ in range(600):
        ctx.attempt = 0
        labels[wl.transaction(ctx)] += 1
    assert set(labels) == set(wl.operations)
    assert 0.38 < labels["new_order"] / 600 < 0.52 and 0.36 < labels["payment"] / 600 < 0.50
    results = consistency_checks(conn)
    assert all(passed for _, passed, _ in results), results


def test_spec_timing_schedules_keying_and_think_time(loaded, dsn, conn):
    wl = TpccWorkload({"scale": 1, "spec_timing": True}, {"conninfo": dsn})
    ctx = make_ctx(conn, stopping=lambda: True)  # waits return at once
    wl.start_worker(ctx)
    first = ctx.state[NEXT_KEY]
    assert ctx.pause_s == KEYING_S[first]
    ctx.pause_s = 0.0  # as the engine does once it has waited
    for _ in range(20):
        ctx.attempt = 0
        label = wl.transaction(ctx)
        following = ctx.state[NEXT_KEY]
        pause, ctx.pause_s = ctx.pause_s, 0.0
        assert KEYING_S[following] <= pause <= KEYING_S[following] + 10 * THINK_MEAN_S[label]


def test_cli_run_then_check(loaded, dsn, run_cli, tmp_path):
    """The issue's acceptance path: a headless run reports every label and tpmC, then check passes."""
    out = tmp_path / "t.json"
    done = run_cli("run", "--no-ui", "--dsn", dsn, "--workload", "tpcc", "--set", "scale=1",
                   "--duration", "4", "--workers", "3", "--report-json", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert set(report["operations"]) == set(TpccWorkload.operations)
    assert report["workload"]["summary"]["tpmC"] > 0
    done = run_cli("check", "--dsn", dsn, "--workload", "tpcc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASS") >= 5 and "FAIL" not in done.stdout
    done = run_cli("run", "--no-ui", "--dsn", dsn, "--workload", "tpcc", "--set", "mix=neworder:1")
    assert done.returncode == 2 and "new_order" in done.stderr


def test_server_cost_per_operation_maps_every_statement(loaded, dsn, conn):
    """pg_stat_statements deltas of a mixed run land on the five transactions, nothing left over."""
    from stormdb_tui.monitor import PgMonitor
    from stormdb_tui.monitor_operations import operation_costs

    if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone():
        pytest.skip("pg_stat_statements is not installed in the test database")
    wl = TpccWorkload({"scale": 1}, {"conninfo": dsn, "seed": 4})
    mon = PgMonitor(dsn, interval=0.5, wait_rate=0)
    mon.start()
    with db.connect(dsn, role="load") as work:
        ctx = make_ctx(work, seed=21)
        wl.start_worker(ctx)
        labels = Counter()
        for _ in range(300):
            ctx.attempt = 0
            labels[wl.transaction(ctx)] += 1
        wl.stop_worker(ctx)
    mon.stop(sum(labels.values()))
    ops = {label: {"count": n, "errors": 0, "latency_ms": {"mean": 1.0}} for label, n in labels.items()}
    costs = operation_costs(mon.statement_deltas, wl.statement_operations(), ops)
    rows = {r["operation"]: r for r in costs["per_transaction"]}
    assert set(rows) == set(wl.operations), costs
    unmatched = costs["unmatched"]
    from stormdb_tui.monitor_operations import fingerprint

    known = {fingerprint(t) for t in wl.statement_operations()}
    left = [(s["calls"], s["query"][:200]) for s in mon.statement_deltas if fingerprint(s["query"]) not in known]
    assert unmatched["total_ms"] <= 0.05 * costs["matched_ms"], left
    # New-Order: BEGIN, head, customer, items, stock, stock update, lines, COMMIT (fewer when rolled back)
    assert 6 <= rows["new_order"]["statements"] <= 8.5
    assert rows["delivery"]["statements"] >= 10  # one statement per district
    assert rows["new_order"]["wal_bytes"] > rows["order_status"]["wal_bytes"]
    assert rows["order_status"]["shared_blks_hit"] > 0 and rows["order_status"]["rows"] > 0
    assert all(r["server_ms"] > 0 for r in rows.values())
