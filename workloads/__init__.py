"""Plugin workloads shipped with stormdb-tui."""
