"""HdrHistogram interval logs: read back by readers that are not ours, they agree with the report.

Two independent readers check every log: the ``hdrh`` package's own
``HistogramLogReader``, and a decoder written here from the published format
(base64, the V2 compressed cookie, zlib, ZigZag LEB128 counts) that shares
no code with the writer. Real runs against the test server provide the logs;
``merge`` is checked against histograms added by that decoder.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import struct
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

import pytest

from stormdb_tui.errors import ConfigError
from stormdb_tui.report.hdrlog import (
    HdrLogWriter,
    hdr_log_path,
    merge_logs,
    new_histogram,
    read_log,
    summarize,
    tag_for,
)

ROOT = Path(__file__).resolve().parent.parent
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99_9": 99.9}


# -- an independent decoder, from the HdrHistogram log and encoding specifications -------------------


class Decoded:
    """A decoded V2 histogram: its settings and its counts array, plus the index arithmetic."""

    def __init__(self, payload_b64: str) -> None:
        raw = base64.b64decode(payload_b64)
        cookie, length = struct.unpack(">ii", raw[:8])
        assert cookie & ~0xF0 == 0x1C849304, hex(cookie)  # V2 compressed encoding
        inner = zlib.decompress(raw[8 : 8 + length])
        (cookie2, payload_len, self.offset, self.digits, self.lowest, self.highest, self.ratio) = struct.unpack(
            ">iiiiqqd", inner[:40]
        )
        assert cookie2 & ~0xF0 == 0x1C849303, hex(cookie2)  # V2 encoding
        self.counts: dict[int, int] = {}
        data, pos, index = inner[40 : 40 + payload_len], 0, 0
        while pos < len(data):
            value, shift = 0, 0
            while True:  # LEB128, at most 9 bytes for 64 bits
                byte = data[pos]
                pos += 1
                value |= (byte & 0x7F) << shift if shift < 56 else byte << shift
                if byte & 0x80 == 0 or shift >= 56:
                    break
                shift += 7
            value = (value >> 1) ^ -(value & 1)  # ZigZag
            if value < 0:
                index += -value  # a run of empty buckets
            else:
                if value:
                    self.counts[index] = value
                index += 1
        largest = 2 * 10**self.digits
        self.sub_bucket_count = 2 ** math.ceil(math.log2(largest))
        self.half_magnitude = int(math.log2(self.sub_bucket_count)) - 1
        self.half = self.sub_bucket_count // 2
        self.unit = int(math.floor(math.log2(self.lowest)))

    def value_range(self, index: int) -> tuple[int, int]:
        """(lowest, highest) value equivalent to the bucket at ``index``."""
        bucket = (index >> self.half_magnitude) - 1
        sub = (index & (self.half - 1)) + self.half
        if bucket < 0:
            sub -= self.half
            bucket = 0
        low = sub << (bucket + self.unit)
        return low, low + (1 << (bucket + self.unit)) - 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, other: Decoded) -> None:
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count

    def percentile_us(self, p: float) -> int:
        target = max(int(p * self.total / 100 + 0.5), 1)
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= target:
                return self.value_range(index)[1]
        raise AssertionError("rank beyond the histogram")

    def max_us(self) -> int:
        return self.value_range(max(self.counts))[1] if self.counts else 0


def parse_log(path: str | Path) -> dict[str, object]:
    """Header facts and every interval line, from the text alone."""
    start = base = None
    legend = False
    lines: list[tuple[str | None, float, float, float, Decoded]] = []
    for raw in Path(path).read_text().splitlines():
        if raw.startswith("#[StartTime: "):
            start = float(raw.split()[1])
        elif raw.startswith("#[BaseTime: "):
            base = float(raw.split()[1])
        elif raw == '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"':
            legend = True
        elif raw and not raw.startswith("#"):
            tag = None
            if raw.startswith("Tag="):
                tag, raw = raw[4:].split(",", 1)
            stamp, length, max_ms, payload = raw.split(",")
            lines.append((tag, float(stamp), float(length), float(max_ms), Decoded(payload)))
    return {"start": start, "base": base, "legend": legend, "lines": lines}


def totals(parsed: dict[str, object]) -> dict[str | None, Decoded]:
    """Every tag's lines added into a new histogram (the parsed lines stay as they were)."""
    out: dict[str | None, Decoded] = {}
    for tag, _, _, _, hist in parsed["lines"]:  # type: ignore[attr-defined]
        if tag in out:
            out[tag].add(hist)
        else:
            out[tag] = copy.deepcopy(hist)
    return out


def close_to(ms: float, us: int) -> bool:
    """A report percentile (ms, 3 decimals) equals the decoded one within the histogram's precision."""
    return abs(ms * 1000 - us) <= max(1.0, us * 1e-3)


# -- the format, on histograms made here -------------------------------------------------------------


def _hist(values):
    hist = new_histogram()
    for value, count in Counter(values).items():
        hist.record_value(value, count)
    return hist


def test_writer_output_is_the_standard_format_and_both_readers_agree(tmp_path: Path) -> None:
    path = tmp_path / "x.hlog"
    writer = HdrLogWriter(path, comment="test log")
    writer.start(1_700_000_000.25)
    a = _hist([100, 200, 300, 5000] * 50)
    b = _hist([1500, 2500, 90_000])
    both = new_histogram()
    both.add(a)
    both.add(b)
    writer.write(0.0, 1.0, {"new order": a, "pay,ment": b, "*": both})
    writer.write(1.0, 1.0, {"new order": a, "*": a})
    writer.close()
    text = path.read_text().splitlines()
    assert text[0] == "#[test log]"
    assert "#[Histogram log format version 1.3]" in text
    assert any(t.startswith("#[StartTime: 1700000000.250 (seconds since epoch), ") for t in text)
    assert "#[BaseTime: 1700000000.250 (seconds since epoch)]" in text
    body = [t for t in text if not t.startswith("#") and not t.startswith('"')]
    # One line per tag per interval: the untagged overall line, then each operation (tags sanitised).
    assert [t.split(",")[0] for t in body] == ["0.000", "Tag=new_order", "Tag=pay_ment", "1.000", "Tag=new_order",
                                               "Tag=pay_ment"]
    assert body[0].split(",")[2] == "90.047"  # Interval_Max in ms: 90000 µs's highest equivalent value

    parsed = parse_log(path)
    assert parsed["legend"] and parsed["start"] == parsed["base"] == 1_700_000_000.25
    got = totals(parsed)
    assert got[None].total == 2 * 200 + 3 + 0 and got["new_order"].total == 400 and got["pay_ment"].total == 3
    assert got["pay_ment"].percentile_us(50) == b.get_value_at_percentile(50)

    from hdrh.log import HistogramLogReader

    reader = HistogramLogReader(str(path), new_histogram())
    seen = []
    while True:
        hist = reader.get_next_interval_histogram()
        if hist is None:
            break
        seen.append((hist.get_tag(), hist.get_total_count(), hist.get_start_time_stamp()))
    reader.close()
    assert [(t, n) for t, n, _ in seen] == [(None, 203), ("new_order", 200), ("pay_ment", 3),
                                            (None, 200), ("new_order", 200), ("pay_ment", 0)]
    assert seen[3][2] == pytest.approx(1_700_000_001.25 * 1000)  # absolute ms: BaseTime + the interval start

    ours = read_log(path)
    assert [e.tag for e in ours.intervals][:3] == [None, "new_order", "pay_ment"]
    assert ours.intervals[3].start_s == pytest.approx(1.0)
    assert summarize(ours.totals()[None])["count"] == 403


def test_tags_and_paths() -> None:
    assert tag_for("a b,c=d") == "a_b_c_d"
    assert tag_for("x y", taken=["x_y"]) == "x_y_2"
    assert hdr_log_path({"json": "/r/run.json"}, "/runs/x.hlog") == "/r/run.hlog"
    assert hdr_log_path({"html": "/r/page.html"}, "/runs/x.hlog") == "/r/page.hlog"
    assert hdr_log_path({}, "/runs/x.hlog") == "/runs/x.hlog"
    assert hdr_log_path({"hdr_log": "off", "json": "/r/run.json"}, "/runs/x.hlog") is None
    assert hdr_log_path({"hdr_log": "/elsewhere/l.hlog"}, "/runs/x.hlog") == "/elsewhere/l.hlog"


def test_bad_logs_are_located_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.hlog"
    junk.write_text("hello\n")
    with pytest.raises(ConfigError, match=r"junk.hlog:1: not an HdrHistogram interval line"):
        read_log(junk)
    damaged = tmp_path / "damaged.hlog"
    damaged.write_text('#[StartTime: 1.000 (seconds since epoch), x]\n0.000,1.000,0.000,HISTFAAAAnotbase64!!\n')
    with pytest.raises(ConfigError, match=r"damaged.hlog:2: unreadable interval line"):
        read_log(damaged)
    empty = tmp_path / "empty.hlog"
    empty.write_text("")
    with pytest.raises(ConfigError, match="not an HdrHistogram log"):
        read_log(empty)
    with pytest.raises(ConfigError, match="no such HdrHistogram log"):
        read_log(tmp_path / "missing.hlog")


def test_merge_adds_histograms_and_never_averages_percentiles(tmp_path: Path) -> None:
    fast = _hist([100] * 990 + [200] * 10)
    slow = _hist([10_000] * 100)
    paths = []
    for name, hist, start in (("a", fast, 1000.0), ("b", slow, 1000.4)):
        writer = HdrLogWriter(tmp_path / f"{name}.hlog")
        writer.start(start)
        writer.write(0.0, 1.0, {"op": hist, "*": hist})
        writer.close()
        paths.append(writer.path)
    merged = merge_logs([read_log(p) for p in paths])
    out = merged.write(tmp_path / "m.hlog")
    figures = merged.summary()
    assert figures["*"]["count"] == figures["op"]["count"] == 1100
    # p50 of the added histogram is the fast population; an average of the two p50s would be ~5 ms.
    assert figures["*"]["p50"] == 0.1
    assert figures["*"]["p95"] == pytest.approx(10.007, abs=0.001)
    decoded = totals(parse_log(out))
    assert decoded[None].total == 1100 and decoded["op"].total == 1100
    assert close_to(figures["op"]["p99"], decoded["op"].percentile_us(99))
    assert len(merged.intervals) == 1 and merged.intervals[0][0] == 0.0


# -- real runs ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_runs(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two short real runs of a two-operation mix, each with its JSON report and interval log."""
    folder = tmp_path_factory.mktemp("hdrlog")
    setup = subprocess.run([sys.executable, "-m", "stormdb_tui", "setup", "-w", "simple", "--dsn", dsn],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert setup.returncode == 0, setup.stderr
    reports = []
    for name in ("a", "b"):
        report = folder / f"{name}.json"
        result = subprocess.run(
            [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-w", "simple", "--set", "script=mixed",
             "--dsn", dsn, "--duration", "2", "--workers", "2", "--interval", "0.5", "--report-json", str(report)],
            capture_output=True, text=True, cwd=ROOT, timeout=120, env=_env(folder),
        )
        assert result.returncode == 0, result.stderr
        assert f"interval log written to {folder / (name + '.hlog')}" in result.stderr
        reports.append(report)
    return reports


def _env(folder: Path) -> dict[str, str]:
    import os

    return dict(os.environ, STORMDB_RUNS_DIR=str(folder / "runs"))


def test_a_runs_log_read_back_independently_matches_its_report(two_runs: list[Path]) -> None:
    data = json.loads(two_runs[0].read_text())
    log = data["hdr_log"]
    assert log["path"] == str(two_runs[0].with_suffix(".hlog")) and log["unit"] == "us"
    assert set(log["tags"]) == set(data["operations"]) == {"select-only", "tpcb-like"}
    parsed = parse_log(log["path"])
    # One line per tag per interval, stamped like the report's intervals.
    by_tag = Counter(tag for tag, *_ in parsed["lines"])
    assert by_tag[None] == len(data["intervals"]) == log["intervals"]
    starts = [round(stamp + length, 1) for tag, stamp, length, _, _ in parsed["lines"] if tag is None]
    assert starts == [round(iv["t_s"], 1) for iv in data["intervals"]]
    got = totals(parsed)
    assert got[None].total == data["summary"]["transactions"]
    for key, p in PERCENTILES.items():
        assert close_to(data["summary"]["latency_ms"][key], got[None].percentile_us(p)), key
    assert close_to(data["summary"]["latency_ms"]["max"], got[None].max_us())
    for label, op in data["operations"].items():
        hist = got[log["tags"][label]]
        assert hist.total == op["count"], label
        for key, p in PERCENTILES.items():
            assert close_to(op["latency_ms"][key], hist.percentile_us(p)), (label, key)
    from stormdb_tui.report.model import Report

    assert f"`{log['path']}` (HdrHistogram interval log" in Report(data).to_markdown()
    # Per interval too: the untagged lines hold each interval's own count.
    counts = [h.total for tag, _, _, _, h in parsed["lines"] if tag is None]
    assert counts == [iv["transactions"] for iv in data["intervals"]]

    from hdrh.log import HistogramLogReader

    reader = HistogramLogReader(log["path"], new_histogram())
    overall = new_histogram()
    while True:
        hist = reader.get_next_interval_histogram()
        if hist is None:
            break
        if hist.get_tag() is None:
            overall.add(hist)
    reader.close()
    assert overall.get_total_count() == data["summary"]["transactions"]
    assert close_to(data["summary"]["latency_ms"]["p99"], overall.get_value_at_percentile(99))


def test_merge_of_two_real_runs(two_runs: list[Path], run_cli, tmp_path: Path) -> None:
    out = tmp_path / "merged.hlog"
    result = run_cli("merge", *map(str, two_runs), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    reports = [json.loads(p.read_text()) for p in two_runs]
    assert figures["tags"]["*"]["count"] == sum(r["summary"]["transactions"] for r in reports)
    for label in ("select-only", "tpcb-like"):
        assert figures["tags"][label]["count"] == sum(r["operations"][label]["count"] for r in reports)
    # The merged percentiles are those of the two runs' histograms added by the independent decoder.
    added: dict[str | None, Decoded] = {}
    for r in reports:
        for tag, hist in totals(parse_log(r["hdr_log"]["path"])).items():
            if tag in added:
                added[tag].add(hist)
            else:
                added[tag] = hist
    for tag, hist in added.items():
        row = figures["tags"]["*" if tag is None else tag]
        for key, p in PERCENTILES.items():
            assert close_to(row[key], hist.percentile_us(p)), (tag, key)
    written = totals(parse_log(out))
    assert {t: h.total for t, h in written.items()} == {t: h.total for t, h in added.items()}
    text = run_cli("merge", str(two_runs[0].with_suffix(".hlog")), str(two_runs[1]))
    assert text.returncode == 0 and "merged 2 logs" in text.stdout and text.stdout.splitlines()[2].startswith("all")


def test_merge_bad_input_exits_2(run_cli, tmp_path: Path) -> None:
    bogus = tmp_path / "r.json"
    bogus.write_text(json.dumps({"schema_version": 1, "status": "completed", "workload": {}, "run": {},
                                 "summary": {}, "operations": {}}))
    result = run_cli("merge", str(bogus))
    assert result.returncode == 2 and "names no HdrHistogram interval log" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_cli("merge", str(tmp_path / "nope.hlog"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_session_sinks_get_each_intervals_histograms(dsn: str, tmp_path: Path) -> None:
    """In-process: sinks see every interval with its histograms; one that raises is dropped, the run goes on."""
    from stormdb_tui.config import build_config
    from stormdb_tui.engine.plan import make_plan
    from stormdb_tui.engine.session import Hooks, RunSession
    from stormdb_tui.registry import discover

    cfg = build_config({
        "workload": {"name": "simple", "script": "mixed"},
        "run": {"workers": 2, "duration": 2, "warmup": 0.5},
        "metrics": {"interval": 0.5},
        "report": {"json": str(tmp_path / "r.json"), "hdr_log": str(tmp_path / "elsewhere" / "x.hlog")},
    })
    plan = make_plan(cfg, dsn=dsn, registry=discover())
    seen: list[tuple[str, int, int, set[str]]] = []
    notices: list[str] = []

    def good(data) -> None:
        counts = {k: h.get_total_count() for k, h in data.histograms.items()}
        seen.append((data.run_id, data.sample.transactions, counts["*"], set(counts)))

    def bad(data) -> None:
        raise RuntimeError("exporter down")

    session = RunSession(plan, Hooks(sinks=(bad, good), notice=notices.append))
    outcome = session.execute()
    assert outcome.exit_code == 0, outcome.error
    report = outcome.report.data
    assert len(seen) == len(report["intervals"]) >= 4
    assert all(run_id == report["run_id"] == session.run_id for run_id, *_ in seen)
    assert all(tx == total for _, tx, total, _ in seen)  # the overall histogram is the interval's count
    assert {"select-only", "tpcb-like", "*"} <= set().union(*(labels for *_, labels in seen))
    assert sum(tx for _, tx, _, _ in seen) == report["summary"]["transactions"]
    assert any("an interval exporter failed (RuntimeError: exporter down)" in n for n in notices)
    assert report["hdr_log"]["path"] == str(tmp_path / "elsewhere" / "x.hlog")
    parsed = parse_log(report["hdr_log"]["path"])
    first = next(line for line in parsed["lines"] if line[0] is None)
    assert first[1] == 0.0  # stamped from the measured start: the warm-up is not in the log
    assert totals(parsed)[None].total == report["summary"]["transactions"]


def _hdrhistogram_jar() -> str | None:
    import glob
    import shutil

    if shutil.which("java") is None:
        return None
    found = sorted(glob.glob(str(Path.home() / ".m2/repository/org/hdrhistogram/HdrHistogram/*/HdrHistogram-*.jar")))
    found += glob.glob("/usr/share/java/HdrHistogram*.jar")  # Debian's libhdrhistogram-java
    return found[-1] if found else None


JAR = _hdrhistogram_jar()


@pytest.mark.skipif(JAR is None, reason="no java with HdrHistogram's jar (apt-get install libhdrhistogram-java)")
def test_hdrhistograms_own_log_processor_reads_the_log(two_runs: list[Path], tmp_path: Path) -> None:
    """The Java HistogramLogProcessor, HdrHistogram's reference tool, agrees with the report."""
    import re

    data = json.loads(two_runs[0].read_text())
    log = data["hdr_log"]["path"]
    for tag, figures in [(None, data["summary"] | {"count": data["summary"]["transactions"]}),
                         *((data["hdr_log"]["tags"][label], op) for label, op in data["operations"].items())]:
        out = tmp_path / f"out-{tag or 'all'}"
        result = subprocess.run(
            ["java", "-cp", str(JAR), "org.HdrHistogram.HistogramLogProcessor", "-i", log,
             "-outputValueUnitRatio", "1000", "-o", str(out), *(["-tag", tag] if tag else [])],
            capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        summary = Path(f"{out}.hgrm").read_text()
        mean, stddev = map(float, re.search(r"Mean\s+=\s+([\d.]+), StdDeviation\s+=\s+([\d.]+)", summary).groups())
        top, count = re.search(r"Max\s+=\s+([\d.]+), Total count\s+=\s+(\d+)", summary).groups()
        lat = figures["latency_ms"]
        assert int(count) == figures["count"], tag
        assert (float(top), mean, stddev) == (lat["max"], lat["mean"], lat["stddev"]), tag
        if tag is None:
            intervals = [int(n) for n in re.findall(r" I:(\d+) ", out.read_text())]
            assert intervals == [iv["transactions"] for iv in data["intervals"]]



def test_hdr_log_off_writes_none(two_runs: list[Path], dsn: str, run_cli, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = run_cli("run", "--no-ui", "-q", "-w", "simple", "--dsn", dsn, "--duration", "1", "--workers", "1",
                     "--report-json", str(report), "--hdr-log", "off")
    assert result.returncode == 0, result.stderr
    assert "hdr_log" not in json.loads(report.read_text())
    assert not (tmp_path / "r.hlog").exists() and "interval log" not in result.stderr
