"""Cluster runs on a simulated two-node Ray cluster on this machine, against the embedded server.

The nodes are two Ray node processes on this machine (``ray.cluster_utils.Cluster``)
bound to its own interface address: Ray pinned to 127.0.0.1 left drivers in
other processes timing out. Client actors on either node reach the embedded
server over its unix socket, which only works because both "hosts" are this
machine (docs/cluster.md: a real cluster needs a TCP target).

One cluster is shared by the module: starting Ray costs seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from stormdb_tui.config import build_config
from stormdb_tui.engine.metrics import latency_summary, new_histogram
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.runner import Runner
from stormdb_tui.registry import discover

SCHEMA = "stormdb_test_cluster"
NO_RAY = (
    "import sys\n"
    "sys.modules['ray'] = None  # as if Ray were not installed: importing it fails\n"
    "from stormdb_tui.frontends.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_nothing_but_a_cluster_run_imports_ray():
    code = (
        "import sys\n"
        "from stormdb_tui.frontends import cli, headless, sweep\n"
        "from stormdb_tui.engine import cluster, multiplex, processes, runner, session\n"
        "from stormdb_tui.report import markdown, model\n"
        "from stormdb_tui.registry import discover\n"
        "cli.build_parser().parse_args(['run', '--no-ui', '--processes', '2', '-w', 'simple'])\n"
        "discover()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_cluster_run_without_ray_exits_2_saying_how_to_install_it(tmp_path):
    # Refused before any server is touched: the DSN below is never connected to.
    result = subprocess.run(
        [sys.executable, "-c", NO_RAY, "run", "--no-ui", "-w", "simple", "--cluster", "auto", "-T", "2",
         "--dsn", "host=/nonexistent dbname=x"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "run.cluster" in result.stderr and 'pip install "stormdb-tui[cluster]"' in result.stderr
    assert "Traceback" not in result.stderr


def test_a_config_with_a_cluster_and_no_ray_names_the_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("workload: {name: simple}\nrun:\n  workers: 2\n  cluster: ray://head:10001\n")
    result = subprocess.run(
        [sys.executable, "-c", NO_RAY, "run", "--no-ui", "-c", str(path), "--dsn", "host=/nonexistent dbname=x"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert f"{path}:4: run.cluster" in result.stderr


def _group(**run):
    from stormdb_tui.config import RunSettings
    from stormdb_tui.engine.cluster import ClusterGroup

    workers, driver = run.pop("workers", 8), run.pop("driver", "threads")
    settings = RunSettings.parse({"cluster": "ray://head:10001", "workers": workers, **run})
    return ClusterGroup(None, "", workers, settings, seed=1, driver=driver)


def _nodes(*cpus):
    return [{"NodeID": f"n{i}", "NodeManagerAddress": f"10.0.0.{i}", "Resources": {"CPU": c}} for i, c in enumerate(cpus)]


def test_actors_go_to_the_nodes_with_the_most_free_cpus():
    assert _group(processes=5)._actor_counts(_nodes(4, 2)) == [3, 2]
    assert _group(processes=2, cluster_processes="per_node")._actor_counts(_nodes(4, 2)) == [2, 2]
    # auto: as on one host, on every node (one per CPU with the event loop, one with threads)
    assert _group(processes="auto")._actor_counts(_nodes(4, 2)) == [1, 1]
    assert _group(processes="auto", driver="multiplex")._actor_counts(_nodes(4, 2)) == [4, 2]
    assert _group(processes="auto", driver="multiplex", workers=3)._actor_counts(_nodes(4, 2)) == [3, 2]


def test_more_actors_than_the_cluster_has_cpus_for_are_refused():
    from stormdb_tui.errors import DatabaseError

    with pytest.raises(DatabaseError, match=r"run.processes: 7 client processes do not fit .* has 2 CPUs for 3"):
        _group(processes=7)._actor_counts(_nodes(4, 2))
    with pytest.raises(DatabaseError, match="has 2 CPUs for 3"):
        _group(processes=3, cluster_processes="per_node")._actor_counts(_nodes(4, 2))


def test_a_clock_off_by_more_than_the_limit_is_a_warning():
    from stormdb_tui.engine.cluster import CLOCK_SKEW_WARN_MS, _Member

    class Clock:
        def __init__(self, skew_s):
            self.skew_s = skew_s

        def remote(self):
            return time.time() + self.skew_s

    class Actor:
        def __init__(self, skew_s):
            self.clock = Clock(skew_s)

    class Ray:
        @staticmethod
        def get(value, timeout=None):
            return value

    group = _group()
    near = _Member(0, [0, 1], Actor(0.0), "n0")
    far = _Member(1, [2, 3], Actor(0.3), "n1")
    for member in (near, far):
        group._measure_clock(Ray, member)
    assert abs(near.clock_offset_ms) < CLOCK_SKEW_WARN_MS
    assert 250 < far.clock_offset_ms < 350
    assert len(group.warnings) == 1 and "cluster actor 1" in group.warnings[0] and "+300 ms" in group.warnings[0]


def test_each_host_of_a_cluster_is_judged_on_its_own_cores():
    from stormdb_tui.engine.audit import assess

    def record(host):
        return {"host": host, "cores": 2, "wall_s": 1.0, "cpu_s": 0.5, "wait_s": 0.0, "lag_us": []}

    # Four processes at half a core each: all of one 2-core host, or half of two.
    assert assess([record(None)] * 4, 1.0)["bound"] is True
    spread = assess([record("a"), record("a"), record("b"), record("b")], 1.0)
    assert spread["cores"] == 4 and spread["cpu_share"] == 0.5 and spread["bound"] is False


# -- on a simulated cluster -----------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    ip = ray.util.get_node_ip_address()
    if ip.startswith("127."):
        pytest.skip("Ray needs this machine's own interface address, and found only loopback")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "node_ip_address": ip,
                                                           "include_dashboard": False})
    cluster.add_node(num_cpus=2, node_ip_address=ip)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def _plan(dsn: str, **run):
    cfg = build_config(
        {
            "workload": {"name": "simple", "scale": 1, "schema": SCHEMA, "script": "select-only"},
            "run": {"workers": 8, "duration": 3, "seed": 5, "driver": "threads", **run},
            "metrics": {"interval": 0.5},
        }
    )
    return make_plan(cfg, dsn=dsn, registry=discover())


@pytest.fixture(scope="module")
def loaded(dsn):
    plan = _plan(dsn)
    plan.setup = True
    Runner(plan).prepare()
    return dsn


def _merged_hosts(cluster: dict) -> object:
    from hdrh.histogram import HdrHistogram

    total = new_histogram()
    for host in cluster["hosts"]:
        total.add(HdrHistogram.decode(host["latency_hist"]))
    return total


def test_a_cluster_run_merges_every_host_exactly(ray_cluster, loaded):
    limit = {"transactions": 12000, "duration": 0}
    plan = _plan(loaded, cluster=ray_cluster.address, processes=2, cluster_processes="per_node", **limit)
    report = Runner(plan).run()
    data = report.data
    assert data["status"] == "completed", data["message"]
    # The same run on this host's own worker processes does the same work, worker by worker.
    local = Runner(_plan(loaded, processes=4, **limit)).run().data
    assert local["status"] == "completed" and "cluster" not in local
    assert data["summary"]["transactions"] == local["summary"]["transactions"] == 12000
    assert data["summary"]["queries"] == local["summary"]["queries"]
    assert [(w["id"], w["transactions"]) for w in data["workers"]] == [(w["id"], w["transactions"]) for w in local["workers"]]
    cluster = data["cluster"]
    hosts = cluster["hosts"]
    assert len(hosts) == 2 and [h["actors"] for h in hosts] == [2, 2]
    assert data["run"]["processes"] == 4
    assert len({h["name"] for h in hosts}) == 2
    summary = data["summary"]
    assert summary["transactions"] > 0
    assert all(h["transactions"] > 0 for h in hosts)
    # The merged totals are the per-host totals added up, interval by interval too.
    assert sum(h["transactions"] for h in hosts) == summary["transactions"]
    assert sum(h["errors"] for h in hosts) == summary["errors"]
    series = [i["transactions"] for i in data["intervals"]]
    assert [sum(h["interval_transactions"][k] for h in hosts) for k in range(len(series))] == series
    assert all(len(h["interval_transactions"]) == len(series) for h in hosts)
    # The merged percentiles are those of the hosts' histograms added together.
    added = latency_summary(_merged_hosts(cluster), plan.config.percentiles())
    assert added == {k: summary["latency_ms"][k] for k in added}
    # Every worker ran, with the ids a single host would give them.
    assert [w["id"] for w in data["workers"]] == list(range(8))
    assert sum(w["transactions"] for w in data["workers"]) == summary["transactions"]
    # Clocks on one machine agree; each actor was measured.
    assert all(a["clock_offset_ms"] is not None and abs(a["clock_offset_ms"]) < 50 for a in cluster["actors"])
    assert not [w for w in data["warnings"] if "clock" in w]
    assert cluster["collect_ms"]["intervals"] >= len(series) and cluster["collect_ms"]["p50"] is not None
    markdown = report.to_markdown()
    assert "## Hosts" in markdown
    for host in hosts:
        assert host["name"] in markdown
        assert host["client_cpu_s"] is not None and isinstance(host["client_bound"], bool)
    assert all(host["name"] in _report_screen_hosts(report) for host in hosts)


def _report_screen_hosts(report) -> str:
    """The text of the workbench report's Hosts tab."""
    import asyncio

    from textual.app import App

    from stormdb_tui.tui.screens.report import ReportScreen

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(ReportScreen(report))

    async def main() -> str:
        app = Host()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.pause()
            await pilot.press("6")
            await pilot.pause()
            assert app.screen.query_one("#report-tabs").active == "hosts"
            app.screen.query_one("#hosts-md")
            return app.screen.hosts_markdown

    return asyncio.run(main())


def _run_in_thread(runner: Runner) -> tuple[threading.Thread, dict]:
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("report", runner.run()))
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and runner.aggregator.transactions == 0:
        time.sleep(0.1)
    assert runner.aggregator.transactions > 0, "the cluster run never measured a transaction"
    return thread, box


@pytest.mark.slow
def test_a_killed_actor_is_reported_lost_and_the_run_goes_on(ray_cluster, loaded):
    import ray

    runner = Runner(_plan(loaded, cluster=ray_cluster.address, processes=4, duration=4))
    thread, box = _run_in_thread(runner)
    time.sleep(0.6)
    victim = runner.group.members[1]
    ray.kill(victim.actor, no_restart=True)
    killed_at = time.monotonic() - runner.aggregator.origin
    thread.join(90)
    data = box["report"].data
    assert data["status"] == "completed", data["message"]
    cluster = data["cluster"]
    lost = [a for a in cluster["actors"] if a["lost"]]
    assert [a["index"] for a in lost] == [1]
    host = next(h for h in cluster["hosts"] if h["name"] == lost[0]["host"])
    assert [e["actor"] for e in host["lost"]] == [1]
    assert any("cluster actor 1" in note and "was lost" in note for note in data["notes"])
    assert any(e["type"] == "host_lost" for e in data["events"])
    # Its measurements up to its last interval are kept, and the others went on after the loss.
    assert sum(h["transactions"] for h in cluster["hosts"]) == data["summary"]["transactions"]
    after = [i for i in data["intervals"] if i["t_s"] > killed_at + 1.0]
    assert after and all(i["transactions"] > 0 for i in after)
    assert len(data["workers"]) == 8 - len(victim.worker_ids)


@pytest.mark.slow
def test_a_node_lost_mid_run_is_reported_and_the_run_goes_on(ray_cluster, loaded):
    import ray

    extra = ray_cluster.add_node(num_cpus=1, node_ip_address=ray.util.get_node_ip_address())
    ray_cluster.wait_for_nodes()
    removed = False
    try:
        runner = Runner(_plan(loaded, cluster=ray_cluster.address, processes=1, cluster_processes="per_node",
                              duration=8))
        thread, box = _run_in_thread(runner)
        on_extra = [m.index for m in runner.group.members if m.node_id == extra.node_id]
        assert len(on_extra) == 1 and len(runner.group.members) == 3
        ray_cluster.remove_node(extra, allow_graceful=False)
        removed = True
        thread.join(120)
    finally:
        if not removed:
            ray_cluster.remove_node(extra)
    data = box["report"].data
    assert data["status"] == "completed", data["message"]
    cluster = data["cluster"]
    assert [a["index"] for a in cluster["actors"] if a["lost"]] == on_extra
    lost_host = next(h for h in cluster["hosts"] if h["node_id"] == extra.node_id)
    assert lost_host["lost"] and lost_host["transactions"] > 0
    assert sum(h["transactions"] for h in cluster["hosts"]) == data["summary"]["transactions"]
    assert data["intervals"][-1]["transactions"] > 0


@pytest.mark.slow
def test_a_lost_actor_fails_the_run_with_on_host_loss_fail(ray_cluster, loaded):
    import ray

    runner = Runner(_plan(loaded, cluster=ray_cluster.address, processes=2, duration=20, on_host_loss="fail"))
    thread, box = _run_in_thread(runner)
    ray.kill(runner.group.members[0].actor, no_restart=True)
    thread.join(90)
    data = box["report"].data
    assert data["status"] == "failed"
    assert "cluster actor 0" in data["message"] and "on_host_loss: fail" in data["message"]
    assert data["summary"]["elapsed_s"] < 15
    assert data["summary"]["transactions"] > 0


@pytest.mark.slow
def test_ctrl_c_stops_every_actor_and_keeps_the_report(ray_cluster, loaded, cli_env, tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-w", "simple", "--set", f"schema={SCHEMA}",
         "--set", "script=select-only", "--set", "scale=1", "--dsn", loaded, "--cluster", ray_cluster.address,
         "--workers", "4", "--processes", "2", "--driver", "threads", "-T", "60", "--interval", "0.5",
         "--report-json", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if line.startswith("progress:") or not line:
                break
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    data = json.loads(out.read_text())
    assert data["status"] == "interrupted"
    names = [h["name"] for h in data["cluster"]["hosts"]]
    assert len(names) == 2 and all(f"host {name}:" in stdout for name in names)
    pids = [a["pid"] for a in data["cluster"]["actors"]]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    assert not [pid for pid in pids if _alive(pid)], "actors outlived the run"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
