"""The engine: from a run plan to a finished run.

``plan`` resolves a config into a :class:`~stormdb_tui.engine.plan.RunPlan`;
``runner`` drives one run (prepare, workers, sampler, report); ``workers``
and ``processes`` are the two worker pools; ``metrics`` holds the per-thread
recorders, the interval merge and the immutable snapshot front ends read;
``tutorials`` is the model of a guided tutorial (a scripted series of runs).

Imported by the front ends (:mod:`stormdb_tui.frontends`, :mod:`stormdb_tui.tui`).
The engine itself never imports a front end, Textual or Rich.
"""
