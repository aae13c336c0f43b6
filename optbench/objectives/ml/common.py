"""What the data objectives share: the linear pieces of their compiled
functions (margins, σ, the mean and the penalty), their data parameters and
their box.  Also used by :mod:`optbench.objectives.nn` (the perceptron)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..._errors import SpecError
from ..._jit import jit
from .. import data as D
from .._registry import Built, Minimum, Param, box
from .._vmath import dot_chains8

if TYPE_CHECKING:
    from .optimum import Solution

LOSSES = ("cross_entropy", "mse", "hinge")
CROSS_ENTROPY, MSE, HINGE = 0, 1, 2
DOMAIN = (-1.0, 1.0)
MAX_ELEMENTS = 100_000_000  # n_samples * n_features of synthetic data (800 MB)


@jit(inline="always")
def row_dot(X, i, x, nf):
    """``X[i, :nf] · x[:nf]`` with 8 partial sums (element j goes to sum
    j mod 8), added as ((s0+s4) + (s1+s5)) + ((s2+s6) + (s3+s7)), then the
    last nf mod 8 products in order.  A fixed order, so the same for every
    run and thread; eight independent chains instead of one, so the
    products do not wait on each other's additions (fastmath, which would
    let LLVM pick an order itself, stays off).  The chains are one vector
    (:func:`~optbench.objectives._vmath.dot_chains8`), the same bits."""
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
def mean_plus_l2(f, x, g, nb, dim, nf, l2):
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


@jit(inline="always")
def add_row(g, d, X, i, nf):
    """g[:nf] += d * X[i]: one row's part of the weights' gradient (nothing for d = 0).

    The intercept's part (d itself) is summed by the caller in a local and
    added to g[nf] once after the loop over rows: a store to g[nf] behind a
    test of has_b in that loop kept it from vectorising.  The sum is the
    same, in the same order, from the same 0.0, so the gradient is unchanged
    bit for bit."""
    if d != 0.0:
        for j in range(nf):
            g[j] += d * X[i, j]


SYNTHETIC = "synthetic"
GENERATOR_PARAMS = ("n_samples", "n_features", "n_classes", "class_sep", "noise", "data_seed")


def refuse_generator_params(objective: str):
    """A generator's parameters with a fixed data set would be ignored: refuse them."""

    def check(given: set, resolved: dict) -> None:
        if resolved["data"] == SYNTHETIC:
            return
        ignored = sorted(given & set(GENERATOR_PARAMS))
        if ignored:
            raise SpecError(
                f"objective {objective!r}: {', '.join(ignored)} set the synthetic generator and do not apply "
                f"to data = {resolved['data']!r} (a fixed data set); remove them or use data = \"synthetic\""
            )

    return check


def check_intercept(obj: str, value) -> None:
    if value is not None and not isinstance(value, bool):
        raise SpecError(f"objective {obj!r}: parameter 'intercept' must be true or false, got {value!r}")


def check_size(obj: str, p: dict) -> None:
    if p["n_samples"] * p["n_features"] > MAX_ELEMENTS:
        raise SpecError(
            f"objective {obj!r}: parameters 'n_samples' x 'n_features' = "
            f"{p['n_samples'] * p['n_features']} data values; at most {MAX_ELEMENTS}"
        )


def built(dim: int, args: tuple, sol: Solution | None, ds: D.Dataset) -> Built:
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


def data_params(data_choices: tuple, **extra) -> dict:
    params = {
        "data": Param(SYNTHETIC, "data set", choices=data_choices),
        "n_samples": Param(1000, "rows of synthetic data (ignored for the fixed data sets)", low=2, high=MAX_ELEMENTS),
        "n_features": Param(10, "features of synthetic data (ignored for the fixed data sets)", low=1, high=100_000),
    }
    params.update(extra)
    params["data_seed"] = Param(0, "seed of the synthetic data generator (ignored for the fixed data sets)", low=0)
    params["l2"] = Param(0.0, "L2 penalty (l2/2)||w||², intercept excluded", low=0.0)
    return params


