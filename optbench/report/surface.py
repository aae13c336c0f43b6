"""A 2-D objective's surface on a grid, for contour backgrounds.

The registered ``fg`` is a compiled single-point function; calling it in a
plain loop over a 150 x 150 grid costs far less than compiling a vectorized
helper per objective would.
"""
from __future__ import annotations

import numpy as np


def evaluate(problem, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """f on the grid ``x`` (columns) by ``y`` (rows); NaN where not finite."""
    fg = problem.objective.fg
    args = problem.args
    batched = problem.batched
    rows = problem.all_rows() if batched else None
    point = np.empty(2)
    grad = np.empty(2)
    out = np.empty((len(y), len(x)))
    transform = getattr(problem, "transform", None)
    with np.errstate(all="ignore"):
        for i, yv in enumerate(y):
            point[1] = yv
            for j, xv in enumerate(x):
                point[0] = xv
                if transform is not None:  # a rotated / shifted instance: as the runs saw it
                    out[i, j] = problem.value(point)
                else:
                    out[i, j] = fg(point, grad, rows, *args) if batched else fg(point, grad, *args)
    out[~np.isfinite(out)] = np.nan
    return out


def grid(problem, extent, n: int | None = None):
    """(X axis, Y axis, Z) over ``extent`` = (x0, x1, y0, y1)."""
    if n is None:
        n = 80 if problem.batched else 150
    x = np.linspace(extent[0], extent[1], n)
    y = np.linspace(extent[2], extent[3], n)
    return x, y, evaluate(problem, x, y)
