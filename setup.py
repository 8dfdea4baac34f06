"""Package list only; every other piece of metadata is in pyproject.toml.

The repository keeps its plugin workloads in the top-level ``workloads/``
folder, but they install as ``stormdb_tui.plugins`` so that site-packages
gains no generic top-level ``workloads`` package. pyproject.toml cannot map
a found folder onto another package name, so the list is computed here.
"""

import sys

from setuptools import Extension, find_packages, setup

PLUGINS = "stormdb_tui.plugins"

setup(
    packages=find_packages(include=["stormdb_tui", "stormdb_tui.*"])
    + [PLUGINS]
    + [f"{PLUGINS}.{name}" for name in find_packages("workloads")],
    package_dir={PLUGINS: "workloads"},
    # The straight-script round trips in C (engine/_fastloop.c). Optional: where it cannot be
    # built (no compiler, not Linux) the multiplexed driver runs those round trips in Python.
    ext_modules=[
        Extension("stormdb_tui.engine._fastloop", ["stormdb_tui/engine/_fastloop.c"], optional=True,
                  extra_compile_args=["-O2"])
    ]
    if sys.platform.startswith("linux")
    else [],
)
