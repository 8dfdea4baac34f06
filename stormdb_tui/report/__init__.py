"""Reports: the report model and every way it is rendered.

``model`` is the JSON-backed :class:`~stormdb_tui.report.model.Report`
(the source of truth, written atomically), ``markdown`` renders it for pull
requests and wikis, ``fmt`` formats numbers for every front end alike.

Imported by the engine and the front ends; imports neither of them.
"""
