"""The two tiers of drivers: the generic driver (one for every pair, its
functions called through pointers) against the specialized ones (lane and
scalar drivers compiled per pair), table for table and bit for bit, for
every optimizer on an analytic and a data objective; and which tier a group
gets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench import cli, engine, objectives, optimizers
from optbench.engine import drivers, generic

QUICK = Path(__file__).resolve().parents[1] / "problems" / "quick.toml"

ALL = [n for n in optimizers.names() if not optimizers.get(n).closure]  # line searches: test_line_search.py
SPEC = """
name = "tiers"
steps = 60
log_every = 4
seed = 3
targets = [1e-1, 1e-3]
record_grad_norm = true

[[objectives]]
name = "rosenbrock"
dim = [2, 12]

[[objectives]]
name = "logistic"
l2 = 1e-3
batch_size = [0, 16]

[[objectives]]
name = "sphere"
dim = 3
grad_noise = 0.3

[init]
scheme = "uniform"
count = 3
"""
# every optimizer at two learning rates (one large enough to diverge somewhere);
# adam and sgd also with a scheduler and with clipping (the other variants)
OPTIMIZERS = "".join(f'\n[[optimizers]]\nname = "{name}"\nlr = [0.01, 0.5]\n' for name in ALL) + """
[[optimizers]]
name = "adam"
lr = 0.05
scheduler = { name = "step_lr", step_size = 20, gamma = 0.5 }
clip_grad_norm = [1.0, 1e9]

[[optimizers]]
name = "sgd"
lr = 0.01
momentum = 0.9
clip_grad_value = 0.5
"""


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """The sweep's tables with every group forced onto each tier."""
    spec = tmp_path_factory.mktemp("spec") / "tiers.toml"
    spec.write_text(SPEC + OPTIMIZERS)
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for tier in ("specialized", "generic"):
            mp.setenv("OPTBENCH_DRIVER", tier)
            res = optbench.run(spec, out=tmp_path_factory.mktemp(tier), report=False)
            out[tier] = (res.runs, res.curves)
    return out


def test_the_tiers_give_identical_tables_for_every_optimizer(tables):
    (runs_s, curves_s), (runs_g, curves_g) = tables["specialized"], tables["generic"]
    assert set(runs_s["optimizer"]) == set(ALL)
    assert set(runs_s["objective"]) == {"rosenbrock", "logistic", "sphere"}
    pd.testing.assert_frame_equal(runs_s, runs_g, check_exact=True)
    pd.testing.assert_frame_equal(curves_s, curves_g, check_exact=True)


def test_the_comparison_covers_every_way_a_run_ends(tables):
    runs = tables["generic"][0]
    assert {"converged", "diverged", "unconverged"} <= set(runs["status"])
    assert runs["scheduler"].nunique() > 1 and runs.filter(like="clip").notna().any().any()


def _group(problem, opt, R=5, steps=40, **kw):
    rng = np.random.default_rng(1)
    x0 = rng.uniform(problem.lower, problem.upper, size=(R, problem.dim))
    hp = np.tile(opt.hp_row(opt.resolve({"lr": 1e-2})), (R, 1))
    extra = dict(batch=np.full(R, 8), keys=np.arange(R, dtype=np.uint64)) if problem.batched else {}
    return dict(problem=problem, optimizer=opt, x0=x0, hp=hp, steps=steps, **extra, **kw)


@pytest.mark.parametrize("name", ["rosenbrock", "ellipsoid", "logistic"])
def test_generic_runs_as_specialized_with_objective_arguments(name):
    """Objectives with extra arguments (ellipsoid's coefficients, the data
    arrays) pass them to the first-class function unchanged."""
    problem = objectives.make(name) if name == "logistic" else objectives.make(name, 4)
    g = _group(problem, optimizers.get("nadam"), targets=(1e-2,))
    a = engine.run_group(**g, driver="generic")
    b = engine.run_group(**g, driver="specialized")
    for field, x in a.arrays().items():
        assert np.array_equal(x, b.arrays()[field], equal_nan=x.dtype.kind == "f"), field


def test_one_generic_driver_serves_every_pair_of_a_kind():
    sgd, adam = optimizers.get("sgd"), optimizers.get("adam")
    preps = [engine.prepare_group(**_group(objectives.make(o, 2), opt), driver="generic")
             for o in ("rosenbrock", "himmelblau") for opt in (sgd, adam)]
    assert len({id(p.kernel) for p in preps}) == 1
    assert {p.tier for p in preps} == {"generic"}
    data = engine.prepare_group(**_group(objectives.make("logistic"), sgd), driver="generic")
    assert data.kernel is not preps[0].kernel  # another kind: its fg takes rows and data
    # each function compiles once, as a module of its own
    assert len({id(fn) for p in preps for fn, _ in p.functions}) == 4  # 2 fg + 2 steps


def _fresh_cache(monkeypatch, folder):
    """An empty kernel cache, and no driver loaded in this process."""
    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(folder))
    monkeypatch.setattr(drivers, "_loaded", {})


def test_auto_runs_small_work_generic_and_large_or_compiled_work_specialized(tmp_path, monkeypatch, capsys):
    _fresh_cache(monkeypatch, tmp_path)  # no specialized driver compiled yet
    problem, opt = objectives.make("himmelblau"), optimizers.get("adagrad")
    assert engine.choose_tier(problem, opt, None, work=1e6) == "generic"
    assert engine.choose_tier(problem, opt, None, work=1e12) == "lanes"
    assert engine.choose_tier(objectives.make("rosenbrock", 40), opt, None, work=1e12) == "scalar"
    assert engine.choose_tier(objectives.make("logistic"), opt, None, work=1e12) == "generic"  # nothing to gain
    engine.run_group(**_group(problem, opt, R=2, steps=3), driver="lanes")  # now compiled (in this cache)
    assert engine.choose_tier(problem, opt, None, work=1e6) == "lanes"
    monkeypatch.setenv("OPTBENCH_DRIVER", "generic")
    assert engine.prepare_group(**_group(problem, opt)).tier == "generic"
    monkeypatch.setenv("OPTBENCH_DRIVER", "fastest")
    with pytest.raises(ValueError, match="OPTBENCH_DRIVER must be"):
        engine.prepare_group(**_group(problem, opt))
    # from the command: one line, exit 2, no folder made
    assert cli.main(["run", str(QUICK), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
    assert capsys.readouterr().err.splitlines() == [
        "optbench: error: OPTBENCH_DRIVER must be 'auto', 'specialized' or 'generic', got 'fastest'"]


def test_a_wrong_return_type_is_named_not_called():
    """A first-class function that does not return the signature's type
    would be called with the wrong ABI: it is refused by name instead."""
    fn = drivers.kernel_function(objectives.get("sphere").fg, "x, g")
    bad = generic.FirstClass(fn, generic.signature(generic.types.int64, generic.VEC, generic.VEC))
    with pytest.raises(TypeError, match="for the generic driver: mismatch of return type: float64 vs int64"):
        bad.__wrapper_address__()


def test_the_cold_start_says_it_is_compiling(tmp_path):
    """In a new process with empty caches: one line on stderr before
    compiling (the generic driver, booth's fg, adamax's step); nothing to
    say when everything is cached."""
    import os
    import subprocess
    import sys

    spec = tmp_path / "s.toml"
    spec.write_text('name = "s"\nsteps = 5\n[[objectives]]\nname = "booth"\n[[optimizers]]\nname = "adamax"\n')
    env = dict(os.environ, OPTBENCH_CACHE_DIR=str(tmp_path / "cache"), NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    code = "import sys, optbench; optbench.run(sys.argv[1], out=sys.argv[2], report=False, quiet=False, threads=2)"
    errs = [subprocess.run([sys.executable, "-c", code, str(spec), str(tmp_path / f"out{k}")], env=env,
                           capture_output=True, text=True, check=True).stderr for k in range(2)]
    assert errs[0].splitlines()[0] == "compiling 3 kernels (2 processes)…"
    assert "compiling" not in errs[1]
