"""``--metrics-port``: a real run serves OpenMetrics while it goes, and a taken port is a usage error."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def _value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture(scope="module")
def loaded(dsn: str) -> str:
    result = subprocess.run([sys.executable, "-m", "stormdb_tui", "setup", "-w", "simple", "--dsn", dsn],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    return dsn


def test_the_endpoint_serves_moving_counters_during_a_run(loaded: str, tmp_path: Path) -> None:
    port = _free_port()
    report = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-w", "simple", "--set", "script=mixed",
         "--dsn", loaded, "--duration", "8", "--workers", "2", "--interval", "0.5", "--pg-stats",
         "--metrics-port", str(port), "--report-json", str(report)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        scrapes: list[str] = []
        deadline = time.monotonic() + 60
        # Scrape until the run ends, keeping each scrape whose counters moved.
        while time.monotonic() < deadline and proc.poll() is None:
            text = _scrape(port)
            if text and _value(text, "stormdb_transactions_total"):
                if not scrapes or _value(text, "stormdb_transactions_total") != _value(scrapes[-1], "stormdb_transactions_total"):
                    scrapes.append(text)
            time.sleep(0.5)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len(scrapes) >= 3, f"fewer than three different scrapes during the run; stderr: {err}"
    first, second = scrapes[0], scrapes[-1]
    data = json.loads(report.read_text())
    run_id = data["run_id"]
    assert run_id and f"serving OpenMetrics on port {port}" in err
    labels = {"run_id": run_id, "workload": "simple"}
    assert _value(first, "stormdb_run_info", **labels) == 1.0
    a, b = _value(first, "stormdb_transactions_total", **labels), _value(second, "stormdb_transactions_total", **labels)
    assert a is not None and b is not None and b > a > 0
    for op in ("select-only", "tpcb-like"):
        assert (_value(second, "stormdb_operation_transactions_total", operation=op, **labels) or 0) > 0
        inf = _value(second, "stormdb_latency_seconds_bucket", operation=op, le="+Inf", **labels)
        count = _value(second, "stormdb_latency_seconds_count", operation=op, **labels)
        assert inf == count and count and count > 0
        # Cumulative buckets never go down with the bound.
        bounds = [_value(second, "stormdb_latency_seconds_bucket", operation=op, le=le, **labels)
                  for le in ("0.001", "0.01", "0.1", "1.0", "+Inf")]
        assert all(x is not None for x in bounds) and bounds == sorted(bounds)
    assert _value(second, "stormdb_latency_seconds_count", operation="*", **labels) == \
        _value(second, "stormdb_transactions_total", **labels)
    assert _value(second, "stormdb_errors_total", **labels) == 0.0
    assert _value(second, "stormdb_client_bound", **labels) in (0.0, 1.0)
    assert (_value(second, "stormdb_tps", **labels) or 0) > 0
    hit = _value(second, "stormdb_pg_cache_hit_ratio", **labels)
    assert hit is not None and 0 <= hit <= 1
    assert (_value(second, "stormdb_pg_connections", kind="ours", **labels) or 0) >= 2
    assert (_value(second, "stormdb_pg_max_connections", **labels) or 0) > 0
    assert "# TYPE stormdb_latency_seconds histogram" in second
    # After the run the counters stop at the report's totals.
    assert _value(second, "stormdb_transactions_total", **labels) <= data["summary"]["transactions"]


def test_a_taken_port_is_a_usage_error(loaded: str) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-w", "simple", "--dsn", loaded,
             "--duration", "1", "--metrics-port", str(port)],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )
    assert result.returncode == 2, result.stderr
    assert f"--metrics-port {port}: the port is already in use" in result.stderr
    assert "Traceback" not in result.stderr and "progress:" not in result.stderr


@pytest.mark.parametrize("value", ["0", "70000", "http"])
def test_a_bad_port_is_a_located_error(run_cli, value: str) -> None:
    result = run_cli("run", "--no-ui", "-w", "simple", "--duration", "1", "--metrics-port", value)
    assert result.returncode == 2
    assert "run.metrics_port" in result.stderr and "Traceback" not in result.stderr


def test_the_workbench_binds_the_port_before_it_starts(run_cli) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli("run", "-w", "simple", "--metrics-port", str(port))
    assert result.returncode == 2 and "the port is already in use" in result.stderr


def test_the_workbench_feeds_its_runs_to_the_sinks() -> None:
    from stormdb_tui.tui.session import run_session

    def sink(data) -> None:
        pass

    session = run_session(lambda: None, lambda message: None, (sink,))  # type: ignore[arg-type,return-value]
    assert session.hooks.sinks == (sink,)


def test_sweeps_refuse_the_port(run_cli) -> None:
    result = run_cli("sweep", "-w", "simple", "--values", "1,2", "--metrics-port", "9999")
    assert result.returncode == 2 and "serves one run" in result.stderr


def test_folding_into_prometheus_buckets_matches_a_walk_of_every_value() -> None:
    import bisect
    import random

    from stormdb_tui.frontends.metrics import LATENCY_BUCKETS_S, MetricsExporter
    from stormdb_tui.report.hdrlog import new_histogram

    rng = random.Random(7)
    values = [int(rng.lognormvariate(7, 1.5)) + 1 for _ in range(5000)] + [100, 1000, 250_000, 90_000_000]
    hist = new_histogram()
    for value in values:
        hist.record_value(value)
    counts, total = MetricsExporter._fold(hist)
    expected = [0] * (len(LATENCY_BUCKETS_S) + 1)
    for value in values:  # each value by its bucket's highest equivalent value, as documented
        top = hist.get_highest_equivalent_value(value)
        expected[bisect.bisect_left([round(b * 1e6) for b in LATENCY_BUCKETS_S], top)] += 1
    assert counts == expected and counts[-1] == 1  # 90 s is past the last bound
    assert total == pytest.approx(sum(values) / 1e6, rel=1e-3)
