"""Hostile identifiers and secrets: names from user input are quoted, passwords never leak.

Against a throwaway cluster, because a quoting bug here would drop whatever
the injected SQL names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from pgcluster import Cluster

from stormdb_tui.config import build_config
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.runner import Runner
from stormdb_tui.registry import discover

ROOT = Path(__file__).resolve().parent.parent

HOSTILE = [
    'we"ird',
    "a; DROP SCHEMA keep_out CASCADE; --",
    "Mixed Case",
    "it's",
    'x"; DROP TABLE public.keep_me; --',
]


@pytest.fixture(scope="module")
def cluster():
    server = Cluster()
    server.sql("CREATE TABLE public.keep_me (id int)")
    server.sql("INSERT INTO public.keep_me VALUES (1)")
    server.sql("CREATE SCHEMA keep_out")
    server.sql("CREATE TABLE keep_out.t (id int)")
    yield server
    server.destroy()


def _objects(cluster: Cluster) -> set[tuple[str, str]]:
    rows = cluster.sql(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind IN ('r', 'i', 'S', 'v')"
    )
    return set(rows) | {(name, "") for (name,) in cluster.sql(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'")}


def test_every_workload_with_a_schema_option_quotes_it():
    """The options a user can set that name database objects: today only ``simple``'s schema."""
    registry = discover([])
    with_schema = sorted(e.name for e in registry.all() if e.ok and any(o.name == "schema" for o in e.cls.options))
    assert with_schema == ["simple"], "a new workload takes a schema option: add it to the hostile-name test below"


@pytest.mark.parametrize("schema", HOSTILE)
def test_hostile_schema_names_touch_only_their_own_objects(cluster, schema):
    before = _objects(cluster)
    cfg = build_config({"workload": {"name": "simple", "scale": 1, "schema": schema, "script": "tpcb-like"},
                        "run": {"workers": 2, "duration": 1}, "metrics": {"interval": 0.5}})
    plan = make_plan(cfg, dsn=cluster.dsn)
    plan.setup = True
    runner = Runner(plan)
    runner.prepare()
    created = _objects(cluster) - before
    assert {name for name, _ in created} == {schema}
    assert {rel for _, rel in created if rel} >= {"pgbench_accounts", "pgbench_branches", "pgbench_tellers",
                                                  "pgbench_history"}
    report = runner.run().data
    assert report["status"] == "completed", report["message"]
    assert report["summary"]["transactions"] > 0 and report["summary"]["errors"] == 0
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        assert plan.workload.check(conn) == []
        plan.workload.drop(conn)
    assert _objects(cluster) == before
    assert cluster.sql("SELECT count(*) FROM public.keep_me") == [(1,)]


def test_password_never_leaks(cluster, tmp_path):
    secret = "Sup3r-s3cret-pw"
    dsn = f"postgresql://postgres:{secret}@127.0.0.1:{cluster.port}/postgres"
    setup = subprocess.run([sys.executable, "-m", "stormdb_tui", "setup", "-w", "simple", "--dsn", dsn],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert setup.returncode == 0, setup.stderr
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-w", "simple", "--set", "script=select-only",
         "--dsn", dsn, "--duration", "4", "--workers", "2", "--processes", "2", "--pg-stats",
         "--report-json", str(out), "--report-md", str(md)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen_journal = ""
    names: set[str] = set()
    titles: list[str] = []
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        journal = tmp_path / "r.journal.jsonl"
        if journal.exists():
            seen_journal = journal.read_text()
        names |= {n for (n,) in cluster.sql("SELECT application_name FROM pg_stat_activity")}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == proc.pid:  # our worker processes
                        titles.append(Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace"))
                        titles.append(Path(f"/proc/{entry}/comm").read_text())
                except (OSError, ValueError):
                    continue
        time.sleep(0.3)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert any(n.startswith("stormdb-tui:load") for n in names), names
    assert titles, "the worker processes were not seen"
    assert seen_journal.startswith('{"journal"')
    texts = [stdout, stderr, out.read_text(), md.read_text(), seen_journal, *names, *titles]
    assert not [t for t in texts if secret in t]
    assert "***" in out.read_text()
    assert stderr.count("a password on the command line is visible") == 1
    assert "password_env" in stderr and ".pgpass" in stderr
    data = json.loads(out.read_text())
    assert secret not in json.dumps(data)


def test_no_password_hint_without_a_password(cluster):
    result = subprocess.run([sys.executable, "-m", "stormdb_tui", "check", "-w", "simple", "--dsn", cluster.tcp_dsn],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "password on the command line" not in result.stderr
