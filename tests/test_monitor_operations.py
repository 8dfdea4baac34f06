"""Statement-to-operation matching and the per-operation arithmetic (pure; the real runs are in
test_server_versions and test_tpcc)."""

from __future__ import annotations

from stormdb_tui.monitor.operations import fingerprint, operation_costs


def test_fingerprint_folds_driver_and_server_placeholders() -> None:
    sent = "SELECT c_id FROM tpcc.customer\n WHERE c_w_id = %s AND c_last = %(last)s AND x < 10 AND y IS NULL"
    stored = 'select c_id from "tpcc".customer where c_w_id = $1 and c_last = $2 and x < $3 and y is $4'
    assert fingerprint(sent) == fingerprint(stored)
    assert fingerprint("SELECT a FROM t WHERE i = ANY(%s::int4[])") == fingerprint("SELECT a FROM t WHERE i = ANY($1)")
    assert fingerprint("SELECT 1 WHERE x IN ($1 /*, ... */)") == fingerprint("SELECT 1 WHERE x IN (%s)")
    assert fingerprint("SELECT a FROM t") != fingerprint("SELECT b FROM t")


def test_shared_statements_split_by_transaction_count() -> None:
    statements = [
        {"query": "SELECT v FROM t WHERE k = $1", "calls": 400, "total_ms": 40.0, "rows": 400,
         "shared_blks_hit": 1200, "shared_blks_read": 4, "wal_bytes": 0},
        {"query": "UPDATE t SET v = v + $1 WHERE k = $2", "calls": 100, "total_ms": 30.0, "rows": 100,
         "shared_blks_hit": 500, "shared_blks_read": 0, "wal_bytes": 10000},
        {"query": "VACUUM t", "calls": 1, "total_ms": 5.0, "rows": 0, "shared_blks_hit": 0,
         "shared_blks_read": 0, "wal_bytes": 0},
    ]
    mapping = {"SELECT v FROM t WHERE k = %s": ["read", "write", "never"], "UPDATE t SET v = v + %s WHERE k = %s": "write"}
    ops = {"read": {"count": 300, "errors": 0, "latency_ms": {"mean": 0.5}},
           "write": {"count": 90, "errors": 10, "latency_ms": {"mean": 1.0}}}
    out = operation_costs(statements, mapping, ops)
    rows = {r["operation"]: r for r in out["per_transaction"]}
    assert set(rows) == {"read", "write"}  # "never" ran no transaction: it takes no share
    assert rows["read"]["server_ms"] == 0.1 and rows["read"]["shared_split"]
    assert rows["write"]["transactions"] == 100  # errors are attempts that ran statements too
    assert rows["write"]["server_ms"] == 0.4  # 10 ms of the reads + 30 ms of updates over 100
    assert rows["write"]["statements"] == 2.0 and rows["write"]["wal_bytes"] == 100.0
    assert rows["write"]["outside_server_ms"] == 0.6 and rows["write"]["server_share"] == 0.4
    assert out["unmatched"] == {"statements": 1, "total_ms": 5.0, "calls": 1}
    assert out["matched_ms"] == 70.0
