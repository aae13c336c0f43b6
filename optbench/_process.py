"""What optbench's threads and child processes (kernel compiling, report drawing) share."""
from __future__ import annotations

import os
from pathlib import Path


def child_env() -> dict:
    """The environment of a ``python -m optbench...`` child: ours, with this
    very optbench first on the path, wherever it was imported from."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, where there is one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
