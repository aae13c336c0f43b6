"""Closure optimizers (L-BFGS, conjugate gradient, Armijo descent): torch's
LBFGS step for step, NumPy references, SciPy's CG, evaluation counts, and
the refusals of what a line search cannot run."""
from __future__ import annotations

import numpy as np
import pytest

from optbench import SpecError, engine, objectives, optimizers
from optbench.spec import load_spec

STEPS = 50
LBFGS_CASES = [(name, dim, ls, h) for name, dim in (("rosenbrock", 2), ("rosenbrock", 10), ("beale", 2))
               for ls in ("none", "strong_wolfe") for h in (5, 10)]


def _start(name: str, dim: int) -> np.ndarray:
    return {("rosenbrock", 2): np.array([-1.2, 1.0]), ("beale", 2): np.array([1.0, 1.0])}.get(
        (name, dim), np.linspace(-1.0, 0.8, dim))


def _ours(name, problem, x0, values, steps=STEPS, **kw):
    """Logged x (every step) and evaluations of one run."""
    opt = optimizers.get(name)
    hp = opt.hp_row(opt.resolve(values))[None]
    res = engine.run_group(problem, opt, np.atleast_2d(x0), hp, steps=steps, log_every=1, record_x=True,
                           divergence_factor=np.inf, **kw)
    n = int(res.n_logged[0])
    return res.curve_x[0, :n], res.curve_e[0, :n], res


@pytest.mark.torch
@pytest.mark.parametrize("name, dim, line_search, history", LBFGS_CASES)
def test_lbfgs_follows_torch_step_for_step(name, dim, line_search, history):
    """x after each of 50 ``LBFGS.step(closure)`` calls to 1e-9 relative, and
    the evaluations (torch's ``func_evals``) exactly; the closure gives
    torch the objective's own value and gradient."""
    torch = pytest.importorskip("torch")
    problem = objectives.make(name, dim=dim)
    x0 = _start(name, dim)
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.LBFGS([p], history_size=history, line_search_fn=None if line_search == "none" else line_search)

    def closure():
        topt.zero_grad()
        f, g = problem.value_and_grad(p.detach().numpy().copy())
        p.grad = torch.from_numpy(g)
        return torch.tensor(f, dtype=torch.float64)

    xs, evals = [x0.copy()], [0]
    for _ in range(STEPS):
        topt.step(closure)
        xs.append(p.detach().numpy().copy())
        evals.append(topt.state[p]["func_evals"])
    x, e, res = _ours("lbfgs", problem, x0, dict(history_size=history, line_search_fn=line_search))
    assert len(x) == STEPS + 1 and res.status[0] != 2  # every step logged, not diverged
    np.testing.assert_allclose(x, np.array(xs), rtol=1e-9, atol=1e-9 * np.abs(xs).max())
    np.testing.assert_array_equal(e, np.array(evals, dtype=float))
    assert res.evals_final[0] == evals[-1]


def _armijo_reference(problem, x0, lr, c1, shrink, steps):
    """Textbook backtracking gradient descent in NumPy: x after each step, evaluations."""
    x = x0.copy()
    f, g = problem.value_and_grad(x)
    xs, evals, spent = [x.copy()], [0.0], 1
    for _ in range(steps):
        alpha, trials = lr, 0
        for _ in range(60):
            xn = x - alpha * g
            fn, gn = problem.value_and_grad(xn)
            trials += 1
            if fn <= f - c1 * alpha * float(g @ g):
                x, f, g = xn, fn, gn
                break
            alpha *= shrink
        spent += trials
        xs.append(x.copy())
        evals.append(spent - 1.0)  # the evaluation at x_t is the next step's
    return np.array(xs), np.array(evals)


@pytest.mark.parametrize("name, dim, lr", [("rosenbrock", 2, 1.0), ("ellipsoid", 4, 0.5), ("beale", 2, 1.0)])
def test_gd_armijo_matches_the_numpy_reference(name, dim, lr):
    problem = objectives.make(name, dim=dim)
    x0 = _start(name, dim)
    x, e, _ = _ours("gd_armijo", problem, x0, dict(lr=lr, c1=1e-4, shrink=0.5), steps=40)
    rx, re_ = _armijo_reference(problem, x0, lr, 1e-4, 0.5, 40)
    np.testing.assert_allclose(x, rx, rtol=1e-12, atol=1e-14)
    # evaluations: trials of the steps so far, plus the one at x_0 (the
    # driver counts its own evaluation at each step's start)
    np.testing.assert_array_equal(e[1:], re_[1:] + 1.0)


def _cubic(x1, f1, g1, x2, f2, g2, lo, hi):
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2s = d1 * d1 - g1 * g2
    if d2s >= 0:
        d2 = np.sqrt(d2s)
        pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)) if x1 <= x2 else \
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(pos, lo), hi)
    return (lo + hi) / 2.0


def _wolfe(fg, x, t, d, f, g, gtd, c1, c2, max_ls=25, tol=1e-9):
    """The strong-Wolfe search of Nocedal & Wright (Alg. 3.5/3.6) with
    torch's interpolation safeguards, in NumPy: (f, g, t, evaluations)."""
    d_norm = np.abs(d).max()
    f_new, g_new = fg(x + t * d)
    n, gtd_new = 1, g_new @ d
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done, it, br = False, 0, None
    while it < max_ls:
        if f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev):
            br = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new, gtd_new]]
            break
        if abs(gtd_new) <= -c2 * gtd:
            br, done = [[t, f_new, g_new, gtd_new]], True
            break
        if gtd_new >= 0:
            br = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new, gtd_new]]
            break
        t_prev, t = t, _cubic(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, t + 0.01 * (t - t_prev), 10 * t)
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = fg(x + t * d)
        n, gtd_new, it = n + 1, g_new @ d, it + 1
    if it == max_ls:
        br = [[0.0, f, g, gtd], [t, f_new, g_new, gtd_new]]
    lo = 0 if br[0][1] <= br[-1][1] else 1
    insuf = False
    while not done and it < max_ls:
        (a, fa, _, ga), (b, fb, _, gb) = br
        if abs(b - a) * d_norm < tol:
            break
        t = _cubic(a, fa, ga, b, fb, gb, min(a, b), max(a, b))
        eps = 0.1 * (max(a, b) - min(a, b))
        if min(max(a, b) - t, t - min(a, b)) < eps:
            if insuf or t >= max(a, b) or t <= min(a, b):
                t = max(a, b) - eps if abs(t - max(a, b)) < abs(t - min(a, b)) else min(a, b) + eps
                insuf = False
            else:
                insuf = True
        else:
            insuf = False
        f_new, g_new = fg(x + t * d)
        n, gtd_new, it = n + 1, g_new @ d, it + 1
        if f_new > f + c1 * t * gtd or f_new >= br[lo][1]:
            br[1 - lo] = [t, f_new, g_new, gtd_new]
            lo = 0 if br[0][1] <= br[1][1] else 1
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (br[1 - lo][0] - br[lo][0]) >= 0:
                br[1 - lo] = list(br[lo])
            br[lo] = [t, f_new, g_new, gtd_new]
    t, f_new, g_new, _ = br[lo]
    return f_new, g_new, t, n


def _cg_reference(problem, x0, lr, c1, c2, steps):
    """Polak-Ribiere+ conjugate gradient in NumPy: x after each step, evaluations."""
    x = x0.copy()
    f, g = problem.value_and_grad(x)
    xs, evals, spent = [x.copy()], [0.0], 1
    d = g_prev = None
    t_prev = gtd_prev = 0.0
    for k in range(1, steps + 1):
        if k == 1:
            d, t0 = -g, min(1.0, 1.0 / np.abs(g).sum()) * lr
        else:
            beta = max(0.0, float(g @ (g - g_prev)) / float(g_prev @ g_prev))
            d = -g + beta * d
            if not g @ d < 0:
                d = -g
            t0 = t_prev * gtd_prev / float(g @ d)
            t0 = t0 if t0 > 0 and np.isfinite(t0) else lr
        gtd = float(g @ d)
        if gtd < 0:
            f, g_new, t, n = _wolfe(problem.value_and_grad, x, t0, d, f, g, gtd, c1, c2)
            x, g_prev, g = x + t * d, g, g_new
            t_prev, gtd_prev = t, gtd
            spent += n
        xs.append(x.copy())
        evals.append(spent - 1.0)
    return np.array(xs), np.array(evals)


@pytest.mark.parametrize("name, dim, steps", [("ellipsoid", 4, 5), ("rosenbrock", 2, 8), ("beale", 2, 8)])
def test_cg_matches_the_numpy_reference(name, dim, steps):
    """Steps before convergence (after it, a last-bit difference in a dot
    product may move a point by 1e-12 of nothing): same x to 1e-8, same
    evaluations."""
    problem = objectives.make(name, dim=dim)
    x0 = _start(name, dim)
    x, e, _ = _ours("cg", problem, x0, dict(lr=1.0, c1=1e-4, c2=0.1), steps=steps)
    rx, re_ = _cg_reference(problem, x0, 1.0, 1e-4, 0.1, steps)
    np.testing.assert_allclose(x, rx, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(e[1:], re_[1:] + 1.0)


@pytest.mark.parametrize("name, dim", [("rosenbrock", 2), ("rosenbrock", 10), ("beale", 2), ("ellipsoid", 6)])
def test_cg_reaches_what_scipy_cg_reaches(name, dim):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    problem = objectives.make(name, dim=dim)
    x0 = _start(name, dim)
    ref = scipy_optimize.minimize(problem.value_and_grad, x0, jac=True, method="CG", options={"gtol": 1e-8})
    _, _, res = _ours("cg", problem, x0, {}, steps=400)
    gap = res.f_final[0] - problem.f_star
    assert gap <= max(10 * (ref.fun - problem.f_star), 1e-12), (gap, ref.fun)
    assert np.all(np.isfinite(res.x_final[0]))


def test_evaluations_count_one_per_step_for_first_order_methods(tmp_path):
    from optbench import api

    spec = load_spec({"name": "ev", "steps": 30, "log_every": 10, "targets": [1e-1],
                      "objectives": [{"name": "rosenbrock"},
                                     {"name": "logistic", "data": "breast_cancer", "batch_size": 32}],
                      "optimizers": [{"name": "adam", "lr": 0.01}], "init": {"count": 2}})
    res = api.run(spec, out=tmp_path, report=False, quiet=True)
    curves = res.curves.merge(res.runs[["run_id", "objective"]], on="run_id")
    surf = curves[curves.objective == "rosenbrock"]
    np.testing.assert_array_equal(surf.evals, surf.step.astype(float))
    data = curves[curves.objective == "logistic"]
    n = objectives.make("logistic", data="breast_cancer").n_samples
    np.testing.assert_allclose(data.evals, data.step * 32 / n)
    runs = res.runs.set_index("objective")
    assert (runs.loc["rosenbrock", "evals_final"] == runs.loc["rosenbrock", "steps_run"]).all()


def test_a_sweep_records_line_search_evaluations(tmp_path):
    from optbench import api

    spec = load_spec({"name": "ls", "steps": 20, "log_every": 5, "targets": [1e-1, 1e-8],
                      "objectives": [{"name": "rosenbrock", "dim": [2, 5]}],
                      "optimizers": [{"name": "lbfgs", "line_search_fn": ["none", "strong_wolfe"], "lr": 0.5},
                                     {"name": "cg"}, {"name": "gd_armijo"}, {"name": "sgd", "lr": 1e-3}],
                      "init": {"count": 3}})
    res = api.run(spec, out=tmp_path, report=False, quiet=True)
    runs = res.runs
    ls = runs[runs.optimizer != "sgd"]
    assert (ls.evals_final > ls.steps_run).all()  # a line search pays more than one evaluation per step
    assert set(runs.line_search_fn.dropna()) == {"none", "strong_wolfe"}
    hit = ls["evals_to_1e-08"].notna()
    assert hit.any() and (ls.loc[hit, "evals_to_1e-08"] >= ls.loc[hit, "steps_to_1e-08"]).all()
    curves = res.curves.merge(runs[["run_id", "optimizer"]], on="run_id")
    for _, c in curves.groupby("run_id"):
        assert np.all(np.diff(c.evals.to_numpy()) >= 0)


@pytest.mark.parametrize("objective, message", [
    ({"name": "logistic", "data": "breast_cancer", "batch_size": 32}, "batch_size = 32"),
    ({"name": "sphere", "grad_noise": 0.1}, "grad_noise = 0.1"),
])
def test_line_searches_refuse_stochastic_gradients_in_one_line(objective, message):
    with pytest.raises(SpecError) as info:
        load_spec({"name": "x", "steps": 5, "objectives": [objective], "optimizers": [{"name": "lbfgs"}]})
    text = str(info.value)
    assert "\n" not in text and "lbfgs" in text and message in text and "full-batch" in text


def test_line_searches_refuse_schedulers_and_clipping():
    for extra in ({"scheduler": {"name": "step_lr", "step_size": 2}}, {"clip_grad_norm": 1.0}):
        with pytest.raises(SpecError, match="takes no scheduler and no gradient clipping"):
            load_spec({"name": "x", "steps": 5, "objectives": [{"name": "sphere"}],
                       "optimizers": [{"name": "cg", **extra}]})


def test_lbfgs_hyperparameters_are_torchs():
    opt = optimizers.get("lbfgs")
    assert opt.resolve({"max_iter": 8})["max_eval"] == 10.0  # torch's max_iter * 5 // 4
    assert opt.resolve({"max_iter": 8, "max_eval": 3})["max_eval"] == 3.0
    assert opt.torch_kwargs(opt.resolve({}))["line_search_fn"] is None
    assert opt.torch_kwargs(opt.resolve({}))["history_size"] == 100
    for bad, field in (({"line_search_fn": "wolfe"}, "line_search_fn"), ({"history_size": 2.5}, "history_size"),
                       ({"max_iter": 0}, "max_iter")):
        with pytest.raises(SpecError, match=field):
            opt.resolve(bad)
