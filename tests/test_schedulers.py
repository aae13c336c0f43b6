"""optbench.optimizers.schedulers: torch.optim.lr_scheduler's per-step values, bit for bit, and its refusals."""
from __future__ import annotations

import numpy as np
import pytest

from optbench._errors import SpecError
from optbench.optimizers import schedulers as S

SGD = {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}
ADAM = {"lr": 3e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}
RMSPROP = {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.5, "centered": False}
ADAGRAD = {"lr": 0.05, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10}
HYPERS = {"sgd": SGD, "adam": ADAM, "rmsprop": RMSPROP, "adagrad": ADAGRAD}

WARMUP_COSINE = {"name": "sequential_lr", "milestones": [20],
                 "schedulers": [{"name": "linear_lr", "start_factor": 0.1, "total_iters": 20},
                                {"name": "cosine_annealing_lr", "T_max": 280, "eta_min": 1e-4}]}
CASES = [  # (table, steps); every one runs on SGD(momentum=0.9) and on Adam
    ({"name": "step_lr", "step_size": 30}, 300),
    ({"name": "step_lr", "step_size": 1, "gamma": 0.5}, 300),
    ({"name": "step_lr", "step_size": 7, "gamma": 0.9}, 300),
    ({"name": "multi_step_lr", "milestones": [30, 80, 150]}, 300),
    ({"name": "multi_step_lr", "milestones": [1, 2, 299], "gamma": 0.7}, 300),
    ({"name": "multi_step_lr", "milestones": []}, 300),
    ({"name": "exponential_lr", "gamma": 0.99}, 300),
    ({"name": "exponential_lr", "gamma": 0.97}, 1000),
    ({"name": "cosine_annealing_lr", "T_max": 300}, 300),
    ({"name": "cosine_annealing_lr", "T_max": 50, "eta_min": 1e-3}, 300),  # past T_max: up again, several periods
    ({"name": "cosine_annealing_lr", "T_max": 7, "eta_min": 0.05}, 300),
    ({"name": "cosine_annealing_lr", "T_max": 1}, 300),
    ({"name": "cosine_annealing_lr", "T_max": 100, "eta_min": 0.01}, 1000),
    ({"name": "cosine_annealing_warm_restarts", "T_0": 10}, 300),
    ({"name": "cosine_annealing_warm_restarts", "T_0": 7, "T_mult": 2, "eta_min": 1e-4}, 300),
    ({"name": "cosine_annealing_warm_restarts", "T_0": 1}, 300),
    ({"name": "cosine_annealing_warm_restarts", "T_0": 3, "T_mult": 3, "eta_min": 0.02}, 300),
    ({"name": "linear_lr"}, 300),
    ({"name": "linear_lr", "start_factor": 1.0, "end_factor": 0.0, "total_iters": 100}, 300),
    ({"name": "linear_lr", "start_factor": 0.01, "total_iters": 299}, 300),
    ({"name": "linear_lr", "start_factor": 0.25, "end_factor": 0.5, "total_iters": 500}, 300),
    ({"name": "constant_lr"}, 300),
    ({"name": "constant_lr", "factor": 0.5, "total_iters": 1}, 300),
    ({"name": "constant_lr", "factor": 1.0}, 300),
    ({"name": "constant_lr", "factor": 0.0, "total_iters": 301}, 300),  # torch divides by factor only at 301
    ({"name": "constant_lr", "factor": 0.1, "total_iters": 299}, 300),
    ({"name": "polynomial_lr"}, 300),
    ({"name": "polynomial_lr", "total_iters": 100, "power": 2.0}, 300),
    ({"name": "polynomial_lr", "total_iters": 299, "power": 0.5}, 300),
    ({"name": "polynomial_lr", "total_iters": 1000, "power": 0.9}, 300),
    ({"name": "one_cycle_lr"}, 300),
    ({"name": "one_cycle_lr"}, 1000),
    ({"name": "one_cycle_lr", "anneal_strategy": "linear"}, 300),
    ({"name": "one_cycle_lr", "three_phase": True}, 300),
    ({"name": "one_cycle_lr", "three_phase": True, "anneal_strategy": "linear", "pct_start": 0.25}, 300),
    ({"name": "one_cycle_lr", "max_lr": 0.5, "total_steps": 400, "pct_start": 0.1, "div_factor": 10.0,
      "final_div_factor": 100.0, "base_momentum": 0.8, "max_momentum": 0.9}, 300),
    ({"name": "one_cycle_lr", "cycle_momentum": False}, 300),
    ({"name": "one_cycle_lr", "pct_start": 0.0}, 300),
    ({"name": "one_cycle_lr", "pct_start": 1.0, "total_steps": 301}, 300),  # the last phase: zero width, unreached
    (WARMUP_COSINE, 300),
    (WARMUP_COSINE, 1000),
    ({"name": "sequential_lr", "milestones": [10, 100],
      "schedulers": [{"name": "constant_lr", "factor": 0.5, "total_iters": 10},
                     {"name": "exponential_lr", "gamma": 0.98},
                     {"name": "step_lr", "step_size": 25, "gamma": 0.5}]}, 300),
    ({"name": "sequential_lr", "milestones": [1, 2, 150],
      "schedulers": [{"name": "cosine_annealing_lr", "T_max": 10, "eta_min": 0.001},
                     {"name": "polynomial_lr", "total_iters": 50, "power": 2.0},
                     {"name": "cosine_annealing_warm_restarts", "T_0": 5, "T_mult": 2, "eta_min": 1e-3},
                     {"name": "multi_step_lr", "milestones": [10, 20], "gamma": 0.3}]}, 300),
    ({"name": "sequential_lr", "milestones": [50],  # OneCycleLR second: it sets initial_lr for SequentialLR's reset
      "schedulers": [{"name": "linear_lr", "start_factor": 0.2, "total_iters": 50},
                     {"name": "one_cycle_lr", "total_steps": 300, "three_phase": True}]}, 300),
    ({"name": "sequential_lr", "milestones": [100],
      "schedulers": [{"name": "one_cycle_lr", "total_steps": 120, "anneal_strategy": "linear"},
                     {"name": "cosine_annealing_lr", "T_max": 30}]}, 300),
    ({"name": "sequential_lr", "milestones": [30, 90],  # closed forms at each milestone, then the recursive ones
      "schedulers": [{"name": "exponential_lr", "gamma": 0.9},
                     {"name": "linear_lr", "start_factor": 0.5, "end_factor": 0.1, "total_iters": 40},
                     {"name": "cosine_annealing_lr", "T_max": 60, "eta_min": 0.003}]}, 300),
    ({"name": "sequential_lr", "milestones": [], "schedulers": [{"name": "exponential_lr", "gamma": 0.995}]}, 300),
    ({"name": "sequential_lr", "milestones": [500],  # a milestone beyond the run
      "schedulers": [{"name": "cosine_annealing_warm_restarts", "T_0": 20}, {"name": "constant_lr"}]}, 300),
]


def _ids(case):
    table, steps = case
    return f"{table['name']}-{steps}-" + "-".join(f"{k}={v}" for k, v in table.items()
                                                  if k not in ("name", "schedulers"))


def _torch_scheduler(torch, table: dict, opt, steps: int, lr: float):
    """torch's scheduler for ``table``, built as a user would, sub-schedulers in order on the same optimizer."""
    lr_scheduler = torch.optim.lr_scheduler
    kw = {k: v for k, v in table.items() if k != "name"}
    if table["name"] == "sequential_lr":
        subs = [_torch_scheduler(torch, t, opt, steps, lr) for t in kw["schedulers"]]
        return lr_scheduler.SequentialLR(opt, subs, milestones=kw["milestones"])
    if table["name"] == "one_cycle_lr":
        kw.setdefault("max_lr", lr)
        kw.setdefault("total_steps", steps)
    return getattr(lr_scheduler, S.get(table["name"]).torch_name)(opt, **kw)


def _torch_values(torch, table: dict, optimizer: str, steps: int):
    """group['lr'] and momentum / betas[0] at each of ``steps`` optimizer steps."""
    hypers = HYPERS[optimizer]
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    p.grad = torch.zeros_like(p)
    opt = {"sgd": lambda: torch.optim.SGD([p], lr=hypers["lr"], momentum=hypers["momentum"]),
           "adam": lambda: torch.optim.Adam([p], lr=hypers["lr"]),
           "rmsprop": lambda: torch.optim.RMSprop([p], lr=hypers["lr"], momentum=hypers["momentum"]),
           "adagrad": lambda: torch.optim.Adagrad([p], lr=hypers["lr"])}[optimizer]()
    sched = _torch_scheduler(torch, table, opt, steps, hypers["lr"])
    lrs, moms = [], []
    group = opt.param_groups[0]
    for _ in range(steps):
        lrs.append(group["lr"])
        moms.append(group["betas"][0] if "betas" in group else group.get("momentum"))
        opt.step()
        sched.step()
    return lrs, moms


def _ours(table: dict, optimizer: str, steps: int):
    hypers = HYPERS[optimizer]
    resolved = S.resolve(table, steps=steps, hyper_names=tuple(hypers))
    return S.moved(resolved, tuple(hypers)), S.per_step(resolved, hypers, steps)


@pytest.mark.torch
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_matches_torch_exactly(case, optimizer):
    torch = pytest.importorskip("torch")
    table, steps = case
    lrs, moms = _torch_values(torch, table, optimizer, steps)
    moved, ours = _ours(table, optimizer, steps)
    assert set(ours) == set(moved)
    assert all(a.dtype == np.float64 and a.shape == (steps,) for a in ours.values())
    assert ours["lr"].tolist() == lrs  # exact, every step
    if len(moved) == 2:
        assert moved[1] == ("beta1" if optimizer == "adam" else "momentum")
        assert ours[moved[1]].tolist() == moms
    else:  # the scheduler leaves momentum alone
        assert set(moms) == {0.9}


@pytest.mark.torch
@pytest.mark.parametrize("optimizer, table", [
    ("rmsprop", {"name": "one_cycle_lr", "three_phase": True}),
    ("adagrad", {"name": "one_cycle_lr", "cycle_momentum": False, "anneal_strategy": "linear"}),
    ("adagrad", WARMUP_COSINE),
])
def test_matches_torch_on_other_optimizers(optimizer, table):
    torch = pytest.importorskip("torch")
    lrs, moms = _torch_values(torch, table, optimizer, 300)
    moved, ours = _ours(table, optimizer, 300)
    assert ours["lr"].tolist() == lrs
    if optimizer == "rmsprop":
        assert moved == ("lr", "momentum") and ours["momentum"].tolist() == moms
    else:
        assert moved == ("lr",)


def test_closed_and_chainable_forms_differ():
    """Why the module simulates torch: its recursive form is not the textbook cosine to the last bit."""
    T, steps, lr = 50, 300, 0.1
    ours = S.per_step(S.resolve({"name": "cosine_annealing_lr", "T_max": T}, steps=steps, hyper_names=("lr",)),
                      {"lr": lr}, steps)["lr"]
    closed = [lr * (1 + np.cos(np.pi * t / T)) / 2 for t in range(steps)]
    assert np.allclose(ours, closed, rtol=1e-9, atol=1e-15)
    assert ours.tolist() != closed


def test_resolve_fills_defaults_and_freezes_lists():
    r = S.resolve({"name": "one_cycle_lr"}, steps=500, hyper_names=tuple(SGD))
    assert r == {"name": "one_cycle_lr", "max_lr": None, "total_steps": 500, "pct_start": 0.3,
                 "anneal_strategy": "cos", "cycle_momentum": True, "base_momentum": 0.85, "max_momentum": 0.95,
                 "div_factor": 25.0, "final_div_factor": 1e4, "three_phase": False}
    r = S.resolve({"name": "step_lr", "step_size": np.int64(3), "gamma": 1}, steps=10, hyper_names=("lr",))
    assert r == {"name": "step_lr", "step_size": 3, "gamma": 1.0}
    assert type(r["step_size"]) is int and type(r["gamma"]) is float
    r = S.resolve(WARMUP_COSINE, steps=300, hyper_names=tuple(ADAM))
    assert r["milestones"] == (20,) and isinstance(r["schedulers"], tuple)
    assert r["schedulers"][1] == {"name": "cosine_annealing_lr", "T_max": 280, "eta_min": 1e-4}
    assert S.resolve(r, steps=300, hyper_names=tuple(ADAM)) == r  # resolving again changes nothing
    assert S.moved(r, tuple(ADAM)) == ("lr",)
    assert S.moved(S.resolve({"name": "one_cycle_lr"}, steps=9, hyper_names=tuple(ADAM)), tuple(ADAM)) == (
        "lr", "beta1")


def test_one_cycle_max_lr_follows_the_run_lr():
    r = S.resolve({"name": "one_cycle_lr", "cycle_momentum": False}, steps=100, hyper_names=("lr",))
    a = S.per_step(r, {"lr": 0.1}, 100)["lr"]
    b = S.per_step(r, {"lr": 0.2}, 100)["lr"]
    assert a.max() == 0.1 and b.max() == 0.2
    assert a[0] == pytest.approx(0.1 / 25.0) and a[0] != 0.1 / 25.0  # torch's cos anneal at pct 0 is not exact


def test_registry_and_describe():
    assert S.names() == sorted(S.SCHEDULERS) and len(S.names()) == 10
    assert S.get("linear_lr").torch_name == "LinearLR"
    with pytest.raises(SpecError, match="did you mean 'step_lr'"):
        S.get("stepp_lr")
    rows = dict((n, (a, s)) for n, a, s in S.describe())
    assert rows["step_lr"][0] == "step_size (required), gamma=0.1"
    assert rows["one_cycle_lr"][0].startswith("max_lr=lr, total_steps=steps, pct_start=0.3, anneal_strategy='cos'")
    assert "start_factor=1/3" in rows["linear_lr"][0]
    assert all(s for _, s in rows.values())


def test_hyper_names_of_the_registered_optimizers():
    """one_cycle_lr cycles what torch would: beta1 for the Adam family, momentum for SGD and RMSprop."""
    from optbench import optimizers
    table = {"name": "one_cycle_lr"}
    for name, key in [("adam", "beta1"), ("sgd", "momentum"), ("rmsprop", "momentum")]:
        names = optimizers.get(name).hyper_names
        assert S.moved(S.resolve(table, steps=10, hyper_names=names), names) == ("lr", key)
    with pytest.raises(SpecError, match="cycle_momentum = false"):
        S.resolve(table, steps=10, hyper_names=optimizers.get("adagrad").hyper_names)


ONE_CYCLE = {"name": "one_cycle_lr"}
ERRORS = [  # (table, steps, hyper names, what the message must mention)
    ({"name": "cosine"}, 10, SGD, ["unknown scheduler 'cosine'", "cosine_annealing_lr"]),
    ({"T_max": 3}, 10, SGD, ["needs a name"]),
    ("cosine_annealing_lr", 10, SGD, ["must be a table"]),
    ({"name": "step_lr", "step_size": 3, "gama": 0.5}, 10, SGD, ["'gama'", "did you mean 'gamma'", "step_size"]),
    ({"name": "step_lr"}, 10, SGD, ["step_size is required"]),
    ({"name": "exponential_lr"}, 10, SGD, ["gamma is required"]),
    ({"name": "step_lr", "step_size": 2.0}, 10, SGD, ["step_size must be an integer", "2.0"]),
    ({"name": "step_lr", "step_size": True}, 10, SGD, ["step_size must be an integer", "True"]),
    ({"name": "step_lr", "step_size": 3, "gamma": True}, 10, SGD, ["gamma must be a number"]),
    ({"name": "step_lr", "step_size": 3, "gamma": "0.1"}, 10, SGD, ["gamma must be a number"]),
    ({"name": "exponential_lr", "gamma": float("nan")}, 10, SGD, ["gamma must be a finite number", "nan"]),
    ({"name": "exponential_lr", "gamma": float("inf")}, 10, SGD, ["gamma must be a finite number"]),
    ({"name": "exponential_lr", "gamma": -0.5}, 10, SGD, ["gamma must be >= 0", "-0.5"]),
    ({"name": "step_lr", "step_size": 0}, 10, SGD, ["step_size must be >= 1", "got 0"]),
    ({"name": "multi_step_lr", "milestones": [5, 3]}, 10, SGD, ["milestones", "strictly increasing", "(5, 3)"]),
    ({"name": "multi_step_lr", "milestones": [3, 3]}, 10, SGD, ["milestones", "strictly increasing"]),
    ({"name": "multi_step_lr", "milestones": [0, 3]}, 10, SGD, ["milestones", ">= 1"]),
    ({"name": "multi_step_lr", "milestones": [1.5]}, 10, SGD, ["milestones must be a list of integers"]),
    ({"name": "multi_step_lr", "milestones": 5}, 10, SGD, ["milestones must be a list of integers"]),
    ({"name": "cosine_annealing_lr", "T_max": 0}, 10, SGD, ["T_max must be >= 1", "divides"]),
    ({"name": "cosine_annealing_lr", "T_max": -3}, 10, SGD, ["T_max", "-3"]),
    ({"name": "cosine_annealing_lr", "T_max": 10, "eta_min": -1e-3}, 10, SGD, ["eta_min must be >= 0"]),
    ({"name": "cosine_annealing_warm_restarts", "T_0": 0}, 10, SGD, ["T_0 must be a positive integer"]),
    ({"name": "cosine_annealing_warm_restarts", "T_0": 2.5}, 10, SGD, ["T_0 must be an integer"]),
    ({"name": "cosine_annealing_warm_restarts", "T_0": 5, "T_mult": 0}, 10, SGD, ["T_mult", ">= 1"]),
    ({"name": "cosine_annealing_warm_restarts", "T_0": 5, "T_mult": 1.5}, 10, SGD, ["T_mult must be an integer"]),
    ({"name": "linear_lr", "start_factor": 0.0}, 10, SGD, ["start_factor must be in (0, 1]"]),
    ({"name": "linear_lr", "start_factor": 1.5}, 10, SGD, ["start_factor", "1.5"]),
    ({"name": "linear_lr", "end_factor": 1.1}, 10, SGD, ["end_factor must be in [0, 1]"]),
    ({"name": "linear_lr", "end_factor": -0.1}, 10, SGD, ["end_factor"]),
    ({"name": "linear_lr", "total_iters": 0}, 10, SGD, ["total_iters must be >= 1"]),
    ({"name": "constant_lr", "factor": 1.5}, 10, SGD, ["factor must be in [0, 1]"]),
    ({"name": "constant_lr", "factor": -0.5}, 10, SGD, ["factor must be in [0, 1]"]),
    ({"name": "constant_lr", "total_iters": 0}, 10, SGD, ["total_iters must be >= 1"]),
    ({"name": "constant_lr", "factor": 0.0, "total_iters": 10}, 10, SGD, ["factor must be > 0", "divides"]),
    ({"name": "polynomial_lr", "total_iters": 0}, 10, SGD, ["total_iters must be >= 1"]),
    ({"name": "polynomial_lr", "power": -1.0}, 10, SGD, ["power must be >= 0"]),
    ({"name": "one_cycle_lr", "total_steps": 99}, 100, SGD, ["total_steps = 99", "below the sweep's steps (100)"]),
    ({"name": "one_cycle_lr", "total_steps": 0}, 100, SGD, ["total_steps"]),
    ({"name": "one_cycle_lr", "pct_start": 1.5}, 100, SGD, ["pct_start must be between 0 and 1", "1.5"]),
    ({"name": "one_cycle_lr", "pct_start": -0.1}, 100, SGD, ["pct_start"]),
    ({"name": "one_cycle_lr", "pct_start": 0.01}, 100, SGD, ["pct_start = 0.01", "zero steps"]),
    ({"name": "one_cycle_lr", "pct_start": 1.0}, 100, SGD, ["pct_start = 1.0", "zero steps"]),
    ({"name": "one_cycle_lr", "anneal_strategy": "exp"}, 100, SGD, ["anneal_strategy", "'cos' or 'linear'", "exp"]),
    ({"name": "one_cycle_lr", "anneal_strategy": 1}, 100, SGD, ["anneal_strategy must be a string"]),
    ({"name": "one_cycle_lr", "cycle_momentum": 1}, 100, SGD, ["cycle_momentum must be true or false"]),
    ({"name": "one_cycle_lr", "three_phase": "yes"}, 100, SGD, ["three_phase must be true or false"]),
    ({"name": "one_cycle_lr", "div_factor": 0.0}, 100, SGD, ["div_factor must be > 0"]),
    ({"name": "one_cycle_lr", "final_div_factor": -1.0}, 100, SGD, ["final_div_factor must be > 0"]),
    ({"name": "one_cycle_lr", "max_lr": -0.1}, 100, SGD, ["max_lr must be >= 0"]),
    ({"name": "one_cycle_lr", "max_momentum": 1.0}, 100, ADAM, ["max_momentum", "beta1"]),
    (ONE_CYCLE, 100, ADAGRAD, ["cycle_momentum", "neither momentum nor beta1", "set cycle_momentum = false"]),
    ({"name": "sequential_lr", "schedulers": [{"name": "linear_lr"}], "milestones": [5]}, 100, SGD,
     ["expects number of schedulers provided to be one more than the number of milestone points",
      "number of schedulers 1"]),
    ({"name": "sequential_lr", "schedulers": [], "milestones": []}, 100, SGD, ["schedulers must not be empty"]),
    ({"name": "sequential_lr", "schedulers": [{"name": "linear_lr"}]}, 100, SGD, ["milestones is required"]),
    ({"name": "sequential_lr", "schedulers": {"name": "linear_lr"}, "milestones": []}, 100, SGD,
     ["schedulers must be a list of scheduler tables"]),
    ({"name": "sequential_lr", "milestones": [30, 20],
      "schedulers": [{"name": "linear_lr"}, {"name": "constant_lr"}, {"name": "linear_lr"}]}, 100, SGD,
     ["milestones must be strictly increasing"]),
    ({"name": "sequential_lr", "milestones": [10], "schedulers": [{"name": "linear_lr"}, WARMUP_COSINE]}, 100, SGD,
     ["schedulers[1]", "sequential_lr inside a sequential_lr"]),
    ({"name": "sequential_lr", "milestones": [10],
      "schedulers": [{"name": "linear_lr"}, {"name": "cosine_annealing_lr", "T_max": 0}]}, 100, SGD,
     ["schedulers[1] 'cosine_annealing_lr'", "T_max must be >= 1"]),
    ({"name": "sequential_lr", "milestones": [10],  # OneCycleLR second runs last_epoch 0..90: 50 is too few
      "schedulers": [{"name": "linear_lr"}, {"name": "one_cycle_lr", "total_steps": 50}]}, 100, SGD,
     ["total_steps = 50", "below the 90 steps it runs in sequential_lr"]),
    ({"name": "sequential_lr", "milestones": [10],
      "schedulers": [{"name": "linear_lr"}, {"name": "one_cycle_lr"}]}, 100, ADAGRAD,
     ["schedulers[1]", "set cycle_momentum = false"]),
]


@pytest.mark.parametrize("table, steps, hypers, words", ERRORS, ids=lambda x: None)
def test_refusals(table, steps, hypers, words):
    with pytest.raises(SpecError) as info:
        S.resolve(table, steps=steps, hyper_names=tuple(hypers), where="scheduler")
    message = str(info.value)
    assert "\n" not in message and message.startswith("scheduler")
    for word in words:
        assert word in message


@pytest.mark.torch
def test_refusals_match_torch_where_torch_refuses():
    """A sample of the refusals is torch's own: its constructor (or its first steps) raise on the same settings."""
    torch = pytest.importorskip("torch")
    for table, steps, _, _ in ERRORS:
        if not isinstance(table, dict) or table.get("name") not in ("linear_lr", "constant_lr",
                                                                    "cosine_annealing_warm_restarts"):
            continue
        if "total_iters" in table:  # torch accepts total_iters = 0 and then misbehaves
            continue
        if table.get("factor") == 0.0:  # torch raises at total_iters, checked below
            continue
        with pytest.raises((ValueError, ZeroDivisionError)):
            _torch_values(torch, table, "sgd", steps)
    with pytest.raises(ZeroDivisionError):
        _torch_values(torch, {"name": "constant_lr", "factor": 0.0, "total_iters": 10}, "sgd", 10)
    with pytest.raises(ValueError, match="Tried to step 100 times"):
        _torch_values(torch, {"name": "one_cycle_lr", "total_steps": 99}, "sgd", 100)
    with pytest.raises(ZeroDivisionError):
        _torch_values(torch, {"name": "one_cycle_lr", "pct_start": 0.01}, "sgd", 100)
    with pytest.raises(ZeroDivisionError):
        _torch_values(torch, {"name": "one_cycle_lr", "pct_start": 1.0}, "sgd", 100)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        _torch_values(torch, ONE_CYCLE, "adagrad", 100)
