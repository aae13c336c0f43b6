"""This machine as optbench sees it: usable cores, available memory, the
environment of its child processes (kernel compiling, report drawing), and
sizes written as people read them."""
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


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable; 8 GiB where unknown)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def format_bytes(n: float) -> str:
    """``n`` bytes with a binary unit and three significant digits: ``"512 B"``, ``"1.5 GiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
