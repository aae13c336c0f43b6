"""Machine-learning objectives: logistic regression, softmax regression, least squares.

Each is a *data objective* (``batched=True``): its compiled function ::

    f = fg(x, g, rows, X, y, ...)

returns the mean loss over the data rows ``rows`` (int64 row indices, repeats
allowed: a minibatch) plus the L2 penalty, and writes the gradient into
``g``.  Full batch is ``rows = arange(n_samples)``.  The functions are plain
loops (rows outer, features inner) whose only allocations are per-call
scratch (a batch's margins, the softmax's ``n_classes`` logits); the sweep
drivers call them from their nogil kernels, one call per (mini)batch.

Parameter layout (``θ``, dimension fixed by the data): the intercept, when
there is one, comes *after* the weights it belongs to, and is never
penalized.

* ``logistic``      θ = (w_1..w_d[, b]),                     dim = d [+ 1]
* ``softmax``       θ = K rows (w_k1..w_kd[, b_k]), row-major, dim = K (d [+ 1])
* ``least_squares`` θ = (w_1..w_d[, b]),                     dim = d [+ 1]

Penalty: ``(l2 / 2) ||w||²`` over the weights (intercepts excluded).

Known optimum (``f_star``, and ``minima`` when it is attained), computed
once per data set and parameters at build time and cached in memory:

* least squares: closed form (``numpy.linalg.lstsq``; with ``l2 > 0`` on the
  system augmented by ``sqrt(n l2 / 2)`` times the penalized coordinates).
  Always attained (the minimum-norm minimizer when it is not unique).
* logistic cross-entropy, softmax cross-entropy: damped Newton with a
  backtracking line search, then full Newton steps down to the rounding
  floor (gradient norm ~1e-15 for well-posed data); a minimizer is
  recorded when the gradient is <= 1e-9 and the next Newton step <= 1e-6.
  With ``l2 = 0`` the infimum need not be attained:

  - the data are *separable* (some ``θ`` classifies every row correctly
    with a positive margin, and Newton's iterates reach one: a
    certificate): ``f_star = 0``, no minimum (e.g. breast_cancer with an
    intercept, wine);
  - *partly* separable (e.g. iris: setosa is separable from the rest, the
    other two classes are not): the iterates run off along the separating
    direction while the loss converges (gradient -> 0, Newton step stays
    >= 1e-3); ``f_star`` is the loss where it stops decreasing (the
    infimum, to ~1e-14), no minimum.

  Softmax: the loss does not change when the same vector is added to every
  class row, so the minimizer is a line/plane, not a point; the recorded
  one is the centered representative (class rows summing to zero on those
  coordinates: all of them when ``l2 = 0``, the intercepts when
  ``l2 > 0``), the one of least norm.  (Newton runs on the loss plus
  ½||Σ_k θ_k||² over those coordinates, which vanishes there.)
* logistic ``hinge`` (convex, non-smooth): with ``l2 > 0`` the SVM dual is
  solved (SMO with second-order working-set selection with an intercept;
  dual coordinate descent without) to a KKT violation of 1e-12;
  ``f_star`` is the primal value at the solution, certified by a duality
  gap <= 1e-10 (else ``nan``; also ``nan`` when the solve would exceed
  ``SVM_WORK``, e.g. w3 with an intercept).  With ``l2 = 0``: separable
  data give ``f_star = 0`` (attained, on an unbounded cone of separating
  θ, so no location is recorded); otherwise ``nan`` (unknown: a linear
  program, not solved here).
* logistic ``mse`` (non-convex): ``f_star = 0`` (not attained) when
  ``l2 = 0`` and the data are separable, otherwise ``nan`` (unknown).

Every recorded ``f_star`` that comes with a minimizer is the compiled
``fg`` evaluated there, so ``fg(x*) == f_star`` exactly.  A solve that does
not meet its tolerance gives ``nan`` rather than a wrong number, and so do
problems too large to solve in a few seconds (``n * dim²`` above
``MAX_HESSIAN_WORK``).

Initialization box: ``[-1, 1]^dim`` for every ML objective (the data are
standardized or unit-scale; least-squares targets are not, so its optimal
intercept can lie outside the box).

Modules: :mod:`.common` (the shared kernel pieces, parameters and box),
:mod:`.logistic`, :mod:`.softmax`, :mod:`.least_squares` (one objective
each: its compiled function, its optimum, its registration) and
:mod:`.optimum` (the solvers).
"""
from __future__ import annotations

from . import least_squares, logistic, softmax  # noqa: F401  (register the objectives)
from .common import (
    CROSS_ENTROPY,
    DOMAIN,
    HINGE,
    LOSSES,
    MAX_ELEMENTS,
    MSE,
    margins,
    mean_plus_l2,
    row_dot,
    sigmoid_from_e,
    sigmoid_pair,
)
from .least_squares import least_squares_fg
from .logistic import logistic_fg, logistic_fg_step
from .optimum import MAX_HESSIAN_WORK
from .softmax import softmax_fg

__all__ = [
    "CROSS_ENTROPY", "DOMAIN", "HINGE", "LOSSES", "MAX_ELEMENTS", "MAX_HESSIAN_WORK", "MSE", "least_squares_fg",
    "logistic_fg", "logistic_fg_step", "margins", "mean_plus_l2", "row_dot", "sigmoid_from_e", "sigmoid_pair",
    "softmax_fg",
]
