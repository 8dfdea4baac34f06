"""A cluster run against a local ``--processes`` run with the same workers, on a simulated Ray cluster.

    python -m benchmarks.cluster --dsn "host=/tmp/sock dbname=bench" --processes 8 --workers 16 \\
        --duration 10 --pairs 3 [--script select-only] [--scale 1] [--nodes 2]

Starts a Ray cluster of ``--nodes`` node processes on this machine (bound to
its own interface address, each offering ``processes / nodes`` CPUs), loads
the ``simple`` workload once, then runs alternating pairs: ``stormdb-tui run
--processes N`` and the same with ``--cluster ADDRESS``, each as its own
driver process, as a user would run them. Prints each run's TPS, the load
average at its start, and for the cluster runs the driver's per-interval
collection cost (``cluster.collect_ms``). Every "node" here is this machine:
the figures show what the cluster path costs, not how throughput scales.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(dsn: str, args: argparse.Namespace, cluster: str | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="stormdb-cluster-") as tmp:
        path = os.path.join(tmp, "r.json")
        extra = ["--cluster", cluster] if cluster else []
        load = os.getloadavg()[0]
        proc = subprocess.run(
            [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-q", "--dsn", dsn, "--workload", "simple",
             "--set", f"schema={args.schema}", "--set", f"scale={args.scale}", "--set", f"script={args.script}",
             "--workers", str(args.workers), "--processes", str(args.processes), "--duration", f"{args.duration}s",
             "--interval", "1s", "--report-json", path, *extra],
            capture_output=True, text=True, cwd=REPO,
        )
        if proc.returncode != 0:
            raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        with open(path) as fh:
            data = json.load(fh)
    out = {"load": load, "tps": data["summary"]["tps"], "p99": data["summary"]["latency_ms"]["p99"],
           "processes": data["run"]["processes"]}
    if cluster:
        c = data["cluster"]
        out["collect"] = c["collect_ms"]
        out["actors"] = len(c["actors"])
        out["hosts"] = [(h["name"], h["actors"], h["transactions"]) for h in c["hosts"]]
        assert sum(h["transactions"] for h in c["hosts"]) == data["summary"]["transactions"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", default="stormdb_bench_cluster")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--script", default="select-only")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    subprocess.run(
        [sys.executable, "-m", "stormdb_tui", "setup", "--dsn", args.dsn, "--workload", "simple",
         "--set", f"schema={args.schema}", "--set", f"scale={args.scale}"],
        check=True, capture_output=True, cwd=REPO,
    )
    ip = ray.util.get_node_ip_address()
    cpus = -(-args.processes // args.nodes)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus, "node_ip_address": ip,
                                                           "include_dashboard": False})
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(num_cpus=cpus, node_ip_address=ip)
        cluster.wait_for_nodes()
        print(f"cluster {cluster.address}: {args.nodes} nodes x {cpus} CPUs; {os.cpu_count()} real cores; "
              f"{args.script}, {args.workers} workers, {args.processes} processes, {args.duration} s runs")
        for pair in range(1, args.pairs + 1):
            local = run(args.dsn, args, None)
            remote = run(args.dsn, args, cluster.address)
            collect = remote["collect"]
            print(f"pair {pair}: local --processes {local['processes']}: {local['tps']:,.0f} tps "
                  f"(p99 {local['p99']} ms, load {local['load']:.2f}) | cluster, {remote['actors']} actors: "
                  f"{remote['tps']:,.0f} tps (p99 {remote['p99']} ms, load {remote['load']:.2f}), "
                  f"collection per interval p50 {collect['p50']} ms, p99 {collect['p99']} ms, max {collect['max']} ms "
                  f"over {collect['intervals']} intervals; ratio {remote['tps'] / local['tps']:.2f}")
            print(f"        hosts: {remote['hosts']}")
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
