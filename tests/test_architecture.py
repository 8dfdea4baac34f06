"""Rule 1 of the design: the engine never imports Textual or Rich."""

from __future__ import annotations

import subprocess
import sys

ENGINE_MODULES = [
    "stormdb_tui.frontends.cli",
    "stormdb_tui.config",
    "stormdb_tui.engine.runner",
    "stormdb_tui.engine.workers",
    "stormdb_tui.engine.metrics",
    "stormdb_tui.report.model",
    "stormdb_tui.report.markdown",
    "stormdb_tui.frontends.headless",
    "stormdb_tui.engine.plan",
    "stormdb_tui.registry",
    "stormdb_tui.embedded",
]


def test_engine_imports_no_textual():
    code = (
        "import importlib, sys\n"
        f"for name in {ENGINE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "from stormdb_tui.registry import discover\n"
        "discover()\n"
        "try:\n"
        "    import stormdb_tui.monitor.poller\n"
        "except ImportError:\n"
        "    pass\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"engine imported: {result.stdout}"
