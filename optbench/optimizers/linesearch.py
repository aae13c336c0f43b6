r"""What closure optimizers share: evaluating the objective, and line searches.

A closure step (see :mod:`optbench.optimizers._registry`) gets the
objective as an opaque ``closure`` argument and evaluates it at a point
with :func:`evaluate`.  The strong-Wolfe search is ``torch.optim.lbfgs``'s
``_strong_wolfe`` (ported from minFunc through torch/optim's lswolfe.lua),
line for line: its bracketing phase, the cubic interpolation with torch's
safeguards, and its zoom with the "insufficient progress" rule, so that
:mod:`.lbfgs` follows ``torch.optim.LBFGS(line_search_fn="strong_wolfe")``.

Python's ``min``/``max`` on two numbers keep the first unless the second is
strictly smaller/larger; :func:`pymin`/:func:`pymax` do the same, so NaN
propagates exactly as in torch's Python code.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._jit import jit
from ..objectives.instances import pull_back, to_base


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (LLVM's ``llvm.fma``): torch's CPU kernels
    compute ``p.add_(d, alpha=t)`` as ``fma(t, d, p)``."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        f64 = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64, f64, f64]))
        return builder.call(fn, args)

    return sig, codegen


@jit
def evaluate(x, g, closure):
    """The objective's value at ``x``, its gradient written into ``g``.

    ``closure`` is what the driver passes to a closure step: the compiled
    ``fg`` (a first-class function), its arguments (a data objective's rows
    first), and an instance's rotation ``R``, shift ``s`` and anchor ``c``
    (``R`` empty: none) with two scratch vectors."""
    fn, args, R, s, c, y, gy = closure
    if R.shape[0] == 0:
        return fn(x, g, *args)
    to_base(x, R, s, c, y)
    f = fn(y, gy, *args)
    pull_back(gy, R, g)
    return f


@jit(inline="always")
def pymin(a, b):
    return b if b < a else a


@jit(inline="always")
def pymax(a, b):
    return b if b > a else a


@jit(inline="always")
def dot(a, b):
    """``a . b`` summed as torch's CPU ``dot`` sums short vectors (MKL's
    ``ddot``): products accumulate into eight partial sums by ``i mod 8``,
    unfused; the even ones and the odd ones are added up in order, then the two."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    n = a.shape[0]
    i = 0
    while i + 8 <= n:
        s0 += a[i] * b[i]
        s1 += a[i + 1] * b[i + 1]
        s2 += a[i + 2] * b[i + 2]
        s3 += a[i + 3] * b[i + 3]
        s4 += a[i + 4] * b[i + 4]
        s5 += a[i + 5] * b[i + 5]
        s6 += a[i + 6] * b[i + 6]
        s7 += a[i + 7] * b[i + 7]
        i += 8
    r = n - i
    if r > 0:
        s0 += a[i] * b[i]
    if r > 1:
        s1 += a[i + 1] * b[i + 1]
    if r > 2:
        s2 += a[i + 2] * b[i + 2]
    if r > 3:
        s3 += a[i + 3] * b[i + 3]
    if r > 4:
        s4 += a[i + 4] * b[i + 4]
    if r > 5:
        s5 += a[i + 5] * b[i + 5]
    if r > 6:
        s6 += a[i + 6] * b[i + 6]
    return (((s0 + s2) + s4) + s6) + (((s1 + s3) + s5) + s7)


@jit(inline="always")
def abs_max(a):
    """``a.abs().max()`` (NaN if any entry is NaN, as torch)."""
    m = 0.0
    for i in range(a.shape[0]):
        v = abs(a[i])
        if v > m or v != v:
            m = v
    return m


@jit(inline="always")
def abs_sum(a):
    """``a.abs().sum()`` summed as torch's CPU reduction mostly does for
    short vectors: four partial sums by ``i mod 4``, the rest into the first."""
    s0 = s1 = s2 = s3 = 0.0
    n = a.shape[0]
    m = n - n % 4
    for i in range(0, m, 4):
        s0 += abs(a[i])
        s1 += abs(a[i + 1])
        s2 += abs(a[i + 2])
        s3 += abs(a[i + 3])
    for i in range(m, n):
        s0 += abs(a[i])
    return ((s0 + s1) + s2) + s3


@jit(inline="always")
def step_to(x, t, d, out):
    """``out = x + t d`` as torch's ``p.add_(d, alpha=t)`` computes it."""
    for i in range(x.shape[0]):
        out[i] = fma(t, d[i], x[i])


@jit(inline="always")
def copy(src, dst):
    for i in range(src.shape[0]):
        dst[i] = src[i]


@jit
def cubic_interpolate(x1, f1, g1, x2, f2, g2, xmin_bound, xmax_bound):
    """torch's ``_cubic_interpolate``: the minimiser of the cubic through
    (x1, f1, g1) and (x2, f2, g2), clamped to the bounds (the midpoint of
    the bounds when the cubic has none)."""
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return pymin(pymax(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


@jit
def strong_wolfe(x, t, d, f, g, gtd, closure, work, c1, c2, tolerance_change, max_ls):
    """torch's ``_strong_wolfe`` from ``x`` along ``d``, first trying step ``t``.

    ``f``, ``g``, ``gtd``: value, gradient and ``g . d`` at ``x``.  ``work``:
    five scratch rows of ``x``'s length.  Returns ``(f_new, t, evaluations)``
    with the gradient at ``x + t d`` in ``work[0]``; ``x`` is not moved.
    """
    g_new, x_new, g_prev, bg = work[0], work[1], work[2], work[3:5]
    d_norm = abs_max(d)
    step_to(x, t, d, x_new)
    f_new = evaluate(x_new, g_new, closure)
    ls_func_evals = 1
    gtd_new = dot(g_new, d)
    t_prev, f_prev, gtd_prev = 0.0, f, gtd
    copy(g, g_prev)
    done = False
    ls_iter = 0
    # torch's bracket lists: steps br, values brf, slopes brg, gradients in rows bg
    br, brf, brg = np.zeros(2), np.zeros(2), np.zeros(2)
    single = False  # torch's one-element bracket (the Wolfe point found at once)
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            _bracket(br, brf, brg, bg, t_prev, f_prev, gtd_prev, g_prev, t, f_new, gtd_new, g_new)
            break
        if abs(gtd_new) <= -c2 * gtd:
            br[0], brf[0] = t, f_new
            copy(g_new, bg[0])
            single = True
            done = True
            break
        if gtd_new >= 0:
            _bracket(br, brf, brg, bg, t_prev, f_prev, gtd_prev, g_prev, t, f_new, gtd_new, g_new)
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, min_step, max_step)
        t_prev = tmp
        f_prev = f_new
        copy(g_new, g_prev)
        gtd_prev = gtd_new
        step_to(x, t, d, x_new)
        f_new = evaluate(x_new, g_new, closure)
        ls_func_evals += 1
        gtd_new = dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:
        # torch's bracket [0, t]; its slopes stay as they were (never read: no zoom follows)
        br[0], br[1], brf[0], brf[1] = 0.0, t, f, f_new
        copy(g, bg[0])
        copy(g_new, bg[1])
    low = 0 if single or brf[0] <= brf[1] else 1
    insuf_progress = False
    while not done and ls_iter < max_ls:
        if abs(br[1] - br[0]) * d_norm < tolerance_change:
            break
        # torch's bounds=None: (x1, x2) if x1 <= x2 else (x2, x1)
        t = cubic_interpolate(br[0], brf[0], brg[0], br[1], brf[1], brg[1], br[0] if br[0] <= br[1] else br[1],
                              br[1] if br[0] <= br[1] else br[0])
        hi_b = pymax(br[0], br[1])
        lo_b = pymin(br[0], br[1])
        eps = 0.1 * (hi_b - lo_b)
        if pymin(hi_b - t, t - lo_b) < eps:
            if insuf_progress or t >= hi_b or t <= lo_b:
                if abs(t - hi_b) < abs(t - lo_b):
                    t = hi_b - eps
                else:
                    t = lo_b + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        step_to(x, t, d, x_new)
        f_new = evaluate(x_new, g_new, closure)
        ls_func_evals += 1
        gtd_new = dot(g_new, d)
        ls_iter += 1
        high = 1 - low
        if f_new > (f + c1 * t * gtd) or f_new >= brf[low]:
            # Armijo fails or no lower than the low end: the new point is the high end
            br[high], brf[high], brg[high] = t, f_new, gtd_new
            copy(g_new, bg[high])
            low = 0 if brf[0] <= brf[1] else 1
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (br[high] - br[low]) >= 0:
                # the old low end becomes the high end
                br[high], brf[high], brg[high] = br[low], brf[low], brg[low]
                copy(bg[low], bg[high])
            # the new point becomes the low end
            br[low], brf[low], brg[low] = t, f_new, gtd_new
            copy(g_new, bg[low])
    copy(bg[low], g_new)
    return brf[low], br[low], ls_func_evals


@jit(inline="always")
def _bracket(br, brf, brg, bg, t0, f0, gtd0, g0, t1, f1, gtd1, g1):
    """torch's two-point bracket [t0, t1] with its values, slopes and gradients."""
    br[0], br[1], brf[0], brf[1], brg[0], brg[1] = t0, t1, f0, f1, gtd0, gtd1
    copy(g0, bg[0])
    copy(g1, bg[1])
