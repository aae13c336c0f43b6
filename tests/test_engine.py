"""The engine: compiled sweeps equal a plain loop, are deterministic, and mark divergence."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from optbench import engine, objectives, optimizers

STEPS = 60
# the optimizers with a plain step(x, g, state, hp, sched, t); closure ones
# (line searches) are checked against their references in test_line_search.py
FIRST_ORDER = [n for n in optimizers.names() if not optimizers.get(n).closure]


def _reference(problem, opt, x0, hp_row, steps, sigma=0.0, key=0):
    """Plain Python loop over the same fg and step functions."""
    sched = opt.schedule(hp_row, steps)
    x = np.array(x0, dtype=np.float64)
    state = np.zeros((opt.n_state, x.size))
    fs = []
    for t in range(steps + 1):
        f, g = problem.value_and_grad(x)
        fs.append(f)
        if not np.isfinite(f) or t == steps:
            break
        opt.step(x, g, state, hp_row, sched[t], t + 1)
    return np.array(fs), x


@pytest.fixture(scope="module")
def rosenbrock_drivers():
    """Every optimizer's drivers on Rosenbrock (the lane one where it applies,
    and the scalar one: these tests and tests/test_lanes.py use them),
    compiled side by side, half in a child process; lane drivers first, so
    that each process gets about as many of the slower ones."""
    problem = objectives.make("rosenbrock", dim=2)
    groups = []
    for driver in ("auto", "scalar"):
        for name in FIRST_ORDER:
            opt = optimizers.get(name)
            groups.append(dict(problem=problem, optimizer=opt, x0=np.zeros((1, 2)),
                               hp=opt.hp_row(opt.resolve({"lr": 1e-3}))[None], steps=STEPS, threads=2,
                               driver=driver))
    engine.compile_kernels(groups)


@pytest.mark.usefixtures("rosenbrock_drivers")
@pytest.mark.parametrize("opt_name", FIRST_ORDER)
def test_kernel_equals_plain_loop_bit_for_bit(opt_name):
    problem = objectives.make("rosenbrock", dim=2)
    opt = optimizers.get(opt_name)
    values = opt.resolve({"lr": 1e-3})
    hp_row = opt.hp_row(values)
    x0 = np.random.default_rng(0).uniform(-2, 2, size=(5, 2))
    res = engine.run_group(problem, opt, x0, np.tile(hp_row, (5, 1)), steps=STEPS, log_every=1,
                           divergence_factor=np.inf)
    for r in range(5):
        fs, x = _reference(problem, opt, x0[r], hp_row, STEPS)
        np.testing.assert_array_equal(res.curve_f[r, : len(fs)], fs)
        np.testing.assert_array_equal(res.x_final[r], x)


def _group(threads, chunk, steps=200):
    problem = objectives.make("himmelblau")
    opt = optimizers.get("sgd")
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-5, 5, size=(37, 2))
    hp = np.stack([opt.hp_row(opt.resolve({"lr": lr, "momentum": m}))
                   for lr, m in zip(rng.choice([1e-3, 1e-2, 5e-2], 37), rng.choice([0.0, 0.9], 37))])
    return engine.run_group(problem, opt, x0, hp, steps=steps, log_every=3, targets=(1e-1, 1e-6),
                            noise=np.full(37, 0.05), keys=np.arange(37, dtype=np.uint64),
                            threads=threads, chunk=chunk)


def test_results_do_not_depend_on_threads_or_chunks():
    a = _group(threads=1, chunk=37)
    b = _group(threads=2, chunk=5)
    c = _group(threads=3, chunk=1)
    for other in (b, c):
        for field in a.__dataclass_fields__:
            if field == "extra":
                continue
            np.testing.assert_array_equal(getattr(a, field), getattr(other, field), err_msg=field)


def test_divergence_stops_only_that_run():
    problem = objectives.make("rosenbrock", dim=2)
    opt = optimizers.get("sgd")
    x0 = np.array([[-1.5, 2.0], [0.5, 0.5]])
    hp = np.stack([opt.hp_row(opt.resolve({"lr": 0.5})), opt.hp_row(opt.resolve({"lr": 1e-3}))])
    res = engine.run_group(problem, opt, x0, hp, steps=100)
    assert engine.STATUS[res.status[0]] == "diverged"
    assert 0 < res.steps_run[0] < 100
    alone = engine.run_group(problem, opt, x0[1:], hp[1:], steps=100)
    np.testing.assert_array_equal(res.curve_f[1], alone.curve_f[0])
    assert engine.STATUS[res.status[1]] == "unconverged" and res.steps_run[1] == 100


def test_saddle_runs_escape_without_crashing():
    problem = objectives.make("saddle")
    opt = optimizers.get("sgd")
    x0 = np.array([[0.5, 0.5], [0.0, 1.0]])  # the second starts on the stable manifold
    hp = np.tile(opt.hp_row(opt.resolve({"lr": 0.05})), (2, 1))
    res = engine.run_group(problem, opt, x0, hp, steps=500)
    assert engine.STATUS[res.status[0]] == "escaped"
    assert res.f_final[0] < engine.escape_value(problem) <= -4.0 + 1e-12
    # exactly on the stable manifold, gradient descent converges to the saddle point
    assert engine.STATUS[res.status[1]] == "unconverged"
    assert abs(res.x_final[1]).max() < 1e-8


def test_steps_to_target_is_the_first_step_below_it():
    problem = objectives.make("sphere", dim=3)
    opt = optimizers.get("sgd")
    x0 = np.random.default_rng(2).uniform(-5, 5, size=(4, 3))
    hp = np.tile(opt.hp_row(opt.resolve({"lr": 0.05})), (4, 1))
    targets = (1e-1, 1e-4, 1e-30)
    res = engine.run_group(problem, opt, x0, hp, steps=150, log_every=1, targets=targets)
    gap = res.curve_f - problem.f_star
    for r in range(4):
        for k, t in enumerate(sorted(targets, reverse=True)):
            hit = np.flatnonzero(gap[r] <= t)
            expected = hit[0] if hit.size else -1
            assert res.target_steps[r, k] == expected
    assert np.all(res.target_steps[:, 2] == -1)  # never reached


def test_grad_tol_stops_early():
    problem = objectives.make("sphere", dim=2)
    opt = optimizers.get("sgd")
    hp = opt.hp_row(opt.resolve({"lr": 0.1}))[None, :]
    res = engine.run_group(problem, opt, np.array([[1.0, 1.0]]), hp, steps=1000, grad_tol=1e-6)
    assert res.steps_run[0] < 100
    assert res.grad_norm_final[0] <= 1e-6
    assert engine.STATUS[res.status[0]] == "converged"


def test_gradient_noise_is_keyed_by_run_not_position():
    problem = objectives.make("sphere", dim=2)
    opt = optimizers.get("sgd")
    hp = np.tile(opt.hp_row(opt.resolve({"lr": 0.1})), (3, 1))
    x0 = np.ones((3, 2))
    keys = np.array([11, 12, 11], dtype=np.uint64)
    res = engine.run_group(problem, opt, x0, hp, steps=50, noise=np.full(3, 0.1), keys=keys)
    np.testing.assert_array_equal(res.curve_f[0], res.curve_f[2])
    assert not np.array_equal(res.curve_f[0], res.curve_f[1])
    # mean of the noise is ~0, its spread ~sigma: the run hovers near the minimum
    assert 0 < res.f_final[1] < 0.05


def test_a_run_that_converges_and_then_diverges_is_diverged():
    # gradient descent on x^2 with lr above the stability limit 1: the run
    # starts inside the target, then oscillates with growing amplitude
    problem = objectives.make("sphere", dim=1)
    opt = optimizers.get("sgd")
    hp = opt.hp_row(opt.resolve({"lr": 1.05}))[None, :]  # |1 - 2 lr| = 1.1: oscillates and grows
    res = engine.run_group(problem, opt, np.array([[1e-9]]), hp, steps=400, targets=(1e-3,))
    assert res.target_steps[0, 0] == 0  # starts below the target
    assert engine.STATUS[res.status[0]] == "diverged"
    assert res.converged_step[0] == 0


def test_row_groups_is_numpys_unique_over_rows():
    """The compiled scan + lexsort gives np.unique(hp, axis=0,
    return_inverse=True) exactly, rows in any order, -0.0 equal to 0.0."""
    rng = np.random.default_rng(3)
    values = np.array([0.0, -0.0, 1e-3, 0.5, 0.9, 1.0, 2.0])
    for trial in range(300):
        R, H = int(rng.integers(1, 120)), int(rng.integers(1, 7))
        hp = values[rng.integers(0, int(rng.integers(1, 8)), (R, H))]
        if trial % 2:
            hp = np.repeat(hp[: max(1, R // 10)], 10, axis=0)  # sweep order: runs of equal rows
        uniq, inverse = engine.row_groups(hp)
        ref_uniq, ref_inverse = np.unique(hp, axis=0, return_inverse=True)
        assert np.array_equal(uniq, ref_uniq)
        assert np.array_equal(inverse, ref_inverse.reshape(-1)) and inverse.dtype == np.int64
        assert np.array_equal(uniq[inverse], hp)
    empty = engine.row_groups(np.zeros((0, 3)))
    assert empty[0].shape == (0, 3) and empty[1].shape == (0,)


def test_compile_missing_compiles_in_another_process(tmp_path, monkeypatch):
    """Of two kernels neither loaded nor on disk, one compiles here and the
    other in a child process, into Numba's disk cache, from which the
    first call here loads it."""
    import importlib
    import uuid

    from optbench.engine import compiling, drivers

    name = f"optbench_test_kernels_{uuid.uuid4().hex[:8]}"  # a module no cache has seen
    (tmp_path / f"{name}.py").write_text(
        "from optbench._jit import jit\n\n\n@jit\ndef plus_one(x):\n    return x + 1.0\n\n\n"
        "@jit\ndef twice(x):\n    return 2.0 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # for the child
    mod = importlib.import_module(name)
    for fn_name in ("plus_one", "twice"):
        drivers.add_recipe(getattr(mod, fn_name), name, fn_name)
    sig = compiling.signature(mod.twice, (1.0,))
    assert compiling.on_disk(mod.twice, sig) is False  # None would mean Numba's cache internals moved
    leftovers = set(Path(tempfile.gettempdir()).glob("optbench-compile-*"))
    items = [(fn, compiling.signature(fn, args)) for fn, args in ((mod.plus_one, (1.0,)), (mod.twice, (1.0,)),
                                                                  (mod.twice, (3.0,)))]
    assert compiling.compile_missing(items, 2) == 1
    # the child's job went through its stdin: nothing on disk that a killed process would leave behind
    assert set(Path(tempfile.gettempdir()).glob("optbench-compile-*")) == leftovers
    assert mod.plus_one.overloads and not mod.twice.overloads  # the child compiled twice
    assert compiling.on_disk(mod.twice, sig) is True
    assert mod.twice(3.0) == 6.0 and mod.twice._cache_hits[sig] == 1 and not mod.twice._cache_misses
    # compiled already (here or on disk): nothing to do, no process started
    assert compiling.compile_missing(items[:2], 2) == 0


@pytest.mark.parametrize("driver", ["specialized", "generic"])
def test_compile_kernels_compiles_what_the_runs_call(driver):
    """The signature compiled ahead of the runs is the one the runs use: no
    driver compiles again when the group runs (lane and scalar drivers, the
    generic driver and its first-class functions)."""
    from optbench.engine import drivers

    rng = np.random.default_rng(0)
    sgd, adam = optimizers.get("sgd"), optimizers.get("adam")
    cases = [(objectives.make("rosenbrock", dim=2), adam, None),
             (objectives.make("quadratic"), sgd, np.full(3, 0.1))]  # gradient noise: the scalar driver
    groups = []
    for problem, opt, noise in cases:
        x0 = rng.uniform(problem.lower, problem.upper, size=(3, problem.dim))
        hp = np.tile(opt.hp_row(opt.resolve({"lr": 1e-3})), (3, 1))
        groups.append(dict(problem=problem, optimizer=opt, x0=x0, hp=hp, steps=5, targets=[1e-3],
                           noise=noise, keys=np.arange(3, dtype=np.uint64), driver=driver))
    engine.compile_kernels([{**g, "x0": g["x0"][:1], "hp": g["hp"][:1], "keys": g["keys"][:1],
                             "noise": None if g["noise"] is None else g["noise"][:1]} for g in groups])
    fns = [fn for g in groups for fn, _ in engine.prepare_group(**g).compile_items()]
    before = [dict(fn.overloads) for fn in fns]
    assert all(before)
    engine.run_groups(groups)
    assert [dict(fn.overloads) for fn in fns] == before
    kinds = {drivers.recipe_of(fn)[3] for fn in fns}
    assert kinds == ({"run_blocks", "run_chunk"} if driver == "specialized" else {"run_chunk", "kernel"})


def test_a_failed_compiling_child_costs_only_time(tmp_path, monkeypatch):
    """A child that cannot build its kernel (here: it cannot import the
    module) warns, and the kernel compiles here at its first call."""
    import importlib
    import uuid

    from optbench.engine import compiling, drivers

    name = f"optbench_test_kernels_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "from optbench._jit import jit\n\n\n@jit\ndef one(x):\n    return x + 1.0\n\n\n"
        "@jit\ndef two(x):\n    return x + 2.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # here only: the child's PYTHONPATH lacks it
    monkeypatch.delenv("PYTHONPATH", raising=False)
    mod = importlib.import_module(name)
    for fn_name in ("one", "two"):
        drivers.add_recipe(getattr(mod, fn_name), name, fn_name)
    with pytest.warns(RuntimeWarning, match="compiling kernels in another process failed"):
        compiling.compile_missing([(fn, compiling.signature(fn, (1.0,))) for fn in (mod.one, mod.two)], 2)
    assert not mod.two.overloads and mod.two(1.0) == 3.0 and mod.one(1.0) == 2.0


def test_an_empty_home_does_not_put_the_kernel_cache_at_the_root(monkeypatch):
    import pwd

    from optbench.engine import drivers

    monkeypatch.delenv("OPTBENCH_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", "")
    home = pwd.getpwuid(os.getuid()).pw_dir
    assert drivers.cache_dir() == Path(home) / ".cache" / "optbench" / "kernels"


def test_a_kernel_cache_that_cannot_be_written_falls_back_with_a_warning(tmp_path, monkeypatch):
    """A sweep still runs and completes (state "complete", not "running")."""
    import optbench
    from optbench.engine import drivers

    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a folder under a regular file cannot be made, even by root
    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(drivers, "_fallback_cache", None)
    spec = {"name": "fallback", "steps": 5, "objectives": [{"name": "sphere", "dim": 2}],
            "optimizers": [{"name": "sgd", "lr": 0.1}], "init": {"count": 2}}
    with pytest.warns(RuntimeWarning, match="cannot be written"):
        res = optbench.run(spec, out=tmp_path / "out", report=False)
    assert res.manifest["state"] == "complete" and len(res.runs) == 2
    assert drivers.cache_dir() != blocker / "cache" / "kernels"
