r"""Gradient descent with a backtracking Armijo line search (the textbook baseline).

One optbench step::

    alpha = lr
    repeat (at most 60 trials):
        x' = x - alpha g;  accept x' if f(x') <= f(x) - c1 alpha |g|^2;  else alpha = shrink alpha
    x = x' (the accepted trial; x stays where it is when none is accepted)

A trial whose value is NaN or inf is rejected like any other.  Evaluations:
the trials; the value and gradient at the accepted point are the next
step's, so the driver's evaluation there is not counted again.
"""
from __future__ import annotations

from .._jit import jit
from ._registry import Hyper, Optimizer, hyper_slots, no_schedule, register, require
from .linesearch import dot, evaluate

HYPERS = (
    Hyper("lr", 1.0, "first trial step of each line search"),
    Hyper("c1", 1e-4, "sufficient decrease constant"),
    Hyper("shrink", 0.5, "factor a rejected trial step is multiplied by"),
)
LR, C1, SHRINK = hyper_slots(HYPERS, "lr", "c1", "shrink")
MAX_TRIALS = 60
X_ROW, G_ROW = 0, 1


@jit
def gd_armijo_step(x, g, f, state, hp, sched, t, closure):
    """One backtracking gradient step; returns its evaluations (see the module docstring)."""
    n = x.shape[0]
    xn = state[X_ROW]
    gn = state[G_ROW]
    gg = dot(g, g)
    alpha = hp[LR]
    c1 = hp[C1]
    shrink = hp[SHRINK]
    evals = 0
    for _ in range(MAX_TRIALS):
        for i in range(n):
            xn[i] = x[i] - alpha * g[i]
        fn = evaluate(xn, gn, closure)
        evals += 1
        if fn <= f - c1 * alpha * gg:
            for i in range(n):
                x[i] = xn[i]
            break
        alpha = alpha * shrink
    return evals - (0 if t == 1 else 1)


def gd_armijo_check(values: dict) -> None:
    require(values["lr"] > 0.0, "gd_armijo", f"lr must be > 0, got {values['lr']!r}")
    require(0.0 < values["c1"] < 1.0, "gd_armijo", f"c1 must be in (0, 1), got {values['c1']!r}")
    require(0.0 < values["shrink"] < 1.0, "gd_armijo", f"shrink must be in (0, 1), got {values['shrink']!r}")


GD_ARMIJO = register(Optimizer(
    name="gd_armijo", torch_name="", summary="gradient descent with backtracking Armijo line search",
    hypers=HYPERS, n_state=2, n_sched=0, step=gd_armijo_step, schedule=no_schedule, check=gd_armijo_check,
    doc=__doc__, elementwise=False, per_step_hypers=False, closure=True,
))
