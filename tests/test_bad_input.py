"""Bad input: every broken config exits 2 with one located line; parsers never raise anything else."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stderr
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stormdb_tui.config import parse_config
from stormdb_tui.errors import ConfigError
from stormdb_tui.frontends.cli import main
from stormdb_tui.options import parse_duration, parse_size

CORPUS = sorted((Path(__file__).parent / "bad_configs").glob("*.yaml"))


def _expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    match = re.match(r"# expect: (.*)", first)
    assert match, f"{path.name} needs an '# expect:' first line"
    return match.group(1)


def _run(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(list(args))
    return code, err.getvalue()


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_broken_config_exits_2_with_located_message(path):
    chooses_workload = "workload" in path.read_text().split("\n", 1)[1]
    extra = () if chooses_workload else ("--workload", "simple")
    code, err = _run("run", "--no-ui", "-c", str(path), *extra, "--dsn", "host=/nonexistent")
    assert code == 2, err
    assert _expectation(path) in err
    lines = [line for line in err.strip().splitlines() if line.startswith("stormdb-tui: error:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert str(path) in lines[0]
    assert re.search(re.escape(str(path)) + r":\d+:", lines[0]) or "top level" in lines[0]


def test_unreadable_and_missing_files(tmp_path):
    code, err = _run("run", "--no-ui", "-c", str(tmp_path / "nope.yaml"))
    assert code == 2 and "config file not found" in err
    code, err = _run("run", "--no-ui", "-c", str(tmp_path))
    assert code == 2 and "is a directory" in err
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    code, err = _run("run", "--no-ui", "-c", str(binary))
    assert code == 2 and "cannot read" in err


def test_usage_errors_exit_2():
    code, err = _run("run", "--no-ui", "--workers")
    assert code == 2 and "expected one argument" in err
    code, err = _run("frobnicate")
    assert code == 2 and "invalid choice" in err
    code, err = _run("run", "--no-ui", "--workload", "simple", "--set", "novalue", "--dsn", "host=/x")
    assert code == 2 and "KEY=VALUE" in err



@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "no such report file"),
        ("hello\n", "x.json:1: not a JSON report"),
        ('{"a": 1}', "not a stormdb-tui report"),
        ("[1, 2]", "not a stormdb-tui report"),
        ('{"schema_version": "x"}', "expected an integer schema_version"),
    ],
)
def test_report_command_rejects_what_is_not_a_report(tmp_path, content, fragment):
    path = tmp_path / "x.json"
    if content is not None:
        path.write_text(content)
    code, err = _run("report", str(path), "--md")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in err


yaml_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_config_loader_raises_only_config_error_on_any_text(text):
    try:
        parse_config(text, "fuzz.yaml")
    except ConfigError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["run", "metrics", "database", "workload", "report", "monitoring", "plugins", "x"]), yaml_like, max_size=4))
def test_config_loader_raises_only_config_error_on_any_structure(data):
    import yaml

    try:
        parse_config(yaml.safe_dump(data), "fuzz.yaml")
    except ConfigError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)))
def test_duration_and_size_parsers_raise_only_value_error(value):
    for parser in (parse_duration, parse_size):
        try:
            result = parser(value)
        except ValueError:
            continue
        assert result >= 0
