"""StormDB's flat config format: our own files in it run with one warning; StormDB's invalid cases exit 2, located."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stormdb_tui.config import parse_config
from stormdb_tui.config_stormdb import resolve_workload
from stormdb_tui.errors import ConfigError

HERE = Path(__file__).resolve().parent / "stormdb_configs"
VALID = ["read", "simple", "connection", "bulk_insert", "imdb_mixed", "ecommerce_mixed", "ecommerce_basic_oltp",
         "vector_1024_cosine", pytest.param("tpcc", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", VALID)
def test_stormdb_config_runs_with_one_warning(name, run_cli, dsn, tmp_path):
    out = tmp_path / "r.json"
    # --dsn replaces the file's database section, which points at StormDB's own server.
    proc = run_cli("run", "--no-ui", "-c", str(HERE / f"{name}.yaml"), "--dsn", dsn, "--report-json", str(out),
                   timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line for line in proc.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1, warnings
    assert "read as a StormDB config" in warnings[0]
    assert "error" not in proc.stderr.lower().replace("errors", "")
    report = json.loads(out.read_text())
    assert report["status"] == "completed"
    assert report["summary"]["transactions"] > 0


def test_warning_names_keys_as_the_file_spells_them():
    cfg = parse_config((HERE / "simple.yaml").read_text(), "simple.yaml")
    (warning,) = cfg.warnings
    assert "workload_config.query_type" in warning and "workload_config.isolation_level" in warning
    assert "results_backend" in warning and "test_metadata" in warning
    assert "workload.query_type" not in warning
    # What has a meaning here was mapped, not ignored.
    assert cfg.run["think_time"] == pytest.approx(0.005)  # StormDB's bare think_time is milliseconds
    assert cfg.run["max_tries"] == 3 and cfg.run["connect_timeout"] == 10.0
    assert "statement_timeout=5000" in cfg.database["options"]
    assert "think_time" not in warning and "query_timeout" not in warning


def test_mapped_keys_land_in_our_settings():
    cfg = parse_config((HERE / "tpcc.yaml").read_text(), "tpcc.yaml")
    assert cfg.workload == "tpcc"
    assert cfg.workload_raw["mix"]["new_order"] == 45
    assert cfg.run["ramp"] == 1.0 and cfg.run["workers"] == 2 and cfg.run["connections"] == 4
    assert cfg.monitoring["enabled"] is True and cfg.monitoring["statements"] is False
    vec = parse_config((HERE / "vector_1024_cosine.yaml").read_text(), "v.yaml")
    assert vec.workload == "vector"
    assert {k: vec.workload_raw[k] for k in ("dimensions", "metric", "index", "ef_search", "k")} == {
        "dimensions": 1024, "metric": "cosine", "index": "hnsw", "ef_search": 40, "k": 10}
    assert vec.workload_raw["weights"] == {"knn_search": 80, "insert": 10, "update": 5, "delete": 5}
    prog = parse_config((HERE / "progressive.yaml").read_text(), "p.yaml")
    assert prog.sweep["strategy"] == "exponential" and (prog.sweep["start"], prog.sweep["stop"]) == (1, 4)


@pytest.mark.parametrize(
    "name, ours, options",
    [
        ("imdb_mixed", "imdb", {"mode": "mixed"}),
        ("imdb_read", "imdb", {"mode": "read"}),
        ("vector_1024_cosine", "vector", {"dimensions": 1024, "metric": "cosine"}),
        ("vector_1024_inner", "vector", {"dimensions": 1024, "metric": "inner_product"}),
        ("vector_1024", "vector", {"dimensions": 1024, "metric": "l2"}),
        ("ecommerce_analytics", "ecommerce", {"weights": {"vendor_analytics": 50, "category_analytics": 50}}),
        ("ecommerce_basic_analytics", "ecommerce_basic", {"olap_ratio": 1.0}),
        ("read", "simple", {"script": "select-only"}),
        ("connection", "connection_overhead", {}),
        ("pgvector_read_scan", "vector", {"weights": {"knn_search": 100}, "index": "none", "dimensions": 1024}),
        ("pgvector_ingestion_batch_cosine_256", "vector",
         {"weights": {"insert": 100}, "metric": "cosine", "dimensions": 256}),
        ("tpcc", "tpcc", {}),
        ("my_plugin", "my_plugin", {}),
    ],
)
def test_workload_names(name, ours, options):
    got, opts, _ = resolve_workload(name)
    assert (got, opts) == (ours, options)


INVALID = [
    ("bad_duration.yaml", 2, "duration: invalid duration format"),
    ("zero_workers.yaml", 3, "workers: workers must be positive"),
    ("bad_port.yaml", 3, "database.port: database port out of range"),
    ("bad_sslmode.yaml", 6, "database.sslmode: invalid sslmode"),
    ("empty_host.yaml", 2, "database.host: database host is required"),
    ("fewer_connections.yaml", 4, "connections: connections (4) is less than workers (8)"),
    ("bad_think_time.yaml", 6, "workload_config.think_time: invalid duration format"),
    ("progressive_min_over_max.yaml", 8, "progressive.min_workers: min_workers (8) must be <= max_workers (2)"),
    ("progressive_strategy.yaml", 7, "progressive.strategy: unsupported scaling strategy"),
    ("unknown_workload.yaml", 1, "unknown workload"),
    ("enhanced.yaml", 1, "StormDB's \"enhanced\" nested config format"),
]


@pytest.mark.parametrize("name, line, fragment", INVALID)
def test_invalid_stormdb_config_is_located(name, line, fragment):
    path = HERE / "invalid" / name
    with pytest.raises(ConfigError) as info:
        cfg = parse_config(path.read_text(), name)
        if name == "unknown_workload.yaml":
            from stormdb_tui.engine.plan import apply_overrides
            from stormdb_tui.registry import discover

            apply_overrides(cfg, discover([]), ())
    message = str(info.value)
    assert message.startswith(f"{name}:{line}:"), message
    assert fragment in message, message


@pytest.mark.parametrize("name", ["bad_duration.yaml", "enhanced.yaml", "unknown_workload.yaml", "bad_sslmode.yaml"])
def test_invalid_stormdb_config_exits_2(name, run_cli):
    proc = run_cli("run", "--no-ui", "-c", str(HERE / "invalid" / name))
    assert proc.returncode == 2, proc.stderr
    assert re.search(rf"{re.escape(name)}:\d+: ", proc.stderr), proc.stderr
    assert "Traceback" not in proc.stderr


def test_unmapped_workload_option_error_names_the_file_key():
    text = "workload: read\nworkers: 2\nconnections: 2\nworkload_config:\n  scirpt: select-only\n"
    cfg = parse_config(text, "t.yaml")
    from stormdb_tui.builtin.simple import SimpleWorkload

    with pytest.raises(ConfigError) as info:
        cfg.workload_options(SimpleWorkload.options)
    assert str(info.value).startswith("t.yaml:5: workload_config.scirpt: unknown option"), str(info.value)
