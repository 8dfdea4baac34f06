"""pgbench's script language as a workload engine.

* :mod:`.script` parses script files (SQL and meta-commands) with
  file:line:column errors and knows pgbench's built-in scripts;
* :mod:`.expr` compiles ``\\set``/``\\if`` expressions;
* :mod:`.randoms` holds pgbench's random distributions, ``permute`` and hashes;
* :mod:`.client` is the per-client state machine a driver advances;
* :mod:`.blocking` drives a client on one blocking connection (threaded engine).
"""

from stormdb_tui.pgbench.client import Client, Program
from stormdb_tui.pgbench.errors import ScriptError, ScriptRuntimeError
from stormdb_tui.pgbench.script import BUILTIN_SCRIPTS, QUERY_MODES, Script, load_scripts, parse_script

__all__ = [
    "BUILTIN_SCRIPTS",
    "QUERY_MODES",
    "Client",
    "Program",
    "Script",
    "ScriptError",
    "ScriptRuntimeError",
    "load_scripts",
    "parse_script",
]
