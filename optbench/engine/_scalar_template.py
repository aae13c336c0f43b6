"""Sweep driver for one (objective, optimizer) pair -- a code template.

optbench.engine.drivers substitutes the two marked import lines with the pair's
objective and optimizer functions and writes the result to its kernel cache
folder, so Numba compiles one specialized driver per pair (step and an
analytic fg inlined, a data objective's fg called: see drivers._fill; no
function-pointer calls) and caches it on disk like any other module.
Everything below the markers is shared by every pair.  The generic driver
(optbench.engine.generic) is this template with the adapters calling the
first-class functions of the ``kernels`` argument instead (``()`` here).

Per run r in [lo, hi): x <- x0[r]; for t = 0 .. steps: evaluate f and the
gradient at x (for data objectives the full-data value is evaluated at
logged steps, the minibatch gradient drives the update), record, check
targets / divergence / gradient tolerance, then take optimizer step t + 1.

With TRANSFORM the objective is an instance f(R (x - s) + c) (see
optbench.objectives.instances).  With CLOSURE the optimizer's step
evaluates the objective itself (a line search, L-BFGS) through the closure
(fg, its arguments, the instance's transform, scratch) and returns how many
evaluations it made; the driver counts them, one more per step, into
curve_e, evals_final and target_evals.
"""
import math

import numpy as np

from optbench._codes import CONVERGED as STATUS_CONVERGED
from optbench._codes import DIVERGED as STATUS_DIVERGED
from optbench._codes import ESCAPED as STATUS_ESCAPED
from optbench._codes import SPLITMIX_GAMMA, SPLITMIX_M1, SPLITMIX_M2, SPLITMIX_SHIFTS
from optbench._codes import UNCONVERGED as STATUS_UNCONVERGED
from optbench._jit import jit
from optbench.objectives.instances import pull_back, to_base
from optbench.objectives.surfaces import sphere_fg as fg  # @@FG@@
from optbench.optimizers.sgd import sgd_step as step  # @@STEP@@

fg_step = fg  # @@FGSTEP@@

BATCHED = False  # @@BATCHED@@
VALUE_ONLY = False  # @@VALUE_ONLY@@
STATE_SIZE = 1  # @@STATE@@
PER_STEP = False  # @@PER_STEP@@
CLIP = False  # @@CLIP@@
CLOSURE = False  # @@CLOSURE@@
TRANSFORM = False  # @@TRANSFORM@@


# @@ADAPTERS-BEGIN@@
@jit(inline="always")
def full_fg(x, g, all_rows, args, kernels):
    return fg(x, g, *args)


@jit(inline="always")
def rows_fg(x, g, rows, args, kernels):
    return fg(x, g, *args)


@jit(inline="always")
def opt_step(x, g, f, state, hp, sched, t, all_rows, args, xform, y, gy, kernels):
    step(x, g, state, hp, sched, t)
    return 0


@jit(inline="always")
def state_rows(kernels):
    return STATE_SIZE


# @@ADAPTERS-END@@

GAMMA = np.uint64(SPLITMIX_GAMMA)
M1 = np.uint64(SPLITMIX_M1)
M2 = np.uint64(SPLITMIX_M2)
S30 = np.uint64(SPLITMIX_SHIFTS[0])
S27 = np.uint64(SPLITMIX_SHIFTS[1])
S31 = np.uint64(SPLITMIX_SHIFTS[2])
S32 = np.uint64(32)
S11 = np.uint64(11)


@jit(inline="always")
def splitmix(key, k):
    """k-th SplitMix64 draw of the stream ``key`` (counter-based: no state)."""
    z = key + np.uint64(k) * GAMMA
    z = (z ^ (z >> S30)) * M1
    z = (z ^ (z >> S27)) * M2
    return z ^ (z >> S31)


@jit(inline="always")
def uniform01(key, k):
    """A double in (0, 1) from draw k (53 random bits, never exactly 0)."""
    return (float(splitmix(key, k) >> S11) + 0.5) * (1.0 / 9007199254740992.0)


@jit
def add_noise(g, key, t, sigma):
    """g += sigma * N(0, 1) per coordinate; Box-Muller on counter draws.

    Draw numbers k = 2 (t n + i) + 1 and + 2 are reserved for coordinate i
    at step t, so the noise a run sees never depends on chunking.
    """
    n = g.shape[0]
    for i in range(n):
        k = 2 * (t * n + i) + 1
        u1 = uniform01(key, k)
        u2 = uniform01(key, k + 1)
        g[i] += sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@jit
def draw_rows(rows, key, t, n_samples):
    """Minibatch row indices for step t (with replacement), as the peer harness's logreg-minibatch:
    draw k = t B + j + 1, index = ((u >> 32) N) >> 32."""
    b = rows.shape[0]
    for j in range(b):
        u = splitmix(key, t * b + j + 1)
        rows[j] = np.int64(((u >> S32) * np.uint64(n_samples)) >> S32)


@jit(inline="always")
def objective(x, g, all_rows, args, kernels, xform, y, gy):
    """f and its gradient at x: the instance's f(R (x - s) + c) with TRANSFORM."""
    if TRANSFORM:
        to_base(x, xform[0], xform[1], xform[2], y)
        f = full_fg(y, gy, all_rows, args, kernels)
        pull_back(gy, xform[0], g)
        return f
    return full_fg(x, g, all_rows, args, kernels)


@jit(inline="always")
def clip_grad(g, max_norm, norm_type, clip_value):
    """torch's ``clip_grad_norm_(max_norm, norm_type)`` then
    ``clip_grad_value_(clip_value)`` on one run's gradient (inf: not
    clipped): the coefficient ``max_norm / (norm + 1e-6)`` clamped to 1
    multiplies every coordinate, NaN propagating as in torch."""
    n = g.shape[0]
    if max_norm < np.inf:
        total = 0.0
        if norm_type == np.inf:
            for i in range(n):
                a = abs(g[i])
                total = a if (a > total) | (a != a) else total
        else:
            for i in range(n):
                total += g[i] * g[i]
            total = math.sqrt(total)
        coef = max_norm / (total + 1e-6)
        c = coef if not (coef >= 1.0) else 1.0
        for i in range(n):
            g[i] = g[i] * c
    if clip_value < np.inf:
        for i in range(n):
            v = g[i]
            v = -clip_value if v < -clip_value else v
            g[i] = clip_value if v > clip_value else v


@jit
def run_chunk(lo, hi, x0, hp, sched_idx, sched, hpt, clip, keys, noise, batch, args, all_rows, kernels, xform,
              steps, log_every, f_star, targets, grad_tol, div_factor, f_escape,
              curve_f, curve_g, curve_x, x_final, f_final, f_best, grad_norm_final, steps_run,
              n_logged, status, target_steps, converged_step, curve_e, evals_final, target_evals):
    """Run runs lo..hi-1 of the group, filling the output rows of those runs.

    curve_g / curve_x have 0 columns when not recorded.  targets are sorted
    in decreasing order; target_steps[r, k] stays -1 until gap <= targets[k].
    The per-step bookkeeping is a handful of scalar compares: logging uses a
    countdown, targets are checked against the next one only.  With
    PER_STEP, step t + 1 reads the hyperparameters ``hpt[sched_idx[r], t]``
    (a scheduler's lr ...) instead of ``hp[r]``; with CLIP the gradient is
    clipped by ``clip[sched_idx[r]]`` = (max_norm, norm_type, clip_value)
    before the step (after the noise: torch clips what backward gave).
    curve_e / target_evals have 0 columns unless CLOSURE (evaluations then
    follow from the steps).
    """
    n = x0.shape[1]
    record_g = curve_g.shape[1] > 0
    record_x = curve_x.shape[1] > 0
    n_targets = targets.shape[0]
    have_f_star = np.isfinite(f_star)
    unbounded = f_star == -np.inf
    use_tol = grad_tol > 0.0
    tol2 = grad_tol * grad_tol
    g = np.empty(n)
    state = np.zeros((state_rows(kernels), n))
    rows = np.empty(batch.max(), dtype=np.int64)
    y = np.empty(n if TRANSFORM else 0)
    gy = np.empty(n if TRANSFORM else 0)
    n_all = all_rows.shape[0]
    for r in range(lo, hi):
        x = x0[r].copy()
        state[:, :] = 0.0
        hp_r = hp[r]
        si = sched_idx[r]
        sched_r = sched[si]
        key = keys[r]
        sigma = noise[r]
        b = batch[r]
        rows_r = rows[:b]
        f_hi = np.inf
        f_lo = -np.inf
        best = np.inf
        next_target = 0
        target_val = targets[0] if n_targets > 0 else -np.inf
        conv = -1
        next_log = 0
        li = 0
        st = STATUS_UNCONVERGED
        f = np.nan
        gn2 = np.nan
        t = 0
        ev = 0
        while True:
            log_now = t == next_log
            evaluated = True
            if BATCHED:
                # the full-data value at logged steps; the update uses the
                # minibatch gradient (or, with b == 0, the full one).  Where
                # nothing reads the full-data gradient, an objective that
                # can (VALUE_ONLY) skips computing it: g[:0] is empty.
                if b == 0 or (log_now and (not VALUE_ONLY or use_tol or t == steps or record_g)):
                    f = full_fg(x, g, all_rows, args, kernels)
                elif log_now:
                    f = full_fg(x, g[:0], all_rows, args, kernels)
                else:
                    evaluated = False
            else:
                f = objective(x, g, all_rows, args, kernels, xform, y, gy)
            if evaluated:
                if t == 0:
                    ref = f_star if have_f_star else f
                    f_hi = ref + div_factor * max(abs(f - ref), 1.0)
                    if unbounded:
                        f_lo = f_escape
                if not (f <= f_hi):  # also NaN
                    st = STATUS_DIVERGED
                    break
                if f < f_lo:
                    st = STATUS_ESCAPED
                    break
                if f < best:
                    best = f
                gap = f - f_star
                if gap <= target_val:
                    while next_target < n_targets and gap <= targets[next_target]:
                        target_steps[r, next_target] = t
                        if CLOSURE:
                            target_evals[r, next_target] = ev
                        next_target += 1
                    if next_target == n_targets:
                        target_val = -np.inf
                        if conv < 0:
                            conv = t
                    else:
                        target_val = targets[next_target]
                need_gn = use_tol or t == steps or (log_now and record_g)
                if need_gn:
                    gn2 = 0.0
                    for i in range(n):
                        gn2 += g[i] * g[i]
                if log_now:
                    curve_f[r, li] = f
                    if CLOSURE:
                        curve_e[r, li] = ev
                    if record_g:
                        curve_g[r, li] = math.sqrt(gn2)
                    if record_x:
                        for i in range(n):
                            curve_x[r, li, i] = x[i]
                    li += 1
                    next_log = min(next_log + log_every, steps)
                if use_tol and gn2 <= tol2:
                    if conv < 0:
                        conv = t
                    break
                if t == steps:
                    break
            if BATCHED and b > 0:
                draw_rows(rows_r, key, t, n_all)
                fb = rows_fg(x, g, rows_r, args, kernels)
                if not math.isfinite(fb):
                    f = fb
                    st = STATUS_DIVERGED
                    break
            if sigma > 0.0:
                add_noise(g, key, t, sigma)
            if CLIP:
                clip_grad(g, clip[si, 0], clip[si, 1], clip[si, 2])
            extra = opt_step(x, g, f, state, hpt[si, t] if PER_STEP else hp_r, sched_r[t], t + 1, all_rows, args,
                             xform, y, gy, kernels)
            if CLOSURE:
                ev += 1 + extra
            t += 1
        if conv >= 0 and st == STATUS_UNCONVERGED:
            st = STATUS_CONVERGED
        if st == STATUS_DIVERGED or st == STATUS_ESCAPED:
            # the last logged point is the one that left the bounds
            if li < curve_f.shape[1]:
                curve_f[r, li] = f
                if CLOSURE:
                    curve_e[r, li] = ev
                if record_x:
                    for i in range(n):
                        curve_x[r, li, i] = x[i]
                li += 1
            gn2 = np.nan
        f_final[r] = f
        grad_norm_final[r] = math.sqrt(gn2)
        converged_step[r] = conv
        status[r] = st
        steps_run[r] = t
        n_logged[r] = li
        f_best[r] = best
        if CLOSURE:
            evals_final[r] = ev
        for i in range(n):
            x_final[r, i] = x[i]
