"""The neural-network objectives (perceptron, mlp): activations, worked examples,
gradients against central differences and torch autograd, known optima, the
toy data sets, initialization schemes and the symmetry of a zero start.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from optbench import SpecError, engine, objectives, optimizers
from optbench.objectives import data as D
from optbench.objectives import nn
from optbench.objectives.gradcheck import gradient_error, minibatch_rows

SMALL = dict(n_samples=40, n_features=3)
TOY = dict(n_samples=40)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _ro(a, dtype=np.float64):
    """Read-only contiguous arrays, typed as the built problems' (no new compilation)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    a.setflags(write=False)
    return a


def _point(p, seed=0, scale=1.0):
    return scale * _rng(seed).uniform(-1.0, 1.0, p.dim)


def _minibatch(p, seed=1):
    return minibatch_rows(p, seed, size=23, repeated=4)


# ----------------------------------------------------------------- the variants under test

PERCEPTRON_COMBOS = [
    ("sigmoid", "cross_entropy"),
    ("sigmoid", "mse"),
    ("tanh", "mse"),
    ("relu", "mse"),
    ("identity", "mse"),
    ("identity", "hinge"),
]


def _variants():
    out = []
    for act, loss in PERCEPTRON_COMBOS:
        out.append(("perceptron", dict(SMALL, activation=act, loss=loss, l2=0.1)))
        out.append(("perceptron", dict(TOY, data="xor", activation=act, loss=loss)))
    out.append(("perceptron", dict(data="diabetes", activation="identity", loss="mse")))
    for act in nn.MLP_ACTIVATIONS:
        for layers in (1, 2):
            kw = dict(activation=act, layers=layers, width=4)
            out.append(("mlp", dict(TOY, **kw)))
            out.append(("mlp", dict(SMALL, data="synthetic", n_classes=3, l2=0.1, **kw)))
            out.append(("mlp", dict(SMALL, data="synthetic", loss="mse", l2=0.1, **kw)))
    out.append(("mlp", dict(data="iris", layers=2, width=5, width2=3, activation="relu")))
    out.append(("mlp", dict(data="diabetes", loss="mse", width=3)))
    return out


VARIANTS = _variants()
IDS = [f"{n}-" + "-".join(f"{k}={v}" for k, v in kw.items() if k not in SMALL) for n, kw in VARIANTS]


# ----------------------------------------------------------------- plain NumPy references


def _act(z, name):
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # σ without overflow
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    return z


def _log_softmax(Z):
    m = Z.max(axis=1, keepdims=True)
    return Z - m - np.log(np.exp(Z - m).sum(axis=1, keepdims=True))


def _unpack(p, x):
    """[(W, b), ...] of an mlp problem, in the documented packing order."""
    out, off = [], 0
    for fan_out, fan_in in nn.layer_shapes(p):
        W = x[off : off + fan_out * fan_in].reshape(fan_out, fan_in)
        off += fan_out * fan_in
        out.append((W, x[off : off + fan_out]))
        off += fan_out
    assert off == p.dim
    return out


def ref_value(p, x, rows):
    X, t = np.asarray(p.args[0])[rows], np.asarray(p.args[1])[rows]
    l2 = p.params["l2"]
    if p.name == "perceptron":
        z = X @ x[:-1] + x[-1]
        loss = p.params["loss"]
        if loss == "cross_entropy":
            per = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))) - t * z
        elif loss == "hinge":
            per = np.maximum(0.0, 1.0 - t * z)
        else:
            per = (_act(z, p.params["activation"]) - t) ** 2
        return per.mean() + 0.5 * l2 * float(x[:-1] @ x[:-1])
    layers = _unpack(p, x)
    a = X
    for W, b in layers[:-1]:
        a = _act(a @ W.T + b, p.params["activation"])
    W, b = layers[-1]
    out = a @ W.T + b
    if p.params["loss"] == "cross_entropy":
        per = -_log_softmax(out)[np.arange(len(rows)), t.astype(np.int64)]
    else:
        per = (out[:, 0] - t) ** 2
    return per.mean() + 0.5 * l2 * sum(float((W**2).sum()) for W, _ in layers)


# ----------------------------------------------------------------- activations


ACTS = [
    ("sigmoid", nn.sigmoid, nn.sigmoid_grad, lambda z: 1.0 / (1.0 + math.exp(-z))),
    ("tanh", nn.tanh, nn.tanh_grad, math.tanh),
    ("relu", nn.relu, nn.relu_grad, lambda z: max(z, 0.0)),
    ("identity", nn.identity, nn.identity_grad, lambda z: z),
]


@pytest.mark.parametrize("name,fn,grad,ref", ACTS, ids=[a[0] for a in ACTS])
def test_activation_and_derivative(name, fn, grad, ref):
    kind = nn.ACTIVATIONS.index(name)
    zs = np.concatenate([np.linspace(-6.0, 6.0, 48), [-30.0, -0.3, 0.7, 25.0]])  # none within h of 0
    for z in zs:
        z = float(z)
        a, s = fn(z), grad(z)
        assert a == pytest.approx(ref(z), rel=1e-15, abs=1e-300)
        h = 1e-6 * max(1.0, abs(z))
        assert s == pytest.approx((fn(z + h) - fn(z - h)) / (2 * h), rel=1e-8, abs=1e-10)
        assert (nn.activation(z, kind), nn.activation_grad(z, kind)) == (a, s)
        assert nn.activation_and_slope(z, kind) == (a, s)
    # the textbook identities
    for z in zs:
        if name == "sigmoid":  # 1 - σ(z) = σ(-z), exact in floating point also where σ(z) rounds to ~1
            assert grad(z) == pytest.approx(fn(z) * fn(-z), rel=1e-14)
            if abs(z) <= 6.0:
                assert grad(z) == pytest.approx(fn(z) * (1.0 - fn(z)), rel=1e-12)
        elif name == "tanh":
            assert grad(z) == 1.0 - math.tanh(z) ** 2
        elif name == "relu":
            assert grad(z) == (1.0 if z > 0 else 0.0)
        else:
            assert grad(z) == 1.0


def test_activations_do_not_overflow():
    for z in (-800.0, -50.0, 50.0, 800.0):
        for _, fn, grad, _ in ACTS[:2]:
            assert np.isfinite(fn(z)) and np.isfinite(grad(z)) and grad(z) >= 0.0
    assert nn.sigmoid(800.0) == 1.0 and nn.sigmoid(-800.0) == 0.0
    assert nn.sigmoid_grad(-40.0) == pytest.approx(math.exp(-40.0), rel=1e-12)  # σ(1-σ) would lose it
    assert nn.relu_grad(0.0) == 0.0  # torch's subgradient at the kink


# ----------------------------------------------------------------- worked examples


def _mlp_call(theta, X, y, n_out, h1, h2, act, loss, l2=0.0, rows=None):
    theta = np.asarray(theta, dtype=np.float64)
    g = np.empty_like(theta)
    X = _ro(X)
    rows = np.arange(X.shape[0], dtype=np.int64) if rows is None else rows
    f = nn.mlp_fg(theta, g, rows, X, _ro(y), n_out, h1, h2, act, loss, l2)
    return f, g


def test_worked_example_two_linear_units():
    # y1 = x w1 + b1, y2 = y1 w2 + b2 at x = 1, w1 = 2, b1 = 1, w2 = 2, b2 = 1: dy2/dw1 = w2 x = 2
    x, w1, b1, w2, b2 = 1.0, 2.0, 1.0, 2.0, 1.0
    y1 = x * w1 + b1
    y2 = y1 * w2 + b2
    # by the chain rule with the exposed derivatives
    assert nn.identity_grad(y2) * w2 * nn.identity_grad(y1) * x == 2.0
    # by the network's backpropagation: a 1-1-1 net (θ = [w1, b1, w2, b2]) with squared
    # error against t = y2 - 1/2, so that ∂f/∂θ = 2 (y2 - t) ∂y2/∂θ = ∂y2/∂θ
    for act in (nn.IDENTITY, nn.RELU):  # ReLU is the identity for positive inputs
        f, g = _mlp_call([w1, b1, w2, b2], [[x]], [y2 - 0.5], 1, 1, 0, act, nn.MSE)
        assert f == 0.25
        assert g.tolist() == [2.0, 2.0, y1, 1.0]  # ∂y2/∂(w1, b1, w2, b2) = (w2 x, w2, y1, 1)


def test_worked_example_sigmoid_neuron():
    # f = σ(w0 x0 + w1 x1 + w2), w = (2, -3, -3), x = (-1, -2)
    w = np.array([2.0, -3.0, -3.0])
    x = np.array([-1.0, -2.0])
    z = w[0] * x[0] + w[1] * x[1] + w[2]
    f = nn.sigmoid(z)
    dz = nn.sigmoid_grad(z)
    assert f == pytest.approx(0.7311, abs=5e-5)
    np.testing.assert_allclose(dz * w[:2], [0.3932, -0.5898], atol=5e-5)  # ∂f/∂x
    np.testing.assert_allclose(dz * np.array([x[0], x[1], 1.0]), [-0.1966, -0.3932, 0.1966], atol=5e-5)  # ∂f/∂w
    # the perceptron kernel gives the same ∂f/∂w: squared error against t = f - 1/2
    theta = w.copy()
    g = np.empty(3)
    loss = nn.perceptron_fg(theta, g, np.zeros(1, np.int64), _ro([x]), _ro([f - 0.5]), nn.SIGMOID, nn.MSE, 0.0)
    assert loss == pytest.approx(0.25, rel=1e-15)
    np.testing.assert_allclose(g, [-0.1966, -0.3932, 0.1966], atol=5e-5)
    np.testing.assert_allclose(g, dz * np.array([x[0], x[1], 1.0]), rtol=1e-14)


# ----------------------------------------------------------------- softmax cross-entropy


def test_softmax_cross_entropy_is_the_nll_of_log_softmax_also_for_huge_logits():
    rng = _rng(3)
    for scale, shift in ((1.0, 0.0), (1e3, 0.0), (1e3, 1e3), (50.0, -1e4)):
        for _ in range(5):
            z = _ro(shift + scale * rng.standard_normal(5))
            lsm = _log_softmax(np.asarray(z)[None, :])[0]
            for label in range(5):
                dz = np.empty(5)
                loss = nn.softmax_cross_entropy(z, label, dz)
                assert np.isfinite(loss) and np.all(np.isfinite(dz))
                assert loss == pytest.approx(-lsm[label], rel=1e-12, abs=1e-12 * (1.0 + scale))
                onehot = np.eye(5)[label]
                np.testing.assert_allclose(dz, np.exp(lsm) - onehot, atol=1e-15)
                assert abs(dz.sum()) < 1e-14


@pytest.mark.torch
def test_softmax_cross_entropy_matches_torch():
    import torch
    z = _ro(1e3 * _rng(4).standard_normal((6, 4)))
    labels = [0, 3, 1, 2, 2, 0]
    ref = torch.nn.functional.cross_entropy(torch.tensor(np.asarray(z)), torch.tensor(labels), reduction="none")
    for i, label in enumerate(labels):
        assert nn.softmax_cross_entropy(z[i], label, np.empty(4)) == pytest.approx(ref[i].item(), rel=1e-13)


def test_mlp_is_stable_for_huge_weights():
    for kw in (dict(TOY), dict(data="iris", layers=2, activation="sigmoid"), dict(TOY, activation="relu")):
        p = objectives.make("mlp", **kw)
        x = _point(p, 5, 1e3)  # logits ~1e3 - 1e6
        for rows in (p.all_rows(), _minibatch(p)):
            f, g = p.value_and_grad(x, rows)
            assert np.isfinite(f) and np.all(np.isfinite(g))
            assert f == pytest.approx(ref_value(p, x, rows), rel=1e-12)
    for loss in ("cross_entropy", "hinge"):
        act = "sigmoid" if loss == "cross_entropy" else "identity"
        p = objectives.make("perceptron", data="breast_cancer", activation=act, loss=loss)
        x = _point(p, 2, 1e4)
        f, g = p.value_and_grad(x)
        assert np.isfinite(f) and np.all(np.isfinite(g))
        assert f == pytest.approx(ref_value(p, x, p.all_rows()), rel=1e-12)


# ----------------------------------------------------------------- gradients and values


@pytest.mark.parametrize("name,kw", VARIANTS, ids=IDS)
def test_gradient_matches_central_differences(name, kw):
    p = objectives.make(name, **kw)
    for seed in (0, 1):
        x = _point(p, seed, 2.0)
        if kw.get("data") == "diabetes":
            x[-1] += 150.0  # the output bias near the targets' scale
        for rows in (p.all_rows(), _minibatch(p, seed + 1)):
            assert gradient_error(p, x, rows) < 1e-6


@pytest.mark.parametrize("name,kw", VARIANTS, ids=IDS)
def test_value_matches_numpy_reference(name, kw):
    p = objectives.make(name, **kw)
    for seed, scale in ((0, 1.0), (3, 5.0)):
        x = _point(p, seed, scale)
        for rows in (p.all_rows(), _minibatch(p)):
            assert p.value(x, rows) == pytest.approx(ref_value(p, x, rows), rel=1e-12, abs=1e-13)


def test_one_compiled_function_per_family():
    for name, kw in VARIANTS:
        p = objectives.make(name, **kw)
        p.value_and_grad(_point(p), _minibatch(p))
    assert len(nn.perceptron_fg.signatures) == 1
    assert len(nn.mlp_fg.signatures) == 1


# ----------------------------------------------------------------- torch autograd


def _torch_net(torch, p):
    acts = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
    mods = []
    shapes = nn.layer_shapes(p)
    for k, (fan_out, fan_in) in enumerate(shapes):
        mods.append(torch.nn.Linear(fan_in, fan_out, dtype=torch.float64))
        if k < len(shapes) - 1:
            mods.append(acts[p.params["activation"]]())
    return torch.nn.Sequential(*mods)


def _torch_loss(torch, p, theta, rows):
    """The same network in torch; returns (loss, parameters)."""
    F = torch.nn.functional
    X = torch.tensor(np.asarray(p.args[0])[rows])
    t = torch.tensor(np.asarray(p.args[1])[rows])
    l2 = p.params["l2"]
    if p.name == "perceptron":
        th = torch.tensor(theta, requires_grad=True)
        z = X @ th[:-1] + th[-1]
        act, loss = p.params["activation"], p.params["loss"]
        if loss == "cross_entropy":
            f = F.binary_cross_entropy_with_logits(z, t)
        elif loss == "hinge":
            f = torch.clamp(1.0 - t * z, min=0.0).mean()
        else:
            o = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda v: v}[act](z)
            f = F.mse_loss(o, t)
        return f + 0.5 * l2 * (th[:-1] ** 2).sum(), [th]
    net = _torch_net(torch, p)
    torch.nn.utils.vector_to_parameters(torch.tensor(theta), net.parameters())
    out = net(X)
    if p.params["loss"] == "cross_entropy":
        f = F.cross_entropy(out, t.long())
    else:
        f = F.mse_loss(out[:, 0], t)
    weights = [m.weight for m in net if isinstance(m, torch.nn.Linear)]
    return f + 0.5 * l2 * sum((w**2).sum() for w in weights), list(net.parameters())


@pytest.mark.torch
@pytest.mark.parametrize("name,kw", VARIANTS, ids=IDS)
def test_matches_torch_autograd(name, kw):
    import torch
    p = objectives.make(name, **kw)
    for seed in (4, 5):
        x = _point(p, seed, 2.0)
        for rows in (p.all_rows(), _minibatch(p)):
            f_t, params = _torch_loss(torch, p, x, rows)
            f_t.backward()
            g_t = torch.cat([q.grad.reshape(-1) for q in params]).numpy()
            f, g = p.value_and_grad(x, rows)
            assert f == pytest.approx(f_t.item(), rel=1e-12, abs=1e-14)
            np.testing.assert_allclose(g, g_t, rtol=1e-10, atol=1e-10 * np.max(np.abs(g_t)))


@pytest.mark.torch
def test_packing_is_torchs_parameter_order():
    import torch
    p = objectives.make("mlp", data="iris", layers=2, width=5, width2=3)
    net = _torch_net(torch, p)
    theta = torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy()
    assert theta.size == p.dim
    X = np.asarray(p.args[0])
    with torch.no_grad():
        logits = net(torch.tensor(X)).numpy()
    assert p.value(theta) == pytest.approx(
        -_log_softmax(logits)[np.arange(X.shape[0]), np.asarray(p.args[1]).astype(int)].mean(), rel=1e-12
    )
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]


# ----------------------------------------------------------------- dimensions


def test_dimensions():
    assert objectives.make("perceptron").dim == 11
    assert objectives.make("perceptron", data="moons").dim == 3
    assert objectives.make("perceptron", data="breast_cancer").dim == 31
    # moons: 2 -> 8 -> 2 outputs
    assert objectives.make("mlp").dim == 2 * 8 + 8 + 8 * 2 + 2
    assert objectives.make("mlp", layers=2, width=6).dim == 2 * 6 + 6 + 6 * 6 + 6 + 6 * 2 + 2
    assert objectives.make("mlp", layers=2, width=6, width2=3).dim == 2 * 6 + 6 + 3 * 6 + 3 + 3 * 2 + 2
    assert objectives.make("mlp", data="iris", width=4).dim == 4 * 4 + 4 + 4 * 3 + 3
    assert objectives.make("mlp", data="synthetic", loss="mse", n_features=5, width=4).dim == 5 * 4 + 4 + 4 + 1
    for name in ("perceptron", "mlp"):
        p = objectives.make(name)
        assert p.batched and p.objective.dim_from_data and "ml" in p.objective.tags
        assert "convex" not in p.objective.tags
        np.testing.assert_array_equal(p.lower, -1.0)
        np.testing.assert_array_equal(p.upper, 1.0)
    with pytest.raises(SpecError, match="dim"):
        objectives.make("mlp", dim=10)


# ----------------------------------------------------------------- known optima


def test_perceptron_identity_mse_is_least_squares():
    p = objectives.make("perceptron", data="diabetes", activation="identity", loss="mse")
    q = objectives.make("least_squares", data="diabetes")
    assert p.f_star == pytest.approx(q.f_star, rel=1e-12)
    np.testing.assert_allclose(p.minima[0].x, q.minima[0].x, rtol=1e-9)
    # ADALINE on ±1 labels, with a ridge penalty: the normal equations
    p = objectives.make("perceptron", **SMALL, activation="identity", loss="mse", l2=0.3)
    X, t = np.asarray(p.args[0]), np.asarray(p.args[1])
    assert set(np.unique(t)) == {-1.0, 1.0}
    A = np.hstack([X, np.ones((len(t), 1))])
    P = np.diag([1.0] * X.shape[1] + [0.0])
    theta = np.linalg.solve(2.0 * A.T @ A / len(t) + 0.3 * P, 2.0 * A.T @ t / len(t))
    np.testing.assert_allclose(p.minima[0].x, theta, rtol=1e-10, atol=1e-12)
    f, g = p.value_and_grad(p.minima[0].x)
    assert f == p.f_star and np.linalg.norm(g) < 1e-12


def test_perceptron_convex_optima_are_logistic_regressions():
    for data_kw in (dict(SMALL, l2=0.1), dict(), dict(data="breast_cancer", l2=0.01)):
        p = objectives.make("perceptron", **data_kw)  # sigmoid + cross-entropy
        q = objectives.make("logistic", **data_kw)
        assert p.f_star == pytest.approx(q.f_star, rel=1e-13)
        np.testing.assert_array_equal(p.minima[0].x, q.minima[0].x)
        f, g = p.value_and_grad(p.minima[0].x)
        assert f == p.f_star and np.linalg.norm(g) < 1e-9
    p = objectives.make("perceptron", **SMALL, activation="identity", loss="hinge", l2=0.05)
    q = objectives.make("logistic", **SMALL, loss="hinge", l2=0.05)
    assert np.isfinite(p.f_star) and p.f_star == pytest.approx(q.f_star, rel=1e-13)
    assert p.value(p.minima[0].x) == p.f_star
    # breast_cancer with a bias is linearly separable: infimum 0, not attained
    for act, loss in (("sigmoid", "cross_entropy"), ("sigmoid", "mse"), ("tanh", "mse"), ("identity", "hinge")):
        p = objectives.make("perceptron", data="breast_cancer", activation=act, loss=loss)
        assert p.f_star == 0.0 and p.minima == ()


def test_unknown_optima_are_nan():
    for kw in (dict(activation="relu", loss="mse"), dict(activation="tanh", loss="mse"), dict(loss="mse", l2=0.1)):
        p = objectives.make("perceptron", **kw)
        assert np.isnan(p.f_star) and p.minima == ()
    for kw in (dict(), dict(data="iris"), dict(data="diabetes", loss="mse")):
        p = objectives.make("mlp", **kw)
        assert np.isnan(p.f_star) and p.minima == ()


def test_a_linear_model_cannot_succeed_on_the_toy_sets():
    # xor: the best neuron is no better than chance (f* = log 2, the constant prediction)
    p = objectives.make("perceptron", data="xor")
    assert p.f_star == pytest.approx(math.log(2.0), abs=1e-3)
    # moons: the best logistic neuron still misclassifies > 10% of the points
    p = objectives.make("perceptron", data="moons")
    X, y = np.asarray(p.args[0]), np.asarray(p.args[1])
    w = p.minima[0].x
    assert np.mean(((X @ w[:-1] + w[-1]) > 0) != (y > 0.5)) > 0.1


# ----------------------------------------------------------------- training (compiled sweep kernel)

ADAM = optimizers.get("adam")


def _adam(problem, x0, lr, steps):
    hp = np.tile(ADAM.hp_row(ADAM.resolve({"lr": lr})), (len(x0), 1))
    return engine.run_group(problem, ADAM, np.asarray(x0, dtype=np.float64), hp, steps=steps, log_every=steps)


def test_mlp_learns_what_a_neuron_cannot():
    for data in ("xor", "moons"):
        p = objectives.make("mlp", data=data, n_samples=200, width=8)
        linear = objectives.make("perceptron", data=data, n_samples=200).f_star
        x0 = p.init_points("xavier_uniform", _rng(0), 3, 1.0)
        res = _adam(p, x0, 0.05, 400)
        assert np.all(res.f_final < 0.5 * linear), (data, res.f_final, linear)


@pytest.mark.parametrize("layers", [1, 2])
def test_zero_init_keeps_hidden_units_identical(layers):
    # the symmetry problem: from θ = 0 every hidden unit of a layer gets the same
    # gradient at every step, so they stay copies of each other, whatever the optimizer.
    # (Unbalanced classes: on balanced data the gradient at θ = 0 vanishes altogether.)
    p = objectives.make("mlp", data="breast_cancer", activation="sigmoid", layers=layers, width=4)
    x0 = np.zeros((1, p.dim))
    res = _adam(p, x0, 0.05, 30)
    assert np.all(x0 == 0.0)  # nothing perturbed it
    layers_after = _unpack(p, res.x_final[0])
    for k, (W, b) in enumerate(layers_after):
        if k < len(layers_after) - 1:  # hidden layers: identical rows (incoming weights), identical biases
            assert np.all(W == W[0]) and np.all(b == b[0])
            assert np.any(W != 0.0)  # they did move, together
        if k > 0:  # identical columns (outgoing weights of the units of the layer below)
            assert np.all(W == W[:, :1])
    # with tanh or relu (act(0) = 0) the hidden weights get no gradient at all: they stay 0
    for act in ("tanh", "relu"):
        q = objectives.make("mlp", data="breast_cancer", activation=act, layers=layers, width=4)
        res = _adam(q, x0, 0.05, 30)
        for W, _ in _unpack(q, res.x_final[0])[:-1]:
            assert np.all(W == 0.0)
        assert res.f_final[0] < math.log(2.0)  # only the output biases learn (class frequencies)


# ----------------------------------------------------------------- initialization


def test_init_schemes_per_layer():
    p = objectives.make("mlp", data="iris", layers=2, width=16, width2=8)
    assert p.objective.init_schemes == {"xavier_uniform", "he_normal"}
    count = 4000
    for scheme in ("xavier_uniform", "he_normal", "normal"):
        pts = p.init_points(scheme, _rng(1), count, 0.3)
        assert pts.shape == (count, p.dim) and pts.dtype == np.float64
        again = p.init_points(scheme, _rng(1), count, 0.3)
        np.testing.assert_array_equal(pts, again)  # seeded
        assert not np.array_equal(pts, p.init_points(scheme, _rng(2), count, 0.3))
        for (fan_out, fan_in), (W, b) in zip(nn.layer_shapes(p), [_unpack_all(p, pts, k) for k in range(3)]):
            assert np.all(b == 0.0)
            if scheme == "xavier_uniform":
                a = math.sqrt(6.0 / (fan_in + fan_out))
                assert np.abs(W).max() <= a
                assert W.std() == pytest.approx(a / math.sqrt(3.0), rel=0.03)
            else:
                sd = math.sqrt(2.0 / fan_in) if scheme == "he_normal" else 0.3
                assert W.std() == pytest.approx(sd, rel=0.03)
            assert abs(W.mean()) < 0.05 * W.std()
    # the generic schemes are left to the spec's code
    for scheme in ("uniform", "zeros", "grid", "points"):
        assert p.init_points(scheme, _rng(1), 3, 1.0) is None
    # a perceptron is one layer: fan_in = d, fan_out = 1
    q = objectives.make("perceptron", data="breast_cancer")
    pts = q.init_points("he_normal", _rng(0), 2000, 1.0)
    assert np.all(pts[:, -1] == 0.0)
    assert pts[:, :-1].std() == pytest.approx(math.sqrt(2.0 / 30), rel=0.03)
    # objectives without the hook
    assert objectives.make("rosenbrock").init_points("xavier_uniform", _rng(0), 3, 1.0) is None
    assert objectives.get("logistic").init_schemes == frozenset()


def _unpack_all(p, pts, layer):
    """(W of every point, b of every point) of one layer: (count, fan_out, fan_in), (count, fan_out)."""
    off = 0
    for k, (fan_out, fan_in) in enumerate(nn.layer_shapes(p)):
        W = pts[:, off : off + fan_out * fan_in].reshape(-1, fan_out, fan_in)
        off += fan_out * fan_in
        b = pts[:, off : off + fan_out]
        off += fan_out
        if k == layer:
            return W, b
    raise IndexError(layer)


def test_init_hook_shape_is_checked():
    bad = dataclasses.replace(objectives.get("mlp"), init_points=lambda problem, *a: np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"init scheme 'xavier_uniform' gave points of shape \(2, 3\)"):
        bad.make().init_points("xavier_uniform", _rng(0), 2, 1.0)


# ----------------------------------------------------------------- data


def test_toy_data_sets():
    for gen in (D.moons, D.xor):
        ds = gen(101, 0.2, 0)
        assert ds is gen(101, 0.2, 0)  # cached
        assert ds.task == D.BINARY and ds.n_classes == 2 and ds.X.shape == (101, 2)
        assert ds.X.flags.c_contiguous and not ds.X.flags.writeable and not ds.y.flags.writeable
        assert set(np.unique(ds.y)) == {0.0, 1.0} and abs(ds.y.sum() - 50.5) <= 1.5  # balanced
        assert ds.digest != gen(101, 0.2, 1).digest != gen(101, 0.3, 0).digest
    m = D.moons(100, 0.0, 0)
    upper, lower = m.X[m.y == 0], m.X[m.y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)  # on the circles, noise-free
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert np.all(upper[:, 1] >= 0.0) and np.all(lower[:, 1] <= 0.5)
    x = D.xor(100, 0.0, 0)
    np.testing.assert_array_equal(np.abs(x.X), 1.0)
    np.testing.assert_array_equal(x.y, (np.sign(x.X[:, 0]) != np.sign(x.X[:, 1])).astype(float))
    noisy = D.xor(400, 0.3, 0)
    assert np.mean((noisy.X[:, 0] * noisy.X[:, 1] < 0) == (noisy.y == 1)) > 0.9
    # problems report the data they use
    p = objectives.make("mlp", data="xor", n_samples=100, noise=0.0)
    assert p.args[0] is x.X and p.data_digest == x.digest and p.n_samples == 100


def test_targets_follow_the_activation():
    ys = {}
    for act, loss in PERCEPTRON_COMBOS:
        p = objectives.make("perceptron", data="xor", activation=act, loss=loss)
        ys[act, loss] = set(np.unique(np.asarray(p.args[1])))
    assert ys["sigmoid", "cross_entropy"] == ys["sigmoid", "mse"] == ys["relu", "mse"] == {0.0, 1.0}
    assert ys["tanh", "mse"] == ys["identity", "mse"] == ys["identity", "hinge"] == {-1.0, 1.0}
    p = objectives.make("mlp", data="iris")
    assert np.asarray(p.args[1]).dtype == np.float64 and set(np.unique(p.args[1])) == {0.0, 1.0, 2.0}
    assert p.args[1] is objectives.make("mlp", data="iris").args[1]  # converted once


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "name,kw,match",
    [
        ("perceptron", dict(activation="tanh"), r"loss = 'cross_entropy' takes activation = 'sigmoid' \(got 'tanh'\)"),
        ("perceptron", dict(activation="relu", loss="hinge"), r"loss = 'hinge' .* takes activation = 'identity'"),
        ("perceptron", dict(data="diabetes"), r"regression set; it takes activation = 'identity' with loss = 'mse'"),
        ("perceptron", dict(activation="softplus"), r"activation.*allowed: sigmoid, tanh, relu, identity"),
        ("perceptron", dict(data="iris"), r"data"),
        ("perceptron", dict(data="moons", n_features=3), r"n_features does not apply to data = 'moons'"),
        ("perceptron", dict(data="breast_cancer", noise=0.3), r"noise does not apply .*fixed data set"),
        ("perceptron", dict(data="synthetic", noise=0.3), r"noise does not apply to data = 'synthetic'"),
        ("mlp", dict(activation="identity"), r"activation.*allowed: sigmoid, tanh, relu"),
        ("mlp", dict(loss="mse"), r"loss = 'mse' .* takes data = 'synthetic' or 'diabetes'"),
        ("mlp", dict(data="diabetes"), r"regression set; it takes loss = 'mse'"),
        ("mlp", dict(loss="hinge"), r"loss.*allowed: cross_entropy, mse"),
        ("mlp", dict(layers=3), r"layers.*allowed: 1, 2"),
        ("mlp", dict(width=0), r"width"),
        ("mlp", dict(width=5000), r"width"),
        ("mlp", dict(width2=4), r"width2 sets the second hidden layer and needs layers = 2"),
        ("mlp", dict(data="synthetic", n_classes=30, n_samples=20), r"n_classes"),
        ("mlp", dict(data="synthetic", loss="mse", n_classes=4), r"n_classes does not apply"),
        ("mlp", dict(data="synthetic", class_sep=2.0, noise=0.5), r"noise does not apply .*loss = 'cross_entropy'"),
        ("mlp", dict(data="iris", n_samples=50), r"n_samples does not apply to data = 'iris'"),
        ("mlp", dict(l2=-1.0), r"l2"),
        ("mlp", dict(wdth=3), r"did you mean 'width'"),
    ],
)
def test_bad_parameters(name, kw, match):
    with pytest.raises(SpecError, match=match) as info:
        objectives.make(name, **kw)
    assert "\n" not in str(info.value)
