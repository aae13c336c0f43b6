"""Learning-rate schedulers and gradient clipping, through the whole path
(spec -> grid -> engine), against torch.optim + torch.optim.lr_scheduler +
torch.nn.utils.clip_grad_norm_ / clip_grad_value_.

Torch is given optbench's own gradient at each point (the objective's
value_and_grad), so the comparison tests the optimizer, the schedule and the
clipping, not two ways of rounding a gradient.  The lr sequences themselves
are compared with torch's bit for bit in test_schedulers.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from optbench import engine, optimizers
from optbench._errors import SpecError
from optbench.grid import group_runs, plan
from optbench.spec import load_spec
from optbench.sweep.chunk import group_call

RTOL = 1e-10
ATOL = 1e-12
STEPS = 300
INF = math.inf

SCHEDULERS = [
    "none",
    {"name": "step_lr", "step_size": 50, "gamma": 0.5},
    {"name": "multi_step_lr", "milestones": [50, 120, 200], "gamma": 0.3},
    {"name": "exponential_lr", "gamma": 0.99},
    {"name": "cosine_annealing_lr", "T_max": 120, "eta_min": 1e-4},
    {"name": "cosine_annealing_warm_restarts", "T_0": 40, "T_mult": 2, "eta_min": 1e-5},
    {"name": "linear_lr", "start_factor": 0.1, "total_iters": 100},
    {"name": "constant_lr", "factor": 0.5, "total_iters": 60},
    {"name": "polynomial_lr", "total_iters": 250, "power": 2.0},
    {"name": "one_cycle_lr"},  # max_lr: the run's lr; total_steps: the sweep's steps
    {"name": "one_cycle_lr", "anneal_strategy": "linear", "three_phase": True, "total_steps": 400,
     "div_factor": 10.0},
    {"name": "sequential_lr", "milestones": [50],
     "schedulers": [{"name": "linear_lr", "start_factor": 0.01, "total_iters": 50},
                    {"name": "cosine_annealing_lr", "T_max": 250}]},
]
# (entry fields) clipping settings, each with two schedulers
CLIPS = [
    {"clip_grad_norm": 1.0},
    {"clip_grad_norm": 0.5, "clip_norm_type": INF},
    {"clip_grad_value": 0.3},
]
OPTIMIZERS = {
    # objective -> optimizer -> hyperparameters: settings that neither diverge nor stall
    "rosenbrock": {"sgd": {"lr": 5e-4, "momentum": 0.9}, "adam": {"lr": 2e-3}},
    "logistic": {"sgd": {"lr": 0.5, "momentum": 0.9}, "adam": {"lr": 5e-2}},
}
OBJECTIVES = {
    "rosenbrock": ({"name": "rosenbrock", "dim": 2}, [[-1.2, 1.0], [0.5, -0.3]]),
    "logistic": ({"name": "logistic", "n_samples": 200, "l2": 1e-3}, None),
}


def _spec(objective: str, optimizer: str) -> dict:
    entry, points = OBJECTIVES[objective]
    hp = OPTIMIZERS[objective][optimizer]
    opts = [{"name": optimizer, **hp, "scheduler": SCHEDULERS}]
    for clip in CLIPS:
        opts.append({"name": optimizer, **hp, **clip, "scheduler": ["none", SCHEDULERS[4]]})
    init = {"scheme": "points", "points": points} if points else {"scheme": "normal", "count": 2, "std": 0.5}
    return {"name": "t", "steps": STEPS, "log_every": 1, "init": init, "objectives": [entry], "optimizers": opts}


def _torch_scheduler(torch, topt, table, lr, steps):
    S = torch.optim.lr_scheduler
    if table is None:
        return None
    args = {k: v for k, v in table.items() if k != "name"}
    name = table["name"]
    if name == "sequential_lr":
        subs = [_torch_scheduler(torch, topt, t, lr, steps) for t in args["schedulers"]]
        return S.SequentialLR(topt, subs, milestones=list(args["milestones"]))
    if name == "one_cycle_lr":
        args.setdefault("max_lr", lr)
        args.setdefault("total_steps", steps)
        args = {k: (v if v is not None else (lr if k == "max_lr" else steps)) for k, v in args.items()}
    if "milestones" in args:
        args["milestones"] = list(args["milestones"])
    cls = "".join(p.capitalize() for p in name.split("_"))
    cls = {"StepLr": "StepLR", "MultiStepLr": "MultiStepLR", "ExponentialLr": "ExponentialLR",
           "CosineAnnealingLr": "CosineAnnealingLR", "CosineAnnealingWarmRestarts": "CosineAnnealingWarmRestarts",
           "LinearLr": "LinearLR", "ConstantLr": "ConstantLR", "PolynomialLr": "PolynomialLR",
           "OneCycleLr": "OneCycleLR"}[cls]
    return getattr(S, cls)(topt, **args)


def _torch_path(torch, problem, opt, case, x0, steps):
    """x after each step of torch's loop: grad, clip, optimizer.step(), scheduler.step()."""
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    topt = getattr(torch.optim, opt.torch_name)([p], **opt.torch_kwargs(case.values))
    sched = _torch_scheduler(torch, topt, case.scheduler, case.values["lr"], steps)
    out = np.empty((steps + 1, len(x0)))
    out[0] = x0
    for k in range(steps):
        _, g = problem.value_and_grad(p.detach().numpy().copy())
        p.grad = torch.tensor(g, dtype=torch.float64)
        if case.clip is not None:
            max_norm, norm_type, value = case.clip
            if max_norm < INF:
                torch.nn.utils.clip_grad_norm_([p], max_norm, norm_type=norm_type)
            else:
                torch.nn.utils.clip_grad_value_([p], value)
        topt.step()
        if sched is not None:
            sched.step()
        out[k + 1] = p.detach().numpy()
    return out


@pytest.mark.torch
@pytest.mark.parametrize("objective", list(OBJECTIVES))
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_schedules_and_clipping_follow_torch(objective, optimizer):
    import torch

    spec = load_spec(_spec(objective, optimizer))
    (group,) = plan(spec)
    runs = group_runs(spec, group, 0, group.n_runs)
    res = engine.run_group(**dict(group_call(spec, group, runs, threads=2), record_x=True))
    opt = optimizers.get(optimizer)
    problem = group.case.problem
    assert res.curve_x.shape == (runs.n_runs, STEPS + 1, problem.dim)
    checked = set()
    for r in range(runs.n_runs):
        case = group.opt_cases[runs.opt_index[r]]
        ref = _torch_path(torch, problem, opt, case, runs.x0[r], STEPS)
        assert np.all(np.isfinite(ref)), f"{case}: diverges in torch; pick a smaller lr"
        assert np.abs(ref[-1] - ref[0]).max() > 1e-3, f"{case}: barely moves; the test would prove little"
        ours = res.curve_x[r]
        where = f"{objective} {optimizer} scheduler={case.scheduler} clip={case.clip} run {r}"
        np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL, err_msg=where)
        checked.add((case.scheduler or {}).get("name", "none"))
    assert checked == {t if isinstance(t, str) else t["name"] for t in SCHEDULERS}


def test_clipping_changes_the_path_and_a_huge_bound_does_not():
    """Clipping at a bound no gradient reaches is the plain run bit for bit
    (the coefficient clamps to exactly 1); a tight bound changes the path."""
    base = {"name": "c", "steps": 100, "log_every": 10, "init": {"scheme": "points", "points": [[-1.2, 1.0]]},
            "objectives": [{"name": "rosenbrock", "dim": 2}]}
    runs = {}
    for label, extra in (("plain", {}), ("huge", {"clip_grad_norm": 1e12}), ("tight", {"clip_grad_norm": 0.1}),
                         ("value", {"clip_grad_value": 1e12})):
        spec = load_spec({**base, "optimizers": [{"name": "adam", "lr": 1e-2, **extra}]})
        (group,) = plan(spec)
        gr = group_runs(spec, group, 0, group.n_runs)
        runs[label] = engine.run_group(**group_call(spec, group, gr, threads=1))
    for label in ("huge", "value"):
        assert np.array_equal(runs[label].curve_f, runs["plain"].curve_f)
    assert not np.array_equal(runs["tight"].curve_f, runs["plain"].curve_f)
    # the curves keep the norm before clipping: the tight run's logged norms exceed its bound
    assert np.nanmax(runs["tight"].curve_g) > 0.1


def test_constant_scheduler_rows_give_the_plain_numbers_bit_for_bit():
    """A group with a scheduler runs every case on per-step rows; a case
    without one gets its constant row at every step: the same numbers as
    a sweep without schedulers."""
    base = {"name": "c", "steps": 120, "log_every": 7, "init": {"scheme": "uniform", "count": 20},
            "objectives": [{"name": "himmelblau"}]}
    plain = load_spec({**base, "optimizers": [{"name": "nadam", "lr": [1e-2, 3e-2]}]})
    mixed = load_spec({**base, "optimizers": [{"name": "nadam", "lr": [1e-2, 3e-2],
                                                "scheduler": ["none", {"name": "exponential_lr", "gamma": 0.9}]}]})
    out = {}
    for label, spec in (("plain", plain), ("mixed", mixed)):
        (group,) = plan(spec)
        gr = group_runs(spec, group, 0, group.n_runs)
        out[label] = (gr, engine.run_group(**group_call(spec, group, gr, threads=2)))
    gr, res = out["mixed"]
    keep = np.array([group_case.scheduler is None for group_case in plan(mixed)[0].opt_cases])[gr.opt_index]
    assert keep.sum() == out["plain"][0].n_runs
    for field in ("curve_f", "curve_g", "x_final", "f_final", "steps_run", "status"):
        assert np.array_equal(getattr(res, field)[keep], getattr(out["plain"][1], field), equal_nan=True), field


@pytest.mark.parametrize("per_step,clip", [(True, False), (False, True), (True, True)])
def test_lane_and_scalar_drivers_agree_with_schedules_and_clipping(per_step, clip):
    from optbench import objectives

    rng = np.random.default_rng(3)
    problem = objectives.make("rosenbrock", dim=2)
    opt = optimizers.get("adam")
    R, steps = 37, 150
    x0 = rng.uniform(-2, 2, (R, 2))
    hp = np.tile(opt.hp_row(opt.resolve({})), (R, 1))
    hp[:, 0] = np.where(np.arange(R) % 2, 1e-2, 3e-2)
    kw = {}
    if per_step:
        tables = np.repeat(hp[:2, None, :], steps, axis=1).copy()
        tables[0, :, 0] = 1e-2 * 0.99 ** np.arange(steps)
        kw.update(hp_steps=tables, hp_index=np.arange(R) % 2)
    if clip:
        c = np.full((R, 3), INF)
        c[:, 1] = 2.0
        c[::3, 0] = 1.0
        c[1::3, 0], c[1::3, 1] = 0.5, INF
        c[2::3, 2] = 0.2
        kw["clip"] = c
    a = engine.run_group(problem, opt, x0, hp, steps=steps, driver="lanes", targets=(1e-2,), **kw)
    b = engine.run_group(problem, opt, x0, hp, steps=steps, driver="scalar", targets=(1e-2,), **kw)
    for field, value in a.arrays().items():
        assert np.array_equal(value, getattr(b, field), equal_nan=True), field


# ------------------------------------------------------------ bad specs

BASE = {"name": "b", "steps": 100, "objectives": [{"name": "rosenbrock", "dim": 2}]}


@pytest.mark.parametrize("entry,words", [
    ({"name": "sgd", "scheduler": {"name": "cosine_lr", "T_max": 10}}, ["cosine_lr", "cosine_annealing_lr"]),
    ({"name": "sgd", "scheduler": {"name": "cosine_annealing_lr", "T_max": 10, "tmax": 3}}, ["tmax"]),
    ({"name": "sgd", "scheduler": {"name": "cosine_annealing_lr", "T_max": 0}}, ["T_max"]),
    ({"name": "sgd", "scheduler": {"name": "multi_step_lr", "milestones": [50, 20]}}, ["milestones"]),
    ({"name": "sgd", "scheduler": {"name": "one_cycle_lr", "total_steps": 50}}, ["total_steps", "steps"]),
    ({"name": "sgd", "scheduler": {"name": "sequential_lr", "milestones": [10, 20],
                                   "schedulers": [{"name": "constant_lr"}, {"name": "exponential_lr",
                                                                            "gamma": 0.9}]}}, ["milestone"]),
    ({"name": "adagrad", "scheduler": {"name": "one_cycle_lr"}}, ["cycle_momentum"]),
    ({"name": "sgd", "scheduler": 3}, ["scheduler"]),
    ({"name": "sgd", "scheduler": {"name": "none", "gamma": 1}}, ["none"]),
    ({"name": "sgd", "clip_grad_norm": 0.0}, ["clip_grad_norm"]),
    ({"name": "sgd", "clip_grad_norm": 1.0, "clip_norm_type": 1}, ["clip_norm_type", "inf"]),
    ({"name": "sgd", "clip_grad_norm": 1.0, "clip_grad_value": 1.0}, ["not both"]),
    ({"name": "sgd", "clip_norm_type": 2}, ["clip_norm_type"]),
    ({"name": "sgd", "clip_grad_value": -1.0}, ["clip_grad_value"]),
])
def test_bad_scheduler_and_clipping_specs_get_one_line(entry, words):
    with pytest.raises(SpecError) as info:
        load_spec({**BASE, "optimizers": [entry]})
    msg = str(info.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_scheduler_axes_expand_like_hyperparameters():
    spec = load_spec({**BASE, "optimizers": [{
        "name": "sgd", "lr": [0.1, 0.01], "momentum": 0.9,
        "scheduler": ["none", {"name": "cosine_annealing_lr", "T_max": [50, 100]},
                      {"name": "multi_step_lr", "milestones": [[10, 20], [30]]}],
        "clip_grad_norm": [1.0, 10.0]}]})
    cases = spec.optimizer_cases
    assert len(cases) == 2 * (1 + 2 + 2) * 2
    scheds = {(c.scheduler or {}).get("T_max") or (c.scheduler or {}).get("milestones") for c in cases}
    assert scheds == {None, 50, 100, (10, 20), (30,)}
    assert {c.clip[0] for c in cases} == {1.0, 10.0}


def test_a_schedule_written_for_one_row_is_refused_with_a_scheduler():
    from optbench.optimizers import OPTIMIZERS, optimizer

    def one_row(hp, steps):
        return np.full((steps, 1), float(hp[0]))

    def step(x, g, state, hp, sched, t):
        for i in range(x.shape[0]):
            x[i] -= sched[0] * g[i]

    try:
        opt = optimizer("one_row_test", step, hypers={"lr": 0.1}, schedule=one_row)
        assert not opt.per_step_hypers
        load_spec({**BASE, "optimizers": [{"name": "one_row_test"}]})  # fine without a scheduler
        with pytest.raises(SpecError, match="one_row_test.*scheduler"):
            load_spec({**BASE, "optimizers": [{"name": "one_row_test",
                                              "scheduler": {"name": "exponential_lr", "gamma": 0.9}}]})
    finally:
        OPTIMIZERS.unregister("one_row_test")


def test_runs_table_and_report_treat_the_scheduler_as_part_of_the_variant(tmp_path):
    import optbench
    from optbench.report.data import load, prepare

    scheds = ["none", {"name": "step_lr", "step_size": 20}, {"name": "cosine_annealing_lr", "T_max": [30, 60]},
              {"name": "one_cycle_lr"},
              {"name": "sequential_lr", "milestones": [10], "schedulers": [{"name": "linear_lr", "total_iters": 10},
                                                                           {"name": "exponential_lr", "gamma": 0.99}]}]
    spec = {"name": "sch", "steps": 60, "log_every": 5, "init": {"scheme": "uniform", "count": 4},
            "objectives": [{"name": "rosenbrock", "dim": 2}],
            "optimizers": [{"name": "sgd", "lr": [1e-4, 1e-3, 3e-3], "momentum": 0.9, "scheduler": scheds},
                           {"name": "adam", "lr": [1e-2, 1e-1], "scheduler": scheds, "clip_grad_norm": 5.0}]}
    res = optbench.run(spec, out=tmp_path, report=True, quiet=True)
    runs = res.runs
    assert set(runs["scheduler"].astype(str)) == {"none", "step_lr", "cosine_annealing_lr", "one_cycle_lr",
                                                  "sequential_lr"}
    cos = runs[runs["scheduler"] == "cosine_annealing_lr"]
    assert set(cos["sched_T_max"]) == {30, 60} and runs.loc[runs["scheduler"] == "none", "sched_T_max"].isna().all()
    assert "sched_max_lr" not in runs.columns  # one_cycle_lr's max_lr left out: the run's lr
    assert (runs.loc[runs["optimizer"] == "adam", "clip_grad_norm"] == 5.0).all()
    assert runs.loc[runs["optimizer"] == "sgd", "clip_grad_norm"].isna().all()
    data = prepare(*load(tmp_path / "sch"))
    labels = {v.label for v in data.variants}
    assert {"sgd (constant lr)", "adam (cosine_annealing_lr, T_max=60)", "sgd (linear_lr > exponential_lr)"} <= \
        labels, labels
    # twelve variants: too many for one figure, so one lr-sensitivity figure per optimizer
    plots = {p.name for p in (tmp_path / "sch" / "plots").glob("*lr-sensitivity.png")}
    assert plots == {"00-rosenbrock-sgd-lr-sensitivity.png", "00-rosenbrock-adam-lr-sensitivity.png"}, plots
