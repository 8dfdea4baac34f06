"""Built-in workloads: each module (or package) here exposes ``WORKLOAD``."""
