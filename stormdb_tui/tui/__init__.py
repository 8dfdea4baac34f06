"""The Textual workbench: pick a workload, set it up, watch it live, read the report.

This package is the only place that imports Textual or Rich (DESIGN section 3):
the engine runs headless without it. The app drives the engine's
:class:`~stormdb_tui.engine.runner.Runner` from one thread worker, reads the runner's
immutable :class:`~stormdb_tui.engine.metrics.RunSnapshot` on a timer, and learns
about lifecycle changes only from messages the runner's callbacks post.
"""
