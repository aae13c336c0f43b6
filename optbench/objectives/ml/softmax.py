"""Multinomial logistic regression (``softmax``)."""
from __future__ import annotations

import math

import numpy as np

from ..._errors import SpecError
from ..._jit import jit
from .. import data as D
from .._registry import Built, Objective, Param, register
from .common import SYNTHETIC, built, check_size, data_params, refuse_generator_params
from .optimum import Solution, cached, design, hessian_too_large, newton, value_at


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


def _softmax_newton(ds: D.Dataset, l2: float, has_b: bool) -> tuple[np.ndarray, float, str]:
    A = design(ds.X, has_b)
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

    return newton(fun, np.zeros(K * Dd), separated if l2 == 0.0 else None)


def _softmax_solution(ds: D.Dataset, l2: float, has_b: bool, args: tuple) -> Solution:
    dim = ds.n_classes * (ds.n_features + int(has_b))
    if hessian_too_large(ds.n_samples, dim) or dim > 4000:
        return Solution(np.nan, None, "too_large")
    theta, f, status = _softmax_newton(ds, l2, has_b)
    if status == "converged":
        return Solution(value_at(softmax_fg, theta, args), theta.copy(), status)
    if status == "separable":
        return Solution(0.0, None, status)
    if status == "infimum":
        return Solution(value_at(softmax_fg, theta, args), None, status)
    return Solution(np.nan, None, status)


def multiclass_dataset(p: dict) -> D.Dataset:
    if p["data"] == SYNTHETIC:
        check_size("softmax", p)
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
    sol = cached((ds.digest, "softmax", l2, has_b), lambda: _softmax_solution(ds, l2, has_b, args))
    return built(ds.n_classes * (ds.n_features + int(has_b)), args, sol, ds)


register(
    Objective(
        name="softmax",
        check_given=refuse_generator_params("softmax"),
        fg=softmax_fg,
        summary="multinomial logistic regression (softmax cross-entropy) on synthetic or real data",
        formula="L(Θ) = mean_i [logsumexp_k(w_k·x_i + b_k) − (w_{y_i}·x_i + b_{y_i})] + (l2/2)||W||²",
        tags={"ml", "convex"},
        build=_build_softmax,
        dims=(2, None),
        default_dim=None,
        params=data_params(
            (SYNTHETIC, "iris", "wine"),
            n_classes=Param(3, "classes of synthetic data", low=2, high=1000),
            class_sep=Param(1.0, "distance of each class center from 0 (synthetic)", low=0.0),
            intercept=Param(True, "fit one intercept per class"),
        ),
        batched=True,
        value_only=True,
        dim_from_data=True,
    )
)

