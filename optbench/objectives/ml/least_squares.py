"""Linear regression, mean squared error (``least_squares``)."""
from __future__ import annotations

import math

import numpy as np

from ..._jit import jit
from .. import data as D
from .._registry import Built, Objective, Param, register
from .common import SYNTHETIC, built, check_size, data_params, margins, mean_plus_l2, refuse_generator_params
from .optimum import Solution, cached, design, value_at


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
    gb = 0.0  # the intercept's part, added once (see add_row)
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
    return mean_plus_l2(f, x, g, nb, dim, nf, l2)


def _ls_solution(ds: D.Dataset, l2: float, has_b: bool, args: tuple) -> Solution:
    A = design(ds.X, has_b)
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
    return Solution(value_at(least_squares_fg, theta, args), theta, "converged", "lstsq")


def regression_dataset(p: dict) -> D.Dataset:
    if p["data"] == SYNTHETIC:
        check_size("least_squares", p)
        return D.regression(p["n_samples"], p["n_features"], p["noise"], p["data_seed"])
    return D.real(p["data"])


def _build_least_squares(dim, p: dict) -> Built:
    ds = regression_dataset(p)
    has_b = bool(p["intercept"])
    l2 = float(p["l2"])
    args = (ds.X, ds.y, l2, has_b)
    sol = cached((ds.digest, "least_squares", l2, has_b), lambda: _ls_solution(ds, l2, has_b, args))
    return built(ds.n_features + int(has_b), args, sol, ds)


register(
    Objective(
        name="least_squares",
        check_given=refuse_generator_params("least_squares"),
        fg=least_squares_fg,
        summary="linear regression, mean squared error, on synthetic or real data",
        formula="L(θ) = (1/n) Σ_i (w·x_i + b − y_i)² + (l2/2)||w||²",
        tags={"ml", "convex"},
        build=_build_least_squares,
        dims=(1, None),
        default_dim=None,
        params=data_params(
            (SYNTHETIC, "diabetes"),
            noise=Param(0.1, "standard deviation of the target noise (synthetic)", low=0.0),
            intercept=Param(True, "fit an intercept"),
        ),
        batched=True,
        value_only=True,
        dim_from_data=True,
    )
)
