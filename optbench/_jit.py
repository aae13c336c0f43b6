"""Numba compilation flags, decided in one place.

``fastmath`` stays off everywhere: it lets LLVM assume no NaN or inf, which
turns the divergence checks into no-ops and moves the step at which a run is
reported as diverged.  ``error_model="numpy"`` makes ``x / 0.0`` give inf or
NaN (as NumPy and torch do) instead of raising inside a kernel.
"""
from __future__ import annotations

import numba

JIT_OPTIONS = dict(nopython=True, cache=True, fastmath=False, error_model="numpy", nogil=True)


def jit(fn=None, **overrides):
    """``numba.njit`` with optbench's flags; ``@jit`` or ``@jit(inline="always")``."""
    options = {**JIT_OPTIONS, **overrides}
    if fn is None:
        return lambda f: numba.jit(**options)(f)
    return numba.jit(**options)(fn)
