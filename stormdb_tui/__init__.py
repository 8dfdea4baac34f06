"""stormdb-tui: a PostgreSQL load-testing workbench.

The engine (everything outside ``stormdb_tui.tui``) never imports Textual, so
headless runs and engine tests work without a terminal UI loaded.
"""

__version__ = "0.1.0"
TOOL_NAME = "stormdb-tui"
