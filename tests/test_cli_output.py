"""What the headless commands print: one error prefix, the workloads' status column, aligned tables,
bulk_insert's ranking by rows/s, and a Markdown summary that says where, with what seed and after which load."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

from stormdb_tui.frontends.cli import main
from stormdb_tui.frontends.headless import summary_text
from stormdb_tui.report.markdown import render_markdown
from stormdb_tui.report.model import Report
from stormdb_tui.report.server import render_pg_markdown


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # --help
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_usage_errors_carry_one_prefix():
    for argv in (["run", "--workers"], ["frobnicate"], ["run", "--no-ui", "--bogus-flag"]):
        code, _out, err = _run(*argv)
        assert code == 2
        line = err.strip().splitlines()[-1]
        assert line.startswith("stormdb-tui: error: ") and line.count("stormdb-tui:") == 1, line
    _code, _out, err = _run("run", "--workers")
    assert "stormdb-tui: error: run: argument" in err and "stormdb-tui run --help" in err


def test_workloads_lists_a_status_column():
    code, out, _err = _run("workloads")
    assert code == 0
    lines = out.splitlines()
    header = lines[0].split()
    assert header[:4] == ["NAME", "VERSION", "SOURCE", "STATUS"]
    simple = next(line for line in lines if line.startswith("simple "))
    assert simple.split()[3] == "ok"


def test_run_help_says_server_statistics_are_off_headless():
    code, out, _err = _run("run", "--help")
    assert code == 0
    flat = " ".join(out.split())
    assert "--pg-stats" in flat and "off with --no-ui" in flat


def _report(operations: dict, workload_summary: dict | None = None, **extra) -> Report:
    data = {
        "schema_version": 1, "status": "completed", "message": None,
        "workload": {"name": "w", "version": "1", "options": {}, "summary": workload_summary or {}},
        "run": {"workers": 2, "connections": 2, "model": "closed", "seed": 12345},
        "summary": {"elapsed_s": 2.0, "transactions": 30, "tps": 15.0, "qps": 15.0, "errors": 0, "retries": 0,
                    "rollbacks": 0, "latency_ms": {"p50": 1.0, "p99": 2.0}},
        "operations": operations, "errors": [], **extra,
    }
    return Report(json.loads(json.dumps(data)))


def test_long_operation_names_stay_aligned():
    ops = {name: {"count": 10, "errors": 0, "tps": 5.0, "latency_ms": {"p50": 1.0, "p99": 2.0}}
           for name in ("short", "a-much-longer-operation-name-than-sixteen")}
    lines = summary_text(_report(ops)).splitlines()
    table = [line for line in lines if line.startswith(("operation", "short", "a-much", "all "))]
    assert len(table) == 4
    columns = {line.index(" 10 ") if " 10 " in line else None for line in table[1:3]}
    assert len(columns) == 1, table
    p99 = {len(line.rstrip()) for line in table[1:]}
    assert len(p99) == 1, table  # every row ends in the same column


def test_bulk_insert_ranking_by_rows_per_second_is_in_the_terminal_table():
    ops = {"insert_single": {"count": 1600, "errors": 0, "tps": 804.3, "latency_ms": {"p50": 1.0}},
           "copy": {"count": 4, "errors": 0, "tps": 2.0, "latency_ms": {"p50": 300.0}}}
    ranking = [{"method": "copy", "rows": 40000, "rows_per_batch": 10000, "seconds": 1.0, "rows_per_s": 40000.0,
                "mb_per_s": 4.0},
               {"method": "insert_single", "rows": 1600, "rows_per_batch": 1, "seconds": 1.0, "rows_per_s": 1600.0,
                "mb_per_s": 0.16}]
    text = summary_text(_report(ops, {"fastest": "copy", "ranking": ranking}))
    assert "ranking:" in text
    after = text.split("ranking:", 1)[1].splitlines()
    assert "rows_per_s" in after[1]
    assert after[2].split()[0] == "copy" and after[3].split()[0] == "insert_single"
    assert after[1].split()[4] == "rows_per_s" and after[2].split()[4] == "40,000"


def test_markdown_carries_the_target_seed_and_load():
    report = _report({"x": {"count": 30, "errors": 0, "tps": 15.0, "latency_ms": {}}},
                     target={"source": "dsn", "conninfo": "host=db.example user=bench password=s3cret"})
    report.data["workload"]["setup"] = {"rows": 1_100_010, "seconds": 4.25, "rows_per_s": 258_826.0}
    md = render_markdown(report.data)
    assert "| seed | 12345 |" in md
    assert "| data load | 1,100,010 rows in 4.2" in md and "258,826 rows/s" in md
    target = next(line for line in md.splitlines() if line.startswith("| target |"))
    assert "host=db.example" in target and "(dsn)" in target
    assert "s3cret" not in md
    del report.data["workload"]["setup"]
    assert "| data load | none (the data was already loaded) |" in render_markdown(report.data)


def test_no_lock_wait_reads_none():
    md = render_pg_markdown({"peaks": {"connections_total": 3, "lock_waiting": 0, "longest_lock_wait_s": 0.0}})
    assert "longest lock wait none" in md and "0.00 s" not in md
    md = render_pg_markdown({"peaks": {"connections_total": 3, "lock_waiting": 1, "longest_lock_wait_s": 0.002}})
    assert "longest lock wait under 0.01 s" in md
    md = render_pg_markdown({"peaks": {"connections_total": 3, "lock_waiting": 1, "longest_lock_wait_s": 1.5}})
    assert "longest lock wait 1.50 s" in md


def test_a_first_run_says_it_loads_the_data_as_information(run_cli, dsn, tmp_path):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('DROP SCHEMA IF EXISTS "cli_out_fresh" CASCADE')
    out = tmp_path / "r.md"
    result = run_cli("run", "--no-ui", "--workload", "simple", "--dsn", dsn, "--set", "schema=cli_out_fresh",
                     "--set", "script=select-only", "--duration", "1", "--workers", "1", "--report-md", str(out))
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if "loading it now" in line)
    assert "error" not in line and "run with --setup" not in line, line
    md = out.read_text()
    assert "| data load |" in md and "rows in" in md
    assert "| seed |" in md and "| target |" in md
