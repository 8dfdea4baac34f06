"""``python -m stormdb_tui`` is the same as the ``stormdb-tui`` command."""

from stormdb_tui.frontends.cli import main

raise SystemExit(main())
