"""Binary logistic regression (``logistic``): cross-entropy, MSE on σ, or hinge."""
from __future__ import annotations

import numpy as np

from ..._jit import jit
from .. import data as D
from .._registry import Built, Objective, Param, register
from .._vmath import log1p_unit, vexp
from .common import (
    CROSS_ENTROPY,
    HINGE,
    LOSSES,
    MSE,
    SYNTHETIC,
    add_row,
    built,
    check_intercept,
    check_size,
    data_params,
    margins,
    mean_plus_l2,
    refuse_generator_params,
    sigmoid_from_e,
    sigmoid_pair,
)
from .optimum import SVM_WORK, Solution, binary_newton, cached, hessian_too_large, svm_dcd, svm_smo, value_at


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
    or inf."""
    return _logistic(x, g, rows, X, y, loss, l2, has_b, False)


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
                add_row(g, d, X, rows[r], nf)
                gb += d
            if has_b:
                g[nf] += gb
        return mean_plus_l2(f, x, g, nb, dim, nf, l2)
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
            add_row(g, d, X, i, nf)
            gb += d
    if want_g and has_b:
        g[nf] += gb
    return mean_plus_l2(f, x, g, nb, dim, nf, l2)


def _hinge_solve(ds: D.Dataset, l2: float, has_b: bool, fg_args: tuple) -> Solution:
    """Hinge loss with l2 > 0: SVM dual; f_star certified by the duality gap."""
    X = np.ascontiguousarray(ds.X)
    t = 2.0 * np.asarray(ds.y) - 1.0
    n, d = X.shape
    C = 1.0 / (n * l2)
    if has_b and 1.5 * n * d * n > SVM_WORK:  # SMO needs ~n/2 iterations of 3 n d at least
        return Solution(np.nan, None, "too_large", "SMO would exceed SVM_WORK")
    if has_b:
        alpha, w, b, iters, viol = svm_smo(X, t, C, 1e-12, int(SVM_WORK / (3 * n * d)) + 1)
        theta = np.concatenate([w, [b]])
        how = f"SMO {iters} iterations"
    else:
        alpha, w, iters, viol = svm_dcd(X, t, C, 1e-12, int(SVM_WORK / (n * d)) + 1)
        theta = w.copy()
        how = f"dual CD {iters} epochs"
    primal = value_at(logistic_fg, theta, fg_args)
    dual = l2 * (float(alpha.sum()) - 0.5 * float(w @ w))  # in primal units
    gap = primal - dual
    detail = f"{how}, KKT violation {viol:.1e}, duality gap {gap:.1e}"
    feasible = not has_b or abs(float(alpha @ t)) <= 1e-9 * C * n
    if feasible and np.isfinite(gap) and gap <= 1e-10 * max(1.0, abs(primal)):
        return Solution(primal, theta, "converged", detail)
    return Solution(np.nan, None, "failed", detail)


def logistic_solution(ds: D.Dataset, loss: int, l2: float, has_b: bool, args: tuple) -> Solution:
    dim = ds.n_features + int(has_b)
    if hessian_too_large(ds.n_samples, dim):
        return Solution(np.nan, None, "too_large")
    if loss == CROSS_ENTROPY or l2 == 0.0:
        # the cross-entropy solve also decides separability for mse and hinge
        ce_l2 = l2 if loss == CROSS_ENTROPY else 0.0
        ce = cached((ds.digest, "logistic", CROSS_ENTROPY, ce_l2, has_b), lambda: _ce_solution(ds, ce_l2, has_b))
        if loss == CROSS_ENTROPY:
            return ce
        separable = ce.status == "separable"
        if loss == MSE:
            return Solution(0.0, None, "separable") if separable else Solution(np.nan, None, "unknown")
        # hinge, l2 == 0
        if not separable:
            return Solution(np.nan, None, "unknown")
        # attained (every separating θ scaled to margins >= 1 has loss 0), but on an
        # unbounded cone: no single location is recorded
        return Solution(0.0, None, "separable", "zero loss at any separating θ with margins >= 1")
    if loss == MSE:
        return Solution(np.nan, None, "unknown")
    return cached((ds.digest, "logistic", HINGE, l2, has_b), lambda: _hinge_solve(ds, l2, has_b, args))


def _ce_solution(ds: D.Dataset, l2: float, has_b: bool) -> Solution:
    theta, f, status = binary_newton(ds, l2, has_b)
    args = (ds.X, ds.y, CROSS_ENTROPY, float(l2), bool(has_b))
    if status == "converged":
        return Solution(value_at(logistic_fg, theta, args), theta.copy(), status)
    if status == "separable":
        return Solution(0.0, None, status)
    if status == "infimum":  # the loss at the last iterate: the limit, to ~1e-15
        return Solution(value_at(logistic_fg, theta, args), None, status)
    return Solution(np.nan, None, status)


def binary_dataset(p: dict) -> D.Dataset:
    if p["data"] == "w3":
        return D.w3()
    if p["data"] == SYNTHETIC:
        check_size("logistic", p)
        return D.binary(p["n_samples"], p["n_features"], p["class_sep"], p["data_seed"])
    return D.real(p["data"])


def _build_logistic(dim, p: dict) -> Built:
    check_intercept("logistic", p["intercept"])
    ds = binary_dataset(p)
    has_b = (p["data"] != "w3") if p["intercept"] is None else p["intercept"]
    loss = LOSSES.index(p["loss"])
    l2 = float(p["l2"])
    args = (ds.X, ds.y, loss, l2, bool(has_b))
    sol = logistic_solution(ds, loss, l2, bool(has_b), args)
    return built(ds.n_features + int(has_b), args, sol, ds)


register(
    Objective(
        name="logistic",
        check_given=refuse_generator_params("logistic"),
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
        params=data_params(
            (SYNTHETIC, "breast_cancer", "w3"),
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

