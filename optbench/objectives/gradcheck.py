"""Gradient check: every analytic gradient against central finite differences.

For each registered objective, and for each variant worth checking (every
dimension in ``CHECK_DIMS`` that it accepts, and every value of a parameter
with a fixed list of choices, such as a loss, an activation or a data set,
and, for analytic objectives, the rotated and shifted instance 1, whose
gradient goes through ``R^T``; see :func:`variants`), draw points
uniformly in the objective's domain box and compare the compiled gradient
with central differences of the compiled value (for data objectives, over
all rows and over a minibatch with repeated rows):

    g_fd[i] = (f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i),  h_i = eps^(1/3) max(1, |x_i|)

and report the relative error ``max_i |g_i - g_fd[i]| / (max_i |g_i| +
max_i |g_fd[i]| + 1e-8 (1 + |f|))`` (the floor keeps points where the
gradient is nearly zero from reading as failures).  With h ~ eps^(1/3) the
truncation and rounding errors of the differences are both ~eps^(2/3)
(~4e-11) relative, so a correct gradient lands far below ``tol = 1e-6``
and a wrong term lands far above it.

Objectives with kinks (ReLU units, the hinge) are differentiable almost
everywhere, but a kink within ``h`` of a point spoils the differences of
the coordinates that move across it.  A point whose error exceeds ``tol`` is
therefore measured again with ``h/16`` and ``h/256`` and keeps the smallest
error: a kink nearby disappears at a smaller step (rounding stays ~1e-9
relative), a wrong gradient does not.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .._errors import SpecError
from ._registry import OBJECTIVES, Objective, Problem

CHECK_DIMS = (2, 5)
# the rotated and shifted instance checked for every analytic objective
ROTATED_PARAMS = {"rotate": True, "shift": True, "instance": 1}
ROTATED_LABEL = "rotate+shift instance 1"
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


RETRY_STEPS = (1.0 / 16.0, 1.0 / 256.0)  # step factors tried where the error exceeds tol (kinks)


def finite_difference_grad(problem: Problem, x: np.ndarray, h_scale: float = H_SCALE,
                           rows: np.ndarray | None = None) -> np.ndarray:
    """Central differences of the compiled value function at ``x`` (over the
    data rows ``rows`` of a data objective; default: all of them)."""
    g = np.empty_like(x)
    for i in range(x.size):
        h = h_scale * max(1.0, abs(x[i]))
        xp = x.copy()
        xm = x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (problem.value(xp, rows) - problem.value(xm, rows)) / (xp[i] - xm[i])
    return g


def relative_error(problem: Problem, x: np.ndarray, h_scale: float = H_SCALE, rows: np.ndarray | None = None) -> float:
    """``max_i |g_i - g_fd[i]|`` over the scale of both gradients (see the module docstring)."""
    f, g = problem.value_and_grad(x, rows)
    g_fd = finite_difference_grad(problem, x, h_scale, rows)
    scale = np.max(np.abs(g)) + np.max(np.abs(g_fd)) + 1e-8 * (1.0 + abs(f))
    return float(np.max(np.abs(g - g_fd)) / scale)


def gradient_error(problem: Problem, x: np.ndarray, rows: np.ndarray | None = None, tol: float = 1e-6) -> float:
    """:func:`relative_error` at ``x``, measured again with smaller steps
    (:data:`RETRY_STEPS`) while it exceeds ``tol``, the smallest kept: a
    kink within ``h`` of ``x`` disappears at a smaller step, a wrong gradient
    does not.  NaN stays NaN."""
    err = relative_error(problem, x, rows=rows)
    for factor in RETRY_STEPS:
        if err <= tol:
            break
        err = min(err, relative_error(problem, x, H_SCALE * factor, rows))
    return err


def minibatch_rows(problem: Problem, seed: int = 1, size: int = 37, repeated: int = 5) -> np.ndarray:
    """``size`` data rows drawn with replacement, the first ``repeated`` of
    them the same row: a minibatch as the engine draws them, repeats included."""
    rows = np.random.default_rng(seed).integers(0, problem.n_samples, size)
    rows[:repeated] = rows[0]
    return rows


def variants(objective: Objective) -> list[tuple[str, int | None, dict]]:
    """(label, dim, params) combinations to check for one objective.

    Every dimension of :data:`CHECK_DIMS` accepted; every value of every
    parameter with a fixed list of choices, the others
    at their defaults; where the objective refuses that combination (a
    perceptron's ``activation = "tanh"`` with the default cross-entropy
    loss), the first combination with the other choice parameters that it
    accepts (defaults first, then in their listed order), so that each
    value is checked once; for an analytic objective, also its rotated and
    shifted instance 1 (:data:`ROTATED_PARAMS`) in the largest of those
    dimensions.
    """
    if objective.dim_from_data:
        dims: list[int | None] = [None]
    else:
        lo, hi = objective.dims
        dims = [d for d in CHECK_DIMS if d >= lo and (hi is None or d <= hi)] or [lo]
    out = [(f"dim={d}" if d is not None else "default", d, {}) for d in dims]
    seen = [{}]
    choice_params = {k: p for k, p in objective.params.items() if p.choices}
    for pname, param in choice_params.items():
        for choice in param.choices:
            if choice == param.default:
                continue
            params = _accepted_with(objective, pname, choice, choice_params)
            if params is None or params in seen:
                continue
            seen.append(params)
            label = ",".join(f"{k}={v}" for k, v in params.items())
            out.append((label, dims[0], params))
    if not objective.batched:
        # the gradient through the rotation and shift (optbench.objectives.instances)
        out.append((ROTATED_LABEL, dims[-1], dict(ROTATED_PARAMS)))
    return out


def _accepted(objective: Objective, params: dict) -> bool:
    """Whether the objective's parameter checks accept ``params`` (nothing is built)."""
    try:
        resolved = objective.resolve_params(params)
        if objective.check_given is not None:
            objective.check_given(set(params), resolved)
    except SpecError:
        return False
    return True


def _accepted_with(objective: Objective, pname: str, choice, choice_params: dict) -> dict | None:
    """``{pname: choice}``, or with the fewest other choice parameters changed
    that make it acceptable; None if no combination is accepted."""
    params = {pname: choice}
    if _accepted(objective, params):
        return params
    others = [(k, (p.default, *[c for c in p.choices if c != p.default])) for k, p in choice_params.items()
              if k != pname]
    for values in itertools.product(*(vals for _, vals in others)):
        changed = {k: v for (k, p), v in zip(others, values) if v != choice_params[k].default}
        params = {pname: choice, **changed}
        if _accepted(objective, params):
            return params
    return None


def check_objective(objective: Objective, points: int = 8, seed: int = 0, tol: float = 1e-6) -> list[GradientCheck]:
    results = []
    for label, dim, params in variants(objective):
        problem = objective.make(dim, **params)
        rng = np.random.default_rng([seed, len(results)])
        worst, worst_x = -1.0, None
        for k in range(points):
            x = rng.uniform(problem.lower, problem.upper)
            err = gradient_error(problem, x, tol=tol)
            if problem.batched:  # and over a minibatch with repeated rows, as a step sees it
                batch = minibatch_rows(problem, seed=k, size=min(37, 2 * problem.n_samples))
                err_batch = gradient_error(problem, x, batch, tol=tol)
                err = err_batch if not err_batch <= err else err  # the worse one; NaN wins
            if not err <= worst:  # also catches NaN
                worst, worst_x = err, x
        results.append(
            GradientCheck(objective.name, label, problem.dim, points, worst, tuple(np.round(worst_x, 6)), tol)
        )
    return results


def check_gradients(names=None, points: int = 8, seed: int = 0, tol: float = 1e-6) -> list[GradientCheck]:
    """Gradient check of the named objectives (default: all registered)."""
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise SpecError(f"points must be a positive number of points per variant, got {points!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0.0 < tol < float("inf"):
        raise SpecError(f"tol must be a positive finite relative error, got {tol!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError(f"seed must be an integer >= 0, got {seed!r}")
    names = list(OBJECTIVES) if names is None else list(names)
    out = []
    for name in names:
        out.extend(check_objective(OBJECTIVES[name], points=points, seed=seed, tol=tol))
    return out
