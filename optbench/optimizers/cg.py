r"""Nonlinear conjugate gradient, Polak-Ribiere+ with a strong-Wolfe search.

One optbench step is one iteration (Nocedal & Wright, Algorithm 5.4 with
the PR+ choice (5.44))::

    d_1 = -g_1
    beta_k = max(0, g_k . (g_k - g_{k-1}) / (g_{k-1} . g_{k-1}))
    d_k = -g_k + beta_k d_{k-1}     (d_k = -g_k when that is not a descent direction)
    t_k from the strong-Wolfe search (torch's, c1, c2, at most 25 trials), first trying
        min(1, 1 / |g_1|_1) lr            at k = 1 (as torch's L-BFGS)
        t_{k-1} (g_{k-1} . d_{k-1}) / (g_k . d_k)   after (N&W (3.60); lr where that is not positive)
    x_{k+1} = x_k + t_k d_k

c2 = 0.1 by default, as Nocedal & Wright advise for conjugate gradients
(SciPy's CG uses 0.4).  Evaluations: the line search's trials; the value
and gradient at the accepted point are the next iteration's, so the
driver's evaluation there is not counted again.
"""
from __future__ import annotations

import math

from .._jit import jit
from ._registry import Hyper, Optimizer, hyper_slots, no_schedule, register, require
from .linesearch import abs_sum, dot, pymin, strong_wolfe

HYPERS = (
    Hyper("lr", 1.0, "scale of the first iteration's trial step"),
    Hyper("c1", 1e-4, "sufficient decrease (Armijo) constant"),
    Hyper("c2", 0.1, "curvature constant of the strong Wolfe conditions (c1 < c2 < 1)"),
)
LR, C1, C2 = hyper_slots(HYPERS, "lr", "c1", "c2")
D_ROW, PREV_G_ROW, WORK_ROW = 0, 1, 2
SC = 7  # scalars in column 0 of rows 7.. : previous t, previous g . d
T_PREV, GTD_PREV = 0, 1
MAX_LS = 25


@jit
def cg_step(x, g, f, state, hp, sched, t, closure):
    """One PR+ conjugate-gradient iteration; returns its evaluations (see the module docstring)."""
    n = x.shape[0]
    d = state[D_ROW]
    prev_g = state[PREV_G_ROW]
    work = state[WORK_ROW:WORK_ROW + 5]
    if t == 1:
        for i in range(n):
            d[i] = -g[i]
        t0 = pymin(1.0, 1.0 / abs_sum(g)) * hp[LR]
    else:
        gg_prev = dot(prev_g, prev_g)
        num = 0.0
        for i in range(n):
            num += g[i] * (g[i] - prev_g[i])
        beta = num / gg_prev
        beta = beta if beta > 0.0 else 0.0  # PR+ (also 0 for NaN)
        for i in range(n):
            d[i] = -g[i] + beta * d[i]
        if not dot(g, d) < 0.0:  # not a descent direction: restart
            for i in range(n):
                d[i] = -g[i]
        t0 = state[SC + T_PREV, 0] * state[SC + GTD_PREV, 0] / dot(g, d)
        if not (t0 > 0.0 and math.isfinite(t0)):
            t0 = hp[LR]
    gtd = dot(g, d)
    repeat = 0 if t == 1 else 1  # the driver's evaluation at x repeated the accepted trial
    if not gtd < 0.0:  # a zero (or NaN) gradient: nowhere to go
        return -repeat
    f_new, step, evals = strong_wolfe(x, t0, d, f, g, gtd, closure, work, hp[C1], hp[C2], 1e-9, MAX_LS)
    for i in range(n):
        prev_g[i] = g[i]
        x[i] = x[i] + step * d[i]
    state[SC + T_PREV, 0] = step
    state[SC + GTD_PREV, 0] = gtd
    return evals - repeat


def cg_check(values: dict) -> None:
    c1, c2 = values["c1"], values["c2"]
    require(values["lr"] > 0.0, "cg", f"lr must be > 0, got {values['lr']!r}")
    require(0.0 < c1 < c2 < 1.0, "cg", f"c1 and c2 must satisfy 0 < c1 < c2 < 1, got c1={c1!r}, c2={c2!r}")


CG = register(Optimizer(
    name="cg", torch_name="", summary="nonlinear conjugate gradient (Polak-Ribiere+), strong-Wolfe line search",
    hypers=HYPERS, n_state=SC + 2, n_sched=0, step=cg_step, schedule=no_schedule, check=cg_check, doc=__doc__,
    elementwise=False, per_step_hypers=False, closure=True,
))
