"""The ML objectives (logistic, softmax, least squares) and their data.

Gradients against central differences, values against plain NumPy formulas
and torch autograd, recorded optima against independent solves, data
generation, caching and parameter validation.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest

from optbench import SpecError, objectives
from optbench.objectives import data as D
from optbench.objectives import ml
from optbench.objectives.gradcheck import gradient_error, minibatch_rows

LOSSES = ("cross_entropy", "mse", "hinge")
SMALL = dict(n_samples=60, n_features=4)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _point(p, seed=0, scale=1.0):
    return scale * _rng(seed).uniform(-1.0, 1.0, p.dim)


def _minibatch(p, seed=1):
    return minibatch_rows(p, seed, size=37, repeated=5)


# ----------------------------------------------------------------- references


def _design(p):
    X = np.asarray(p.args[0])
    has_b = bool(p.args[-1])
    return (np.hstack([X, np.ones((X.shape[0], 1))]) if has_b else X), has_b


def _penalty(p, x, n_w_per_row, rows_of_w=1):
    l2 = p.params["l2"]
    W = x.reshape(rows_of_w, -1)[:, :n_w_per_row]
    return 0.5 * l2 * float((W**2).sum())


def ref_logistic(p, x, rows):
    A, _ = _design(p)
    y = np.asarray(p.args[1])[rows]
    z = A[rows] @ x
    loss = p.params["loss"]
    if loss == "cross_entropy":
        per = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))) - y * z
    elif loss == "mse":
        per = (0.5 * (1.0 + np.tanh(0.5 * z)) - y) ** 2  # σ(z) without overflow
    else:
        per = np.maximum(0.0, 1.0 - (2.0 * y - 1.0) * z)
    return per.mean() + _penalty(p, x, p.args[0].shape[1])


def _log_softmax(Z):
    m = Z.max(axis=1, keepdims=True)
    return Z - m - np.log(np.exp(Z - m).sum(axis=1, keepdims=True))


def ref_softmax(p, x, rows):
    A, _ = _design(p)
    K = p.args[2]
    y = np.asarray(p.args[1])[rows]
    Z = A[rows] @ x.reshape(K, -1).T
    return -_log_softmax(Z)[np.arange(len(rows)), y].mean() + _penalty(p, x, p.args[0].shape[1], K)


def ref_least_squares(p, x, rows):
    A, _ = _design(p)
    r = A[rows] @ x - np.asarray(p.args[1])[rows]
    return np.mean(r * r) + _penalty(p, x, p.args[0].shape[1])


REF = {"logistic": ref_logistic, "softmax": ref_softmax, "least_squares": ref_least_squares}


def variants():
    """(objective, params) for every loss / data / intercept / l2 variant (small data)."""
    out = []
    for loss in LOSSES:
        for data in ("synthetic", "breast_cancer"):
            for b in (True, False):
                for l2 in (0.0, 0.1):
                    kw = dict(data=data, loss=loss, intercept=b, l2=l2)
                    if data == "synthetic":
                        kw.update(SMALL)
                    out.append(("logistic", kw))
    for data in ("synthetic", "iris", "wine"):
        for b in (True, False):
            for l2 in (0.0, 0.1):
                kw = dict(data=data, intercept=b, l2=l2)
                if data == "synthetic":
                    kw.update(SMALL, n_classes=4)
                out.append(("softmax", kw))
    for data in ("synthetic", "diabetes"):
        for b in (True, False):
            for l2 in (0.0, 0.1):
                kw = dict(data=data, intercept=b, l2=l2)
                if data == "synthetic":
                    kw.update(SMALL)
                out.append(("least_squares", kw))
    return out


VARIANTS = variants()
IDS = [f"{n}-" + "-".join(f"{k}={v}" for k, v in kw.items() if k not in SMALL) for n, kw in VARIANTS]


# ----------------------------------------------------------------- gradients and values


@pytest.mark.parametrize("name,kw", VARIANTS, ids=IDS)
def test_gradient_matches_central_differences(name, kw):
    p = objectives.make(name, **kw)
    x = _point(p)
    if name == "least_squares" and kw["data"] == "diabetes":
        x[-1 if kw["intercept"] else 0] += 150.0  # near the data's scale
    for rows in (p.all_rows(), _minibatch(p)):
        assert gradient_error(p, x, rows) < 1e-6


@pytest.mark.parametrize("name,kw", VARIANTS, ids=IDS)
def test_value_matches_numpy_reference(name, kw):
    p = objectives.make(name, **kw)
    for seed, scale in ((0, 1.0), (3, 5.0)):
        x = _point(p, seed, scale)
        for rows in (p.all_rows(), _minibatch(p)):
            assert p.value(x, rows) == pytest.approx(REF[name](p, x, rows), rel=1e-12, abs=1e-13)


def test_logistic_gradient_is_the_lecture_identity():
    # ∇ = Xᵀ(σ(Xθ) − y)/n for the cross-entropy, with and without intercept
    for kw in (dict(intercept=False), dict(intercept=True), dict(data="breast_cancer", intercept=False)):
        p = objectives.make("logistic", **kw)
        A, _ = _design(p)
        y = np.asarray(p.args[1])
        for seed in range(3):
            x = _point(p, seed, 2.0)
            _, g = p.value_and_grad(x)
            ref = A.T @ (1.0 / (1.0 + np.exp(-(A @ x))) - y) / len(y)
            np.testing.assert_allclose(g, ref, rtol=0, atol=1e-12)


def test_softmax_stable_for_huge_logits():
    for kw in (dict(data="iris"), dict(SMALL, n_classes=5), dict(data="wine", intercept=False)):
        p = objectives.make("softmax", **kw)
        x = _point(p, 7, 1e4)
        for rows in (p.all_rows(), _minibatch(p)):
            f, g = p.value_and_grad(x, rows)
            assert np.isfinite(f) and np.all(np.isfinite(g))
            assert f == pytest.approx(ref_softmax(p, x, rows), rel=1e-12)
            assert f > 1e2  # the logits are ~1e4: most rows are badly wrong
        # every row's gradient block sums to ~0 over classes for each feature
        K = p.args[2]
        np.testing.assert_allclose(g.reshape(K, -1).sum(axis=0), 0.0, atol=1e-10)


def test_logistic_stable_for_huge_margins():
    for loss in LOSSES:
        p = objectives.make("logistic", data="breast_cancer", loss=loss)
        x = _point(p, 2, 1e4)
        f, g = p.value_and_grad(x)
        assert np.isfinite(f) and np.all(np.isfinite(g))
        assert f == pytest.approx(ref_logistic(p, x, p.all_rows()), rel=1e-12)


# ----------------------------------------------------------------- torch


@pytest.mark.torch
@pytest.mark.parametrize(
    "name,kw",
    [
        ("logistic", dict(SMALL, loss="cross_entropy", l2=0.3)),
        ("logistic", dict(SMALL, loss="mse", l2=0.3)),
        ("logistic", dict(SMALL, loss="hinge", l2=0.3)),
        ("logistic", dict(data="w3")),
        ("softmax", dict(SMALL, n_classes=3, l2=0.3)),
        ("softmax", dict(data="iris", intercept=False)),
        ("least_squares", dict(SMALL, l2=0.3)),
        ("least_squares", dict(data="diabetes")),
    ],
)
def test_matches_torch_autograd(name, kw):
    import torch
    F = torch.nn.functional
    p = objectives.make(name, **kw)
    A, _ = _design(p)
    y_np = np.asarray(p.args[1])
    l2 = p.params["l2"]
    nf = p.args[0].shape[1]
    for rows in (p.all_rows(), _minibatch(p)):
        x = _point(p, 4, 2.0)
        th = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        At = torch.tensor(A[rows])
        if name == "logistic":
            yt = torch.tensor(y_np[rows])
            z = At @ th
            loss = p.params["loss"]
            if loss == "cross_entropy":
                f = F.binary_cross_entropy_with_logits(z, yt)
            elif loss == "mse":
                f = F.mse_loss(torch.sigmoid(z), yt)
            else:
                f = torch.clamp(1.0 - (2.0 * yt - 1.0) * z, min=0.0).mean()
            f = f + 0.5 * l2 * (th[:nf] ** 2).sum()
        elif name == "softmax":
            K = p.args[2]
            W = th.reshape(K, -1)
            f = F.cross_entropy(At @ W.T, torch.tensor(y_np[rows])) + 0.5 * l2 * (W[:, :nf] ** 2).sum()
        else:
            f = F.mse_loss(At @ th, torch.tensor(y_np[rows])) + 0.5 * l2 * (th[:nf] ** 2).sum()
        f.backward()
        fv, g = p.value_and_grad(x, rows)
        assert fv == pytest.approx(f.item(), rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(g, th.grad.numpy(), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------- the peers' logreg-minibatch


def _w3_reference_data():
    # peerbench/workloads.py make_inputs("logreg-minibatch"), restated
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20000, 32))
    w_true = rng.standard_normal(32)
    y = (rng.random(20000) < 1.0 / (1.0 + np.exp(-(X @ w_true)))).astype(np.float64)
    return X, y


def _logreg_full_loss(X, y, W):
    # peerbench/workloads.py logreg_full_loss, restated
    Z = X @ W.T
    sp = np.maximum(Z, 0.0) + np.log1p(np.exp(-np.abs(Z)))
    return (sp - y[:, None] * Z).mean(axis=0)


def test_w3_data_and_loss_match_the_peers():
    p = objectives.make("logistic", data="w3")
    assert p.dim == 32 and p.n_samples == 20000  # no intercept by default
    X, y = _w3_reference_data()
    np.testing.assert_array_equal(p.args[0], X)
    np.testing.assert_array_equal(p.args[1], y)
    W = np.vstack([np.zeros(32), _rng(5).standard_normal((4, 32)), 3.0 * _rng(6).standard_normal((2, 32))])
    ref = _logreg_full_loss(X, y, W)
    mine = np.array([p.value(w) for w in W])
    np.testing.assert_allclose(mine, ref, rtol=1e-13, atol=1e-13)
    assert mine[0] == pytest.approx(np.log(2.0), rel=1e-15)
    # an explicit intercept is allowed and adds one coordinate
    assert objectives.make("logistic", data="w3", intercept=True).dim == 33


# ----------------------------------------------------------------- known optima


def _newton_logistic(A, y, l2_mask, iters=60):
    """Plain Newton for mean BCE + ½ Σ l2_mask θ² (an independent reference)."""
    th = np.zeros(A.shape[1])
    for _ in range(iters):
        s = 1.0 / (1.0 + np.exp(-(A @ th)))
        g = A.T @ (s - y) / len(y) + l2_mask * th
        H = (A.T * (s * (1 - s))) @ A / len(y) + np.diag(l2_mask)
        th = th - np.linalg.solve(H, g)
    z = A @ th
    return th, np.mean(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z) + 0.5 * th @ (l2_mask * th)


@pytest.mark.parametrize("name,kw", VARIANTS, ids=IDS)
def test_recorded_minimum(name, kw):
    p = objectives.make(name, **kw)
    assert p.minima == () or len(p.minima) == 1
    if not p.minima:
        return
    m = p.minima[0]
    assert m.kind == "global" and m.x.shape == (p.dim,)
    f, g = p.value_and_grad(m.x)
    assert f == p.f_star == m.f
    if name == "logistic" and kw["loss"] == "hinge":
        # non-smooth: check local (= global, convex) optimality by perturbation
        for seed in range(100):
            d = _rng(seed).standard_normal(p.dim)
            for r in (1e-3, 1e-6):
                assert p.value(m.x + r * d / np.linalg.norm(d)) >= p.f_star - 1e-13
    else:
        assert np.linalg.norm(g) < 1e-8


def test_optimum_least_squares_normal_equations():
    for kw in (dict(data="diabetes"), dict(data="diabetes", l2=0.5), dict(SMALL, intercept=False, l2=0.2)):
        p = objectives.make("least_squares", **kw)
        A, has_b = _design(p)
        y = np.asarray(p.args[1])
        n, dim = A.shape
        P = np.eye(dim)
        if has_b:
            P[-1, -1] = 0.0
        th = np.linalg.solve(2.0 * A.T @ A / n + p.params["l2"] * P, 2.0 * A.T @ y / n)
        np.testing.assert_allclose(p.minima[0].x, th, rtol=1e-9, atol=1e-9)
        assert p.f_star == pytest.approx(ref_least_squares(p, th, p.all_rows()), rel=1e-12)


def test_optimum_logistic_cross_entropy_independent_newton():
    for kw in (dict(), dict(data="breast_cancer", l2=0.01), dict(data="w3"), dict(SMALL, intercept=False, l2=0.1)):
        p = objectives.make("logistic", **kw)
        A, has_b = _design(p)
        mask = np.full(A.shape[1], p.params["l2"])
        if has_b:
            mask[-1] = 0.0
        th, f = _newton_logistic(A, np.asarray(p.args[1]), mask)
        np.testing.assert_allclose(p.minima[0].x, th, rtol=1e-8, atol=1e-10)
        assert p.f_star == pytest.approx(f, rel=1e-12)


def test_separable_data_have_zero_infimum_and_no_minimizer():
    # breast_cancer (with an intercept) is linearly separable: find a separating θ
    # by damped Newton on the unregularized loss
    p = objectives.make("logistic", data="breast_cancer")
    A, _ = _design(p)
    y = np.asarray(p.args[1])
    t = 2.0 * y - 1.0
    th = np.zeros(A.shape[1])
    for _ in range(100):
        if np.all(t * (A @ th) > 0.0):
            break
        f, g = p.value_and_grad(th)
        s = np.clip(A @ th, -700, 700)
        s = 1.0 / (1.0 + np.exp(-s))
        step = np.linalg.lstsq((A.T * (s * (1 - s))) @ A / len(y), -g, rcond=None)[0]
        a = 1.0
        while p.value(th + a * step) > f - 1e-4 * a * (-g @ step) and a > 1e-12:
            a *= 0.5
        th = th + a * step
    assert np.all(t * (A @ th) > 0.0)
    assert p.f_star == 0.0 and p.minima == ()
    assert p.value(10.0 * th) < 1e-3 * p.value(th)  # the loss does go to 0 along it
    # without an intercept it is not separable: a finite minimizer
    assert objectives.make("logistic", data="breast_cancer", intercept=False).f_star > 0.02
    assert objectives.make("logistic", data="breast_cancer", loss="mse").f_star == 0.0
    assert objectives.make("logistic", data="breast_cancer", loss="hinge").f_star == 0.0
    q = objectives.make("logistic", **SMALL, class_sep=6.0)
    assert q.f_star == 0.0 and q.minima == ()
    assert objectives.make("softmax", data="wine").f_star == 0.0


def test_partly_separable_iris_infimum():
    # setosa separates from the others; the infimum of the softmax loss is then
    # 2/3 of the minimal binary cross-entropy of versicolor vs virginica
    for b in (True, False):
        p = objectives.make("softmax", data="iris", intercept=b)
        assert p.minima == ()
        A, _ = _design(p)
        y = np.asarray(p.args[1])
        sel = y > 0
        _, f_vv = _newton_logistic(A[sel], (y[sel] == 2).astype(float), np.zeros(A.shape[1]))
        assert p.f_star == pytest.approx(f_vv * 100.0 / 150.0, rel=1e-11)
        # and the loss is above it everywhere we look
        for seed in range(5):
            assert p.value(_point(p, seed, 3.0)) > p.f_star


def test_unknown_optima_are_nan():
    assert np.isnan(objectives.make("logistic", loss="mse").f_star)  # non-convex
    assert np.isnan(objectives.make("logistic", loss="hinge").f_star)  # l2 = 0, not separable: an LP
    assert np.isnan(objectives.make("logistic", loss="mse", l2=0.1).f_star)
    assert objectives.make("logistic", loss="mse").minima == ()


def test_hinge_with_l2_certified_optimum():
    for kw in (dict(SMALL, loss="hinge", l2=0.05), dict(SMALL, loss="hinge", l2=0.05, intercept=False)):
        p = objectives.make("logistic", **kw)
        assert np.isfinite(p.f_star) and len(p.minima) == 1
        # the cross-entropy optimum is no better than it
        assert p.value(objectives.make("logistic", **dict(kw, loss="cross_entropy")).minima[0].x) >= p.f_star


# ----------------------------------------------------------------- data


def test_data_arrays_and_caching():
    for name, task, shape in (
        ("breast_cancer", D.BINARY, (569, 30)),
        ("iris", D.MULTICLASS, (150, 4)),
        ("wine", D.MULTICLASS, (178, 13)),
        ("diabetes", D.REGRESSION, (442, 10)),
    ):
        ds = D.real(name)
        assert ds.task == task and ds.X.shape == shape
        assert ds.X.flags.c_contiguous and ds.X.dtype == np.float64 and not ds.X.flags.writeable
        np.testing.assert_allclose(ds.X.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(ds.X.std(axis=0), 1.0, rtol=1e-12)
        assert ds.y.dtype == (np.int64 if task == D.MULTICLASS else np.float64)
        assert D.real(name) is ds
    assert set(np.unique(D.real("breast_cancer").y)) == {0.0, 1.0}
    assert np.bincount(D.real("iris").y).tolist() == [50, 50, 50]
    assert D.real("diabetes").y.min() == 25.0 and D.real("diabetes").y.max() == 346.0
    b = D.binary(100, 3, 1.0, 0)
    assert b is D.binary(100, 3, 1.0, 0)
    assert b.digest != D.binary(100, 3, 1.0, 1).digest != D.binary(100, 3, 2.0, 0).digest
    assert set(np.unique(b.y)) == {0.0, 1.0} and b.y.sum() == 50
    m = D.multiclass(100, 3, 4, 1.0, 0)
    assert m.y.dtype == np.int64 and np.bincount(m.y).tolist() == [25, 25, 25, 25]
    r = D.regression(100, 3, 0.1, 0)
    assert r.y.dtype == np.float64 and r.X.shape == (100, 3)
    # the problem reports the data it uses
    p = objectives.make("logistic", n_samples=100, n_features=3)
    assert p.args[0] is b.X and p.data_digest == b.digest and p.n_samples == 100 and p.dim == 4


def test_builds_are_cached():
    """A second build of the same data set and parameters reuses the data
    arrays and the solved optimum (how fast a cold build is: asv's
    ``ObjectiveBuild``)."""
    from optbench.objectives.ml import optimum

    cases = [
        ("logistic", dict(data="breast_cancer")),
        ("logistic", dict(data="breast_cancer", l2=0.01)),
        ("softmax", dict(data="iris")),
        ("least_squares", dict(data="diabetes")),
        ("logistic", dict(n_samples=2000, n_features=10)),
        ("softmax", dict(n_samples=2000, n_features=10)),
        ("least_squares", dict(n_samples=2000, n_features=10)),
    ]
    optimum.SOLVED.clear()
    for fn in (D.binary, D.multiclass, D.regression, D.real):
        fn.cache_clear()
    for name, kw in cases:
        p = objectives.make(name, **kw)
        solved = len(optimum.SOLVED)
        q = objectives.make(name, **kw)
        assert len(optimum.SOLVED) == solved  # no second solve
        assert q.args[0] is p.args[0]
        assert q.f_star == p.f_star or (np.isnan(p.f_star) and np.isnan(q.f_star))
        assert len(q.minima) == len(p.minima) and all(a.x is b.x for a, b in zip(q.minima, p.minima))


def test_dimensions_and_layout():
    assert objectives.make("logistic", n_features=7).dim == 8
    assert objectives.make("logistic", n_features=7, intercept=False).dim == 7
    assert objectives.make("softmax", n_features=7, n_classes=5).dim == 40
    assert objectives.make("softmax", data="iris", intercept=False).dim == 12
    assert objectives.make("least_squares", data="diabetes").dim == 11
    for name in ("logistic", "softmax", "least_squares"):
        p = objectives.make(name)
        assert p.batched and p.objective.dim_from_data and "ml" in p.objective.tags
        np.testing.assert_array_equal(p.lower, -1.0)
        np.testing.assert_array_equal(p.upper, 1.0)


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "name,kw,field",
    [
        ("logistic", dict(data="iris"), "data"),
        ("softmax", dict(data="breast_cancer"), "data"),
        ("least_squares", dict(data="mnist"), "data"),
        ("logistic", dict(loss="logcosh"), "loss"),
        ("softmax", dict(n_classes=1), "n_classes"),
        ("softmax", dict(n_classes=50, n_samples=20), "n_classes"),
        ("logistic", dict(n_samples=1), "n_samples"),
        ("least_squares", dict(n_features=0), "n_features"),
        ("logistic", dict(l2=-0.1), "l2"),
        ("logistic", dict(l2=float("nan")), "l2"),
        ("least_squares", dict(noise=-1.0), "noise"),
        ("logistic", dict(class_sep=-1.0), "class_sep"),
        ("logistic", dict(intercept="yes"), "intercept"),
        ("softmax", dict(intercept=1), "intercept"),
        ("logistic", dict(n_samples=2.5), "n_samples"),
        ("logistic", dict(data_seed=-1), "data_seed"),
        ("logistic", dict(n_samples=10**7, n_features=10**3), "n_samples"),
        ("logistic", dict(n_sample=10), "n_sample"),
    ],
)
def test_bad_parameters(name, kw, field):
    with pytest.raises(SpecError, match=field):
        objectives.make(name, **kw)


def test_dim_is_refused():
    with pytest.raises(SpecError, match="dim"):
        objectives.make("logistic", dim=3)


def _row_dot_reference(a, b):
    """row_dot's documented order, in plain Python floats."""
    n8 = len(a) - len(a) % 8
    s = [0.0] * 8
    for j in range(n8):
        s[j % 8] += float(a[j]) * float(b[j])
    z = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]))
    for j in range(n8, len(a)):
        z += float(a[j]) * float(b[j])
    return z


@numba.njit
def _margins(x, rows, X, b):
    return ml.margins(x, rows, X, b)  # an inline="always" helper: called from compiled code


@pytest.mark.parametrize("layout", ["C", "strided"])
@pytest.mark.parametrize("nf", [0, 1, 7, 8, 13, 16, 32, 35, 67])
def test_row_dot_fixed_order(nf, layout):
    """Margins use 8 partial sums in a fixed order: bit for bit the
    documented one (so every run and thread count gives the same z), and
    within rounding of the exact dot product; the vector chains (C-layout
    arrays) and the scalar ones (any other layout) alike."""
    rng = _rng(nf)
    X = rng.standard_normal((5, nf)) * 10.0 ** rng.integers(-3, 4, (5, nf))
    x = rng.standard_normal(nf)
    if layout == "strided":
        X, x = np.asfortranarray(X), np.repeat(x, 2)[::2]
    rows = np.array([3, 0, 4, 4], dtype=np.int64)
    zs = _margins(x, rows, X, 0.25)
    for r, i in enumerate(rows):
        want = 0.25 + _row_dot_reference(X[i], x)
        assert zs[r] == want
        exact = float(np.sum(X[i].astype(np.longdouble) * x.astype(np.longdouble))) + 0.25
        assert zs[r] == pytest.approx(exact, rel=1e-12, abs=1e-12 * np.abs(X[i] * x).sum())


@pytest.mark.parametrize("loss", [0, 1, 2])
@pytest.mark.parametrize("has_b", [False, True])
def test_logistic_value_only_is_the_same_value(loss, has_b):
    """An empty g (the driver's full-data value at logged steps) takes a
    shorter loop for cross-entropy; the value is the one computed with the
    gradient, bit for bit."""
    rng = _rng(3)
    X = rng.standard_normal((300, 6)) * 3.0
    y = (rng.random(300) < 0.4).astype(np.float64)
    x = rng.standard_normal(6 + has_b)
    rows = rng.integers(0, 300, 77).astype(np.int64)
    for l2 in (0.0, 0.3):
        g = np.empty(x.size)
        f_with_g = ml.logistic_fg(x, g, rows, X, y, loss, l2, has_b)
        f_alone = ml.logistic_fg(x, np.empty(0), rows, X, y, loss, l2, has_b)
        assert f_alone == f_with_g


@pytest.mark.parametrize("loss", [0, 1, 2])
@pytest.mark.parametrize("has_b", [False, True])
def test_logistic_fg_step_same_gradient_and_finiteness(loss, has_b):
    """The minibatch function of a step (the objective's fg_step): fg's
    gradient bit for bit; a value finite exactly when fg's is, and the same
    NaN or inf when it is not.  For cross-entropy it is fg's value without
    the mean of log1p(exp(-|z|)), which lies in [0, log 2]."""
    assert objectives.get("logistic").fg_step is ml.logistic_fg_step
    rng = _rng(4)
    X = rng.standard_normal((300, 6)) * 3.0
    y = (rng.random(300) < 0.4).astype(np.float64)
    rows = rng.integers(0, 300, 64).astype(np.int64)
    for l2 in (0.0, 0.3):
        x = rng.standard_normal(6 + has_b)
        g, g_step = np.empty(x.size), np.empty(x.size)
        f = ml.logistic_fg(x, g, rows, X, y, loss, l2, has_b)
        f_step = ml.logistic_fg_step(x, g_step, rows, X, y, loss, l2, has_b)
        np.testing.assert_array_equal(g_step, g)
        if loss == 0:
            assert 0.0 < f - f_step <= np.log(2.0) + 1e-15
        else:
            assert f_step == f
        for bad in (np.inf, -np.inf, np.nan):
            xb = x.copy()
            xb[0] = bad
            fb = ml.logistic_fg(xb, g, rows, X, y, loss, l2, has_b)
            fb_step = ml.logistic_fg_step(xb, g_step, rows, X, y, loss, l2, has_b)
            assert np.isfinite(fb_step) == np.isfinite(fb)
            if loss == 0:
                assert not np.isfinite(fb)
            if loss != 0 or not np.isfinite(fb):
                np.testing.assert_array_equal(fb_step, fb)  # the same inf, or NaN
            np.testing.assert_array_equal(g_step, g)


def test_logistic_terms_use_the_vectorised_exp_and_log1p():
    """The cross-entropy terms come from _vmath (the same bits on every
    machine), within 2 ulp of the C library's softplus row by row."""
    rng = _rng(5)
    X = rng.standard_normal((500, 4)) * 4.0
    y = (rng.random(500) < 0.5).astype(np.float64)
    x = rng.standard_normal(4)
    rows = np.arange(500, dtype=np.int64)
    f = ml.logistic_fg(x, np.empty(0), rows, X, y, 0, 0.0, False)
    z = X @ x
    libm = np.mean(np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))) - y * z)
    assert f == pytest.approx(libm, rel=1e-14)
