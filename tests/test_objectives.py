"""The objective registry: gradients, recorded minima, worked examples, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from optbench import SpecError, objectives
from optbench.objectives.gradcheck import check_objective, variants

ANALYTIC = [n for n in objectives.names() if not objectives.get(n).batched]
ALL = objectives.names()


@pytest.mark.parametrize("name", ALL)
def test_gradient_matches_finite_differences(name):
    for result in check_objective(objectives.get(name), points=6, seed=1):
        assert result.passed, f"{result.objective} {result.variant}: rel err {result.max_rel_error:.2e}"


def _problems(name):
    obj = objectives.get(name)
    for _, dim, params in variants(obj):
        yield obj.make(dim, **params)


VALUE_ONLY = [n for n in ALL if objectives.get(n).value_only]


@pytest.mark.parametrize("name", VALUE_ONLY)
def test_a_value_only_call_gives_the_same_value_and_leaves_g_alone(name):
    """fg with an empty g (the driver's logged full-data loss when no gradient
    norm is recorded) returns exactly the value of the full call."""
    assert objectives.get(name).batched
    rng = np.random.default_rng(3)
    for problem in _problems(name):
        # rows as value_and_grad passes them (writable int64): no extra compiled signature
        for rows in (np.array(problem.all_rows()), rng.integers(0, problem.n_samples, 17)):
            for _ in range(3):
                x = rng.uniform(problem.lower, problem.upper)
                g = np.empty(problem.dim)
                f_full = problem.objective.fg(x, g, rows, *problem.args)
                empty = np.empty(0)
                f_value = problem.objective.fg(x, empty, rows, *problem.args)
                assert f_value == f_full or (math.isnan(f_value) and math.isnan(f_full)), problem.describe()


@pytest.mark.parametrize("name", ALL)
def test_recorded_minima_have_their_value_and_zero_gradient(name):
    for problem in _problems(name):
        for m in problem.minima:
            f, g = problem.value_and_grad(m.x)
            scale = max(1.0, abs(m.f))
            assert f == pytest.approx(m.f, abs=1e-9 * scale), (problem.describe(), m)
            assert np.max(np.abs(g)) < 1e-7 * scale, (problem.describe(), m.x, g)
        finite = [m.f for m in problem.minima]
        if finite:
            assert problem.f_star == pytest.approx(min(finite), abs=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_definition_is_complete(name):
    obj = objectives.get(name)
    assert obj.summary and obj.tags
    for problem in _problems(name):
        assert problem.lower.shape == problem.upper.shape == (problem.dim,)
        assert np.all(problem.lower < problem.upper)
        if "unbounded" in obj.tags:
            assert problem.f_star == -np.inf and not problem.minima
        for m in problem.minima:
            assert m.x.shape == (problem.dim,)
            # a data objective's box is where runs start, not a constraint; a rotated
            # instance may carry local minima out of it (tests/test_instances.py)
            if not obj.batched and problem.transform is None:
                assert np.all(m.x >= problem.lower) and np.all(m.x <= problem.upper), "minimum outside the domain box"


def test_himmelblau_records_all_four_minima():
    p = objectives.make("himmelblau")
    assert len(p.minima) == 4
    assert {tuple(np.sign(m.x)) for m in p.minima} == {(1, 1), (-1, 1), (-1, -1), (1, -1)}


def test_lecture_worked_examples():
    # L = w1^2 + w2^2 - w1 w2 at (-5, 5): L = 75, grad = (-15, 15)
    f, g = objectives.make("quadratic").value_and_grad([-5.0, 5.0])
    assert f == 75.0 and g.tolist() == [-15.0, 15.0]
    # J = t1^2 + t2^2: grad = (2 t1, 2 t2)
    f, g = objectives.make("sphere", dim=2).value_and_grad([3.0, -0.5])
    assert f == 9.25 and g.tolist() == [6.0, -1.0]
    # z = y^2 - x^2: grad = (-2x, 2y)
    f, g = objectives.make("saddle").value_and_grad([1.5, 2.0])
    assert f == 4.0 - 2.25 and g.tolist() == [-3.0, 4.0]


def test_rosenbrock_2d_is_the_canonical_evaluation_order():
    # the peers' reference order: a = 1 - x, b = y - x*x ... (bit for bit)
    rng = np.random.default_rng(3)
    p = objectives.make("rosenbrock", dim=2)
    for x, y in rng.uniform(-2, 2, size=(50, 2)):
        a = 1.0 - x
        b = y - x * x
        f, g = p.value_and_grad([x, y])
        assert f == a * a + 100.0 * (b * b)
        assert g[0] == -2.0 * a - 400.0 * x * b and g[1] == 200.0 * b


def test_ellipsoid_condition_number():
    p = objectives.make("ellipsoid", dim=4, cond=1e4)
    hess_diag = [p.value_and_grad(np.eye(4)[i])[1][i] for i in range(4)]
    assert max(hess_diag) / min(hess_diag) == pytest.approx(1e4)


def test_unknown_objective_suggests_close_names():
    with pytest.raises(SpecError, match=r"unknown objective 'rosenbrok'; did you mean 'rosenbrock'"):
        objectives.make("rosenbrok")


def test_unsupported_dimension():
    with pytest.raises(SpecError, match=r"objective 'himmelblau': dim 3 not supported; accepted: 2"):
        objectives.make("himmelblau", dim=3)
    with pytest.raises(SpecError, match=r"dim 1 not supported; accepted: >= 2"):
        objectives.make("rosenbrock", dim=1)


def test_point_of_the_wrong_shape():
    p = objectives.make("rastrigin", dim=3)
    with pytest.raises(SpecError, match=r"point has shape \(2,\); expected \(3,\)"):
        p.value_and_grad([1.0, 2.0])


def test_bad_parameter():
    with pytest.raises(SpecError, match="cond"):
        objectives.make("ellipsoid", dim=2, cond=0.5)
    with pytest.raises(SpecError, match=r"unknown parameter of objective 'ellipsoid' 'cnd'; did you mean 'cond'"):
        objectives.make("ellipsoid", dim=2, cnd=10.0)


def test_generator_parameters_with_a_fixed_data_set_are_refused_not_ignored():
    with pytest.raises(SpecError, match=r"n_samples set the synthetic generator and do not apply to data = 'iris'"):
        objectives.make("softmax", data="iris", n_samples=50)
    assert objectives.make("softmax", data="iris").n_samples == 150


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        objectives.register(objectives.get("sphere"))


# ------------------------------------------------------------- torch autograd

torch = None


def _torch_formulas():
    import torch as T

    pi = math.pi

    def rosen(x):
        return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()

    def ackley(x):
        n = x.numel()
        return (-20 * T.exp(-0.2 * T.sqrt((x**2).sum() / n)) - T.exp(T.cos(2 * pi * x).sum() / n) + 20 + math.e)

    def griewank(x):
        i = T.arange(1, x.numel() + 1, dtype=x.dtype)
        return 1 + (x**2).sum() / 4000 - T.prod(T.cos(x / T.sqrt(i)))

    def gp(x):
        X, y = x[0], x[1]
        a = (1 + (X + y + 1) ** 2 * (19 - 14 * X + 3 * X**2 - 14 * y + 6 * X * y + 3 * y**2))
        b = (30 + (2 * X - 3 * y) ** 2 * (18 - 32 * X + 12 * X**2 + 48 * y - 36 * X * y + 27 * y**2))
        return a * b

    def ellipsoid(x, cond=1e3):
        n = x.numel()
        e = T.arange(n, dtype=x.dtype) / (n - 1) if n > 1 else T.zeros(1, dtype=x.dtype)
        return (cond**e * x**2).sum()

    return {
        "sphere": lambda x: (x**2).sum(),
        "quadratic": lambda x: x[0] ** 2 + x[1] ** 2 - x[0] * x[1],
        "ellipsoid": ellipsoid,
        "booth": lambda x: (x[0] + 2 * x[1] - 7) ** 2 + (2 * x[0] + x[1] - 5) ** 2,
        "matyas": lambda x: 0.26 * (x[0] ** 2 + x[1] ** 2) - 0.48 * x[0] * x[1],
        "saddle": lambda x: x[1] ** 2 - x[0] ** 2,
        "monkey_saddle": lambda x: x[0] ** 3 - 3 * x[0] * x[1] ** 2,
        "rosenbrock": rosen,
        "beale": lambda x: ((1.5 - x[0] + x[0] * x[1]) ** 2 + (2.25 - x[0] + x[0] * x[1] ** 2) ** 2
                            + (2.625 - x[0] + x[0] * x[1] ** 3) ** 2),
        "three_hump_camel": lambda x: 2 * x[0] ** 2 - 1.05 * x[0] ** 4 + x[0] ** 6 / 6 + x[0] * x[1] + x[1] ** 2,
        "himmelblau": lambda x: (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2,
        "six_hump_camel": lambda x: ((4 - 2.1 * x[0] ** 2 + x[0] ** 4 / 3) * x[0] ** 2 + x[0] * x[1]
                                     + (-4 + 4 * x[1] ** 2) * x[1] ** 2),
        "rastrigin": lambda x: 10 * x.numel() + (x**2 - 10 * T.cos(2 * pi * x)).sum(),
        "ackley": ackley,
        "styblinski_tang": lambda x: ((x**4 - 16 * x**2 + 5 * x) / 2).sum(),
        "goldstein_price": gp,
        "levi13": lambda x: (T.sin(3 * pi * x[0]) ** 2 + (x[0] - 1) ** 2 * (1 + T.sin(3 * pi * x[1]) ** 2)
                             + (x[1] - 1) ** 2 * (1 + T.sin(2 * pi * x[1]) ** 2)),
        "griewank": griewank,
    }


@pytest.mark.torch
@pytest.mark.parametrize("name", ANALYTIC)
def test_value_and_gradient_match_torch_autograd(name):
    import torch as T
    formulas = _torch_formulas()
    assert name in formulas, f"add a torch formula for the new objective {name!r}"
    rng = np.random.default_rng(7)
    for problem in _problems(name):
        for x in rng.uniform(problem.lower, problem.upper, size=(5, problem.dim)):
            xt = T.tensor(x, dtype=T.float64, requires_grad=True)
            params = {k: v for k, v in problem.params.items() if k not in objectives.TRANSFORM_PARAMS}
            tf = problem.transform  # a rotated and shifted instance: f(R (x - s) + c)
            yt = xt if tf is None else T.from_numpy(tf.R) @ (xt - T.from_numpy(tf.s)) + T.from_numpy(tf.c)
            ft = formulas[name](yt, **params) if params else formulas[name](yt)
            ft.backward()
            f, g = problem.value_and_grad(x)
            assert f == pytest.approx(ft.item(), rel=1e-12, abs=1e-12)
            np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-10, atol=1e-10 * max(1.0, abs(f)))
