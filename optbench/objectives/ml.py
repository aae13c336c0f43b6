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
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from .._errors import SpecError
from .._jit import jit
from . import data as D
from ._registry import Built, Minimum, Objective, Param, box, register
from ._vmath import dot_chains8, log1p_unit, vexp

LOSSES = ("cross_entropy", "mse", "hinge")
CROSS_ENTROPY, MSE, HINGE = 0, 1, 2
DOMAIN = (-1.0, 1.0)
MAX_ELEMENTS = 100_000_000  # n_samples * n_features of synthetic data (800 MB)
MAX_HESSIAN_WORK = 1e9  # n * dim² above this: the optimum is not computed (f_star = nan)

# ===================================================================== kernels


@jit(inline="always")
def row_dot(X, i, x, nf):
    """``X[i, :nf] · x[:nf]`` with 8 partial sums (element j goes to sum
    j mod 8), added as ((s0+s4) + (s1+s5)) + ((s2+s6) + (s3+s7)), then the
    last nf mod 8 products in order.  A fixed order, so the same for every
    run and thread; eight independent chains instead of one, so the
    products do not wait on each other's additions (fastmath, which would
    let LLVM pick an order itself, stays off).  The chains are one vector
    (:func:`~optbench.objectives._vmath.dot_chains8`): 20 -> 13 ns a row of
    32 features on Zen 1, the same bits."""
    z = dot_chains8(X, i, x, nf)
    j = nf - nf % 8
    while j < nf:
        z += X[i, j] * x[j]
        j += 1
    return z


@jit(inline="always")
def margins(x, rows, X, b):
    """``z_r = b + X[rows[r]] · x[:nf]`` for every row of the batch (the
    dot product as in :func:`row_dot`).  All margins come first, before any
    loss: the rows of a minibatch are gathered from all over X, and
    computing them in one pass lets the CPU overlap those loads instead of
    waiting on each row."""
    nf = X.shape[1]
    nb = rows.shape[0]
    zs = np.empty(nb)
    for r in range(nb):
        zs[r] = b + row_dot(X, rows[r], x, nf)
    return zs


@jit(inline="always")
def sigmoid_pair(z):
    """(e, σ(z), σ(-z)) with e = exp(-|z|): both probabilities without
    overflow, and 1 - σ(z) without cancellation."""
    e = math.exp(-abs(z))
    p, q = sigmoid_from_e(e, z)
    return e, p, q


@jit(inline="always")
def sigmoid_from_e(e, z):
    """(σ(z), σ(-z)) from e = exp(-|z|)."""
    if z >= 0.0:
        return 1.0 / (1.0 + e), e / (1.0 + e)
    return e / (1.0 + e), 1.0 / (1.0 + e)


@jit(inline="always")
def _mean_plus_l2(f, x, g, nb, dim, nf, l2):
    """Sums over the batch -> means; then + (l2/2)||w||^2 on the first nf
    entries (the weights; intercepts excluded).  Returns f.  An empty ``g``
    (value only) is left alone."""
    f = f / nb
    inv = 1.0 / nb
    want_g = g.shape[0] > 0
    if want_g:
        for j in range(dim):
            g[j] *= inv
    if l2 != 0.0:
        sq = 0.0
        for j in range(nf):
            sq += x[j] * x[j]
            if want_g:
                g[j] += l2 * x[j]
        f += 0.5 * l2 * sq
    return f


@jit
def logistic_fg(x, g, rows, X, y, loss, l2, has_b):
    """Binary linear classifier, z = w·x_i (+ b), labels y_i in {0, 1}.

    loss 0 cross-entropy  softplus(z) - y z,  softplus(z) = max(z, 0) + log1p(exp(-|z|))
    loss 1 mse            (σ(z) - y)²
    loss 2 hinge          max(0, 1 - t z),  t = 2y - 1  (on the margin z, not on σ(z);
                                                        subgradient 0 at the kink)
    Mean over ``rows``, plus (l2/2)||w||².
    """
    return _logistic(x, g, rows, X, y, loss, l2, has_b, True)


@jit
def logistic_fg_step(x, g, rows, X, y, loss, l2, has_b):
    """``logistic_fg`` for an optimizer step's minibatch (the objective's
    ``fg_step``): the same gradient, and a value the driver only tests for
    finiteness.  For the cross-entropy it drops log1p(exp(-|z|)) from each
    term: that part lies in [0, log 2], so the sum is finite exactly when the
    loss is, and when it is not (a NaN or infinite z) both are the same NaN
    or inf.  (W3, one process beside the C peer: 0.74x -> 0.81x c_omp.)"""
    return _logistic(x, g, rows, X, y, loss, l2, has_b, False)


@jit(inline="always")
def _add_row(g, d, X, i, nf):
    """g[:nf] += d * X[i]: one row's part of the weights' gradient (nothing for d = 0).

    The intercept's part (d itself) is summed by the caller in a local and
    added to g[nf] once after the loop over rows: a store to g[nf] behind a
    test of has_b in that loop made the minibatch step ~1.8x slower (W3's
    128 rows x 32 features: 5.5 -> 2.9 us; the C peer 2.3).  The sum is the same, in the same order, from
    the same 0.0, so the gradient is unchanged bit for bit."""
    if d != 0.0:
        for j in range(nf):
            g[j] += d * X[i, j]


@jit(inline="always")
def _logistic(x, g, rows, X, y, loss, l2, has_b, exact):
    nf = X.shape[1]
    dim = x.shape[0]
    want_g = g.shape[0] > 0  # an empty g: the value only
    for j in range(g.shape[0]):
        g[j] = 0.0
    b = x[nf] if has_b else 0.0
    f = 0.0
    nb = rows.shape[0]
    zs = margins(x, rows, X, b)
    if loss == 0:
        # First each row's term (into zs) and σ(z) - y: no call and no
        # branch in this loop (exp and log1p from _vmath), so it vectorises
        # across rows; then the sum in row order and the gradient.  Without
        # ``exact`` (fg_step) the term drops log1p(exp(-|z|)), in [0, log 2].
        # The labels are gathered first: an indexed load in that loop keeps
        # LLVM from vectorising it.  ds[r] then becomes σ(z) - y in place.
        ds = np.empty(nb)
        for r in range(nb):
            ds[r] = y[rows[r]]
        for r in range(nb):
            z = zs[r]
            yi = ds[r]
            e = vexp(-abs(z))
            if exact:
                zs[r] = (max(z, 0.0) + log1p_unit(e)) - yi * z
            else:
                zs[r] = max(z, 0.0) - yi * z
            if want_g:
                p, q = sigmoid_from_e(e, z)  # σ(z), 1 - σ(z)
                ds[r] = (1.0 - yi) * p - yi * q  # σ(z) - y
        for r in range(nb):
            f += zs[r]
        if want_g:
            gb = 0.0
            for r in range(nb):
                d = ds[r]
                _add_row(g, d, X, rows[r], nf)
                gb += d
            if has_b:
                g[nf] += gb
        return _mean_plus_l2(f, x, g, nb, dim, nf, l2)
    gb = 0.0
    for r in range(nb):
        i = rows[r]
        z = zs[r]
        yi = y[i]
        if loss == 2:
            t = 2.0 * yi - 1.0
            m = 1.0 - t * z
            if m > 0.0:
                f += m
                d = -t
            else:
                d = 0.0
        else:
            e, p, q = sigmoid_pair(z)  # p = σ(z), q = 1 - σ(z)
            dz = (1.0 - yi) * p - yi * q  # σ(z) - y
            f += dz * dz
            d = 2.0 * dz * p * q
        if want_g:
            _add_row(g, d, X, i, nf)
            gb += d
    if want_g and has_b:
        g[nf] += gb
    return _mean_plus_l2(f, x, g, nb, dim, nf, l2)


@jit
def softmax_fg(x, g, rows, X, y, n_classes, l2, has_b):
    """Multinomial logistic regression: mean of logsumexp(z) - z_y, z_k = w_k·x_i (+ b_k).

    Log-sum-exp shifted by max_k z_k (no overflow for any finite logits);
    gradient (p - onehot(y)) x_iᵀ per row, p = softmax(z).
    """
    nf = X.shape[1]
    dim = x.shape[0]
    stride = nf + 1 if has_b else nf
    z = np.empty(n_classes)
    want_g = g.shape[0] > 0  # an empty g: the value only
    for j in range(g.shape[0]):
        g[j] = 0.0
    f = 0.0
    nb = rows.shape[0]
    for r in range(nb):
        i = rows[r]
        zmax = -np.inf
        for k in range(n_classes):
            base = k * stride
            s = x[base + nf] if has_b else 0.0
            for j in range(nf):
                s += X[i, j] * x[base + j]
            z[k] = s
            if s > zmax:
                zmax = s
        yi = y[i]
        zy = z[yi]
        tot = 0.0
        for k in range(n_classes):
            e = math.exp(z[k] - zmax)
            z[k] = e
            tot += e
        f += (zmax + math.log(tot)) - zy
        if not want_g:
            continue
        inv_tot = 1.0 / tot
        for k in range(n_classes):
            d = z[k] * inv_tot
            if k == yi:
                d -= 1.0
            base = k * stride
            for j in range(nf):
                g[base + j] += d * X[i, j]
            if has_b:
                g[base + nf] += d
    f = f / nb
    inv = 1.0 / nb
    if want_g:
        for j in range(dim):
            g[j] *= inv
    if l2 != 0.0:
        sq = 0.0
        for k in range(n_classes):
            base = k * stride
            for j in range(nf):
                v = x[base + j]
                sq += v * v
                if want_g:
                    g[base + j] += l2 * v
        f += 0.5 * l2 * sq
    return f


@jit
def least_squares_fg(x, g, rows, X, y, l2, has_b):
    """Mean squared error (1/n) Σ (w·x_i (+ b) - y_i)²; gradient (2/n) Σ r_i x_i."""
    nf = X.shape[1]
    dim = x.shape[0]
    want_g = g.shape[0] > 0  # an empty g: the value only
    for j in range(g.shape[0]):
        g[j] = 0.0
    b = x[nf] if has_b else 0.0
    f = 0.0
    nb = rows.shape[0]
    zs = margins(x, rows, X, b)
    gb = 0.0  # the intercept's part, added once (see _add_row)
    for r in range(nb):
        i = rows[r]
        res = zs[r] - y[i]
        f += res * res
        if want_g:
            d = 2.0 * res
            for j in range(nf):
                g[j] += d * X[i, j]
            gb += d
    if want_g and has_b:
        g[nf] += gb
    return _mean_plus_l2(f, x, g, nb, dim, nf, l2)


# ================================================================ solutions


class _Solution:
    """What a solve found: value, location (None: not attained), how."""

    __slots__ = ("f", "x", "status", "detail")

    def __init__(self, f: float, x: np.ndarray | None, status: str, detail: str = ""):
        self.f = float(f)
        self.x = x
        self.status = status  # converged | separable | infimum | unknown | failed | too_large
        self.detail = detail
        if x is not None:
            x.setflags(write=False)


_SOLVED: OrderedDict = OrderedDict()
_SOLVED_MAX = 64


def _cached(key, compute):
    """A small LRU cache keyed by (data digest, variant parameters)."""
    hit = _SOLVED.get(key)
    if hit is not None:
        _SOLVED.move_to_end(key)
        return hit
    sol = compute()
    _SOLVED[key] = sol
    if len(_SOLVED) > _SOLVED_MAX:
        _SOLVED.popitem(last=False)
    return sol


def _design(X: np.ndarray, has_b: bool) -> np.ndarray:
    if not has_b:
        return np.asarray(X)
    return np.hstack([X, np.ones((X.shape[0], 1))])


def _solve_psd(H: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve H s = rhs for a positive semi-definite H (tiny Levenberg shift)."""
    mu = 1e-13 * max(float(np.trace(H)) / H.shape[0], 1e-300)
    Hm = H + mu * np.eye(H.shape[0])
    try:
        L = np.linalg.cholesky(Hm)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(Hm, rhs, rcond=None)[0]
    return np.linalg.solve(L.T, np.linalg.solve(L, rhs))


def _newton(fun, theta, separated, max_iter=300):
    """Damped Newton on a smooth convex ``fun(theta, hess) -> (f, g, H)``.

    Armijo backtracking while the Newton decrement gᵀH⁻¹g is measurable in
    f; below 1e-12 (1 + |f|) full Newton steps while they still reduce the
    gradient norm (the quadratic phase, down to the rounding floor).
    Returns (theta, f, status):

    * ``separable`` - ``separated(theta)`` became true (the loss can be
      driven to 0 by scaling theta);
    * ``converged`` - gradient <= 1e-9 and the next Newton step <= 1e-6:
      theta is a minimizer;
    * ``infimum``   - gradient <= 1e-9 but the Newton step stays >= 1e-3:
      the iterates run off along a direction in which the loss keeps
      decreasing towards its infimum (f is that limit, not attained);
    * ``failed``    - anything else.
    """
    f, g, H = fun(theta, True)
    for _ in range(max_iter):
        if separated is not None and separated(theta):
            return theta, f, "separable"
        step = _solve_psd(H, -g)
        dec = float(-g @ step)
        if dec > 1e-12 * (1.0 + abs(f)):
            t = 1.0
            for _ls in range(60):
                cand = theta + t * step
                fc = fun(cand, False)[0]
                if fc <= f - 1e-4 * t * dec:
                    break
                t *= 0.5
            else:
                break  # no decrease found: rounding floor
            theta = cand
            f, g, H = fun(theta, True)
        else:
            cand = theta + step
            fc, gc, Hc = fun(cand, True)
            if not np.linalg.norm(gc) < np.linalg.norm(g):
                break  # the gradient no longer shrinks: rounding floor
            theta, f, g, H = cand, fc, gc, Hc
    gnorm = float(np.linalg.norm(g))
    snorm = float(np.linalg.norm(_solve_psd(H, -g)))
    if gnorm <= 1e-9 and snorm <= 1e-6:
        return theta, f, "converged"
    if gnorm <= 1e-9 and snorm >= 1e-3:
        return theta, f, "infimum"
    return theta, f, "failed"


def _hessian_too_large(n: int, dim: int) -> bool:
    return float(n) * dim * dim > MAX_HESSIAN_WORK


# ---------------------------------------------------------------- binary


def _binary_newton(ds: D.Dataset, l2: float, has_b: bool) -> tuple[np.ndarray, float, str]:
    """Cross-entropy logistic regression by Newton (loss in the accurate form softplus(-t z))."""
    A = _design(ds.X, has_b)
    y = np.asarray(ds.y)
    t = 2.0 * y - 1.0
    n, dim = A.shape
    nw = ds.n_features

    def fun(theta, hess):
        z = A @ theta
        m = t * z
        loss = np.maximum(-m, 0.0) + np.log1p(np.exp(-np.abs(m)))
        w = theta[:nw]
        f = loss.mean() + 0.5 * l2 * float(w @ w)
        if not hess:
            return f, None, None
        e = np.exp(-np.abs(z))
        p = np.where(z >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))
        q = np.where(z >= 0.0, e / (1.0 + e), 1.0 / (1.0 + e))
        d = (1.0 - y) * p - y * q
        g = A.T @ d / n
        g[:nw] += l2 * w
        H = (A.T * (p * q)) @ A / n
        H[np.arange(nw), np.arange(nw)] += l2
        return f, g, H

    def separated(theta):
        return bool(np.all(t * (A @ theta) > 0.0))

    return _newton(fun, np.zeros(dim), separated if l2 == 0.0 else None)


@jit
def _svm_smo(A, t, C, tol, max_iter):
    """Dual of min ½||w||² + C Σ max(0, 1 - t_i (w·a_i + b)) with an intercept b:
    min ½ αᵀQα - Σα, 0 <= α <= C, Σ α t = 0, Q_ij = t_i t_j a_i·a_j.

    SMO with second-order working-set selection (Fan, Chen, Lin, JMLR 2005),
    w = Σ α t a kept up to date.  Returns (α, w, b, iterations, violation).
    """
    n, d = A.shape
    alpha = np.zeros(n)
    w = np.zeros(d)
    G = -np.ones(n)  # gradient of the dual: t_k w·a_k - 1
    kdiag = np.empty(n)
    ki = np.empty(n)
    kj = np.empty(n)
    for k in range(n):
        s = 0.0
        for c in range(d):
            s += A[k, c] * A[k, c]
        kdiag[k] = s
    it = 0
    viol = np.inf
    while it < max_iter:
        if it % 500 == 0:  # refresh G from w (no drift)
            for k in range(n):
                s = 0.0
                for c in range(d):
                    s += A[k, c] * w[c]
                G[k] = t[k] * s - 1.0
        i = -1
        gmax = -np.inf
        gmin = np.inf
        for k in range(n):
            v = -t[k] * G[k]
            if (t[k] > 0 and alpha[k] < C) or (t[k] < 0 and alpha[k] > 0):
                if v > gmax:
                    gmax = v
                    i = k
            if (t[k] > 0 and alpha[k] > 0) or (t[k] < 0 and alpha[k] < C):
                if v < gmin:
                    gmin = v
        viol = gmax - gmin
        if viol <= tol or i < 0:
            break
        for k in range(n):
            s = 0.0
            for c in range(d):
                s += A[k, c] * A[i, c]
            ki[k] = s
        j = -1
        best = np.inf
        for k in range(n):
            if (t[k] > 0 and alpha[k] > 0) or (t[k] < 0 and alpha[k] < C):
                v = -t[k] * G[k]
                bb = gmax - v
                if bb > 0.0:
                    a = kdiag[i] + kdiag[k] - 2.0 * ki[k]
                    if a <= 1e-12:
                        a = 1e-12
                    score = -bb * bb / a
                    if score < best:
                        best = score
                        j = k
        if j < 0:
            break
        for k in range(n):
            s = 0.0
            for c in range(d):
                s += A[k, c] * A[j, c]
            kj[k] = s
        a = kdiag[i] + kdiag[j] - 2.0 * ki[j]
        if a <= 1e-12:
            a = 1e-12
        lam = (gmax + t[j] * G[j]) / a
        lim = C - alpha[i] if t[i] > 0 else alpha[i]
        if lam > lim:
            lam = lim
        lim = alpha[j] if t[j] > 0 else C - alpha[j]
        if lam > lim:
            lam = lim
        # α_i += t_i λ, α_j -= t_j λ; keep the bounds exact
        alpha[i] = min(max(alpha[i] + t[i] * lam, 0.0), C)
        alpha[j] = min(max(alpha[j] - t[j] * lam, 0.0), C)
        # Δ(α t) = λ for i and -λ for j
        for c in range(d):
            w[c] += lam * (A[i, c] - A[j, c])
        for k in range(n):
            G[k] += t[k] * lam * (ki[k] - kj[k])
        it += 1
    for k in range(n):
        s = 0.0
        for c in range(d):
            s += A[k, c] * w[c]
        G[k] = t[k] * s - 1.0
    tot = 0.0
    cnt = 0
    gmax = -np.inf
    gmin = np.inf
    for k in range(n):
        v = -t[k] * G[k]
        if 0.0 < alpha[k] < C:
            tot += v
            cnt += 1
        if (t[k] > 0 and alpha[k] < C) or (t[k] < 0 and alpha[k] > 0):
            gmax = max(gmax, v)
        if (t[k] > 0 and alpha[k] > 0) or (t[k] < 0 and alpha[k] < C):
            gmin = min(gmin, v)
    b = tot / cnt if cnt > 0 else 0.5 * (gmax + gmin)
    return alpha, w, b, it, viol


@jit
def _svm_dcd(A, t, C, tol, max_epochs):
    """Dual coordinate descent (Hsieh et al., ICML 2008) without intercept:
    min ½ αᵀQα - Σα, 0 <= α <= C.  Returns (α, w, epochs, violation)."""
    n, d = A.shape
    alpha = np.zeros(n)
    w = np.zeros(d)
    kdiag = np.empty(n)
    for k in range(n):
        s = 0.0
        for c in range(d):
            s += A[k, c] * A[k, c]
        kdiag[k] = s
    viol = np.inf
    ep = 0
    while ep < max_epochs:
        viol = 0.0
        for i in range(n):
            s = 0.0
            for c in range(d):
                s += A[i, c] * w[c]
            gi = t[i] * s - 1.0
            if alpha[i] <= 0.0:
                pg = min(gi, 0.0)
            elif alpha[i] >= C:
                pg = max(gi, 0.0)
            else:
                pg = gi
            if abs(pg) > viol:
                viol = abs(pg)
            if pg != 0.0 and kdiag[i] > 0.0:
                new = min(max(alpha[i] - gi / kdiag[i], 0.0), C)
                da = (new - alpha[i]) * t[i]
                alpha[i] = new
                for c in range(d):
                    w[c] += da * A[i, c]
        ep += 1
        if viol <= tol:
            break
    return alpha, w, ep, viol


SVM_WORK = 2e9  # multiply-adds allowed for one hinge solve (~1-2 s); beyond: f_star = nan


def _hinge_solve(ds: D.Dataset, l2: float, has_b: bool, fg_args: tuple) -> _Solution:
    """Hinge loss with l2 > 0: SVM dual; f_star certified by the duality gap."""
    X = np.ascontiguousarray(ds.X)
    t = 2.0 * np.asarray(ds.y) - 1.0
    n, d = X.shape
    C = 1.0 / (n * l2)
    if has_b and 1.5 * n * d * n > SVM_WORK:  # SMO needs ~n/2 iterations of 3 n d at least
        return _Solution(np.nan, None, "too_large", "SMO would exceed SVM_WORK")
    if has_b:
        alpha, w, b, iters, viol = _svm_smo(X, t, C, 1e-12, int(SVM_WORK / (3 * n * d)) + 1)
        theta = np.concatenate([w, [b]])
        how = f"SMO {iters} iterations"
    else:
        alpha, w, iters, viol = _svm_dcd(X, t, C, 1e-12, int(SVM_WORK / (n * d)) + 1)
        theta = w.copy()
        how = f"dual CD {iters} epochs"
    primal = _value(logistic_fg, theta, fg_args)
    dual = l2 * (float(alpha.sum()) - 0.5 * float(w @ w))  # in primal units
    gap = primal - dual
    detail = f"{how}, KKT violation {viol:.1e}, duality gap {gap:.1e}"
    feasible = not has_b or abs(float(alpha @ t)) <= 1e-9 * C * n
    if feasible and np.isfinite(gap) and gap <= 1e-10 * max(1.0, abs(primal)):
        return _Solution(primal, theta, "converged", detail)
    return _Solution(np.nan, None, "failed", detail)


def _value(fg, theta: np.ndarray, args: tuple) -> float:
    """The compiled objective on the full data (so that f(x*) == f_star exactly)."""
    rows = np.arange(args[0].shape[0], dtype=np.int64)
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    return float(fg(theta, np.empty_like(theta), rows, *args))


def _logistic_solution(ds: D.Dataset, loss: int, l2: float, has_b: bool, args: tuple) -> _Solution:
    dim = ds.n_features + int(has_b)
    if _hessian_too_large(ds.n_samples, dim):
        return _Solution(np.nan, None, "too_large")
    if loss == CROSS_ENTROPY or l2 == 0.0:
        # the cross-entropy solve also decides separability for mse and hinge
        ce_l2 = l2 if loss == CROSS_ENTROPY else 0.0
        ce = _cached((ds.digest, "logistic", CROSS_ENTROPY, ce_l2, has_b), lambda: _ce_solution(ds, ce_l2, has_b))
        if loss == CROSS_ENTROPY:
            return ce
        separable = ce.status == "separable"
        if loss == MSE:
            return _Solution(0.0, None, "separable") if separable else _Solution(np.nan, None, "unknown")
        # hinge, l2 == 0
        if not separable:
            return _Solution(np.nan, None, "unknown")
        # attained (every separating θ scaled to margins >= 1 has loss 0), but on an
        # unbounded cone: no single location is recorded
        return _Solution(0.0, None, "separable", "zero loss at any separating θ with margins >= 1")
    if loss == MSE:
        return _Solution(np.nan, None, "unknown")
    return _cached((ds.digest, "logistic", HINGE, l2, has_b), lambda: _hinge_solve(ds, l2, has_b, args))


def _ce_solution(ds: D.Dataset, l2: float, has_b: bool) -> _Solution:
    theta, f, status = _binary_newton(ds, l2, has_b)
    args = (ds.X, ds.y, CROSS_ENTROPY, float(l2), bool(has_b))
    if status == "converged":
        return _Solution(_value(logistic_fg, theta, args), theta.copy(), status)
    if status == "separable":
        return _Solution(0.0, None, status)
    if status == "infimum":  # the loss at the last iterate: the limit, to ~1e-15
        return _Solution(_value(logistic_fg, theta, args), None, status)
    return _Solution(np.nan, None, status)


# ---------------------------------------------------------------- softmax


def _softmax_newton(ds: D.Dataset, l2: float, has_b: bool) -> tuple[np.ndarray, float, str]:
    A = _design(ds.X, has_b)
    n, Dd = A.shape
    K = ds.n_classes
    nf = ds.n_features
    y = np.asarray(ds.y)
    onehot = np.zeros((n, K))
    onehot[np.arange(n), y] = 1.0
    wmask = np.zeros(Dd, dtype=bool)
    wmask[:nf] = True
    # coordinates along which adding the same value to every class changes nothing:
    # all of them without a penalty, only the intercept with one
    shift = np.ones(Dd, dtype=bool) if l2 == 0.0 else ~wmask
    rows_idx = np.arange(n)

    def fun(theta, hess):
        W = theta.reshape(K, Dd)
        Z = A @ W.T
        zmax = Z.max(axis=1, keepdims=True)
        E = np.exp(Z - zmax)
        S = E.sum(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(S[:, 0])
        f = float(np.mean(lse - Z[rows_idx, y])) + 0.5 * l2 * float((W[:, wmask] ** 2).sum())
        c = W[:, shift].sum(axis=0)
        f_aug = f + 0.5 * float(c @ c)  # zero at the centered representative
        if not hess:
            return f_aug, None, None
        P = E / S
        Gm = (P - onehot).T @ A / n
        Gm[:, wmask] += l2 * W[:, wmask]
        Gm[:, shift] += c
        H = np.zeros((K, Dd, K, Dd))
        for k in range(K):
            for m in range(k, K):
                cw = -P[:, k] * P[:, m]
                if k == m:
                    cw = cw + P[:, k]
                blk = (A.T * cw) @ A / n
                H[k, :, m, :] = blk
                if m != k:
                    H[m, :, k, :] = blk.T
        idx = np.flatnonzero(wmask)
        for k in range(K):
            H[k, idx, k, idx] += l2
        sidx = np.flatnonzero(shift)
        for k in range(K):
            for m in range(K):
                H[k, sidx, m, sidx] += 1.0
        return f_aug, Gm.ravel(), H.reshape(K * Dd, K * Dd)

    def separated(theta):
        Z = A @ theta.reshape(K, Dd).T
        zy = Z[rows_idx, y]
        Z[rows_idx, y] = -np.inf
        return bool(np.all(zy > Z.max(axis=1)))

    return _newton(fun, np.zeros(K * Dd), separated if l2 == 0.0 else None)


def _softmax_solution(ds: D.Dataset, l2: float, has_b: bool, args: tuple) -> _Solution:
    dim = ds.n_classes * (ds.n_features + int(has_b))
    if _hessian_too_large(ds.n_samples, dim) or dim > 4000:
        return _Solution(np.nan, None, "too_large")
    theta, f, status = _softmax_newton(ds, l2, has_b)
    if status == "converged":
        return _Solution(_value(softmax_fg, theta, args), theta.copy(), status)
    if status == "separable":
        return _Solution(0.0, None, status)
    if status == "infimum":
        return _Solution(_value(softmax_fg, theta, args), None, status)
    return _Solution(np.nan, None, status)


# ---------------------------------------------------------------- least squares


def _ls_solution(ds: D.Dataset, l2: float, has_b: bool, args: tuple) -> _Solution:
    A = _design(ds.X, has_b)
    y = np.asarray(ds.y)
    n, dim = A.shape
    if l2 > 0.0:
        pen = np.zeros((ds.n_features, dim))
        pen[np.arange(ds.n_features), np.arange(ds.n_features)] = math.sqrt(n * l2 / 2.0)
        A = np.vstack([A, pen])
        y = np.concatenate([y, np.zeros(ds.n_features)])
    theta = np.linalg.lstsq(A, y, rcond=None)[0]
    # one step of iterative refinement (residual in the same system)
    theta = theta + np.linalg.lstsq(A, y - A @ theta, rcond=None)[0]
    return _Solution(_value(least_squares_fg, theta, args), theta, "converged", "lstsq")


# ================================================================== builders

_SYNTH = "synthetic"
GENERATOR_PARAMS = ("n_samples", "n_features", "n_classes", "class_sep", "noise", "data_seed")


def _refuse_generator_params(objective: str):
    """A generator's parameters with a fixed data set would be ignored: refuse them."""

    def check(given: set, resolved: dict) -> None:
        if resolved["data"] == _SYNTH:
            return
        ignored = sorted(given & set(GENERATOR_PARAMS))
        if ignored:
            raise SpecError(
                f"objective {objective!r}: {', '.join(ignored)} set the synthetic generator and do not apply "
                f"to data = {resolved['data']!r} (a fixed data set); remove them or use data = \"synthetic\""
            )

    return check


def _check_intercept(obj: str, value) -> None:
    if value is not None and not isinstance(value, bool):
        raise SpecError(f"objective {obj!r}: parameter 'intercept' must be true or false, got {value!r}")


def _check_size(obj: str, p: dict) -> None:
    if p["n_samples"] * p["n_features"] > MAX_ELEMENTS:
        raise SpecError(
            f"objective {obj!r}: parameters 'n_samples' x 'n_features' = "
            f"{p['n_samples'] * p['n_features']} data values; at most {MAX_ELEMENTS}"
        )


def _built(dim: int, args: tuple, sol: _Solution | None, ds: D.Dataset) -> Built:
    """The problem on the data box; ``sol`` None: no known optimum (f* nan)."""
    lo, hi = box(dim, *DOMAIN)
    converged = sol is not None and sol.x is not None and sol.status == "converged"
    return Built(
        dim=dim,
        args=args,
        lower=lo,
        upper=hi,
        minima=(Minimum(sol.x, sol.f, "global"),) if converged else (),
        f_star=np.nan if sol is None else sol.f,
        n_samples=ds.n_samples,
        data_digest=ds.digest,
    )


def binary_dataset(p: dict) -> D.Dataset:
    if p["data"] == "w3":
        return D.w3()
    if p["data"] == _SYNTH:
        _check_size("logistic", p)
        return D.binary(p["n_samples"], p["n_features"], p["class_sep"], p["data_seed"])
    return D.real(p["data"])


def _build_logistic(dim, p: dict) -> Built:
    _check_intercept("logistic", p["intercept"])
    ds = binary_dataset(p)
    has_b = (p["data"] != "w3") if p["intercept"] is None else p["intercept"]
    loss = LOSSES.index(p["loss"])
    l2 = float(p["l2"])
    args = (ds.X, ds.y, loss, l2, bool(has_b))
    sol = _logistic_solution(ds, loss, l2, bool(has_b), args)
    return _built(ds.n_features + int(has_b), args, sol, ds)


def multiclass_dataset(p: dict) -> D.Dataset:
    if p["data"] == _SYNTH:
        _check_size("softmax", p)
        if p["n_classes"] > p["n_samples"]:
            raise SpecError(
                f"objective 'softmax': parameter 'n_classes' is {p['n_classes']}; "
                f"must be <= n_samples ({p['n_samples']})"
            )
        return D.multiclass(p["n_samples"], p["n_features"], p["n_classes"], p["class_sep"], p["data_seed"])
    return D.real(p["data"])


def _build_softmax(dim, p: dict) -> Built:
    ds = multiclass_dataset(p)
    has_b = bool(p["intercept"])
    l2 = float(p["l2"])
    args = (ds.X, ds.y, ds.n_classes, l2, has_b)
    sol = _cached((ds.digest, "softmax", l2, has_b), lambda: _softmax_solution(ds, l2, has_b, args))
    return _built(ds.n_classes * (ds.n_features + int(has_b)), args, sol, ds)


def regression_dataset(p: dict) -> D.Dataset:
    if p["data"] == _SYNTH:
        _check_size("least_squares", p)
        return D.regression(p["n_samples"], p["n_features"], p["noise"], p["data_seed"])
    return D.real(p["data"])


def _build_least_squares(dim, p: dict) -> Built:
    ds = regression_dataset(p)
    has_b = bool(p["intercept"])
    l2 = float(p["l2"])
    args = (ds.X, ds.y, l2, has_b)
    sol = _cached((ds.digest, "least_squares", l2, has_b), lambda: _ls_solution(ds, l2, has_b, args))
    return _built(ds.n_features + int(has_b), args, sol, ds)


# ================================================================ registration


def _common(data_choices: tuple, **extra) -> dict:
    params = {
        "data": Param(_SYNTH, "data set", choices=data_choices),
        "n_samples": Param(1000, "rows of synthetic data (ignored for the fixed data sets)", low=2, high=MAX_ELEMENTS),
        "n_features": Param(10, "features of synthetic data (ignored for the fixed data sets)", low=1, high=100_000),
    }
    params.update(extra)
    params["data_seed"] = Param(0, "seed of the synthetic data generator (ignored for the fixed data sets)", low=0)
    params["l2"] = Param(0.0, "L2 penalty (l2/2)||w||², intercept excluded", low=0.0)
    return params


register(
    Objective(
        name="logistic",
        check_given=_refuse_generator_params("logistic"),
        fg=logistic_fg,
        fg_step=logistic_fg_step,
        summary="binary logistic regression (cross-entropy, mse on σ or hinge) on synthetic or real data",
        formula=(
            "L(θ) = mean_i ℓ(w·x_i + b, y_i) + (l2/2)||w||², "
            "ℓ = softplus(z) − yz | (σ(z) − y)² | max(0, 1 − (2y−1)z)"
        ),
        tags={"ml", "convex"},  # convex for cross_entropy and hinge; loss="mse" is not
        build=_build_logistic,
        dims=(1, None),
        default_dim=None,
        params=_common(
            (_SYNTH, "breast_cancer", "w3"),
            class_sep=Param(1.0, "distance of each class mean from 0 (synthetic)", low=0.0),
            loss=Param("cross_entropy", "per-row loss", choices=LOSSES),
            intercept=Param(
                None, "fit an intercept (true/false); default: true, false for data='w3' (as the peers' workload)"
            ),
        ),
        batched=True,
        value_only=True,
        dim_from_data=True,
    )
)

register(
    Objective(
        name="softmax",
        check_given=_refuse_generator_params("softmax"),
        fg=softmax_fg,
        summary="multinomial logistic regression (softmax cross-entropy) on synthetic or real data",
        formula="L(Θ) = mean_i [logsumexp_k(w_k·x_i + b_k) − (w_{y_i}·x_i + b_{y_i})] + (l2/2)||W||²",
        tags={"ml", "convex"},
        build=_build_softmax,
        dims=(2, None),
        default_dim=None,
        params=_common(
            (_SYNTH, "iris", "wine"),
            n_classes=Param(3, "classes of synthetic data", low=2, high=1000),
            class_sep=Param(1.0, "distance of each class center from 0 (synthetic)", low=0.0),
            intercept=Param(True, "fit one intercept per class"),
        ),
        batched=True,
        value_only=True,
        dim_from_data=True,
    )
)

register(
    Objective(
        name="least_squares",
        check_given=_refuse_generator_params("least_squares"),
        fg=least_squares_fg,
        summary="linear regression, mean squared error, on synthetic or real data",
        formula="L(θ) = (1/n) Σ_i (w·x_i + b − y_i)² + (l2/2)||w||²",
        tags={"ml", "convex"},
        build=_build_least_squares,
        dims=(1, None),
        default_dim=None,
        params=_common(
            (_SYNTH, "diabetes"),
            noise=Param(0.1, "standard deviation of the target noise (synthetic)", low=0.0),
            intercept=Param(True, "fit an intercept"),
        ),
        batched=True,
        value_only=True,
        dim_from_data=True,
    )
)
