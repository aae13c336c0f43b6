r"""L-BFGS: ``torch.optim.LBFGS``, line for line.

One optbench step is one ``optimizer.step(closure)``: it starts from the
value and gradient at ``x`` (torch's ``orig_loss = closure()``, the
driver's evaluation) and runs up to ``max_iter`` iterations of

    d = -H g     (two-loop recursion over the last ``history_size`` pairs
                  (s, y) with ys > 1e-10; H0 = ys / yy of the newest pair)
    t = min(1, 1 / |g|_1) lr   on the very first iteration, else lr
    x = x + t d  (with ``line_search_fn = "strong_wolfe"``: t from torch's
                  strong-Wolfe search, c1 = 1e-4, c2 = 0.9, at most
                  max_eval - (evaluations so far in this step) evaluations)

stopping the step when ``max_iter`` or ``max_eval`` is reached, the
gradient's largest entry is at most ``tolerance_grad``, or the step or the
change in loss is below ``tolerance_change``; ``g . d > -tolerance_change``
also ends it (no descent).  The history, ``d``, ``t`` and the iteration
count carry over to the next step, as in torch's state.  Evaluations are
counted as torch's ``state["func_evals"]``: the step's first evaluation,
then one per line-search trial (or per iteration without a search, the
last iteration excepted).

``line_search_fn``: ``"none"`` (torch's None: a fixed step t) or
``"strong_wolfe"``.  ``max_eval`` defaults to ``max_iter * 5 // 4``, as
torch's None.  Without a search, ``lr`` is the step itself (torch's
default 1 makes the first iterations Newton-like only once the history
scales them).  Arithmetic: torch's operations in torch's order; its
reductions (dot products, norms) sum in another order, so trajectories
agree to ~1e-12 relative, not bit for bit.
"""
from __future__ import annotations

import numpy as np

from .._jit import jit
from ._registry import Hyper, Optimizer, hyper_slots, no_schedule, register, require
from .linesearch import abs_max, abs_sum, dot, evaluate, fma, pymin, step_to, strong_wolfe

HYPERS = (
    Hyper("lr", 1.0, "step length (the line search's first trial with strong_wolfe)"),
    Hyper("max_iter", 20.0, "iterations per step", integer=True),
    Hyper("max_eval", 25.0, "evaluations per step (default max_iter * 5 // 4)", integer=True),
    Hyper("tolerance_grad", 1e-7, "a step ends once max |g| <= tolerance_grad"),
    Hyper("tolerance_change", 1e-9, "a step ends once the step or the loss change is below it"),
    Hyper("history_size", 100.0, "(s, y) pairs kept", integer=True),
    Hyper("line_search_fn", "none", "\"none\" (fixed step lr) or \"strong_wolfe\"", choices=("none", "strong_wolfe")),
)
LR, MAX_ITER, MAX_EVAL, TOL_GRAD, TOL_CHANGE, HISTORY, LINE_SEARCH = hyper_slots(
    HYPERS, "lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size", "line_search_fn")

# state rows past the 2 H history rows (y, then s): d, the previous
# gradient, five line-search rows, then scalars in column 0 of further rows
D_ROW, PREV_G_ROW, WORK_ROW = 0, 1, 2
N_VECTORS = 7
T_, H_DIAG, PREV_LOSS, N_ITER, NUM_OLD, START = range(6)
N_SCALARS = 6  # then ro[H] and al[H]


def lbfgs_rows(hp: np.ndarray) -> int:
    """State rows for history size H: 2 H history rows, 7 vectors, 6 + 2 H scalars."""
    h = int(hp[HISTORY])
    return 4 * h + N_VECTORS + N_SCALARS


@jit
def lbfgs_step(x, g, f, state, hp, sched, t, closure):
    """One ``torch.optim.LBFGS.step(closure)``; returns the evaluations it made after the first."""
    lr = hp[LR]
    max_iter = int(hp[MAX_ITER])
    max_eval = int(hp[MAX_EVAL])
    tolerance_grad = hp[TOL_GRAD]
    tolerance_change = hp[TOL_CHANGE]
    hist = int(hp[HISTORY])
    wolfe = hp[LINE_SEARCH] != 0.0
    n = x.shape[0]
    base = 2 * hist
    d = state[base + D_ROW]
    prev_g = state[base + PREV_G_ROW]
    work = state[base + WORK_ROW:base + WORK_ROW + 5]
    sc = base + N_VECTORS  # scalar k lives at state[sc + k, 0]
    ro0 = sc + N_SCALARS
    al0 = ro0 + hist
    loss = f
    current_evals = 1
    extra = 0
    if abs_max(g) <= tolerance_grad:
        return 0
    step_t = state[sc + T_, 0]
    h_diag = state[sc + H_DIAG, 0]
    prev_loss = state[sc + PREV_LOSS, 0]
    glob = int(state[sc + N_ITER, 0])
    num_old = int(state[sc + NUM_OLD, 0])
    start = int(state[sc + START, 0])
    opt_cond = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        glob += 1
        if glob == 1:
            for i in range(n):
                d[i] = -g[i]
            num_old = 0
            start = 0
            h_diag = 1.0
        else:
            y = work[1]
            s = work[2]
            for i in range(n):
                y[i] = g[i] - prev_g[i]
                s[i] = d[i] * step_t
            ys = dot(y, s)
            if ys > 1e-10:
                if num_old == hist:  # drop the oldest pair
                    slot = start
                    start = (start + 1) % hist
                else:
                    slot = (start + num_old) % hist
                    num_old += 1
                for i in range(n):
                    state[slot, i] = y[i]
                    state[hist + slot, i] = s[i]
                state[ro0 + slot, 0] = 1.0 / ys
                h_diag = ys / dot(y, y)
            # two-loop recursion, in d (torch's q, then r)
            for i in range(n):
                d[i] = -g[i]
            for k in range(num_old - 1, -1, -1):
                slot = (start + k) % hist
                al = dot(state[hist + slot], d) * state[ro0 + slot, 0]
                state[al0 + slot, 0] = al
                for i in range(n):
                    d[i] = fma(-al, state[slot, i], d[i])
            for i in range(n):
                d[i] = d[i] * h_diag
            for k in range(num_old):
                slot = (start + k) % hist
                be = dot(state[slot], d) * state[ro0 + slot, 0]
                coef = state[al0 + slot, 0] - be
                for i in range(n):
                    d[i] = fma(coef, state[hist + slot, i], d[i])
        for i in range(n):
            prev_g[i] = g[i]
        prev_loss = loss
        if glob == 1:
            step_t = pymin(1.0, 1.0 / abs_sum(g)) * lr
        else:
            step_t = lr
        gtd = dot(g, d)
        if gtd > -tolerance_change:
            break
        ls_func_evals = 0
        if wolfe:
            loss, step_t, ls_func_evals = strong_wolfe(x, step_t, d, loss, g, gtd, closure, work, 1e-4, 0.9, 1e-9,
                                                       max_eval - current_evals)
            step_to(x, step_t, d, x)
            for i in range(n):
                g[i] = work[0, i]
            opt_cond = abs_max(g) <= tolerance_grad
        else:
            step_to(x, step_t, d, x)
            if n_iter != max_iter:
                loss = evaluate(x, g, closure)
                opt_cond = abs_max(g) <= tolerance_grad
                ls_func_evals = 1
        current_evals += ls_func_evals
        extra += ls_func_evals
        if n_iter == max_iter:
            break
        if current_evals >= max_eval:
            break
        if opt_cond:
            break
        moved = 0.0
        for i in range(n):
            v = abs(d[i] * step_t)
            if v > moved or v != v:
                moved = v
        if moved <= tolerance_change:
            break
        if abs(loss - prev_loss) < tolerance_change:
            break
    state[sc + T_, 0] = step_t
    state[sc + H_DIAG, 0] = h_diag
    state[sc + PREV_LOSS, 0] = prev_loss
    state[sc + N_ITER, 0] = glob
    state[sc + NUM_OLD, 0] = num_old
    state[sc + START, 0] = start
    return extra


def lbfgs_check(values: dict) -> None:
    """torch's lr >= 0; counts of at least 1 (torch's step fails on less)."""
    require(values["lr"] >= 0.0, "lbfgs", f"lr must be >= 0, got {values['lr']!r}")
    for name in ("max_iter", "max_eval", "history_size"):
        require(values[name] >= 1, "lbfgs", f"{name} must be at least 1, got {values[name]:g}")
    for name in ("tolerance_grad", "tolerance_change"):
        require(values[name] >= 0.0, "lbfgs", f"{name} must be >= 0, got {values[name]!r}")


def lbfgs_derive(given: set, values: dict) -> None:
    """torch's ``max_eval=None``: ``max_iter * 5 // 4``."""
    if "max_eval" not in given:
        values["max_eval"] = float(int(values["max_iter"]) * 5 // 4)


LBFGS = register(Optimizer(
    name="lbfgs", torch_name="LBFGS",
    summary="L-BFGS with torch's fixed step or strong-Wolfe line search; one step = one step(closure)",
    hypers=HYPERS, n_state=0, n_sched=0, step=lbfgs_step, schedule=no_schedule, check=lbfgs_check,
    doc=__doc__, elementwise=False, per_step_hypers=False, closure=True, state_size=lbfgs_rows,
    derive=lbfgs_derive,
))
