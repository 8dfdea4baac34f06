"""The server monitor: what PostgreSQL saw while a run was measured.

``queries`` holds the version-dependent SQL, ``sample`` turns two readings
into per-interval rates (pure functions), ``poller`` runs the polling thread
on its own connection and ``summary`` condenses the samples for the report.

Imported by the engine and the front ends; imports only the foundation
modules (:mod:`stormdb_tui.db`, :mod:`stormdb_tui.errors`).
"""
