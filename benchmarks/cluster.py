"""A cluster run against a local ``--processes`` run with the same workers, on a simulated Ray cluster.

    python -m benchmarks.cluster [--dsn "host=/tmp/sock dbname=bench" | --data-dir DIR] --processes 8 \\
        --workers 16 --duration 10 --pairs 3 [--script select-only] [--scale 1] [--nodes 2]

Starts a Ray cluster of ``--nodes`` node processes on this machine (bound to
its own interface address, each offering ``processes / nodes`` CPUs), loads
the ``simple`` workload once, then runs alternating pairs in this process
(the driver): the run with ``run.processes: N`` local children, then the same
run with ``run.cluster`` set. For both it times every interval's collection
(the parent's or driver's ``swap``: wall time, and the CPU time of the thread
that collects), and prints each run's TPS and the load average at its start.
Every "node" here is this machine: the figures show what the cluster path
costs, not how throughput scales.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any


def _rank(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(max(int(-(-p * len(values) // 100)), 1), len(values)) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dsn", help="the target (default: the embedded server, in --data-dir)")
    parser.add_argument("--data-dir", help="data directory of the embedded server")
    parser.add_argument("--schema", default="stormdb_bench_cluster")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--script", default="select-only")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    from stormdb_tui.config import build_config
    from stormdb_tui.engine.plan import make_plan
    from stormdb_tui.engine.processes import ProcessGroup
    from stormdb_tui.engine.runner import Runner
    from stormdb_tui.registry import discover

    registry = discover()
    if not args.dsn:
        from stormdb_tui.embedded import start_embedded

        args.dsn = start_embedded(args.data_dir, quiet=True).conninfo

    def plan(**run: Any) -> Any:
        cfg = build_config({
            "workload": {"name": "simple", "scale": args.scale, "schema": args.schema, "script": args.script},
            "run": {"workers": args.workers, "processes": args.processes, "duration": args.duration, **run},
            "metrics": {"interval": args.interval},
        })
        return make_plan(cfg, dsn=args.dsn, registry=registry)

    setup = plan()
    setup.setup = True
    Runner(setup).prepare()

    timings: dict[str, list[float]] = {"wall": [], "cpu": []}
    original = ProcessGroup.swap

    def timed_swap(self: ProcessGroup, measuring: bool) -> Any:
        t0, c0 = time.monotonic(), time.thread_time()
        try:
            return original(self, measuring)
        finally:
            timings["wall"].append((time.monotonic() - t0) * 1000)
            timings["cpu"].append((time.thread_time() - c0) * 1000)

    ProcessGroup.swap = timed_swap  # type: ignore[method-assign]

    ip = ray.util.get_node_ip_address()
    cpus = -(-args.processes // args.nodes)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus, "node_ip_address": ip,
                                                           "include_dashboard": False})
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(num_cpus=cpus, node_ip_address=ip)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        print(f"cluster {cluster.address}: {args.nodes} nodes x {cpus} CPUs on {os.cpu_count()} real cores; "
              f"{args.script} scale {args.scale}, {args.workers} workers, {args.processes} processes, "
              f"{args.duration} s runs, {args.interval:g} s intervals")
        ratios = []
        for pair in range(1, args.pairs + 1):
            timings["wall"].clear()
            timings["cpu"].clear()
            load_local = os.getloadavg()[0]
            local = Runner(plan()).run().data
            assert local["status"] == "completed", local["message"]
            local_wall, local_cpu = list(timings["wall"]), list(timings["cpu"])
            load_cluster = os.getloadavg()[0]
            remote = Runner(plan(cluster=cluster.address)).run().data
            assert remote["status"] == "completed", remote["message"]
            c = remote["cluster"]
            assert sum(h["transactions"] for h in c["hosts"]) == remote["summary"]["transactions"]
            ratio = remote["summary"]["tps"] / local["summary"]["tps"]
            ratios.append(ratio)
            print(f"pair {pair}: local {local['run']['processes']} processes {local['summary']['tps']:,.0f} tps "
                  f"(load {load_local:.2f}; collection wall p50 {_rank(local_wall, 50):.1f} max "
                  f"{max(local_wall):.1f} ms, CPU p50 {_rank(local_cpu, 50):.2f} max {max(local_cpu):.2f} ms) | "
                  f"cluster {len(c['actors'])} actors on {c['nodes']} nodes {remote['summary']['tps']:,.0f} tps "
                  f"(load {load_cluster:.2f}; collection wall p50 {c['collect_ms']['p50']:.1f} max "
                  f"{c['collect_ms']['max']:.1f} ms, CPU p50 {c['collect_cpu_ms']['p50']:.2f} max "
                  f"{c['collect_cpu_ms']['max']:.2f} ms) | ratio {ratio:.2f}")
        print(f"cluster/local tps ratios: {', '.join(f'{r:.2f}' for r in ratios)}; load average now "
              f"{os.getloadavg()[0]:.2f}")
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
