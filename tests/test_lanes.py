"""The lane driver (blocks of runs stepped together, vectorised) against the
one-run-at-a-time driver: every field of the result, bit for bit, for every
optimizer and every analytic objective it runs, with every kind of stop."""
from __future__ import annotations

import numpy as np
import pytest

from optbench import engine, objectives, optimizers

FIELDS = ("curve_f", "curve_g", "curve_x", "x_final", "f_final", "f_best", "grad_norm_final", "steps_run",
          "n_logged", "status", "target_steps", "converged_step")
# bookkeeping options: plain; sparse logging with targets; gradient tolerance with
# every curve recorded; a tight divergence bound (many runs stop early)
OPTIONS = [
    {},
    {"log_every": 7, "targets": (1e-1, 1e-3, 1e-6)},
    {"grad_tol": 1e-4, "record_grad": True, "record_x": True, "targets": (1e-2,)},
    {"divergence_factor": 10.0, "log_every": 3},
]
LANE_OBJECTIVES = [n for n in objectives.names() if not objectives.get(n).batched]


def _hp_rows(opt, R, rng):
    """Rows mixing learning rates and the optimizer's switches, unsorted:
    blocks gather runs of one row from anywhere, the last block of a row is padded."""
    names = opt.hyper_names
    hp = np.tile(opt.hp_row(opt.resolve({})), (R, 1))
    hp[:, names.index("lr")] = np.array([1e-3, 1e-2, 0.3])[rng.integers(0, 3, R)]
    if "momentum" in names:
        hp[:, names.index("momentum")] = np.array([0.0, 0.9])[rng.integers(0, 2, R)]
    if "nesterov" in names:
        hp[:, names.index("nesterov")] = (hp[:, names.index("momentum")] > 0) & (rng.random(R) < 0.5)
    if "weight_decay" in names:
        hp[:, names.index("weight_decay")] = np.array([0.0, 1e-2])[rng.integers(0, 2, R)]
    for flag in ("amsgrad", "centered", "decoupled_weight_decay"):
        if flag in names:
            hp[:, names.index(flag)] = rng.random(R) < 0.5
    return hp


def _compare(problem, opt, R=37, steps=150, seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(problem.lower, problem.upper, size=(R, problem.dim))
    hp = _hp_rows(opt, R, rng)
    # both drivers compile side by side (the lane driver here, the scalar one
    # in a child process): these tests are compile-bound, ~13 s each on Zen 1
    engine.compile_kernels([dict(problem=problem, optimizer=opt, x0=x0[:1], hp=hp[:1], steps=steps, threads=2,
                                 driver=driver) for driver in ("lanes", "scalar")])
    for kw in OPTIONS:
        a = engine.run_group(problem, opt, x0, hp, steps=steps, threads=1, driver="scalar", **kw)
        b = engine.run_group(problem, opt, x0, hp, steps=steps, threads=2, driver="lanes", **kw)
        bad = [f for f in FIELDS if not np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)]
        assert not bad, (problem.describe(), opt.name, kw, bad, np.bincount(a.status, minlength=4))
    return a


@pytest.mark.parametrize("name", [n for n in optimizers.names() if optimizers.get(n).elementwise])
def test_every_optimizer_steps_lanes_as_it_steps_one_run(name):
    res = _compare(objectives.make("rosenbrock", 2), optimizers.get(name))
    assert res.status.size == 37


# two objectives in the quick run (-m "not slow"), the rest with the whole suite
QUICK_LANE_OBJECTIVES = ("rosenbrock", "saddle")


@pytest.mark.parametrize("name", [n if n in QUICK_LANE_OBJECTIVES else pytest.param(n, marks=pytest.mark.slow)
                                  for n in LANE_OBJECTIVES])
def test_every_analytic_objective_evaluates_lanes_as_one_run(name):
    obj = objectives.get(name)
    lo, hi = obj.dims
    dim = 2 if lo <= 2 and (hi is None or hi >= 2) else lo
    if hi is None:
        dim = 3  # n-D objectives at an odd dimension: nothing lines up with the block
    _compare(objectives.make(name, dim), optimizers.get("adam"))


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_full_blocks_of_consecutive_runs_step_as_one_run(name):
    """Sweep order (each hyperparameter row on consecutive runs, full blocks
    of this CPU's lanes): the curve writes take rows r0 .. r0 + lanes - 1 directly.
    Large learning rates make lanes stop mid-block, so both write paths run."""
    from optbench.engine import drivers

    opt = optimizers.get(name)
    problem = objectives.make("rosenbrock", 2)
    rng = np.random.default_rng(5)
    lanes = drivers.lane_width(opt, 2)
    sizes = [lanes, 2 * lanes, lanes + 5]
    lrs = np.repeat([1e-3, 0.05, 0.5], sizes)
    R = lrs.size
    x0 = rng.uniform(problem.lower, problem.upper, size=(R, 2))
    hp = np.tile(opt.hp_row(opt.resolve({})), (R, 1))
    hp[:, opt.hyper_names.index("lr")] = lrs
    for kw in OPTIONS:
        a = engine.run_group(problem, opt, x0, hp, steps=120, threads=1, driver="scalar", **kw)
        b = engine.run_group(problem, opt, x0, hp, steps=120, threads=2, driver="lanes", **kw)
        bad = [f for f in FIELDS if not np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)]
        assert not bad, (name, kw, bad)
    assert (engine.make_blocks(engine.row_groups(hp)[1], lanes)[:3] >= 0).all()


def test_all_kinds_of_stop_occur_in_the_comparison():
    """So the comparisons above cover divergence, escape, convergence and the budget."""
    seen = set()
    for name, opt in (("rosenbrock", "sgd"), ("saddle", "adam"), ("sphere", "adam")):
        problem = objectives.make(name, 2)
        rng = np.random.default_rng(0)
        x0 = rng.uniform(problem.lower, problem.upper, size=(37, 2))
        o = optimizers.get(opt)
        for kw in OPTIONS:
            res = engine.run_group(problem, o, x0, _hp_rows(o, 37, rng), steps=150, driver="lanes", **kw)
            seen |= {engine.STATUS[s] for s in res.status}
    assert seen == set(engine.STATUS)


def test_a_start_below_the_escape_value_escapes_at_step_0_as_in_one_run():
    """A start outside the domain box can lie below the escape value (the
    box's minimum on a grid): the run escapes at step 0, and its f0 is no
    best (f_best stays inf), in the lanes as in the one-run driver."""
    problem = objectives.make("saddle", 2)
    sgd = optimizers.get("sgd")
    x0 = np.array([[10.0, 0.0], [0.1, 0.2], [-9.0, 1.0]])
    hp = np.tile(sgd.hp_row(sgd.resolve({"lr": 1e-2})), (3, 1))
    a = engine.run_group(problem, sgd, x0, hp, steps=20, driver="scalar")
    b = engine.run_group(problem, sgd, x0, hp, steps=20, driver="lanes")
    assert [engine.STATUS[s] for s in a.status] == ["escaped", "unconverged", "escaped"]
    assert a.f_best[0] == np.inf and a.steps_run[0] == 0
    bad = [f for f in FIELDS if not np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)]
    assert not bad, bad


def test_auto_picks_lanes_where_they_apply_and_refuses_to_force_them_elsewhere():
    sgd = optimizers.get("sgd")
    assert engine.lane_eligible(objectives.make("rosenbrock", 2), sgd)
    assert not engine.lane_eligible(objectives.make("rosenbrock", 20), sgd)
    assert not engine.lane_eligible(objectives.make("logistic"), sgd)
    assert not engine.lane_eligible(objectives.make("sphere", 2), sgd, noise=np.array([0.0, 0.1]))
    with pytest.raises(ValueError, match="lane driver cannot run"):
        engine.run_group(objectives.make("rosenbrock", 20), sgd, np.zeros((2, 20)),
                         np.tile(sgd.hp_row(sgd.resolve({})), (2, 1)), steps=3, driver="lanes")


def test_preallocated_outputs_are_filled_in_place():
    adam = optimizers.get("adam")
    p = objectives.make("himmelblau")
    x0 = np.random.default_rng(1).uniform(-4, 4, size=(40, 2))
    hp = np.tile(adam.hp_row(adam.resolve({"lr": 0.05})), (40, 1))
    big = np.full((50, 31), -7.0)
    final = np.zeros((50, 2))
    for driver in ("lanes", "scalar"):
        res = engine.run_group(p, adam, x0, hp, steps=30, driver=driver, out_curve_f=big[5:45],
                               out_x_final=final[5:45])
        assert np.shares_memory(res.curve_f, big) and np.shares_memory(res.x_final, final)
        ref = engine.run_group(p, adam, x0, hp, steps=30, driver="scalar")
        np.testing.assert_array_equal(big[5:45], ref.curve_f)
        np.testing.assert_array_equal(final[5:45], ref.x_final)
        assert np.all(big[:5] == -7.0) and np.all(big[45:] == -7.0)
    with pytest.raises(ValueError, match="C-contiguous float64"):
        engine.run_group(p, adam, x0, hp, steps=30, out_curve_f=big[5:45, :10])


@pytest.mark.parametrize("seed", range(6))
def test_blocks_hold_each_run_once_with_the_runs_of_its_row(seed):
    """make_blocks against its definition: each row's runs in run order,
    LANES to a block, -1 padding only at the end of a row's last block."""
    rng = np.random.default_rng(seed)
    R, lanes = int(rng.integers(0, 120)), int(rng.integers(1, 9))
    inverse = rng.integers(0, 5, R)
    if seed % 2:  # sweep order: rows in runs of equal values
        inverse = np.sort(inverse)
    blocks = engine.make_blocks(inverse, lanes)
    expected = []
    for row in np.unique(inverse):
        runs = list(np.flatnonzero(inverse == row))
        runs += [-1] * (-len(runs) % lanes)
        expected += [runs[i:i + lanes] for i in range(0, len(runs), lanes)]
    np.testing.assert_array_equal(blocks, np.array(expected, dtype=np.int64).reshape(-1, lanes))


@pytest.mark.parametrize("n_blocks", [0, 1, 2, 3, 7, 64, 257])
@pytest.mark.parametrize("threads", [1, 2, 5])
def test_guided_chunks_cover_every_block_once_large_first(n_blocks, threads):
    starts = engine.guided_chunks(n_blocks, threads)
    assert starts[0] == 0 and starts[-1] == n_blocks
    sizes = np.diff(starts)
    assert np.all(sizes >= 1) and np.all(sizes[:-1] >= sizes[1:])  # non-increasing, none empty
    if n_blocks >= 4 * threads:
        assert sizes[0] == n_blocks // (2 * threads) and sizes[-1] == 1


@pytest.mark.parametrize("n_blocks,cap", [(256, 8), (7, 2), (100, 1), (5, 50)])
def test_guided_chunks_never_exceed_the_cap(n_blocks, cap):
    starts = engine.guided_chunks(n_blocks, 2, cap)
    sizes = np.diff(starts)
    assert starts[0] == 0 and starts[-1] == n_blocks and np.all(sizes >= 1)
    assert sizes.max() <= cap and np.all(sizes[:-1] >= sizes[1:])
    assert sizes[0] == min(cap, max(1, n_blocks // 4))


@pytest.mark.parametrize("n_blocks", [0, 1, 2, 3, 7, 64, 257])
@pytest.mark.parametrize("calls", [1, 2, 3, 5])
@pytest.mark.parametrize("cap", [None, 4])
def test_region_chunks_give_each_call_a_contiguous_region(n_blocks, calls, cap):
    starts, counter = engine.region_chunks(n_blocks, calls, cap)
    regions = max(1, min(calls, n_blocks))
    assert counter.dtype == np.int64 and counter.shape == (1 + 2 * regions,) and counter[0] == 0
    first, end = counter[1:1 + regions], counter[1 + regions:]
    # the regions' chunks follow one another and cover every block once, in order
    assert first[0] == 0 and end[-1] == starts.size - 1 and np.all(first[1:] == end[:-1])
    assert starts[0] == 0 and starts[-1] == n_blocks and np.all(np.diff(starts) >= 1)
    if cap is not None:
        assert np.all(np.diff(starts) <= cap)
    # regions of nearly equal size, one per call (while there are blocks for each)
    sizes = starts[end] - starts[first]
    assert sizes.max() - sizes.min() <= 1


def test_chunking_and_threads_do_not_change_a_number():
    """The same group with guided chunks on 2 threads, one block per chunk,
    and everything on one thread: identical results."""
    adam = optimizers.get("adam")
    p = objectives.make("rosenbrock", 2)
    rng = np.random.default_rng(4)
    x0 = rng.uniform(p.lower, p.upper, size=(203, 2))
    hp = _hp_rows(adam, 203, rng)
    runs = [engine.run_group(p, adam, x0, hp, steps=60, driver="lanes", **kw)
            for kw in ({"threads": 2}, {"threads": 2, "chunk": 1}, {"threads": 1}, {"threads": 3, "chunk": 50})]
    for res in runs[1:]:
        for f in FIELDS:
            assert np.array_equal(getattr(res, f), getattr(runs[0], f), equal_nan=True), f


def test_groups_in_one_dispatch_give_the_numbers_of_separate_calls():
    """run_groups: lane and scalar groups submitted back to back (no barrier
    between them), on 1 and 2 threads, each exactly as run_group alone."""
    sgd, adam = optimizers.get("sgd"), optimizers.get("adam")
    rng = np.random.default_rng(8)
    cases = []
    for name, opt, dim in (("sphere", sgd, 2), ("himmelblau", adam, 2), ("rosenbrock", adam, 12), ("sphere", adam, 2)):
        p = objectives.make(name, dim)
        x0 = rng.uniform(p.lower, p.upper, size=(70, dim))
        cases.append(dict(problem=p, optimizer=opt, x0=x0, hp=_hp_rows(opt, 70, rng), steps=80, log_every=3))
    alone = [engine.run_group(c.pop("problem"), c.pop("optimizer"), c.pop("x0"), c.pop("hp"), **c)
             for c in (dict(c) for c in cases)]
    for threads in (1, 2):
        together = engine.run_groups([dict(c, threads=threads) for c in cases])
        for a, b in zip(alone, together):
            bad = [f for f in FIELDS if not np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)]
            assert not bad, (threads, bad)


def test_a_bad_group_is_refused_after_the_ones_before_it_finish():
    sgd = optimizers.get("sgd")
    p = objectives.make("sphere", 2)
    hp = np.tile(sgd.hp_row(sgd.resolve({"lr": 0.1})), (40, 1))
    out = np.full((40, 51), -1.0)
    good = dict(problem=p, optimizer=sgd, x0=np.ones((40, 2)), hp=hp, steps=50, threads=2, out_curve_f=out)
    bad = dict(good, x0=np.ones((40, 3)), out_curve_f=None)
    with pytest.raises(ValueError, match="x0 has 3 columns"):
        engine.run_groups([good, bad])
    assert np.all(out[:, 0] == 2.0) and np.all(np.isfinite(out))  # the first group ran to its end


def test_lane_driver_writes_every_curve_cell():
    """Its curves are allocated without a fill: every cell must be written
    (a value, or NaN after the run stopped).  The heap is first filled with
    a sentinel so that unwritten cells would show it."""
    sgd = optimizers.get("sgd")
    p = objectives.make("rosenbrock", 2)
    rng = np.random.default_rng(11)
    R, steps = 45, 40
    x0 = rng.uniform(p.lower, p.upper, size=(R, 2))
    hp = _hp_rows(sgd, R, rng)
    for _ in range(3):
        junk = [np.full((R, steps + 1, 2), 7777.0), np.full((R, steps + 1), 7777.0)]
        del junk
        res = engine.run_group(p, sgd, x0, hp, steps=steps, record_grad=True, record_x=True,
                               divergence_factor=10.0, driver="lanes")
        for curve in (res.curve_f, res.curve_g, res.curve_x):
            assert not np.any(curve == 7777.0)
        assert np.isnan(res.curve_f).any() and np.isfinite(res.curve_f).any()  # stops and values both


@pytest.mark.parametrize("name", [n if n in ("adam", "sgd") else pytest.param(n, marks=pytest.mark.slow)
                                  for n in optimizers.names() if optimizers.get(n).elementwise])
def test_the_block_state_is_promoted_to_registers(name, tmp_path, monkeypatch):
    """A speed property, checked on the compiled code, not timed: where this
    CPU keeps the lane driver's block state in registers
    (``drivers.lane_state_in_registers``: AVX-512 on AMD), LLVM promotes the
    stack scratch S (no ``alloca`` of it is left) only if every access to it
    has a constant offset, which a step with a store under a test (a masked
    store) or a lane loop indexed by a variable would break, silently (the
    numbers stay right, rosenbrock-adam gets slower).  Elsewhere whether LLVM
    promotes it is moot (RMSprop's is not with AVX2), and what is checked
    is that the register variant, built whatever this CPU's choice, gives
    the one-run driver's numbers.  Compiled afresh in a temporary kernel
    folder: code loaded from Numba's disk cache cannot be inspected."""
    from optbench.engine import drivers

    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(tmp_path))
    problem, opt = objectives.make("rosenbrock", 2), optimizers.get(name)
    source = drivers.lane_source(problem.objective, opt, 2, engine.LANES, escape=False, registers=True)
    module = drivers._load(f"promotion_check_{name}", source, problem.objective, opt)
    monkeypatch.setattr(drivers, "lane_driver", lambda *a, **k: module.run_blocks)
    _compare(problem, opt)
    if drivers.lane_state_in_registers(opt, 2, engine.LANES):
        ir = module.run_blocks.inspect_llvm(module.run_blocks.signatures[0])
        assert f"alloca [{module.S_SIZE} x double]" not in ir
        assert "alloca [" in ir  # the pattern matches what is left (LF, LI stay in memory)


def test_the_block_state_goes_to_registers_only_where_it_fits(monkeypatch):
    """The choice follows the CPU that Numba compiles for: rosenbrock-adam's Adam block
    (x, g, three state rows, f: 176 doubles) fits in the 32 x 8 doubles of
    AVX-512 as LLVM uses it on AMD, not in its 32 x 4 on Intel (256-bit
    vectors preferred) nor in AVX2's 16 x 4; the generated source says which."""
    from numba.core import config

    from optbench.engine import drivers

    adam, sgd = optimizers.get("adam"), optimizers.get("sgd")
    problem = objectives.make("rosenbrock", 2)
    monkeypatch.setattr(config, "CPU_NAME", "znver4")
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx,+avx2,+fma,+avx512f")
    assert drivers.vector_register_bytes() == 2048
    assert drivers.lane_state_in_registers(adam, 2, 16) and drivers.lane_state_in_registers(sgd, 2, 16)
    assert not drivers.lane_state_in_registers(adam, 8, 16)  # 656 doubles
    assert "REGISTERS = True  # @@REGISTERS@@" in drivers.lane_source(problem.objective, adam, 2, 16)
    assert drivers.lane_width(adam, 2) == drivers.lane_width(sgd, 2) == 16
    monkeypatch.setattr(config, "CPU_NAME", "skylake-avx512")
    assert drivers.vector_register_bytes() == 1024
    assert drivers.lane_state_in_registers(sgd, 2, 16)  # 112 doubles
    assert not drivers.lane_state_in_registers(adam, 2, 16)
    assert drivers.lane_width(adam, 2) == 16  # 32 lanes unmeasured with AVX-512 on Intel
    monkeypatch.setattr(config, "CPU_NAME", "znver1")
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx,+avx2,+fma,-avx512f")
    assert drivers.vector_register_bytes() == 512
    assert not drivers.lane_state_in_registers(sgd, 2, 16)
    assert drivers.lane_width(adam, 2) == drivers.lane_width(sgd, 2) == 32  # in memory anyway: wider blocks
    source = drivers.lane_source(problem.objective, adam, 2, 16)
    assert "REGISTERS = False  # @@REGISTERS@@" in source and "PREFETCH = False  # @@PREFETCH@@" in source
    monkeypatch.setattr(config, "CPU_FEATURES", "+sse2")
    assert drivers.vector_register_bytes() == 256
