"""Sweeps: step generation, the USL fit, SLO rules, and real sweeps, rate searches and ramps against the server."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from stormdb_tui.engine.sweep import step_values
from stormdb_tui.errors import UsageError
from stormdb_tui.report.slo import parse_slo
from stormdb_tui.report.sweep import sweep_markdown
from stormdb_tui.report.usl import fit_usl, usl

HERE = Path(__file__).resolve().parent


# -- step generation ------------------------------------------------------------------


def test_step_values_strategies():
    assert step_values("linear", 1, 4) == [1, 2, 3, 4]
    assert step_values("linear", 10, 100, 4) == [10, 40, 70, 100]
    assert step_values("exponential", 1, 20) == [1, 2, 4, 8, 16, 20]
    assert step_values("exponential", 3, 24, factor=2) == [3, 6, 12, 24]
    assert step_values("fibonacci", 1, 21) == [1, 2, 3, 5, 8, 13, 21]
    assert step_values("fibonacci", 4, 30) == [4, 5, 8, 13, 21, 30]
    assert step_values("exponential", 1, 64, 3) == [1, 2, 4]
    with pytest.raises(UsageError):
        step_values("linear", 5, 1)
    with pytest.raises(UsageError):
        step_values("spiral", 1, 5)


# -- the USL fit ---------------------------------------------------------------------


def test_usl_fit_recovers_known_parameters():
    rng = random.Random(3)
    ns = [1, 2, 4, 8, 12, 16, 24, 32, 48]
    lam, sigma, kappa = 1200.0, 0.04, 0.0015
    xs = [usl(n, lam, sigma, kappa) * (1 + rng.uniform(-0.02, 0.02)) for n in ns]
    fit = fit_usl(ns, xs)
    assert fit is not None
    assert fit.lam == pytest.approx(lam, rel=0.05)
    assert fit.sigma == pytest.approx(sigma, abs=0.015)
    assert fit.kappa == pytest.approx(kappa, rel=0.3)
    assert fit.r2 > 0.99
    assert fit.peak_n == pytest.approx(math.sqrt((1 - sigma) / kappa), rel=0.15)


def test_usl_fit_without_retrograde_has_no_peak():
    ns = [1, 2, 4, 8, 16]
    fit = fit_usl(ns, [usl(n, 500, 0.2, 0.0) for n in ns])
    assert fit is not None and fit.kappa < 1e-6 and fit.peak_n is None
    assert fit.sigma == pytest.approx(0.2, abs=0.01)


def test_usl_fit_needs_three_levels():
    assert fit_usl([1, 2], [100, 190]) is None
    assert fit_usl([1, 1, 2], [100, 110, 190]) is None


def test_markdown_draws_the_fit():
    steps = [{"index": i, "value": float(n), "report": {}, "status": "completed", "error": None,
              "figures": {"tps": usl(n, 1000, 0.05, 0.01), "latency_ms": {"p99": 1.0 + n}, "errors": 0,
                          "error_rate": 0.0}} for i, n in enumerate((1, 2, 4, 8, 16))]
    from stormdb_tui.report.sweep import build_sweep_document

    doc = build_sweep_document(setting="run.workers", strategy="list", steps=steps, started_at="t0",
                               ended_at="t1", status="completed")
    assert doc["usl"]["peak_concurrency"] == pytest.approx(math.sqrt(0.95 / 0.01), rel=0.05)
    md = sweep_markdown(doc)
    assert "N* = sqrt((1−σ)/κ)" in md and "measured (o) and the USL fit" in md
    chart = md.split("```")[1]
    assert "\x1b" not in chart and len(chart.splitlines()) >= 15


# -- SLO rules -------------------------------------------------------------------------


def test_slo_parse_and_check():
    slo = parse_slo("p99<20ms, p99.9<=0.1s, errors<0.1%, tps>=100")
    assert [(r.metric, r.op, r.threshold) for r in slo.rules] == [
        ("p99", "<", 20.0), ("p99_9", "<=", 100.0), ("error_rate", "<", 0.001), ("tps", ">=", 100.0)]
    good = {"latency_ms": {"p99": 12.0, "p99_9": 80.0}, "error_rate": 0.0, "tps": 150.0}
    assert slo.check(good)[0]
    bad = {**good, "latency_ms": {"p99": 25.0, "p99_9": 80.0}}
    met, details = slo.check(bad)
    assert not met and [d["ok"] for d in details] == [False, True, True, True]
    # No p99 measured is no evidence: the rule fails.
    assert not slo.check({"latency_ms": {}, "error_rate": 0.0, "tps": 150.0})[0]


@pytest.mark.parametrize("text", ["p99", "p99<fast", "latency<5ms", "p99<5parsecs", "errors<5ms", ""])
def test_slo_bad_rules(text):
    with pytest.raises(UsageError):
        parse_slo(text)


# -- real sweeps --------------------------------------------------------------------------


def _doc(tmp_path):
    return json.loads((tmp_path / "s.json").read_text())


def test_worker_sweep_cli(run_cli, dsn, tmp_path):
    proc = run_cli("sweep", "--dsn", dsn, "-w", "simple", "--set", "script=select-only", "--values", "1,2,3",
                   "-T", "1s", "--step-warmup", "0.3s", "--report-json", str(tmp_path / "s.json"),
                   "--report-md", str(tmp_path / "s.md"), timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("step ") >= 3
    doc = _doc(tmp_path)
    assert doc["kind"] == "sweep" and doc["setting"] == "run.workers" and doc["values"] == [1, 2, 3]
    for step, workers in zip(doc["steps"], (1, 2, 3), strict=True):
        assert step["report"]["schema_version"] and step["report"]["run"]["workers"] == workers
        assert step["figures"]["tps"] > 0 and step["figures"]["latency_ms"]["p99"] is not None
        assert step["figures"]["cache_hit_ratio"] is not None  # server figures are on for sweeps
    usl_fit = doc["usl"]
    assert usl_fit is not None and usl_fit["points"] == 3 and usl_fit["lambda"] > 0
    md = (tmp_path / "s.md").read_text()
    assert "| step | run.workers |" in md and "Universal Scalability Law" in md and "o measured" in md


def test_find_rate_bounds_the_answer(run_cli, dsn, tmp_path):
    # A throughput ceiling as the rule makes the boundary known (about 600/s) whatever the machine's load.
    proc = run_cli("sweep", "--dsn", dsn, "-w", "simple", "--set", "script=select-only", "-j", "2", "--find-rate",
                   "--slo", "p99<2s,tps<600", "--start-rate", "150", "--tolerance", "0.3", "-T", "1s",
                   "--report-json", str(tmp_path / "s.json"), timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = _doc(tmp_path)
    found = doc["find_rate"]
    assert found["rate"] is not None
    passed, failed = doc["steps"][found["pass_step"]], doc["steps"][found["fail_step"]]
    assert passed["slo_met"] is True and failed["slo_met"] is False
    assert passed["value"] == found["rate"] < failed["value"]
    assert (failed["value"] - passed["value"]) / passed["value"] <= 0.3
    assert 300 <= found["rate"] <= 800
    for step in doc["steps"]:
        assert step["report"]["run"]["model"] == "open" and step["report"]["run"]["rate"] == step["value"]


def test_find_rate_needs_an_slo(run_cli, dsn):
    proc = run_cli("sweep", "--dsn", dsn, "-w", "simple", "--find-rate")
    assert proc.returncode == 2 and "--slo" in proc.stderr


def test_recall_sweep_rises_with_ef_search(run_cli, dsn, tmp_path):
    proc = run_cli("sweep", "--dsn", dsn, "-w", "vector", "--set", "rows=3000", "--set", "dimensions=16",
                   "--set", "m=4", "--set", "ef_construction=8", "--recall", "--values", "1,8,64",
                   "--recall-samples", "100", "--min-recall", "0.5", "-T", "1s", "-j", "1",
                   "--report-json", str(tmp_path / "s.json"), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = _doc(tmp_path)
    assert doc["setting"] == "workload.ef_search"
    recalls = [s["figures"]["recall_at_k"] for s in doc["steps"]]
    assert all(r is not None for r in recalls)
    assert recalls[0] < recalls[-1], recalls
    for step in doc["steps"]:
        assert set(step["report"]["workload"]["options"]["weights"]) == {"knn_search"}
    assert doc["recall"]["threshold"] == 0.5
    assert "Recall against throughput" in sweep_markdown(doc)


def test_progressive_section_drives_the_sweep(run_cli, dsn, tmp_path):
    proc = run_cli("sweep", "-c", str(HERE / "stormdb_configs" / "progressive.yaml"), "--dsn", dsn, "-T", "1s",
                   "--report-json", str(tmp_path / "s.json"), timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = _doc(tmp_path)
    assert doc["strategy"] == "exponential" and doc["values"] == [1, 2, 4]
    assert [s["report"]["run"]["warmup_s"] for s in doc["steps"]] == [1.0, 1.0, 1.0]
    assert [s["report"]["run"]["connections"] for s in doc["steps"]] == [1, 2, 4]


def test_sweep_without_values_is_a_usage_error(run_cli, dsn):
    proc = run_cli("sweep", "--dsn", dsn, "-w", "simple")
    assert proc.returncode == 2 and "--values" in proc.stderr


def test_ramp_starts_workers_one_by_one(run_cli, dsn, tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("run", "--no-ui", "-q", "--dsn", dsn, "-w", "simple", "--set", "script=select-only", "-j", "4",
                   "--think-time", "10ms", "-T", "1.6s", "--set", "run.ramp=1.2s", "--report-json", str(out))
    assert proc.returncode == 0, proc.stderr
    workers = {w["id"]: w["transactions"] for w in json.loads(out.read_text())["workers"]}
    # Worker 3 starts 0.9 s after worker 0, so it runs well under half as long.
    assert workers[3] < 0.75 * workers[0], workers
    assert workers[1] > workers[3] and workers[2] > workers[3]


def test_tutorial_commands_parse():
    """The shell commands the capacity tutorial shows are valid for this version of the CLI."""
    import shlex

    from stormdb_tui.frontends.cli import build_parser, request_from_args
    from stormdb_tui.frontends.sweep import build_spec

    text = (HERE.parent / "demos" / "07-capacity.md").read_text()
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("stormdb-tui sweep ")]
    assert len(commands) >= 3
    for command in commands:
        argv = shlex.split(command)[1:]
        args = build_parser().parse_args(argv)
        args.plugin_path = []
        spec = build_spec(args, request_from_args(args))
        assert spec is not None and (spec.values or spec.key == "run.rate"), command


@pytest.mark.tui
def test_sweep_screen_shows_each_step_and_the_fit(dsn):
    import asyncio

    from stormdb_tui.engine.plan import RunRequest
    from stormdb_tui.engine.sweep import SweepSpec
    from stormdb_tui.tui.screens.sweep import SweepApp, SweepScreen

    request = RunRequest(overrides=(("workload.name", "simple"), ("workload.script", "select-only"),
                                    ("run.duration", 1)), dsn=dsn)
    screen = SweepScreen(request, SweepSpec("workers", (1, 2, 3)))
    app = SweepApp(screen)

    async def drive() -> None:
        async with app.run_test() as pilot:
            for _ in range(600):
                if screen.doc is not None:
                    break
                await pilot.pause(0.1)
            assert screen.doc is not None and screen.doc["status"] == "completed"
            from textual.widgets import DataTable, Static

            assert screen.query_one(DataTable).row_count == 3
            verdict = str(screen.query_one("#sweep-verdict", Static).render())
            assert "USL" in verdict and "R²" in verdict

    asyncio.run(drive())
