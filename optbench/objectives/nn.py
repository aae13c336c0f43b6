"""Neural-network objectives: a single neuron (``perceptron``) and a small ``mlp``.

Both are *data objectives* (``batched=True``) like those of :mod:`.ml`: the
compiled function ::

    f = fg(x, g, rows, X, y, ...)

returns the mean loss over the data rows ``rows`` (int64 row indices,
repeats allowed: a minibatch) plus the L2 penalty ``(l2/2)||W||²`` over the
weights (biases excluded), and writes the gradient into ``g``.  The
activation and the loss are integer arguments, so one compiled function
serves each family.  The gradient is backpropagation written out layer by
layer (the chain rule: the error ``δ`` of a layer is the next layer's
``Wᵀδ`` times the activation's slope at the layer's pre-activation).
Each call allocates one work buffer (activations, slopes and errors of
every layer, sized by the widths); the row loop allocates nothing.

Activations (``activation``; the derivative as a function of the
pre-activation ``z``, jitted helpers below, callable from Python too)::

    sigmoid   σ(z) = 1 / (1 + e^-z)      σ'(z) = σ(z) (1 - σ(z))
    tanh      tanh(z)                    tanh'(z) = 1 - tanh²(z)
    relu      max(z, 0)                  relu'(z) = 1[z > 0]   (0 at the kink, as torch)
    identity  z                          1

Numerics: σ and σ' from ``e = exp(-|z|)`` (no overflow, σ' = e / (1 + e)²
without cancellation); the sigmoid cross-entropy as ``max(z, 0) +
log1p(exp(-|z|)) - y z``; the softmax cross-entropy as ``logsumexp(z) -
z_y`` with the log-sum-exp shifted by ``max_k z_k``: finite for any finite
logits (also ~1e3 and beyond).

``perceptron``: one neuron, output ``o = act(z)``, ``z = w·x + b``;
θ = (w_1..w_d, b), dim = d + 1 (the layout of ``logistic``).

* ``loss = "mse"``: ``(o - t)²`` with targets ``t`` in the activation's
  range: {0, 1} for sigmoid and relu, {-1, +1} for tanh and identity
  (identity + mse on ±1 labels is Widrow and Hoff's ADALINE); regression
  targets as stored (``data = "diabetes"``, identity only).
* ``loss = "cross_entropy"`` (sigmoid only): ``softplus(z) - y z``, y in {0,
  1}: logistic regression.
* ``loss = "hinge"`` (identity only): ``max(0, 1 - t z)``, t in {-1, +1}, on
  the pre-activation ``z`` -- the margin, as in an SVM and Rosenblatt's
  perceptron criterion; subgradient 0 at the kink.  With another activation
  the activation would not enter the loss, so it is refused, not ignored.

``mlp``: ``layers`` (1 or 2) hidden layers of ``width`` (and ``width2``)
units with one activation, then an affine output layer:

* ``loss = "cross_entropy"``: K = n_classes outputs, softmax cross-entropy
  (classification; K = 2 for the binary data sets);
* ``loss = "mse"``: one output, identity, squared error (regression).

Packing of θ (torch's ``nn.Linear`` convention, layer after layer, each
weight matrix row-major (fan_out, fan_in) then its bias): ::

    θ = [W1 (h1 x d), b1 (h1), W2 (h2 x h1), b2 (h2), W3 (K x h), b3 (K)]

with ``W2, b2`` present only for ``layers = 2`` and ``h`` the last hidden
width; ``dim = h1 d + h1 [+ h2 h1 + h2] + K h + K``.  This is the order of
``torch.nn.utils.parameters_to_vector`` on ``nn.Sequential(nn.Linear(d, h1),
act, [nn.Linear(h1, h2), act,] nn.Linear(h, K))``, so a point moves between
the two unchanged.

Data (``data``, and the generator parameters of :mod:`.ml`: ``n_samples``,
``n_features``, ``class_sep``, ``noise``, ``data_seed``, ``n_classes``):
the seeded synthetic generators of :mod:`.data` ("synthetic": two Gaussian
classes for the perceptron; for the mlp K Gaussian classes with
cross-entropy, a noisy linear model with mse), the shipped real data sets,
and the non-linear toy sets ``moons`` and ``xor`` on which a linear model
cannot succeed.  A generator parameter that does not apply to the chosen
data is refused, not ignored.

Known optimum: the perceptron's convex cases reuse :mod:`.ml`'s solvers
(identity + mse: least squares in closed form; sigmoid + cross-entropy:
logistic regression by Newton; identity + hinge: the SVM dual when ``l2 >
0``).  Without a penalty, on linearly separable data (e.g. breast_cancer),
``f_star = 0``: not attained for the cross-entropy and for sigmoid/tanh +
mse, attained on a cone of separating θ (no location recorded) for the
hinge.  Otherwise ``nan`` (unknown): relu + mse, sigmoid/tanh + mse on
other data, the hinge without a penalty on non-separable data, and every
mlp (non-convex).  A recorded minimizer has ``fg(x*) == f_star`` exactly.

Initialization: the box is ``[-1, 1]^dim`` (``uniform``).  The objectives
also draw their own points per layer (``init_points``): ``xavier_uniform``
W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)); ``he_normal`` W ~ N(0, 2 /
fan_in); ``normal`` W ~ N(0, std²); biases 0 in all three (draws layer by
layer, each an array (count, fan_out fan_in)).  ``zeros`` is left to the
generic code (all zeros) and is never perturbed: an MLP started there keeps
identical hidden units (the symmetry problem).
"""
from __future__ import annotations

import math

import numpy as np

from .._errors import SpecError
from .._jit import jit
from . import data as D
from . import ml
from ._registry import Built, Objective, Param, register
from .ml.common import CROSS_ENTROPY, HINGE, LOSSES, MSE, built
from .ml.logistic import logistic_solution
from .ml.optimum import Solution, cached, hessian_too_large, value_at

ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")
SIGMOID, TANH, RELU, IDENTITY = 0, 1, 2, 3
MLP_ACTIVATIONS = ACTIVATIONS[:3]
PERCEPTRON_LOSSES = LOSSES  # the codes of the logistic objective (its solver serves the perceptron's convex cases)
MLP_LOSSES = LOSSES[:2]
INIT_SCHEMES = frozenset({"xavier_uniform", "he_normal"})
DOMAIN = ml.DOMAIN  # the data objectives' box (ml.common.built)
MAX_WIDTH = 1024
TOY = ("moons", "xor")

# ================================================================ activations


@jit
def sigmoid(z):
    """σ(z) = 1 / (1 + e^-z), without overflow for any z."""
    e = math.exp(-abs(z))
    if z >= 0.0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)


@jit
def sigmoid_grad(z):
    """σ'(z) = σ(z) (1 - σ(z)) = e / (1 + e)², e = exp(-|z|) (no cancellation)."""
    e = math.exp(-abs(z))
    return e / ((1.0 + e) * (1.0 + e))


@jit
def tanh(z):
    return math.tanh(z)


@jit
def tanh_grad(z):
    """tanh'(z) = 1 - tanh²(z)."""
    a = math.tanh(z)
    return 1.0 - a * a


@jit
def relu(z):
    return z if z > 0.0 else 0.0


@jit
def relu_grad(z):
    """1[z > 0] (0 at the kink, as torch)."""
    return 1.0 if z > 0.0 else 0.0


@jit
def identity(z):
    return z


@jit
def identity_grad(z):
    return 1.0


@jit
def activation_and_slope(z, kind):
    """(act(z), act'(z)) for the activation code ``kind`` (see ACTIVATIONS)."""
    if kind == SIGMOID:
        e = math.exp(-abs(z))
        d = 1.0 + e
        return (1.0 / d if z >= 0.0 else e / d), e / (d * d)
    if kind == TANH:
        a = math.tanh(z)
        return a, 1.0 - a * a
    if kind == RELU:
        if z > 0.0:
            return z, 1.0
        return 0.0, 0.0
    return z, 1.0


@jit
def activation(z, kind):
    return activation_and_slope(z, kind)[0]


@jit
def activation_grad(z, kind):
    return activation_and_slope(z, kind)[1]


@jit
def softmax_cross_entropy(z, label, dz):
    """-log softmax(z)[label] = logsumexp(z) - z[label], shifted by max(z) (no
    overflow); writes its gradient softmax(z) - onehot(label) into ``dz``."""
    n = z.shape[0]
    zmax = z[0]
    for k in range(1, n):
        if z[k] > zmax:
            zmax = z[k]
    total = 0.0
    for k in range(n):
        e = math.exp(z[k] - zmax)
        dz[k] = e
        total += e
    inv = 1.0 / total
    for k in range(n):
        dz[k] *= inv
    dz[label] -= 1.0
    return (zmax + math.log(total)) - z[label]


# ==================================================================== kernels


@jit
def perceptron_fg(x, g, rows, X, t, activation, loss, l2):
    """One neuron o = act(z), z = w·x_i + b; θ = (w, b).  Mean over ``rows`` of

    loss 0 cross-entropy (sigmoid)  softplus(z) - t z,  t in {0, 1}
    loss 1 mse                      (act(z) - t)²       ∂/∂z = 2 (o - t) act'(z)
    loss 2 hinge (identity)         max(0, 1 - t z),    t in {-1, +1}

    plus (l2/2)||w||².  Targets ``t`` come encoded for the loss (see the
    module docstring).
    """
    nf = X.shape[1]
    dim = x.shape[0]
    want_g = g.shape[0] > 0  # an empty g: the value only
    for j in range(g.shape[0]):
        g[j] = 0.0
    b = x[nf]
    f = 0.0
    nb = rows.shape[0]
    zs = ml.margins(x, rows, X, b)  # pre-activations first (see ml.margins)
    for r in range(nb):
        i = rows[r]
        z = zs[r]
        ti = t[i]
        if loss == CROSS_ENTROPY:
            e, p, q = ml.sigmoid_pair(z)  # p = σ(z), q = 1 - σ(z)
            f += (max(z, 0.0) + math.log1p(e)) - ti * z
            dz = (1.0 - ti) * p - ti * q  # σ(z) - t
        elif loss == HINGE:
            m = 1.0 - ti * z
            if m > 0.0:
                f += m
                dz = -ti
            else:
                dz = 0.0
        else:
            a, slope = activation_and_slope(z, activation)
            res = a - ti
            f += res * res
            dz = 2.0 * res * slope
        if want_g and dz != 0.0:
            for j in range(nf):
                g[j] += dz * X[i, j]
            g[nf] += dz
    return ml.mean_plus_l2(f, x, g, nb, dim, nf, l2)


@jit
def mlp_fg(x, g, rows, X, y, n_out, width1, width2, activation, loss, l2):
    """Multi-layer perceptron, 1 hidden layer (``width2 = 0``) or 2.

    Forward, per row:  a1 = act(W1 x_i + b1),  [a2 = act(W2 a1 + b2),]
    o = W3 a + b3  (a: the last hidden layer's output).
    loss 0: logsumexp(o) - o_{y_i} (y_i a class index stored as float);
    loss 1: (o_0 - y_i)².
    Backward (chain rule, layer by layer):  δo = ∂loss/∂o;
    ∂W3 += δo aᵀ, ∂b3 += δo;  δ2 = (W3ᵀ δo) ⊙ act'(z2);
    ∂W2 += δ2 a1ᵀ, ∂b2 += δ2;  δ1 = (W2ᵀ δ2) ⊙ act'(z1)   [without layer 2:
    δ1 = (W3ᵀ δo) ⊙ act'(z1)];  ∂W1 += δ1 x_iᵀ, ∂b1 += δ1.
    Mean over ``rows`` plus (l2/2)(||W1||² + ||W2||² + ||W3||²).
    """
    nf = X.shape[1]
    dim = x.shape[0]
    h1 = width1
    h2 = width2
    hl = h2 if h2 > 0 else h1
    K = n_out
    # offsets of the packed parameters (W2, b2 empty when h2 == 0)
    ow1 = 0
    ob1 = ow1 + h1 * nf
    ow2 = ob1 + h1
    ob2 = ow2 + h2 * h1
    ow3 = ob2 + h2
    ob3 = ow3 + K * hl
    # one work buffer per call: activation, slope and error of every unit
    work = np.empty(3 * h1 + 3 * h2 + 2 * K)
    a1 = work[0:h1]
    s1 = work[h1 : 2 * h1]
    d1 = work[2 * h1 : 3 * h1]
    o2 = 3 * h1
    a2 = work[o2 : o2 + h2]
    s2 = work[o2 + h2 : o2 + 2 * h2]
    d2 = work[o2 + 2 * h2 : o2 + 3 * h2]
    oo = o2 + 3 * h2
    out = work[oo : oo + K]
    dout = work[oo + K : oo + 2 * K]
    if h2 > 0:
        last, slast, dlast = a2, s2, d2
    else:
        last, slast, dlast = a1, s1, d1
    want_g = g.shape[0] > 0  # an empty g: the value only (no backward pass)
    for j in range(g.shape[0]):
        g[j] = 0.0
    f = 0.0
    nb = rows.shape[0]
    for r in range(nb):
        i = rows[r]
        # ---- forward
        for j in range(h1):
            base = ow1 + j * nf
            z = x[ob1 + j]
            for k in range(nf):
                z += x[base + k] * X[i, k]
            a, s = activation_and_slope(z, activation)
            a1[j] = a
            s1[j] = s
        for j in range(h2):
            base = ow2 + j * h1
            z = x[ob2 + j]
            for k in range(h1):
                z += x[base + k] * a1[k]
            a, s = activation_and_slope(z, activation)
            a2[j] = a
            s2[j] = s
        for k in range(K):
            base = ow3 + k * hl
            z = x[ob3 + k]
            for j in range(hl):
                z += x[base + j] * last[j]
            out[k] = z
        # ---- loss and its gradient with respect to the outputs
        if loss == CROSS_ENTROPY:
            f += softmax_cross_entropy(out, int(y[i]), dout)
        else:
            res = out[0] - y[i]
            f += res * res
            dout[0] = 2.0 * res
        if not want_g:
            continue
        # ---- backward: output layer (its gradient, and Wᵀδ row by row of W)
        for j in range(hl):
            dlast[j] = 0.0
        for k in range(K):
            dk = dout[k]
            base = ow3 + k * hl
            for j in range(hl):
                g[base + j] += dk * last[j]
                dlast[j] += x[base + j] * dk
            g[ob3 + k] += dk
        for j in range(hl):
            dlast[j] *= slast[j]
        # ---- second hidden layer
        if h2 > 0:
            for k in range(h1):
                d1[k] = 0.0
            for j in range(h2):
                dj = d2[j]
                base = ow2 + j * h1
                for k in range(h1):
                    g[base + k] += dj * a1[k]
                    d1[k] += x[base + k] * dj
                g[ob2 + j] += dj
            for k in range(h1):
                d1[k] *= s1[k]
        # ---- first hidden layer
        for j in range(h1):
            dj = d1[j]
            base = ow1 + j * nf
            for k in range(nf):
                g[base + k] += dj * X[i, k]
            g[ob1 + j] += dj
    f = f / nb
    inv = 1.0 / nb
    if want_g:
        for j in range(dim):
            g[j] *= inv
    if l2 != 0.0:
        sq = 0.0
        for lo, hi in ((ow1, ob1), (ow2, ob2), (ow3, ob3)):
            for j in range(lo, hi):
                v = x[j]
                sq += v * v
                if want_g:
                    g[j] += l2 * v
        f += 0.5 * l2 * sq
    return f


# ================================================================== data


_SYNTH = "synthetic"
PERCEPTRON_DATA = (_SYNTH, "moons", "xor", "breast_cancer", "diabetes")
MLP_DATA = ("moons", "xor", _SYNTH, "breast_cancer", "iris", "wine", "diabetes")
REGRESSION_DATA = ("diabetes",)
GENERATOR_PARAMS = ("n_samples", "n_features", "n_classes", "class_sep", "noise", "data_seed")


def _generator_params(objective: str, data: str, loss: str) -> tuple[str, ...]:
    """The generator parameters that apply to ``data`` (empty: a fixed data set)."""
    if data in TOY:
        return ("n_samples", "noise", "data_seed")
    if data != _SYNTH:
        return ()
    if objective == "perceptron":
        return ("n_samples", "n_features", "class_sep", "data_seed")
    if loss == "mse":
        return ("n_samples", "n_features", "noise", "data_seed")
    return ("n_samples", "n_features", "n_classes", "class_sep", "data_seed")


def _refuse_unused_generator_params(objective: str, given: set, p: dict) -> None:
    applies = _generator_params(objective, p["data"], p.get("loss", ""))
    unused = [k for k in GENERATOR_PARAMS if k in given and k not in applies]
    if not unused:
        return
    what = f"data = {p['data']!r}"
    if p["data"] == _SYNTH and objective == "mlp":
        what += f" with loss = {p['loss']!r}"
    takes = f"it takes {', '.join(applies)}" if applies else "a fixed data set"
    raise SpecError(
        f"objective {objective!r}: {', '.join(unused)} {'does' if len(unused) == 1 else 'do'} not apply "
        f"to {what} ({takes}); remove {'it' if len(unused) == 1 else 'them'}"
    )


def _check_perceptron(given: set, p: dict) -> None:
    act, loss, data = p["activation"], p["loss"], p["data"]
    if data in REGRESSION_DATA and (act, loss) != ("identity", "mse"):
        raise SpecError(
            f"objective 'perceptron': data = {data!r} is a regression set; it takes activation = 'identity' "
            f"with loss = 'mse' (got activation = {act!r}, loss = {loss!r})"
        )
    if loss == "cross_entropy" and act != "sigmoid":
        raise SpecError(
            f"objective 'perceptron': loss = 'cross_entropy' takes activation = 'sigmoid' (got {act!r}); "
            f"with activation = {act!r} use loss = 'mse'{' or hinge' if act == 'identity' else ''}"
        )
    if loss == "hinge" and act != "identity":
        raise SpecError(
            f"objective 'perceptron': loss = 'hinge' acts on the pre-activation w·x + b and takes "
            f"activation = 'identity' (got {act!r}); with activation = {act!r} use loss = 'mse'"
            f"{' or cross_entropy' if act == 'sigmoid' else ''}"
        )
    _refuse_unused_generator_params("perceptron", given, p)


def _check_mlp(given: set, p: dict) -> None:
    data, loss = p["data"], p["loss"]
    if data in REGRESSION_DATA and loss != "mse":
        raise SpecError(
            f"objective 'mlp': data = {data!r} is a regression set; it takes loss = 'mse' (got {loss!r})"
        )
    if data not in REGRESSION_DATA and data != _SYNTH and loss != "cross_entropy":
        raise SpecError(
            f"objective 'mlp': loss = {loss!r} (identity output, regression) takes data = 'synthetic' or "
            f"{', '.join(repr(d) for d in REGRESSION_DATA)} (got the classification set {data!r}); "
            f"use loss = 'cross_entropy'"
        )
    if "width2" in given and p["layers"] == 1:
        raise SpecError("objective 'mlp': width2 sets the second hidden layer and needs layers = 2; remove it")
    _refuse_unused_generator_params("mlp", given, p)


def _check_size(objective: str, p: dict) -> None:
    if p["n_samples"] * p["n_features"] > ml.MAX_ELEMENTS:
        raise SpecError(
            f"objective {objective!r}: parameters 'n_samples' x 'n_features' = "
            f"{p['n_samples'] * p['n_features']} data values; at most {ml.MAX_ELEMENTS}"
        )


def _toy(p: dict) -> D.Dataset:
    gen = D.moons if p["data"] == "moons" else D.xor
    return gen(p["n_samples"], p["noise"], p["data_seed"])


_TARGETS: dict = {}


def _targets(ds: D.Dataset, kind: str) -> np.ndarray:
    """The targets as the kernels read them: float64, read-only, cached.
    ``signed``: 0/1 labels as -1/+1; ``index``: class indices as floats."""
    if kind != "signed" and ds.y.dtype == np.float64:
        return ds.y
    key = (ds.digest, kind)
    hit = _TARGETS.get(key)
    if hit is None:
        hit = 2.0 * ds.y - 1.0 if kind == "signed" else ds.y.astype(np.float64)
        hit = np.ascontiguousarray(hit, dtype=np.float64)
        hit.setflags(write=False)
        if len(_TARGETS) >= 64:
            _TARGETS.pop(next(iter(_TARGETS)))
        _TARGETS[key] = hit
    return hit


# ================================================================== perceptron


def perceptron_dataset(p: dict) -> D.Dataset:
    if p["data"] == _SYNTH:
        _check_size("perceptron", p)
        return D.binary(p["n_samples"], p["n_features"], p["class_sep"], p["data_seed"])
    if p["data"] in TOY:
        return _toy(p)
    return D.real(p["data"])


def target_encoding(ds: D.Dataset, act: int, loss: int) -> str:
    """``signed`` (labels ±1) for the hinge and for tanh/identity + mse on
    classification data; else ``stored`` (0/1 labels, regression targets)."""
    if ds.task != D.REGRESSION and (loss == HINGE or (loss == MSE and act in (TANH, IDENTITY))):
        return "signed"
    return "stored"


def _least_squares(ds: D.Dataset, args: tuple) -> Solution:
    """Identity + mse: ridge regression on (X, 1) with targets ``args[1]``, closed form."""
    X, t, l2 = args[0], np.asarray(args[1]), args[-1]
    n, d = X.shape
    A = np.hstack([X, np.ones((n, 1))])
    rhs = t
    if l2 > 0.0:
        pen = np.zeros((d, d + 1))
        pen[np.arange(d), np.arange(d)] = math.sqrt(n * l2 / 2.0)
        A = np.vstack([A, pen])
        rhs = np.concatenate([t, np.zeros(d)])
    theta = np.linalg.lstsq(A, rhs, rcond=None)[0]
    theta = theta + np.linalg.lstsq(A, rhs - A @ theta, rcond=None)[0]  # one refinement step
    return Solution(value_at(perceptron_fg, theta, args), theta, "converged", "lstsq")


def _perceptron_solution(ds: D.Dataset, act: int, loss: int, l2: float, args: tuple) -> Solution:
    if hessian_too_large(ds.n_samples, ds.n_features + 1):
        return Solution(np.nan, None, "too_large")
    if act == IDENTITY and loss == MSE:
        key = (ds.digest, "perceptron", "lstsq", target_encoding(ds, act, loss), l2)
        return cached(key, lambda: _least_squares(ds, args))
    if act == RELU:
        return Solution(np.nan, None, "unknown")
    # the convex cases are logistic regression's (same loss, θ = (w, b)); sigmoid/tanh + mse
    # reach 0 on separable data without a penalty exactly as logistic's mse does
    ml_loss = MSE if act == TANH else loss
    ml_args = (ds.X, ds.y, ml_loss, float(l2), True)
    sol = logistic_solution(ds, ml_loss, float(l2), True, ml_args)
    if sol.x is not None and sol.status == "converged":  # re-evaluated here: fg(x*) == f_star exactly
        return Solution(value_at(perceptron_fg, sol.x.copy(), args), sol.x.copy(), sol.status, sol.detail)
    return sol


def _build_perceptron(dim, p: dict) -> Built:
    ds = perceptron_dataset(p)
    act = ACTIVATIONS.index(p["activation"])
    loss = PERCEPTRON_LOSSES.index(p["loss"])
    l2 = float(p["l2"])
    args = (ds.X, _targets(ds, target_encoding(ds, act, loss)), act, loss, l2)
    sol = _perceptron_solution(ds, act, loss, l2, args)
    return built(ds.n_features + 1, args, sol, ds)


# ================================================================== mlp


def mlp_dataset(p: dict) -> D.Dataset:
    data = p["data"]
    if data in TOY:
        return _toy(p)
    if data != _SYNTH:
        return D.real(data)
    _check_size("mlp", p)
    if p["loss"] == "mse":
        return D.regression(p["n_samples"], p["n_features"], p["noise"], p["data_seed"])
    if p["n_classes"] > p["n_samples"]:
        raise SpecError(
            f"objective 'mlp': parameter 'n_classes' is {p['n_classes']}; must be <= n_samples ({p['n_samples']})"
        )
    return D.multiclass(p["n_samples"], p["n_features"], p["n_classes"], p["class_sep"], p["data_seed"])


def mlp_widths(p: dict) -> tuple[int, int]:
    """(width of hidden layer 1, width of hidden layer 2 or 0)."""
    if p["layers"] == 1:
        return p["width"], 0
    return p["width"], p["width2"] or p["width"]


def mlp_dim(n_features: int, n_out: int, h1: int, h2: int) -> int:
    hl = h2 if h2 > 0 else h1
    return h1 * n_features + h1 + h2 * h1 + h2 + n_out * hl + n_out


def _build_mlp(dim, p: dict) -> Built:
    ds = mlp_dataset(p)
    h1, h2 = mlp_widths(p)
    loss = MLP_LOSSES.index(p["loss"])
    if loss == CROSS_ENTROPY:
        n_out, y = ds.n_classes, _targets(ds, "index")
    else:
        n_out, y = 1, _targets(ds, "stored")
    act = ACTIVATIONS.index(p["activation"])
    args = (ds.X, y, int(n_out), int(h1), int(h2), act, loss, float(p["l2"]))
    return built(mlp_dim(ds.n_features, n_out, h1, h2), args, None, ds)


# ================================================================ initialization


def layer_shapes(problem) -> list[tuple[int, int]]:
    """(fan_out, fan_in) of each affine layer of a perceptron or mlp problem, in packing order."""
    if problem.objective.fg is perceptron_fg:
        return [(1, problem.args[0].shape[1])]
    X, _, n_out, h1, h2 = problem.args[:5]
    sizes = [X.shape[1], h1] + ([h2] if h2 > 0 else []) + [n_out]
    return [(sizes[k + 1], sizes[k]) for k in range(len(sizes) - 1)]


def init_points(problem, scheme: str, rng: np.random.Generator, count: int, std: float) -> np.ndarray | None:
    """Per-layer initial points (count, dim): weights from ``scheme``, biases 0.

    ``xavier_uniform``: U(-a, a), a = sqrt(6 / (fan_in + fan_out));
    ``he_normal``: N(0, 2 / fan_in); ``normal``: N(0, std²).  Draws layer by
    layer, one (count, fan_out * fan_in) array each.  Other schemes (uniform
    in the box, zeros ...): None, the generic code's.
    """
    if scheme not in ("xavier_uniform", "he_normal", "normal"):
        return None
    points = np.zeros((count, problem.dim))
    offset = 0
    for fan_out, fan_in in layer_shapes(problem):
        n = fan_out * fan_in
        if scheme == "xavier_uniform":
            a = math.sqrt(6.0 / (fan_in + fan_out))
            w = rng.uniform(-a, a, size=(count, n))
        elif scheme == "he_normal":
            w = math.sqrt(2.0 / fan_in) * rng.standard_normal((count, n))
        else:
            w = std * rng.standard_normal((count, n))
        points[:, offset : offset + n] = w
        offset += n + fan_out  # the biases stay 0
    if offset != problem.dim:
        raise RuntimeError(f"layer shapes of {problem.describe()} cover {offset} of {problem.dim} parameters")
    return points


# ================================================================ registration


def _data_params(choices: tuple, default: str, **extra) -> dict:
    params = {
        "data": Param(default, "data set", choices=choices),
        "n_samples": Param(1000, "rows of generated data (synthetic, moons, xor)", low=2, high=ml.MAX_ELEMENTS),
        "n_features": Param(10, "features of synthetic data", low=1, high=100_000),
    }
    params.update(extra)
    params["class_sep"] = Param(1.0, "distance of each class mean from 0 (synthetic classification)", low=0.0)
    params["noise"] = Param(
        0.1, "noise standard deviation: moons and xor points, synthetic regression targets", low=0.0
    )
    params["data_seed"] = Param(0, "seed of the data generator (synthetic, moons, xor)", low=0)
    return params


register(
    Objective(
        name="perceptron",
        check_given=_check_perceptron,
        fg=perceptron_fg,
        summary=(
            "one neuron act(w·x + b): sigmoid/tanh/relu/identity with mse, sigmoid with cross-entropy, "
            "identity with hinge (on the margin z, labels ±1)"
        ),
        formula=(
            "L(θ) = mean_i ℓ(z_i, t_i) + (l2/2)||w||², z = w·x + b; ℓ = (act(z) − t)² "
            "[t ∈ {0,1} sigmoid/relu, {−1,1} tanh/identity] | softplus(z) − tz [sigmoid] | "
            "max(0, 1 − tz) [identity, t ∈ {−1,1}]"
        ),
        tags={"ml"},  # convex only for identity + mse/hinge and sigmoid + cross_entropy
        build=_build_perceptron,
        dims=(2, None),
        default_dim=None,
        params={
            **_data_params(PERCEPTRON_DATA, _SYNTH),
            "activation": Param("sigmoid", "the neuron's activation", choices=ACTIVATIONS),
            "loss": Param(
                "cross_entropy",
                "per-row loss (cross_entropy: sigmoid only; hinge: identity only)",
                choices=PERCEPTRON_LOSSES,
            ),
            "l2": Param(0.0, "L2 penalty (l2/2)||w||², bias excluded", low=0.0),
        },
        batched=True,
        value_only=True,
        dim_from_data=True,
        init_points=init_points,
        init_schemes=INIT_SCHEMES,
    )
)

register(
    Objective(
        name="mlp",
        check_given=_check_mlp,
        fg=mlp_fg,
        summary=(
            "multi-layer perceptron, 1 or 2 hidden layers (sigmoid/tanh/relu): softmax cross-entropy "
            "(classification) or identity output with mse (regression); non-convex"
        ),
        formula=(
            "L(θ) = mean_i ℓ(W3 act(W2 act(W1 x_i + b1) + b2) + b3, y_i) + (l2/2)Σ||W||², "
            "ℓ = logsumexp(o) − o_y | (o − y)²; θ = [W1, b1, (W2, b2,) W3, b3], W row-major (out, in)"
        ),
        tags={"ml"},
        build=_build_mlp,
        dims=(2, None),
        default_dim=None,
        params={
            **_data_params(MLP_DATA, "moons", n_classes=Param(3, "classes of synthetic data", low=2, high=1000)),
            "loss": Param(
                "cross_entropy",
                "cross_entropy: softmax output, classification; mse: one identity output, regression",
                choices=MLP_LOSSES,
            ),
            "activation": Param("tanh", "activation of the hidden units", choices=MLP_ACTIVATIONS),
            "layers": Param(1, "hidden layers", choices=(1, 2)),
            "width": Param(8, "units of the (first) hidden layer", low=1, high=MAX_WIDTH),
            "width2": Param(0, "units of the second hidden layer (layers = 2); 0: same as width", low=0,
                            high=MAX_WIDTH),
            "l2": Param(0.0, "L2 penalty (l2/2)Σ||W||² over the weight matrices, biases excluded", low=0.0),
        },
        batched=True,
        value_only=True,
        dim_from_data=True,
        init_points=init_points,
        init_schemes=INIT_SCHEMES,
    )
)
