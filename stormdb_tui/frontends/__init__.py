"""Front ends without a screen: the command line and the headless runner.

``cli`` parses arguments and dispatches to ``headless`` (``run --no-ui``,
``setup``, ``check``, ``report``) or to the Textual app in
:mod:`stormdb_tui.tui`. Nothing in the package imports this folder.
"""
