"""``compare`` on synthetic reports: what differs, verdicts, the gate's rules and exit codes, every output format."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from compare_data import make_report, write

from stormdb_tui.errors import UsageError
from stormdb_tui.frontends.cli import main
from stormdb_tui.report.compare import build_comparison, evaluate_gate, load_side, parse_gate
from stormdb_tui.report.compare_html import comparison_html
from stormdb_tui.report.compare_md import comparison_markdown, comparison_text
from stormdb_tui.report.journal import Journal
from stormdb_tui.report.repeat import build_index, write_index


def rows(doc: dict, index: int = 0) -> dict[str, dict]:
    return {r["metric"]: r for r in doc["comparisons"][index]["metrics"]}


def test_slower_side_is_worse_and_same_side_within_noise(tmp_path):
    base = load_side(write(tmp_path / "a.json", make_report(seed=1)))
    same = load_side(write(tmp_path / "b.json", make_report(seed=2)))
    slow = load_side(write(tmp_path / "c.json", make_report(tps=600.0, p99=9.0, seed=3, commit_delay="1000")))
    doc = build_comparison([base, same, slow])
    first, second = rows(doc, 0), rows(doc, 1)
    assert first["tps"]["verdict"] == "within noise" and first["p99"]["verdict"] == "within noise"
    assert second["tps"]["verdict"] == "worse" and second["tps"]["change"] == pytest.approx(-0.4)
    assert second["p99"]["verdict"] == "worse" and second["p99"]["change"] == pytest.approx(1.25)
    assert second["select-only:p99"]["verdict"] == "worse"
    assert second["tps"]["method"] == "intervals" and not second["tps"]["weak"]
    assert first["wait:CPU"]["verdict"] == "within noise" and first["wait:CPU"]["direction"] == 0
    diff = {d["key"]: d for d in doc["differences"]}
    assert diff["server.settings.commit_delay"]["values"] == ["0", "0", "1000"]
    assert not doc["blocking"]
    assert [s["name"] for s in doc["sides"]] == ["a", "b", "c"]


def test_what_differs_comes_first_and_blocking_ones_lead(tmp_path):
    a = load_side(write(tmp_path / "a.json", make_report()))
    b_data = make_report(scale=10, settings={"work_mem": "64MB"})
    b_data["host"]["name"] = "ci-2"
    b_data["tool"]["version"] = "0.2.0"
    b = load_side(write(tmp_path / "b.json", b_data))
    doc = build_comparison([a, b])
    keys = [d["key"] for d in doc["differences"]]
    assert keys[0] == "workload.options.scale" and doc["blocking"][0]["values"] == ["1", "10"]
    assert {"server.settings.work_mem", "host.name", "tool.version"} <= set(keys)
    text = comparison_text(doc)
    assert text.index("what differs") < text.index("TPS")
    assert "client host name" in text and "(!)" in text


def test_repeat_folder_is_one_side_with_its_repetitions(tmp_path):
    folder = tmp_path / "base-x4"
    folder.mkdir()
    reps = []
    for i, tps in enumerate((1000.0, 1020.0, 990.0, 1010.0), start=1):
        write(folder / f"rep-0{i}.json", make_report(tps=tps, seed=i))
        reps.append({"index": i, "report": f"rep-0{i}.json", "status": "completed"})
    write_index(folder, build_index(workload="simple", requested=4, started_at=datetime.now(),
                                    repetitions=reps, status="completed"))
    other = tmp_path / "head-x4"
    other.mkdir()
    reps = []
    for i, tps in enumerate((800.0, 790.0, 810.0, 805.0), start=1):
        write(other / f"rep-0{i}.json", make_report(tps=tps, seed=10 + i))
        reps.append({"index": i, "report": f"rep-0{i}.json", "status": "completed"})
    write_index(other, build_index(workload="simple", requested=4, started_at=datetime.now(),
                                   repetitions=reps, status="completed"))
    a, b = load_side(folder), load_side(other)
    assert a.repeat and len(a.runs) == 4
    doc = build_comparison([a, b])
    tps = rows(doc)["tps"]
    assert tps["method"] == "repetitions" and tps["n_base"] == 4 and not tps["weak"]
    assert tps["verdict"] == "worse" and tps["high"] < 0
    assert "bootstrap over repetitions" in comparison_markdown(doc)


def test_not_a_repeat_folder_is_a_located_usage_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    a = write(tmp_path / "a.json", make_report())
    assert main(["compare", a, str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "empty" in err and "run --repeat" in err and "Traceback" not in err
    assert main(["compare", a, str(tmp_path / "missing.json")]) == 2
    assert "no such report file" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("{not json")
    assert main(["compare", a, str(tmp_path / "junk.json")]) == 2
    assert "junk.json:1" in capsys.readouterr().err
    assert main(["compare", a]) == 2
    assert "at least two" in capsys.readouterr().err


def test_a_journal_is_a_side(tmp_path):
    report = make_report(seed=5)
    header = {k: report[k] for k in ("server", "workload", "run", "target", "host")}
    journal = Journal(tmp_path / "crashed.journal.jsonl", {"started_at": report["started_at"], **header}, fsync=False)
    for item in report["intervals"][:20]:
        totals = {"elapsed_s": item["t_s"], "transactions": int(1000 * item["t_s"]), "errors": 0,
                  "latency_ms": item["latency_ms"], "operations": {}, "counters": {"queries": 7000 * int(item["t_s"])}}
        journal.append(item, totals)
    journal.close()
    side = load_side(tmp_path / "crashed.journal.jsonl")
    assert side.name == "crashed" and side.first["status"] == "crashed"
    doc = build_comparison([load_side(write(tmp_path / "a.json", make_report(seed=6))), side])
    assert rows(doc)["tps"]["verdict"] == "within noise"
    assert any("did not complete (crashed)" in w for w in doc["warnings"])


@pytest.mark.parametrize("rule, message", [
    ("tps<-5", "needs a % sign"),
    ("tps<=-5%", "use < or >"),
    ("tsp<-5%", "unknown figure 'tsp'"),
    ("tps<-5%,,p99>+10%", "rule 2 ('', column 9): empty rule"),
    ("tps<-5%,p99>+10x", "rule 2 ('p99>+10x', column 9)"),
    ("new_order:qps>+5%", "not a per-operation figure"),
    ("", "no rules given"),
])
def test_malformed_rules_are_located(rule, message):
    with pytest.raises(UsageError) as info:
        parse_gate(rule)
    assert message in str(info.value)


def test_rules_parse():
    rules = parse_gate("tps<-5%, p99>+10% ,new_order:p95>+10%,p99.9>20%,errors>+0.5%")
    assert [(r.key, r.cmp, r.threshold) for r in rules] == [
        ("tps", "<", -0.05), ("p99", ">", 0.10), ("new_order:p95", ">", 0.10), ("p99_9", ">", 0.20),
        ("errors", ">", 0.005)]


def test_gate_breaks_only_beyond_noise(tmp_path):
    a = load_side(write(tmp_path / "a.json", make_report(seed=1)))
    noisy = load_side(write(tmp_path / "n.json", make_report(tps=900.0, seed=2, sd=0.6)))  # -10 %, wild intervals
    slow = load_side(write(tmp_path / "s.json", make_report(tps=900.0, seed=3)))  # -10 %, steady intervals
    rules = parse_gate("tps<-5%")
    doc = build_comparison([a, noisy, slow])
    gate = evaluate_gate(doc, rules)
    by_other = {c["other"]: c for c in gate["checks"]}
    assert by_other["n"]["past_threshold"] and not by_other["n"]["broken"]  # past -5 %, but within noise
    assert by_other["s"]["broken"]
    assert not gate["passed"] and [c["other"] for c in gate["broken"]] == ["s"]
    with pytest.raises(UsageError, match="no operation 'new_order'.*select-only"):
        evaluate_gate(doc, parse_gate("new_order:p95>+10%"))


def test_cli_exit_codes_and_outputs(tmp_path, capsys):
    a = write(tmp_path / "base.json", make_report(seed=1))
    b = write(tmp_path / "same.json", make_report(seed=2))
    c = write(tmp_path / "slow.json", make_report(tps=500.0, p99=10.0, seed=3))
    md, js, page = tmp_path / "out.md", tmp_path / "out.json", tmp_path / "out.html"
    assert main(["compare", a, b, "--fail-on", "tps<-5%,p99>+10%,select-only:p95>+10%"]) == 0
    out = capsys.readouterr()
    assert "gate passed" in out.err and "within noise" in out.out
    assert main(["compare", a, c, "--fail-on", "tps<-5%,p99>+10%", "--markdown", str(md), "--json", str(js),
                 "--html", str(page)]) == 1
    out = capsys.readouterr()
    assert "gate: tps<-5% broken" in out.err and "gate: p99>+10% broken" in out.err
    text = md.read_text()
    assert "**Gate failed**" in text and "| TPS | 1,000 tx/s | 500.0 tx/s | -50.0 % |" in text
    doc = json.loads(js.read_text())
    assert doc["gate"]["passed"] is False and doc["comparisons"][0]["other"] == "slow"
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "Gate failed" in html
    assert "<script" not in html and "src=" not in html and "href=" not in html  # nothing fetched
    assert main(["compare", a, c, "--fail-on", "tps<-5"]) == 2
    assert "needs a % sign" in capsys.readouterr().err
    assert main(["compare", a, c, "--min-effect", "lots"]) == 2
    capsys.readouterr()


def test_different_scale_needs_force(tmp_path, capsys):
    a = write(tmp_path / "a.json", make_report())
    b = write(tmp_path / "b.json", make_report(scale=10))
    c = write(tmp_path / "c.json", make_report(workload="tpcc"))
    assert main(["compare", a, b]) == 2
    err = capsys.readouterr().err
    assert "workload option scale: 1 vs 10" in err and "--force" in err
    assert main(["compare", a, c, "-q"]) == 2
    assert "workload: simple vs tpcc" in capsys.readouterr().err
    assert main(["compare", a, b, "--force", "-q"]) == 0


def test_html_escapes_names(tmp_path):
    data = make_report()
    data["server"]["settings"]["application_name"] = "<script>alert(1)</script>"
    a = load_side(write(tmp_path / "a.json", make_report()))
    b = load_side(write(tmp_path / "b.json", data))
    page = comparison_html(build_comparison([a, b]))
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_same_inputs_same_document(tmp_path):
    a = load_side(write(tmp_path / "a.json", make_report(seed=1)))
    b = load_side(write(tmp_path / "b.json", make_report(tps=990.0, seed=2)))
    one, two = build_comparison([a, b], seed=7), build_comparison([a, b], seed=7)
    assert one["comparisons"] == two["comparisons"]
