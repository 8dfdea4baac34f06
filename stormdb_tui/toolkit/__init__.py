"""Helpers for workload authors, built-in and plugin alike.

``fastpath`` wraps psycopg's low-level ``pq`` calls for the hot path of a
transaction. Imports nothing of the engine: a workload depends on the
workload API (:mod:`stormdb_tui.workload`) and this toolkit only.
"""
