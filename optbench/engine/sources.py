"""The sources that a run's numbers depend on, listed once.

Two digests are made from these lists:

- a compiled driver's file name carries :func:`kernel_digest` (the
  template filled for the pair, the modules of the pair's functions, and
  :data:`KERNEL_SOURCES`), because Numba's cache checks only the timestamp
  of the file that holds a function, not of the functions it inlines;
- a results folder records :func:`code_digest` (:data:`RUN_SOURCES`: the
  kernels' sources and the Python that prepares their inputs and turns
  their outputs into tables), and ``optbench run`` resumes a folder only
  with the same digest, so a folder never mixes two builds' numbers.

Patterns are relative to the ``optbench`` package folder.
"""
from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]

# what compiled drivers are built from (helpers inlined from anywhere in
# objectives/ or optimizers/, the compile flags, the view intrinsics)
KERNEL_SOURCES = (
    "_jit.py",
    "_codes.py",
    "objectives/**/*.py",
    "optimizers/*.py",
    "engine/_scalar_template.py",
    "engine/_lane_template.py",
    "engine/_views.py",
)
# in optimizers/ but read in Python only (a driver is given their values,
# never their code): editing them recompiles nothing
NOT_KERNEL_SOURCES = ("optimizers/schedulers.py", "optimizers/_torch_lr.py")
# ... and what else decides a run's numbers: the data sets, the engine's
# Python side (schedules, escape values, blocks), the spec's resolution,
# the grid (initial points, stream keys), a chunk's computation and its tables
RUN_SOURCES = (
    *KERNEL_SOURCES,
    "objectives/datasets/*",
    "engine/*.py",
    "spec.py",
    "grid.py",
    "sweep/chunk.py",
    "storage/schema.py",
    "storage/tables.py",
)


def files(patterns: Iterable[str], package: Path = PACKAGE) -> list[Path]:
    """The files the patterns match, each once, in a fixed order."""
    found = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.relative_to(package).as_posix())


def kernel_files(package: Path = PACKAGE) -> list[Path]:
    """The files of :data:`KERNEL_SOURCES` but :data:`NOT_KERNEL_SOURCES`."""
    skip = set(files(NOT_KERNEL_SOURCES, package))
    return [p for p in files(KERNEL_SOURCES, package) if p not in skip]


def _hash(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _versions() -> list[str]:
    import numba

    from .. import __version__

    return [__version__, numba.__version__, sys.version]


def kernel_digest(*texts: str, package: Path = PACKAGE) -> str:
    """Digest of a driver: ``texts`` (its filled source, the sources of the
    modules of its fg and step), :data:`KERNEL_SOURCES`, optbench's, Numba's
    and Python's versions."""
    return _hash([*(t.encode() for t in texts), *(p.read_bytes() for p in kernel_files(package)),
                  *(v.encode() for v in _versions())])


def code_digest(package: Path = PACKAGE) -> str:
    """Digest of :data:`RUN_SOURCES` and the versions of optbench, Numba,
    NumPy and pyarrow: a results folder is resumed only by the same code."""
    import numpy as np
    import pyarrow as pa

    return _hash([*(v.encode() for v in (*_versions()[:2], np.__version__, pa.__version__)),
                  *(p.relative_to(package).as_posix().encode() + b"\0" + p.read_bytes()
                    for p in files(RUN_SOURCES, package))])
