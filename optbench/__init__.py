"""optbench: benchmarks of gradient-based optimizers on known landscapes.

``optbench.run(spec) -> Results`` runs a sweep; ``optbench.load(path)``
reads one back.  ``optbench.objectives`` and ``optbench.optimizers`` are the
registries.
"""
from __future__ import annotations

__version__ = "0.1.0"

import importlib

from ._errors import OptbenchError, ResultsError, SpecError  # noqa: E402

_LAZY = {"run": "api", "load": "api", "warm": "api", "Results": "api", "check_gradients": "objectives.gradcheck"}
_SUBPACKAGES = ("api", "bench", "engine", "grid", "objectives", "optimizers", "report", "spec", "storage", "sweep")


def __getattr__(name):
    # Submodules load on first use: `import optbench` stays light for the CLI.
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'optbench' has no attribute {name!r}")


__all__ = [
    "OptbenchError",
    "ResultsError",
    "SpecError",
    "check_gradients",
    "load",
    "objectives",
    "optimizers",
    "run",
    "Results",
]
