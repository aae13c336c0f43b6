"""Gradient check: every analytic gradient against central finite differences.

For each registered objective, and for each variant worth checking (every
dimension in ``CHECK_DIMS`` that it accepts, and every value of a parameter
with a fixed list of choices, such as a loss or a data set), draw points
uniformly in the objective's domain box and compare the compiled gradient
with central differences of the compiled value:

    g_fd[i] = (f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i),  h_i = eps^(1/3) max(1, |x_i|)

and report the relative error ``max_i |g_i - g_fd[i]| / (max_i |g_i| +
max_i |g_fd[i]| + 1e-8 (1 + |f|))`` (the floor keeps points where the
gradient is nearly zero from reading as failures).  With h ~ eps^(1/3) the
truncation and rounding errors of the differences are both ~eps^(2/3)
(~4e-11) relative, so a correct gradient lands far below ``tol = 1e-6``
and a wrong term lands far above it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .objectives import OBJECTIVES, Objective, Problem

CHECK_DIMS = (2, 5)
H_SCALE = np.finfo(np.float64).eps ** (1.0 / 3.0)


@dataclass(frozen=True)
class GradientCheck:
    objective: str
    variant: str
    dim: int
    points: int
    max_rel_error: float
    worst_point: tuple
    tol: float

    @property
    def passed(self) -> bool:
        return bool(self.max_rel_error <= self.tol)


def finite_difference_grad(problem: Problem, x: np.ndarray) -> np.ndarray:
    """Central differences of the compiled value function at ``x``."""
    g = np.empty_like(x)
    for i in range(x.size):
        h = H_SCALE * max(1.0, abs(x[i]))
        xp = x.copy()
        xm = x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (problem.value(xp) - problem.value(xm)) / (xp[i] - xm[i])
    return g


def relative_error(problem: Problem, x: np.ndarray) -> float:
    f, g = problem.value_and_grad(x)
    g_fd = finite_difference_grad(problem, x)
    scale = np.max(np.abs(g)) + np.max(np.abs(g_fd)) + 1e-8 * (1.0 + abs(f))
    return float(np.max(np.abs(g - g_fd)) / scale)


def variants(objective: Objective) -> list[tuple[str, int | None, dict]]:
    """(label, dim, params) combinations to check for one objective."""
    if objective.dim_from_data:
        dims: list[int | None] = [None]
    else:
        lo, hi = objective.dims
        dims = [d for d in CHECK_DIMS if d >= lo and (hi is None or d <= hi)] or [lo]
    out = [(f"dim={d}" if d is not None else "default", d, {}) for d in dims]
    for pname, param in objective.params.items():
        for choice in param.choices or ():
            if choice != param.default:
                out.append((f"{pname}={choice}", dims[0], {pname: choice}))
    return out


def check_objective(objective: Objective, points: int = 8, seed: int = 0, tol: float = 1e-6) -> list[GradientCheck]:
    results = []
    for label, dim, params in variants(objective):
        problem = objective.make(dim, **params)
        rng = np.random.default_rng([seed, len(results)])
        worst, worst_x = -1.0, None
        for _ in range(points):
            x = rng.uniform(problem.lower, problem.upper)
            err = relative_error(problem, x)
            if not err <= worst:  # also catches NaN
                worst, worst_x = err, x
        results.append(
            GradientCheck(objective.name, label, problem.dim, points, worst, tuple(np.round(worst_x, 6)), tol)
        )
    return results


def check_gradients(names=None, points: int = 8, seed: int = 0, tol: float = 1e-6) -> list[GradientCheck]:
    """Gradient check of the named objectives (default: all registered)."""
    names = list(OBJECTIVES) if names is None else list(names)
    out = []
    for name in names:
        out.extend(check_objective(OBJECTIVES[name], points=points, seed=seed, tol=tol))
    return out
