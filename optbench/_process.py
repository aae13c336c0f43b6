"""What optbench's child processes (kernel compiling, report drawing) share."""
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
