"""Known optima of the data objectives: the solvers behind ``f_star``.

Damped Newton for the smooth convex losses, SVM dual solvers for the hinge,
and a small cache keyed by the data's digest and the variant's parameters;
each loss's module (:mod:`.logistic`, :mod:`.softmax`,
:mod:`.least_squares`) turns a solve into a :class:`Solution`, its value
recomputed with the compiled objective (so that ``fg(x*) == f_star`` exactly).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..._jit import jit
from .. import data as D

MAX_HESSIAN_WORK = 1e9  # n * dim² above this: the optimum is not computed (f_star = nan)


class Solution:
    """What a solve found: value, location (None: not attained), how."""

    __slots__ = ("f", "x", "status", "detail")

    def __init__(self, f: float, x: np.ndarray | None, status: str, detail: str = ""):
        self.f = float(f)
        self.x = x
        self.status = status  # converged | separable | infimum | unknown | failed | too_large
        self.detail = detail
        if x is not None:
            x.setflags(write=False)


SOLVED: OrderedDict = OrderedDict()
SOLVED_MAX = 64


def cached(key, compute):
    """A small LRU cache keyed by (data digest, variant parameters)."""
    hit = SOLVED.get(key)
    if hit is not None:
        SOLVED.move_to_end(key)
        return hit
    sol = compute()
    SOLVED[key] = sol
    if len(SOLVED) > SOLVED_MAX:
        SOLVED.popitem(last=False)
    return sol


def design(X: np.ndarray, has_b: bool) -> np.ndarray:
    if not has_b:
        return np.asarray(X)
    return np.hstack([X, np.ones((X.shape[0], 1))])


def solve_psd(H: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve H s = rhs for a positive semi-definite H (tiny Levenberg shift)."""
    mu = 1e-13 * max(float(np.trace(H)) / H.shape[0], 1e-300)
    Hm = H + mu * np.eye(H.shape[0])
    try:
        L = np.linalg.cholesky(Hm)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(Hm, rhs, rcond=None)[0]
    return np.linalg.solve(L.T, np.linalg.solve(L, rhs))


def newton(fun, theta, separated, max_iter=300):
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
        step = solve_psd(H, -g)
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
    snorm = float(np.linalg.norm(solve_psd(H, -g)))
    if gnorm <= 1e-9 and snorm <= 1e-6:
        return theta, f, "converged"
    if gnorm <= 1e-9 and snorm >= 1e-3:
        return theta, f, "infimum"
    return theta, f, "failed"


def hessian_too_large(n: int, dim: int) -> bool:
    return float(n) * dim * dim > MAX_HESSIAN_WORK


def binary_newton(ds: D.Dataset, l2: float, has_b: bool) -> tuple[np.ndarray, float, str]:
    """Cross-entropy logistic regression by Newton (loss in the accurate form softplus(-t z))."""
    A = design(ds.X, has_b)
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

    return newton(fun, np.zeros(dim), separated if l2 == 0.0 else None)


@jit
def svm_smo(A, t, C, tol, max_iter):
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
def svm_dcd(A, t, C, tol, max_epochs):
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


def value_at(fg, theta: np.ndarray, args: tuple) -> float:
    """The compiled objective on the full data (so that f(x*) == f_star exactly)."""
    rows = np.arange(args[0].shape[0], dtype=np.int64)
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    return float(fg(theta, np.empty_like(theta), rows, *args))


