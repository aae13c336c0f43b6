"""Rotated and shifted instances of the analytic objectives: F(x) = f(R (x - s) + c)."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from optbench import SpecError, objectives
from optbench.objectives.gradcheck import ROTATED_LABEL, gradient_error, variants
from optbench.objectives.instances import manifest_records, pull_back, to_base
from optbench.spec import load_spec

ANALYTIC = [n for n in objectives.names() if not objectives.get(n).batched]
DATA = [n for n in objectives.names() if objectives.get(n).batched]


def _dims(name: str) -> list[int]:
    """The default dimension and, where accepted, 10."""
    obj = objectives.get(name)
    lo, hi = obj.dims
    return sorted({obj.default_dim, *([10] if lo <= 10 and (hi is None or hi >= 10) else [])})


CASES = [(name, dim, instance) for name in ANALYTIC for dim in _dims(name) for instance in (1, 2)]
IDS = [f"{n}-{d}d-i{i}" for n, d, i in CASES]


def _pair(name, dim, instance, rotate=True, shift=True):
    plain = objectives.make(name, dim)
    return plain, objectives.make(name, dim, rotate=rotate, shift=shift, instance=instance)


def _inside(x, problem) -> bool:
    return bool(np.all(x >= problem.lower) and np.all(x <= problem.upper))


@pytest.mark.parametrize(("name", "dim", "instance"), CASES, ids=IDS)
def test_mapped_minima_keep_their_value_and_zero_gradient(name, dim, instance):
    plain, problem = _pair(name, dim, instance)
    assert len(problem.minima) == len(plain.minima)
    assert problem.f_star == plain.f_star or (np.isnan(problem.f_star) and np.isnan(plain.f_star))
    for m0, m in zip(plain.minima, problem.minima):
        assert (m.f, m.kind) == (m0.f, m0.kind)
        scale = max(1.0, abs(m.f))
        g0 = np.linalg.norm(plain.value_and_grad(m0.x)[1])  # recorded minima may be approximate
        f, g = problem.value_and_grad(m.x)
        assert f == pytest.approx(m.f, abs=1e-9 * scale), (problem.describe(), m)
        assert np.linalg.norm(g) <= 10.0 * g0 + 1e-7 * scale, (problem.describe(), m.x, g)
        np.testing.assert_allclose(problem.transform.to_base(m.x), m0.x, atol=1e-12 * max(1.0, np.abs(m0.x).max()))


@pytest.mark.parametrize(("name", "dim", "instance"), CASES, ids=IDS)
def test_the_instance_is_the_plain_objective_in_rotated_coordinates(name, dim, instance):
    plain, problem = _pair(name, dim, instance)
    t = problem.transform
    rng = np.random.default_rng(instance)
    for y in rng.uniform(plain.lower, plain.upper, size=(6, dim)):
        f0, g0 = plain.value_and_grad(y)
        x = t.s + t.R.T @ (y - t.c)
        f, g = problem.value_and_grad(x)
        assert f == pytest.approx(f0, rel=1e-12, abs=1e-12), (problem.describe(), y)
        np.testing.assert_allclose(g, t.R.T @ g0, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(g0).max()))


@pytest.mark.parametrize(("name", "dim", "instance"), CASES, ids=IDS)
def test_rotation_is_orthogonal_seeded_and_the_shift_stays_in_the_box(name, dim, instance):
    plain, problem = _pair(name, dim, instance)
    t = problem.transform
    assert (t.instance, t.rotate, t.shift) == (instance, True, True)
    assert t.R.shape == (dim, dim) and t.R.dtype == np.float64 and t.R.flags.c_contiguous
    np.testing.assert_allclose(t.R @ t.R.T, np.eye(dim), atol=1e-12)
    again = objectives.make(name, dim, rotate=True, shift=True, instance=instance).transform
    for a, b in ((t.R, again.R), (t.s, again.s), (t.c, again.c)):
        np.testing.assert_array_equal(a, b)
    other = objectives.make(name, dim, rotate=True, shift=True, instance=instance + 1).transform
    assert not np.array_equal(t.R, other.R) and not np.array_equal(t.s, other.s)
    assert _inside(t.s, problem)
    for m in problem.minima:
        if m.kind == "global" or dim == 2:  # rotated, Styblinski-Tang's 2^n minima fit only in 2-D
            assert _inside(m.x, problem), (problem.describe(), m)
    np.testing.assert_array_equal(problem.lower, plain.lower)
    np.testing.assert_array_equal(problem.upper, plain.upper)


@pytest.mark.parametrize("name", ANALYTIC)
def test_the_seeding_is_the_documented_recipe(name):
    """instance k of an objective is the same everywhere: R and s follow the
    recipe in optbench.objectives.instances, here written out in NumPy."""
    dim = _dims(name)[-1]
    plain, problem = _pair(name, dim, 3)
    glob = [m.x for m in plain.minima if m.kind == "global"]
    c = np.mean(glob, axis=0) if glob else 0.5 * (plain.lower + plain.upper)
    rng = np.random.default_rng(np.random.SeedSequence([3, dim, zlib.crc32(name.encode())]))
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    R = q * np.sign(np.diag(r))
    np.testing.assert_array_equal(problem.transform.c, c)
    np.testing.assert_array_equal(problem.transform.R, R)
    # s is uniform in the box of shifts keeping s and the mapped minima inside
    offsets = np.array([np.zeros(dim), *(R.T @ (m.x - c) for m in plain.minima)])
    lo, hi = plain.lower - offsets.min(axis=0), plain.upper - offsets.max(axis=0)
    if np.all(lo <= hi):
        np.testing.assert_array_equal(problem.transform.s, rng.uniform(lo, hi))


@pytest.mark.parametrize("name", ANALYTIC)
def test_rotate_alone_and_shift_alone(name):
    dim = _dims(name)[-1]
    plain = objectives.make(name, dim)
    rotated = objectives.make(name, dim, rotate=True).transform
    shifted = objectives.make(name, dim, shift=True).transform
    np.testing.assert_array_equal(rotated.s, rotated.c)  # turned about its minimum
    np.testing.assert_array_equal(shifted.R, np.eye(dim))
    rng = np.random.default_rng(0)
    for y in rng.uniform(plain.lower, plain.upper, size=(3, dim)):
        assert objectives.make(name, dim, shift=True).value(y - shifted.c + shifted.s) == pytest.approx(
            plain.value(y), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", ANALYTIC)
def test_neither_rotate_nor_shift_is_the_plain_objective(name):
    dim = _dims(name)[-1]
    plain = objectives.make(name, dim)
    same = objectives.make(name, dim, rotate=False, shift=False)
    assert same.transform is None and plain.transform is None
    assert same.params == plain.params and list(same.params) == list(plain.params)
    assert same.describe() == plain.describe()
    rotated = objectives.make(name, dim, rotate=True, instance=2)
    assert list(rotated.params)[-3:] == ["rotate", "shift", "instance"]
    assert rotated.describe().endswith("rotate=True, shift=False, instance=2)")


@pytest.mark.parametrize(("name", "dim", "instance"), CASES, ids=IDS)
def test_instance_gradients_pass_the_finite_difference_check(name, dim, instance):
    problem = objectives.make(name, dim, rotate=True, shift=True, instance=instance)
    rng = np.random.default_rng(instance)
    for x in rng.uniform(problem.lower, problem.upper, size=(3, dim)):
        err = gradient_error(problem, x)
        assert err <= 1e-6, (problem.describe(), x, err)


@pytest.mark.parametrize("name", ANALYTIC)
def test_optbench_check_includes_the_rotated_instance(name):
    labels = {label: (dim, params) for label, dim, params in variants(objectives.get(name))}
    assert labels[ROTATED_LABEL][1] == {"rotate": True, "shift": True, "instance": 1}


def test_the_compiled_helpers_are_what_value_and_grad_applies():
    problem = objectives.make("rosenbrock", 10, rotate=True, shift=True, instance=2)
    t = problem.transform
    x = np.random.default_rng(5).uniform(problem.lower, problem.upper)
    y, gy, g = np.empty(10), np.empty(10), np.empty(10)
    to_base(x, t.R, t.s, t.c, y)
    f = problem.objective.fg(y, gy, *problem.args)
    pull_back(gy, t.R, g)
    f2, g2 = problem.value_and_grad(x)
    assert f == f2 and np.array_equal(g, g2)


ONE_LINE_ERRORS = [
    ("sphere", {"instance": 2}, "instance applies to rotated or shifted instances; set rotate = true or shift = true"),
    ("sphere", {"rotate": False, "shift": False, "instance": 1}, "instance applies to rotated or shifted"),
    ("sphere", {"rotate": 1}, "'rotate' must be true or false"),
    ("sphere", {"shift": "yes"}, "'shift' must be true or false"),
    ("sphere", {"rotate": True, "instance": 0}, "'instance' is 0; must be >= 1"),
    ("sphere", {"rotate": True, "instance": 1.5}, "'instance' must be an integer"),
    ("logistic", {"rotate": True}, "rotate applies to analytic objectives only"),
    ("logistic", {"shift": False}, "shift applies to analytic objectives only"),
]


@pytest.mark.parametrize(("name", "params", "message"), ONE_LINE_ERRORS)
def test_bad_instance_parameters_are_one_line_errors(name, params, message):
    with pytest.raises(SpecError) as err:
        objectives.make(name, **params)
    assert message in str(err.value) and "\n" not in str(err.value)


BASE = {"name": "rot", "steps": 10, "optimizers": [{"name": "sgd", "lr": 0.01}]}


def test_a_spec_sweeps_instances_and_lists_the_fields():
    spec = load_spec({**BASE, "objectives": [
        {"name": "ellipsoid", "dim": 10, "cond": 1e4},
        {"name": "ellipsoid", "dim": 10, "cond": 1e4, "rotate": True, "instance": [1, 2, 3]},
    ], "init": {"scheme": ["uniform", "zeros"]}})
    keys = [c.problem.describe() for c in spec.objective_cases]
    assert keys[0] == "ellipsoid(dim=10, cond=10000.0)"
    assert [k for k in dict.fromkeys(keys)][1:] == [
        f"ellipsoid(dim=10, cond=10000.0, rotate=True, shift=False, instance={i})" for i in (1, 2, 3)]
    records = manifest_records(c.problem for c in spec.objective_cases)
    assert [r["instance"] for r in records] == [1, 2, 3]  # once per problem, not per init scheme
    rec = records[0]
    assert rec["objective"] == "ellipsoid" and rec["dim"] == 10 and (rec["rotate"], rec["shift"]) == (True, False)
    t = spec.objective_cases[2].problem.transform
    assert np.array_equal(np.array(rec["R"]), t.R) and rec["s"] == t.s.tolist() and rec["c"] == t.c.tolist()
    with pytest.raises(SpecError, match=r"known: .*instance.*rotate.*shift") as err:
        load_spec({**BASE, "objectives": [{"name": "sphere", "rotat": True}]})
    assert "did you mean 'rotate'" in str(err.value)


@pytest.mark.parametrize("name", DATA[:1])
def test_a_data_objective_refuses_rotation_in_a_spec(name):
    with pytest.raises(SpecError, match="rotate applies to analytic objectives only") as err:
        load_spec({**BASE, "objectives": [{"name": name, "rotate": True}]})
    assert "\n" not in str(err.value)
    with pytest.raises(SpecError) as err:
        load_spec({**BASE, "objectives": [{"name": name, "rotat": True}]})
    assert "rotate" not in str(err.value).split("known:")[1]


def test_contours_follow_the_instance():
    from optbench.report import surface

    problem = objectives.make("himmelblau", rotate=True, shift=True, instance=1)
    x, y, z = surface.grid(problem, (-5, 5, -5, 5), n=7)
    assert z[2, 5] == problem.value([x[5], y[2]])
    plain = objectives.make("himmelblau")
    assert surface.grid(plain, (-5, 5, -5, 5), n=7)[2][2, 5] == plain.value([x[5], y[2]])


def test_where_rotated_minima_cannot_all_fit_the_global_ones_do():
    """Styblinski-Tang records its 2^n minima up to 6-D; rotated, they fill
    more than the box's corners, so the shift keeps the global one inside."""
    plain, problem = _pair("styblinski_tang", 5, 1)
    assert len(problem.minima) == 32
    assert all(_inside(m.x, problem) for m in problem.minima if m.kind == "global")
    assert not all(_inside(m.x, problem) for m in problem.minima)


def test_no_shift_for_the_global_minima_is_a_one_line_error():
    from optbench.objectives import Minimum
    from optbench.objectives.instances import make_transform

    lower, upper = np.full(2, -1.0), np.full(2, 1.0)
    corners = [Minimum(np.array([a, b]) * 0.99, 0.0) for a in (-1, 1) for b in (-1, 1)]
    with pytest.raises(SpecError, match=r"objective 'square' \(dim 2\) instance 1: no shift keeps its global "
                                        r"minima inside the domain box") as err:
        make_transform("square", 2, lower, upper, corners, rotate=True, shift=True, instance=1)
    assert "\n" not in str(err.value)
    make_transform("square", 2, lower, upper, corners, rotate=False, shift=True, instance=1)  # unrotated: fits


# ------------------------------------------------------------ in the engine
def _plain_loop(problem, opt, x0, hp_row, steps):
    """The instance stepped in Python: ``value_and_grad`` applies the transform."""
    sched = opt.schedule(hp_row, steps)
    x, state, fs = np.array(x0, dtype=np.float64), np.zeros((opt.n_state, x0.size)), []
    for t in range(steps + 1):
        f, g = problem.value_and_grad(x)
        fs.append(f)
        if t == steps:
            break
        opt.step(x, g, state, hp_row, sched[t], t + 1)
    return np.array(fs), x


@pytest.mark.parametrize("driver", ["specialized", "generic"])
@pytest.mark.parametrize("name, dim", [("rosenbrock", 2), ("ellipsoid", 5)])
def test_drivers_run_the_instance_bit_for_bit(name, dim, driver):
    """Both tiers evaluate f(R (x - s) + c) with the same helpers as Python:
    the same values and final points, bit for bit (and not the plain ones)."""
    from optbench import engine, optimizers

    problem = objectives.make(name, dim=dim, rotate=True, shift=True, instance=2)
    opt = optimizers.get("adam")
    hp_row = opt.hp_row(opt.resolve({"lr": 0.01}))
    x0 = np.random.default_rng(0).uniform(problem.lower, problem.upper, size=(3, dim))
    res = engine.run_group(problem, opt, x0, np.tile(hp_row, (3, 1)), steps=40, log_every=1,
                           divergence_factor=np.inf, driver=driver)
    plain = engine.run_group(objectives.make(name, dim=dim), opt, x0, np.tile(hp_row, (3, 1)), steps=40,
                             log_every=1, divergence_factor=np.inf, driver=driver)
    assert not np.array_equal(res.curve_f, plain.curve_f)
    for r in range(3):
        fs, x = _plain_loop(problem, opt, x0[r], hp_row, 40)
        np.testing.assert_array_equal(res.curve_f[r], fs)
        np.testing.assert_array_equal(res.x_final[r], x)


def test_a_line_search_finds_the_mapped_minimum():
    from optbench import engine, optimizers

    problem = objectives.make("rosenbrock", dim=4, rotate=True, shift=True, instance=3)
    opt = optimizers.get("lbfgs")
    hp = opt.hp_row(opt.resolve({"line_search_fn": "strong_wolfe"}))[None]
    res = engine.run_group(problem, opt, problem.lower[None] * 0.5, hp, steps=30)
    assert res.f_final[0] - problem.f_star < 1e-8  # its stopping tolerance: 1e-9 on the loss change
    np.testing.assert_allclose(res.x_final[0], problem.minima[0].x, atol=1e-4)
