"""The registered optimizers against torch.optim: trajectories, checks, defaults.

Every optimizer in ``optbench.optimizers.OPTIMIZERS`` is covered: a new one
runs with the settings listed for it in ``SETTINGS`` (or its defaults), on
every test objective, and its step-by-step trajectory must follow
torch.optim's to ``RTOL``.  Bit-for-bit agreement is not expected: torch's CPU
kernels fuse ``add_(alpha=)``, ``addcmul_`` and ``lerp_`` into FMAs (AVX2 /
AVX512 builds) and take ``sqrt`` from MKL (not always correctly rounded),
while optbench follows the unfused canonical order.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from optbench._errors import SpecError
from optbench._jit import jit
from optbench.optimizers import OPTIMIZERS

try:
    import torch
except ImportError:  # the tests marked torch skip (conftest); the others run
    torch = None

RTOL = 1e-10
ATOL = 1e-12
STEPS = 300


# ------------------------------------------------------------- objectives
# Each: a Numba ``f = fg(x, g)`` writing the gradient; the same value and
# gradient formulas in torch ops (same operation order, so the gradient torch's
# optimizer sees is bit-identical to the one optbench's step sees: autograd
# would round differently and blur the comparison); and a start point.
@jit
def rosenbrock_fg(x, g):
    a = 1.0 - x[0]
    b = x[1] - x[0] * x[0]
    g[0] = -2.0 * a - 400.0 * x[0] * b
    g[1] = 200.0 * b
    return a * a + 100.0 * (b * b)


def rosenbrock_torch(p):
    a = 1.0 - p[0]
    b = p[1] - p[0] * p[0]
    return a * a + 100.0 * (b * b), torch.stack([-2.0 * a - 400.0 * p[0] * b, 200.0 * b])


@jit
def himmelblau_fg(x, g):
    p = x[0] * x[0] + x[1] - 11.0
    q = x[0] + x[1] * x[1] - 7.0
    g[0] = 4.0 * x[0] * p + 2.0 * q
    g[1] = 2.0 * p + 4.0 * x[1] * q
    return p * p + q * q


def himmelblau_torch(p):
    a = p[0] * p[0] + p[1] - 11.0
    b = p[0] + p[1] * p[1] - 7.0
    return a * a + b * b, torch.stack([4.0 * p[0] * a + 2.0 * b, 2.0 * a + 4.0 * p[1] * b])


@jit
def quadratic_fg(x, g):
    # ill-conditioned, rotated: 0.5 * (x^2 + 6 x y + 100 y^2), condition ~ 110
    g[0] = x[0] + 3.0 * x[1]
    g[1] = 3.0 * x[0] + 100.0 * x[1]
    return 0.5 * (x[0] * x[0] + 6.0 * (x[0] * x[1]) + 100.0 * (x[1] * x[1]))


def quadratic_torch(p):
    f = 0.5 * (p[0] * p[0] + 6.0 * (p[0] * p[1]) + 100.0 * (p[1] * p[1]))
    return f, torch.stack([p[0] + 3.0 * p[1], 3.0 * p[0] + 100.0 * p[1]])


def torch_loss(f, p):
    """A loss whose ``backward()`` leaves exactly the formula's gradient in ``p.grad``."""
    with torch.no_grad():
        _, grad = f(p)
    return (p * grad).sum()


OBJECTIVES = {
    "rosenbrock": (rosenbrock_fg, rosenbrock_torch, (-1.2, 1.0)),
    "himmelblau": (himmelblau_fg, himmelblau_torch, (0.3, -0.4)),
    "quadratic": (quadratic_fg, quadratic_torch, (2.0, 1.0)),
}


@pytest.mark.torch
@pytest.mark.parametrize("obj", list(OBJECTIVES))
def test_test_objectives_agree(obj):
    """The Numba and torch formulas agree, and with torch's autograd."""
    fg, f, _ = OBJECTIVES[obj]
    rng = np.random.default_rng(0)
    for x in rng.uniform(-3.0, 3.0, size=(50, 2)):
        g = np.zeros(2)
        val = fg(x, g)
        p = torch.tensor(x, requires_grad=True)
        tval, tgrad = f(p)
        assert val == tval.item() and np.array_equal(g, tgrad.detach().numpy())
        tval.backward()
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-13, atol=1e-13)
        p.grad = None
        torch_loss(f, p).backward()
        assert np.array_equal(p.grad.numpy(), g)


# --------------------------------------------------------------- settings
# Hyperparameters per optimizer (the rest: torch's defaults).  Optimizers not
# listed run with their defaults.
SETTINGS: dict[str, list[dict]] = {
    "sgd": [
        dict(lr=5e-4),
        dict(lr=5e-4, momentum=0.9),
        dict(lr=5e-4, momentum=0.9, dampening=0.3),
        dict(lr=5e-4, momentum=0.8, nesterov=True),
        dict(lr=5e-4, momentum=0.9, weight_decay=0.05),
        dict(lr=5e-4, weight_decay=0.1),
    ],
    "adagrad": [
        dict(lr=0.1),
        dict(lr=0.2, lr_decay=0.01, initial_accumulator_value=0.5),
        dict(lr=0.1, weight_decay=0.02, eps=1e-6),
    ],
    "rmsprop": [
        dict(lr=1e-3),
        dict(lr=1e-3, centered=True),
        dict(lr=1e-4, momentum=0.9),
        dict(lr=1e-4, momentum=0.5, centered=True, weight_decay=0.01),
        dict(lr=1e-3, alpha=0.4, centered=True),  # lerp weight > 0.5
    ],
    "adadelta": [
        dict(lr=0.5),  # (lr=1.0 is chaotic on Rosenbrock after ~200 steps)
        dict(rho=0.8),
        dict(lr=0.5, rho=0.95, weight_decay=0.01),
    ],
    "adam": [
        dict(lr=1e-2),
        dict(lr=1e-2, amsgrad=True),
        dict(lr=1e-2, weight_decay=0.05, amsgrad=True),
        dict(lr=3e-3, beta1=0.3, beta2=0.95),  # lerp weight > 0.5
    ],
    "adamw": [
        dict(lr=1e-2),
        dict(lr=1e-2, weight_decay=0.1, amsgrad=True),
    ],
    "adamax": [
        dict(lr=1e-2),
        dict(lr=1e-2, weight_decay=0.05, beta1=0.8, beta2=0.99),
        dict(lr=1e-2, beta1=0.2),  # lerp weight > 0.5
    ],
    "nadam": [
        dict(lr=1e-2),
        dict(lr=1e-2, weight_decay=0.05),
        dict(lr=1e-2, weight_decay=0.05, decoupled_weight_decay=True, momentum_decay=1e-2),
        dict(lr=1e-2, beta1=0.3),
    ],
    "radam": [
        dict(),  # rho_t > 5 from step 6 on; before: lr * m_hat (lr=1e-2 flies off Rosenbrock)
        dict(lr=2e-3, weight_decay=0.05),
        dict(lr=2e-3, weight_decay=0.05, decoupled_weight_decay=True, beta2=0.99),
    ],
}

# the first-order rules, stepped from Python here; the closure ones (line
# searches, L-BFGS) are compared with torch and NumPy in test_line_search.py
FIRST_ORDER = [name for name in OPTIMIZERS if not OPTIMIZERS[name].closure]
TORCH = [name for name in OPTIMIZERS if OPTIMIZERS[name].torch_name]  # the rules torch.optim has

CASES = [
    pytest.param(name, i, obj, id=f"{name}-{i}-{obj}")
    for name in FIRST_ORDER
    for i in range(len(SETTINGS.get(name, [{}])))
    for obj in OBJECTIVES
]


# torch's state-dict keys in the order of optbench's state rows, for the
# one-step check (an optimizer missing here gets only the trajectory check).
STATE_KEYS: dict[str, list[str]] = {
    "sgd": ["momentum_buffer"],
    "adagrad": ["sum"],
    "rmsprop": ["square_avg", "grad_avg", "momentum_buffer"],
    "adadelta": ["square_avg", "acc_delta"],
    "adam": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    "adamw": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    "adamax": ["exp_avg", "exp_inf"],
    "nadam": ["exp_avg", "exp_avg_sq"],
    "radam": ["exp_avg", "exp_avg_sq"],
}
LOCAL_RTOL = 1e-11  # one step from torch's own state (centered RMSprop cancels a few digits)


def numba_trajectory(opt, values: dict, obj: str, steps: int = STEPS) -> np.ndarray:
    """x after each step, driving the Numba step from Python."""
    fg, _, x0 = OBJECTIVES[obj]
    x = np.array(x0, dtype=np.float64)
    g = np.zeros(2)
    state = np.zeros((opt.n_state, 2))
    hp = opt.hp_row(values)
    sched = opt.schedule(hp, steps)
    assert sched.shape == (steps, opt.n_sched) and sched.dtype == np.float64
    out = np.empty((steps, 2))
    for k in range(steps):
        fg(x, g)
        opt.step(x, g, state, hp, sched[k], k + 1)
        out[k] = x
    return out


def torch_trajectory(opt, values: dict, obj: str, steps: int = STEPS):
    """x after each torch.optim step, and optbench's step taken from torch's own
    (x, gradient, state) at each step (None where the state layout is unknown)."""
    _, f, x0 = OBJECTIVES[obj]
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    topt = getattr(torch.optim, opt.torch_name)([p], **opt.torch_kwargs(values))
    keys = STATE_KEYS.get(opt.name)
    hp = opt.hp_row(values)
    sched = opt.schedule(hp, steps)
    out = np.empty((steps, 2))
    local = np.empty((steps, 2)) if keys is not None else None
    for k in range(steps):
        loss = torch_loss(f, p)
        loss.backward()
        if local is not None:
            state = np.zeros((opt.n_state, 2))
            tstate = topt.state[p]
            for row, key in enumerate(keys):
                if tstate.get(key) is not None:
                    state[row] = tstate[key].numpy()
            x = p.detach().numpy().copy()
            opt.step(x, p.grad.numpy().copy(), state, hp, sched[k], k + 1)
            local[k] = x
        topt.step()
        topt.zero_grad()
        out[k] = p.detach().numpy()
    return out, local


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), ATOL / RTOL)))


@pytest.mark.torch
@pytest.mark.parametrize("name, i, obj", CASES)
def test_trajectory_matches_torch(name, i, obj):
    opt = OPTIMIZERS[name]
    values = opt.resolve(SETTINGS.get(name, [{}])[i])
    ours = numba_trajectory(opt, values, obj)
    ref, local = torch_trajectory(opt, values, obj)
    assert np.all(np.isfinite(ref)) and np.abs(ref).max() < 1e3, "setting diverges in torch; pick a smaller lr"
    assert np.abs(ref[-1] - ref[0]).max() > 1e-2, "test setting hardly moves"
    where = f"{name} {values} on {obj}"
    if local is not None:
        np.testing.assert_allclose(local, ref, rtol=LOCAL_RTOL, atol=ATOL * 1e-3,
                                   err_msg=f"{where}: one step from torch's state")
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL,
                               err_msg=f"{where}: max rel diff {rel_diff(ours, ref):.3g}")


def _canonical_rosenbrock(x, y):
    a = 1.0 - x
    b = y - x * x
    return -2.0 * a - 400.0 * x * b, 200.0 * b


def test_adam_and_sgd_follow_the_peer_canonical_order_bit_for_bit():
    """rosenbrock-adam / grid-sgd-momentum of shared/peers/peerbench/workloads.py, in Python floats (no FMA)."""
    steps = 200
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    p, m, v = [-1.2, 1.0], [0.0, 0.0], [0.0, 0.0]
    want = []
    for t in range(1, steps + 1):
        g = _canonical_rosenbrock(*p)
        step_size = lr / (1.0 - b1**t)
        bc2_sqrt = (1.0 - b2**t) ** 0.5
        for i in range(2):
            m[i] = m[i] + (1.0 - b1) * (g[i] - m[i])
            v[i] = v[i] * b2 + ((1.0 - b2) * g[i]) * g[i]
            denom = math.sqrt(v[i]) / bc2_sqrt + eps
            p[i] = p[i] + ((-step_size) * m[i]) / denom
        want.append(list(p))
    opt = OPTIMIZERS["adam"]
    got = numba_trajectory(opt, opt.resolve(dict(lr=lr)), "rosenbrock", steps)
    assert np.array_equal(got, np.array(want))

    lr, mu = 5e-4, 0.9
    p, buf = [-1.2, 1.0], [0.0, 0.0]
    want = []
    for t in range(steps):
        g = _canonical_rosenbrock(*p)
        for i in range(2):
            buf[i] = g[i] if t == 0 else buf[i] * mu + g[i]
            p[i] = p[i] + (-lr) * buf[i]
        want.append(list(p))
    opt = OPTIMIZERS["sgd"]
    got = numba_trajectory(opt, opt.resolve(dict(lr=lr, momentum=mu)), "rosenbrock", steps)
    assert np.array_equal(got, np.array(want))


def test_the_test_free_loops_of_sgd_and_adam_keep_torchs_order_bit_for_bit():
    """sgd_step and adam_step run the usual settings in loops of their own
    (no weight decay, no nesterov / amsgrad); the cases the test above does
    not reach: plain SGD (no momentum buffer) and Adam with beta1 <= 0.5
    (lerp's second formula, ``g - (g - m) * (1 - w)``)."""
    steps = 150
    lr = 1e-3
    p, want = [-1.2, 1.0], []
    for _ in range(steps):
        g = _canonical_rosenbrock(*p)
        p = [p[i] + (-lr) * g[i] for i in range(2)]
        want.append(list(p))
    opt = OPTIMIZERS["sgd"]
    got = numba_trajectory(opt, opt.resolve(dict(lr=lr)), "rosenbrock", steps)
    assert np.array_equal(got, np.array(want))

    lr, b1, b2, eps = 1e-2, 0.3, 0.99, 1e-8
    w = 1.0 - b1
    p, m, v, want = [-1.2, 1.0], [0.0, 0.0], [0.0, 0.0], []
    for t in range(1, steps + 1):
        g = _canonical_rosenbrock(*p)
        step_size = lr / (1.0 - b1**t)
        bc2_sqrt = (1.0 - b2**t) ** 0.5
        for i in range(2):
            m[i] = g[i] - (g[i] - m[i]) * (1.0 - w)
            v[i] = v[i] * b2 + ((1.0 - b2) * g[i]) * g[i]
            p[i] = p[i] + ((-step_size) * m[i]) / (math.sqrt(v[i]) / bc2_sqrt + eps)
        want.append(list(p))
    opt = OPTIMIZERS["adam"]
    got = numba_trajectory(opt, opt.resolve(dict(lr=lr, beta1=b1, beta2=b2)), "rosenbrock", steps)
    assert np.array_equal(got, np.array(want))


@pytest.mark.torch
def test_sgd_divergence_matches_torch():
    """A run that blows up reaches inf / nan at the same step as torch's."""
    opt = OPTIMIZERS["sgd"]
    values = opt.resolve(dict(lr=0.01, momentum=0.5))
    ours = numba_trajectory(opt, values, "rosenbrock", 60)
    ref, _ = torch_trajectory(opt, values, "rosenbrock", 60)
    assert not np.all(np.isfinite(ref))
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(ours[fin], ref[fin], rtol=1e-9)


def test_radam_takes_both_branches():
    opt = OPTIMIZERS["radam"]
    sched = opt.schedule(opt.hp_row(opt.resolve({})), 20)
    flags = sched[:, 3]
    assert flags[:5].tolist() == [0.0] * 5 and np.all(flags[5:] == 1.0)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_schedule_is_a_finite_row_per_step(name):
    """(How long a schedule takes: asv's ``OptimizerSchedule``.)"""
    opt = OPTIMIZERS[name]
    hp = opt.hp_row(opt.resolve({}))
    sched = opt.schedule(hp, 5000)
    assert sched.shape == (5000, opt.n_sched) and sched.dtype == np.float64
    assert np.all(np.isfinite(sched))
    assert np.array_equal(opt.schedule(hp, 10), sched[:10])  # row t - 1 is step t's, whatever the length


# ------------------------------------------------------------------ checks
# (hyperparameters, field that the message must name) that torch rejects.
REJECTED: dict[str, list[tuple[dict, str]]] = {
    "sgd": [
        (dict(lr=-1e-3), "lr"),
        (dict(momentum=-0.1), "momentum"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(nesterov=True), "nesterov"),
        (dict(nesterov=True, momentum=0.9, dampening=0.1), "nesterov"),
    ],
    "adagrad": [
        (dict(lr=-1.0), "lr"),
        (dict(lr_decay=-0.1), "lr_decay"),
        (dict(weight_decay=-0.1), "weight_decay"),
        (dict(initial_accumulator_value=-0.1), "initial_accumulator_value"),
        (dict(eps=-1e-10), "eps"),
    ],
    "rmsprop": [
        (dict(lr=-1.0), "lr"),
        (dict(alpha=-0.5), "alpha"),
        (dict(eps=-1.0), "eps"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(momentum=-0.5), "momentum"),
    ],
    "adadelta": [
        (dict(lr=-1.0), "lr"),
        (dict(rho=-0.1), "rho"),
        (dict(rho=1.5), "rho"),
        (dict(eps=-1.0), "eps"),
        (dict(weight_decay=-1.0), "weight_decay"),
    ],
}
_ADAM_FAMILY = [
    (dict(lr=-1.0), "lr"),
    (dict(eps=-1.0), "eps"),
    (dict(beta1=-0.1), "beta1"),
    (dict(beta1=1.0), "beta1"),
    (dict(beta2=1.0), "beta2"),
    (dict(beta2=-0.5), "beta2"),
    (dict(weight_decay=-0.1), "weight_decay"),
]
for _name in ("adam", "adamw", "adamax", "radam"):
    REJECTED[_name] = list(_ADAM_FAMILY)
REJECTED["nadam"] = _ADAM_FAMILY + [(dict(momentum_decay=-1e-3), "momentum_decay")]

# Edge values torch accepts (and so must optbench).
ACCEPTED: dict[str, list[dict]] = {
    "sgd": [dict(lr=0.0, dampening=-0.5), dict(momentum=0.9, dampening=2.0), dict(nesterov=True, momentum=1e-3)],
    "adagrad": [dict(lr=0.0, eps=0.0, initial_accumulator_value=0.0)],
    "rmsprop": [dict(alpha=0.0), dict(alpha=1.5, eps=0.0)],
    "adadelta": [dict(rho=0.0), dict(rho=1.0, eps=0.0)],
    "adam": [dict(beta1=0.0, beta2=0.0, eps=0.0)],
    "adamw": [dict(weight_decay=0.0, beta1=0.0)],
    "adamax": [dict(beta1=0.0, beta2=0.0)],
    "nadam": [dict(momentum_decay=0.0, beta2=0.0)],
    "radam": [dict(beta1=0.0, beta2=0.0, eps=0.0)],
}


def _torch_build(opt, values):
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    return getattr(torch.optim, opt.torch_name)([p], **opt.torch_kwargs(values))


def _as_typed(opt, values):
    """Fill defaults without checking (so that the bad value reaches torch)."""
    out = opt.defaults()
    out.update(values)
    return {k: (v if isinstance(v, bool) else float(v)) for k, v in out.items()}


REJECT_CASES = [
    pytest.param(name, values, field, id=f"{name}-{'-'.join(f'{k}={v}' for k, v in values.items())}")
    for name in OPTIMIZERS
    for values, field in REJECTED.get(name, [(dict(lr=-1.0), "lr")])
]


@pytest.mark.parametrize("name, values, field", REJECT_CASES)
def test_check_refuses_in_one_line_naming_the_field(name, values, field):
    opt = OPTIMIZERS[name]
    with pytest.raises(SpecError) as info:
        opt.resolve(values)
    msg = str(info.value)
    assert "\n" not in msg
    assert field in msg and name in msg
    bad = values[field]
    if not isinstance(bad, bool):
        assert repr(float(bad)) in msg, msg


@pytest.mark.torch
@pytest.mark.parametrize("name, values, field", [c for c in REJECT_CASES if c.values[0] in TORCH])
def test_torch_refuses_what_the_check_refuses(name, values, field):
    with pytest.raises(ValueError):
        _torch_build(OPTIMIZERS[name], _as_typed(OPTIMIZERS[name], values))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_negative_lr_weight_decay_eps_rejected(name):
    """Generic: every torch optimizer refuses negative lr, eps and weight_decay."""
    opt = OPTIMIZERS[name]
    for field in ("lr", "eps", "weight_decay"):
        if field in opt.hyper_names:
            with pytest.raises(SpecError, match=field):
                opt.resolve({field: -1.0})


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_check_accepts_torchs_edge_values(name):
    opt = OPTIMIZERS[name]
    for values in ACCEPTED.get(name, [{}]):
        assert opt.resolve(values).items() >= {k: float(v) if not isinstance(v, bool) else v
                                               for k, v in values.items()}.items()


@pytest.mark.torch
@pytest.mark.parametrize("name", TORCH)
def test_torch_accepts_the_same_edge_values(name):
    opt = OPTIMIZERS[name]
    for values in ACCEPTED.get(name, [{}]):
        _torch_build(opt, opt.resolve(values))


# ---------------------------------------------------------------- defaults
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_resolving_nothing_gives_the_defaults_in_declared_order(name):
    opt = OPTIMIZERS[name]
    resolved = opt.resolve({})
    assert resolved == opt.defaults()
    assert list(resolved) == list(opt.hyper_names)


@pytest.mark.torch
@pytest.mark.parametrize("name", TORCH)
def test_defaults_are_torchs(name):
    opt = OPTIMIZERS[name]
    assert hasattr(torch.optim, opt.torch_name)
    torch_defaults = dict(_torch_build(opt, {}).defaults)
    if "betas" in torch_defaults:
        torch_defaults["beta1"], torch_defaults["beta2"] = torch_defaults.pop("betas")
    for h in opt.hypers:
        assert h.name in torch_defaults, f"{name}: {h.name} is not a torch hyperparameter"
        if h.is_choice:  # TOML has no null: "none" is torch's None
            assert (None if h.default == "none" else h.default) == torch_defaults[h.name], (name, h.name)
            continue
        assert h.default == torch_defaults[h.name], (name, h.name)
        assert isinstance(torch_defaults[h.name], bool) == h.is_bool, (name, h.name)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_resolve_fills_defaults_and_types(name):
    opt = OPTIMIZERS[name]
    first = opt.hypers[0]
    resolved = opt.resolve({first.name: 1}) if not first.is_bool else opt.resolve({})
    for h in opt.hypers:
        assert isinstance(resolved[h.name], str if h.is_choice else bool if h.is_bool else float)
    with pytest.raises(SpecError, match="not_a_hyper|hyperparameter"):
        opt.resolve({"not_a_hyper": 1.0})
    row = opt.hp_row(resolved)
    assert row.dtype == np.float64 and row.shape == (len(opt.hypers),)


def test_torch_defaults_specifics():
    """The defaults that differ between classes (easy to get wrong)."""
    d = {name: OPTIMIZERS[name].defaults() for name in OPTIMIZERS}
    assert d["sgd"]["lr"] == 1e-3
    assert d["adagrad"]["lr"] == 1e-2 and d["adagrad"]["eps"] == 1e-10
    assert d["rmsprop"]["lr"] == 1e-2 and d["rmsprop"]["alpha"] == 0.99
    assert d["adadelta"]["lr"] == 1.0 and d["adadelta"]["eps"] == 1e-6
    assert d["adam"]["weight_decay"] == 0.0 and d["adamw"]["weight_decay"] == 1e-2
    assert d["adamax"]["lr"] == 2e-3 and d["nadam"]["lr"] == 2e-3
    assert d["nadam"]["momentum_decay"] == 4e-3 and d["nadam"]["decoupled_weight_decay"] is False
    assert d["radam"]["lr"] == 1e-3 and d["radam"]["decoupled_weight_decay"] is False


@pytest.mark.torch
def test_nadam_mu_product_is_float32_like_torch():
    """torch keeps NAdam's mu_product in a float32 0-dim tensor (default dtype)."""
    assert torch.get_default_dtype() == torch.float32
    opt = OPTIMIZERS["nadam"]
    values = opt.resolve(dict(lr=1e-2))
    p = torch.tensor([1.0, -1.0], dtype=torch.float64, requires_grad=True)
    topt = torch.optim.NAdam([p], **opt.torch_kwargs(values))
    sched = opt.schedule(opt.hp_row(values), 50)
    lr = values["lr"]
    for k in range(50):
        p.grad = torch.ones_like(p)
        topt.step()
        mp = topt.state[p]["mu_product"].item()
        assert sched[k, 1] == -lr * (1.0 - _nadam_mu(values, k + 1)) / (1.0 - mp)


def _nadam_mu(values, step):
    return values["beta1"] * (1.0 - 0.5 * (0.96 ** (float(step) * values["momentum_decay"])))


def test_every_optimizer_is_documented():
    for opt in OPTIMIZERS.values():
        assert opt.doc.strip() and opt.summary and "\n" not in opt.summary
        assert opt.torch_name.isidentifier() or (opt.torch_name == "" and opt.closure)  # cg, gd_armijo: no torch class
        assert opt.momentum_like is None or opt.momentum_like in opt.hyper_names
        assert math.isfinite(opt.n_state) and opt.n_state >= 0
