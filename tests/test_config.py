"""Config parsing and validation: every bad input is a located ConfigError."""

from __future__ import annotations

import pytest

from stormdb_tui.config import apply_override, load_config, parse_config
from stormdb_tui.errors import ConfigError
from stormdb_tui.options import Option, parse_duration, parse_size


def test_sections_and_defaults():
    cfg = parse_config("workload:\n  name: simple\n  scale: 3\nrun:\n  workers: 8\n  duration: 2m\n", "x.yaml")
    assert cfg.workload == "simple"
    assert cfg.workload_raw == {"scale": 3}
    assert cfg.run["workers"] == 8
    assert cfg.run["duration"] == 120.0
    assert cfg.metrics["interval"] == 1.0


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("run:\n  wrokers: 4\n", 2, "did you mean 'workers'"),
        ("run:\n  workers: -1\n", 2, "out of range"),
        ("run:\n  workers: many\n", 2, "an integer"),
        ("run:\n  duration: 2x\n", 2, "unknown unit"),
        ("runn:\n  workers: 1\n", 1, "did you mean 'run'"),
        ("run:\n\tworkers: 1\n", 2, "tabs"),
        ("run: [1, 2\n", 2, "invalid YAML"),
        ("- a\n- b\n", 1, "mapping"),
        ("run: 5\n", 1, "a section must be a mapping"),
        ("metrics:\n  interval: 0\n", 2, "out of range"),
    ],
)
def test_bad_configs_are_located(text, line, fragment):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "bad.yaml")
    message = str(info.value)
    assert message.startswith(f"bad.yaml:{line}:"), message
    assert fragment in message
    assert "\n" not in message


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_stormdb_flat_format_with_warning():
    text = (
        "database:\n  type: postgres\n  host: localhost\n  port: 5432\n  dbname: db\n  username: bob\n  password: pw\n"
        'workload: "simple"\nscale: 5\nduration: "2m"\nworkers: 8\nconnections: 16\nsummary_interval: "5s"\n'
        "workload_config:\n  script: select-only\n"
    )
    cfg = parse_config(text, "old.yaml")
    assert cfg.workload == "simple"
    # StormDB's simple scale counts rows; ours is pgbench's (100,000 accounts a unit).
    assert cfg.workload_raw == {"scale": 1, "script": "select-only"}
    assert cfg.run["duration"] == 120.0 and cfg.run["connections"] == 16
    assert cfg.database["user"] == "bob"
    assert cfg.metrics["interval"] == 5.0
    assert len(cfg.warnings) == 1 and "StormDB" in cfg.warnings[0]
    assert cfg.echo()["database"]["password"] == "***"


def test_override_resolution():
    cfg = parse_config("workload:\n  name: simple\n", "x.yaml")
    decls = (Option("scale", "int", 1, minimum=1),)
    apply_override(cfg, "scale", "7", decls)
    apply_override(cfg, "workers", "3", decls)
    apply_override(cfg, "run.warmup", "5s", decls)
    assert cfg.workload_raw["scale"] == "7"
    assert cfg.run["workers"] == 3 and cfg.run["warmup"] == 5.0
    with pytest.raises(ConfigError, match="did you mean 'scale'"):
        apply_override(cfg, "scael", 1, decls)
    with pytest.raises(ConfigError, match="did you mean 'workers'"):
        apply_override(cfg, "run.wrokers", 1, decls)


def test_workload_options_validated_against_declarations():
    cfg = parse_config("workload:\n  name: x\n  scael: 0\n", "w.yaml")
    decls = (Option("scale", "int", 1, minimum=1),)
    with pytest.raises(ConfigError) as info:
        cfg.workload_options(decls)
    assert str(info.value).startswith("w.yaml:3: workload.scael")
    cfg = parse_config("workload:\n  name: x\n  scale: 0\n", "w.yaml")
    with pytest.raises(ConfigError, match="w.yaml:3: workload.scale: value out of range"):
        cfg.workload_options(decls)


@pytest.mark.parametrize("text, seconds", [("30", 30), ("30s", 30), ("2m", 120), ("1h30m", 5400), ("500ms", 0.5), (90, 90)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["2x", "", "-5", "m", "5 m 3", "nan", "inf", True, [1]])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_sizes():
    assert parse_size("64kB") == 65536
    assert parse_size("1.5GB") == int(1.5 * 1024**3)
    assert parse_size(10) == 10
    with pytest.raises(ValueError):
        parse_size("10 parsecs")


def test_weights_option():
    opt = Option("mix", "weights", {"a": 1}, choices=("a", "b"))
    assert opt.convert("a:3,b:1") == {"a": 3.0, "b": 1.0}
    with pytest.raises(ConfigError, match="positive sum"):
        opt.convert({"a": 0, "b": 0})
    with pytest.raises(ConfigError, match="did you mean 'b'"):
        opt.convert({"bb": 1})


def test_percentiles_keep_the_standard_set_and_add_extras():
    # A config listing only some percentiles must not blank out p95/p99 in summaries.
    cfg = parse_config("metrics:\n  percentiles: [50, 99.99]\n", "x.yaml")
    assert cfg.percentiles() == [50.0, 90.0, 95.0, 99.0, 99.9, 99.99]
    with pytest.raises(ConfigError, match="x.yaml:2: metrics.percentiles"):
        parse_config("metrics:\n  percentiles: [0]\n", "x.yaml")
    with pytest.raises(ConfigError, match="found 'x'"):
        apply_override(cfg, "metrics.percentiles", "50,x")
    # ...and the report carries the extra one beside the standard keys.
    from stormdb_tui.report.model import _latency

    lat = _latency({"p50": 1.0, "p95": 2.0, "p99_99": 9.0, "max": 10.0})
    assert lat["p95"] == 2.0 and lat["p99_99"] == 9.0 and lat["p90"] is None


def test_duplicate_key_is_located_not_silently_overwritten():
    with pytest.raises(ConfigError, match=r"x.yaml:3: run.workers: duplicate key; first given on line 2"):
        parse_config("run:\n  workers: 2\n  workers: 8\n", "x.yaml")
    # The same key name in different sections is fine.
    cfg = parse_config("monitoring:\n  interval: 1s\nmetrics:\n  interval: 2s\n", "x.yaml")
    assert (cfg.monitoring["interval"], cfg.metrics["interval"]) == (1.0, 2.0)


def test_plugin_paths_are_relative_to_the_config_file(tmp_path):
    folder = tmp_path / "cfgs"
    folder.mkdir()
    (folder / "c.yaml").write_text("plugins:\n  paths: [../plugins, /abs/elsewhere]\n")
    cfg = load_config(folder / "c.yaml")
    assert cfg.plugins["paths"] == [str(folder / "../plugins"), "/abs/elsewhere"]


def test_unit_and_empty_messages_read_as_what_was_expected():
    # The message is printed as "(expected <text>, found <value>)", so <text> must be the expectation.
    for text, want in (("2x", "expected a duration in us, ms, s, m, h or d (unknown unit 'x')"),
                       ("''", "expected a duration such as 30s or 2m, not an empty value")):
        with pytest.raises(ConfigError) as info:
            parse_config(f"run:\n  duration: {text}\n", "x.yaml")
        assert want in str(info.value)
    with pytest.raises(ConfigError, match=r"expected a size in B, kB, MB or GB \(unknown size unit 'xb'\)"):
        Option("s", "size", 1, "").convert("10XB")


def test_run_settings_are_the_declared_options_typed_once():
    import dataclasses
    import typing

    from stormdb_tui.config import RUN_OPTIONS, RunSettings

    fields = {f.name: f for f in dataclasses.fields(RunSettings)}
    assert list(fields) == [o.name for o in RUN_OPTIONS]  # one field per declaration, in the same order
    assert all(f.default is dataclasses.MISSING for f in fields.values())  # defaults live in the declarations
    defaults = RunSettings.parse({})
    for option in RUN_OPTIONS:
        assert getattr(defaults, option.name) == option.default, option.name
    assert defaults.max_tries == 10 and defaults.processes == "auto" and defaults.driver == "auto"
    hints = typing.get_type_hints(RunSettings)
    for option in RUN_OPTIONS:  # a numeric declaration gets a numeric field
        if option.type in ("int", "duration", "float"):
            assert {int, float} & set(typing.get_args(hints[option.name]) or (hints[option.name],)), option.name
    typed = RunSettings.parse({"workers": "16", "duration": "2m", "rate": 500, "processes": 3})
    assert (typed.workers, typed.duration, typed.rate, typed.processes) == (16, 120.0, 500.0, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        typed.workers = 1  # type: ignore[misc]


def test_run_settings_reject_bad_values_with_the_key():
    from stormdb_tui.config import RunSettings

    with pytest.raises(ConfigError) as info:
        RunSettings.parse({"workers": 0})
    assert "workers" in str(info.value)
    cfg = parse_config("run:\n  workers: 3\n  warmup: 5s\n", "t.yaml")
    assert cfg.settings().workers == 3 and cfg.settings().warmup == 5.0
