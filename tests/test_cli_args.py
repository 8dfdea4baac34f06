"""CLI parsing: flags given before the subcommand are not silently dropped."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from stormdb_tui.frontends.cli import build_parser, main

HELLO = '''
from stormdb_tui.workload import Workload

class Hi(Workload):
    name = "hi_there"
    title = "Hi"
    operations = ("hi",)

    def transaction(self, ctx):
        ctx.label = "hi"
        return "hi"

WORKLOAD = Hi
'''


def test_target_flags_before_the_subcommand_survive():
    # argparse copies subparser defaults over the parent's values; a --dsn given
    # before `check` used to vanish and the embedded server was checked instead.
    args = build_parser().parse_args(["--dsn", "host=/x", "--data-dir", "/d", "-c", "a.yaml", "check", "-w", "tpcc"])
    assert (args.dsn, args.data_dir, args.config, args.workload) == ("host=/x", "/d", "a.yaml", "tpcc")
    args = build_parser().parse_args(["--dsn", "host=/x", "run", "--no-ui", "--dsn", "host=/y"])
    assert args.dsn == "host=/y"
    args = build_parser().parse_args(["run", "--no-ui"])
    assert args.dsn is None and args.config is None and args.data_dir is None


def test_plugin_paths_before_and_after_the_subcommand_both_count(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "hi.py").write_text(HELLO)
    for argv in (["--plugin-path", str(tmp_path / "a"), "workloads"], ["workloads", "--plugin-path", str(tmp_path / "a")]):
        out = io.StringIO()
        with redirect_stdout(out):
            assert main(argv) == 0
        assert "hi_there" in out.getvalue(), argv


def test_setup_with_nothing_to_load_does_not_claim_a_load(run_cli, dsn):
    # connection_overhead owns no data; "loaded ...: 0 rows" read like a load that failed.
    proc = run_cli("setup", "--workload", "connection_overhead", "--dsn", dsn, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "nothing loaded" in proc.stdout and "0 rows" not in proc.stdout


def test_every_run_setting_has_a_flag_that_sets_it():
    from stormdb_tui.config import RUN_OPTIONS
    from stormdb_tui.frontends.cli import _overrides, build_parser

    for option in RUN_OPTIONS:
        flag = "--" + option.name.replace("_", "-")
        args = build_parser().parse_args(["run", flag, "7"])
        assert (f"run.{option.name}", "7") in _overrides(args), flag
