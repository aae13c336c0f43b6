"""The peer-comparison workloads: W1-W3 as defined by the peer harness, W4.

W1-W3 are a copy of the definitions in ``../shared/peers/peerbench/
workloads.py`` (the reference: matching it lets ``optbench bench`` numbers be
compared with the C and JAX peers measured there), so that ``optbench bench``
runs from a plain install; :func:`make_inputs` builds the same dict, from the
same random draws, as the harness does.  W4 is optbench's own (not in the
harness): a small MLP trained by minibatch SGD, the peers' vectorized-NumPy
/ JAX approach set against optbench's engine (issue 7).  Every
implementation (optbench, NumPy, torch, JAX) receives the dict and returns
``{"final": (R, dim), "history": (R, n_hist)}``.

W1 ``rosenbrock-adam``
    Rosenbrock 2-D, torch.optim.Adam (lr 1e-2, betas (0.9, 0.999), eps 1e-8),
    R = 4096 runs from ``default_rng(0).uniform((-2, -1), (2, 3))``, T = 2000
    steps; history[r, t] = f before update t.
W2 ``grid-sgd-momentum``
    {sphere, Rosenbrock, Himmelblau} x lr ``logspace(-4, -1, 16)`` x momentum
    (0, .5, .9, .99) x 64 inits ``default_rng(1).uniform(-4, 4)``; run
    r = ((obj 16 + i_lr) 4 + i_mom) 64 + i_init (R = 12288), torch SGD heavy
    ball, T = 1000.  Large learning rates diverge (inf/nan), by design.
W3 ``logreg-minibatch``
    Logistic regression (no intercept) on N = 20000 rows, d = 32 features
    from ``default_rng(2)``; lr ``logspace(-3, 0, 8)`` x seeds 0..7, SGD
    momentum 0.9, minibatch 128 with replacement drawn by SplitMix64
    (draw k = t B + j + 1 of stream ``seed``, index ((u >> 32) N) >> 32);
    T = 2000; history = full-data mean BCE after 0, 100, ..., 2000 updates.
W4 ``mlp-minibatch``
    optbench's ``mlp`` objective on its two-moons data: ``data.moons(N =
    2000, noise 0.1, data_seed 3)`` (2 features, labels 0/1, the generator's
    output as is); one hidden layer of 16 tanh units, affine output with K =
    2 classes, mean softmax cross-entropy (log-sum-exp shifted by the max
    logit), no L2; θ packed as torch's ``nn.Linear`` layers, [W1 (16 x 2)
    row-major, b1 (16), W2 (2 x 16), b2 (2)], dim 82.  Runs: lr
    ``geomspace(0.005, 0.2, 8)`` x seeds 0..7 (r = 8 i_lr + seed, R = 64),
    all from one θ0 (:func:`w4_theta0`: Xavier-uniform weights U(-a, a), a =
    sqrt(6 / (fan_in + fan_out)), drawn layer by layer from
    ``default_rng(4)``, biases 0: optbench's ``init = "xavier_uniform"``
    for one point).  SGD momentum 0.9 (torch: the buffer starts as the first
    gradient), minibatch 32 with replacement by W3's SplitMix64 scheme,
    T = 2000; history = full-data mean loss after 0, 100, ..., 2000 updates
    (21 values); final = θ (R, 82).  The lr grid stops at 0.2, a factor 2
    below the edge of chaos: from lr ~0.4 on (with momentum 0.9) a 1-ulp
    difference grows to 1e-7 .. O(1) over 2000 steps, so summation orders
    would no longer agree to 1e-9; up to 0.2 they agree to ~1e-12, and the
    agreement check needs no rounding-sensitivity probes (as W3).

The per-step arithmetic of the reference implementations follows the
canonical operation order documented in the peers' ``workloads.py``
(``a = 1 - x; b = y - x*x; f = a*a + 100*(b*b)`` ...), so implementations
without fused multiply-add agree bit for bit on W1 and W2.
"""
from __future__ import annotations

import numpy as np

from .._codes import SPLITMIX_GAMMA, SPLITMIX_M1, SPLITMIX_M2, SPLITMIX_SHIFTS

ROSENBROCK_ADAM = "rosenbrock-adam"
GRID_SGD_MOMENTUM = "grid-sgd-momentum"
LOGREG_MINIBATCH = "logreg-minibatch"
MLP_MINIBATCH = "mlp-minibatch"
WORKLOADS = (ROSENBROCK_ADAM, GRID_SGD_MOMENTUM, LOGREG_MINIBATCH, MLP_MINIBATCH)
PEER_HARNESS_WORKLOADS = (ROSENBROCK_ADAM, GRID_SGD_MOMENTUM, LOGREG_MINIBATCH)  # those ../shared/peers defines too
MINIBATCH_WORKLOADS = (LOGREG_MINIBATCH, MLP_MINIBATCH)  # per-run lr and seed; history logged every record_every

ROSENBROCK_ADAM_PARAMS = dict(R=4096, T=2000, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, seed=0)
GRID_SGD_MOMENTUM_PARAMS = dict(T=1000, n_init=64, seed=1,
                 lrs=tuple(np.logspace(-4, -1, 16).tolist()),
                 momenta=(0.0, 0.5, 0.9, 0.99),
                 objectives=("sphere", "rosenbrock", "himmelblau"))
LOGREG_MINIBATCH_PARAMS = dict(N=20000, d=32, seed=2, T=2000, B=128, momentum=0.9,
                 record_every=100, lrs=tuple(np.logspace(-3, 0, 8).tolist()),
                 n_seeds=8)
MLP_MINIBATCH_PARAMS = dict(N=2000, noise=0.1, data_seed=3, width=16, n_classes=2, activation="tanh",
                 init_seed=4, T=2000, B=32, momentum=0.9, record_every=100,
                 lrs=tuple(np.geomspace(0.005, 0.2, 8).tolist()), n_seeds=8)

# Sizes of ``optbench bench --quick``: (runs, steps) per workload.  Runs are an
# evenly strided subset of the full grid, so every objective / lr / momentum
# of W2 stays represented.
QUICK = {ROSENBROCK_ADAM: (256, 200), GRID_SGD_MOMENTUM: (768, 200), LOGREG_MINIBATCH: (16, 200),
         MLP_MINIBATCH: (16, 200)}

OBJ_SPHERE, OBJ_ROSENBROCK, OBJ_HIMMELBLAU = 0, 1, 2



# ------------------------------------------------------- canonical formulas
# Plain operators only: the same function works on floats, NumPy arrays,
# torch tensors and JAX arrays, always in the canonical order.
def sphere_fg(x, y):
    f = x * x + y * y
    return f, 2.0 * x, 2.0 * y


def rosenbrock_fg(x, y):
    a = 1.0 - x
    b = y - x * x
    f = a * a + 100.0 * (b * b)
    gx = -2.0 * a - 400.0 * x * b
    gy = 200.0 * b
    return f, gx, gy


def himmelblau_fg(x, y):
    p = x * x + y - 11.0
    q = x + y * y - 7.0
    f = p * p + q * q
    gx = 4.0 * x * p + 2.0 * q
    gy = 2.0 * p + 4.0 * y * q
    return f, gx, gy


OBJECTIVE_FG = {OBJ_SPHERE: sphere_fg, OBJ_ROSENBROCK: rosenbrock_fg, OBJ_HIMMELBLAU: himmelblau_fg}


def adam_step_scalars(T, lr, beta1, beta2):
    """Per step t = 1..T: ``lr / (1 - beta1**t)`` and ``(1 - beta2**t) ** 0.5``,
    in Python floats (C ``pow``) exactly as torch's single-tensor Adam."""
    step_size = np.empty(T)
    bc2_sqrt = np.empty(T)
    for i in range(T):
        t = float(i + 1)
        step_size[i] = lr / (1.0 - beta1**t)
        bc2_sqrt[i] = (1.0 - beta2**t) ** 0.5
    return step_size, bc2_sqrt


def splitmix_indices(seeds, t, B, N):
    """Minibatch row indices of step ``t``: int64 array (len(seeds), B)."""
    seeds = np.asarray(seeds, dtype=np.uint64)
    k = np.arange(B, dtype=np.uint64) + np.uint64(t * B + 1)
    with np.errstate(over="ignore"):
        z = seeds[:, None] + k[None, :] * np.uint64(SPLITMIX_GAMMA)
        s1, s2, s3 = (np.uint64(s) for s in SPLITMIX_SHIFTS)
        z = (z ^ (z >> s1)) * np.uint64(SPLITMIX_M1)
        z = (z ^ (z >> s2)) * np.uint64(SPLITMIX_M2)
        z = z ^ (z >> s3)
    return (((z >> np.uint64(32)) * np.uint64(N)) >> np.uint64(32)).astype(np.int64)


def objective_groups(obj):
    """``[(objective id, selector)]``: a slice where the runs of an objective
    are contiguous (the canonical order), else an index array."""
    obj = np.asarray(obj)
    out = []
    for k in np.unique(obj):
        idx = np.flatnonzero(obj == k)
        if idx[-1] - idx[0] + 1 == idx.size:
            out.append((int(k), slice(int(idx[0]), int(idx[-1]) + 1)))
        else:
            out.append((int(k), idx))
    return out


# ------------------------------------------------------------------ inputs
def _subset(n_total, runs):
    if runs is None or runs >= n_total:
        return None
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    return np.unique(np.linspace(0, n_total - 1, runs).round().astype(np.int64))


def logreg_data():
    """W3's data set ``(X, y)``: N x d standard normal features, labels drawn
    from a logistic model with ``w_true`` (all from ``default_rng(2)``)."""
    p = LOGREG_MINIBATCH_PARAMS
    rng = np.random.default_rng(p["seed"])
    X = rng.standard_normal((p["N"], p["d"]))
    w_true = rng.standard_normal(p["d"])
    prob = 1.0 / (1.0 + np.exp(-(X @ w_true)))
    y = (rng.random(p["N"]) < prob).astype(np.float64)
    return X, y, w_true


def mlp_data():
    """W4's data set ``(X, y)``: optbench's two moons (writable copies, y 0/1 float64)."""
    from ..objectives import data as D

    p = MLP_MINIBATCH_PARAMS
    ds = D.moons(p["N"], p["noise"], p["data_seed"])
    return np.array(ds.X, dtype=np.float64), np.array(ds.y, dtype=np.float64)


def mlp_layers():
    """(fan_out, fan_in) of W4's affine layers, in packing order."""
    p = MLP_MINIBATCH_PARAMS
    return [(p["width"], 2), (p["n_classes"], p["width"])]


def mlp_theta0():
    """W4's starting point (dim,): Xavier-uniform weights, layer by layer from
    ``default_rng(init_seed)``, biases 0 (as optbench's ``nn.init_points``
    with ``xavier_uniform`` and count 1)."""
    layers = mlp_layers()
    rng = np.random.default_rng(MLP_MINIBATCH_PARAMS["init_seed"])
    theta = np.zeros(sum(o * i + o for o, i in layers))
    off = 0
    for fan_out, fan_in in layers:
        n = fan_out * fan_in
        a = np.sqrt(6.0 / (fan_in + fan_out))
        theta[off:off + n] = rng.uniform(-a, a, size=(1, n))[0]
        off += n + fan_out
    return theta


def _minibatch_runs(name, p, runs, steps):
    lr = np.repeat(np.asarray(p["lrs"]), p["n_seeds"])
    seed = np.tile(np.arange(p["n_seeds"], dtype=np.int64), len(p["lrs"]))
    ids = np.arange(lr.size)
    sel = _subset(lr.size, runs)
    if sel is not None:
        lr, seed, ids = lr[sel], seed[sel], sel
    T = int(steps or p["T"])
    if T % p["record_every"]:
        raise ValueError(f"steps of {name} must be a multiple of {p['record_every']}, got {T}")
    return np.ascontiguousarray(lr), np.ascontiguousarray(seed), ids, T


def make_inputs(name, runs=None, steps=None):
    """Inputs of one workload, the same dict as the peer harness builds.

    ``runs`` keeps an evenly strided subset of the runs and ``steps`` shortens
    the trajectories; throughput stays comparable since it is per run-step.
    """
    if name == ROSENBROCK_ADAM:
        p = ROSENBROCK_ADAM_PARAMS
        x0 = np.random.default_rng(p["seed"]).uniform(low=(-2.0, -1.0), high=(2.0, 3.0), size=(p["R"], 2))
        sel = _subset(p["R"], runs)
        if sel is not None:
            x0 = x0[sel]
        return dict(workload=ROSENBROCK_ADAM, x0=np.ascontiguousarray(x0), T=int(steps or p["T"]),
                    lr=p["lr"], beta1=p["beta1"], beta2=p["beta2"], eps=p["eps"],
                    run_ids=np.arange(p["R"]) if sel is None else sel)
    if name == GRID_SGD_MOMENTUM:
        p = GRID_SGD_MOMENTUM_PARAMS
        inits = np.random.default_rng(p["seed"]).uniform(-4.0, 4.0, size=(p["n_init"], 2))
        obj, lr, mom, init = np.meshgrid(np.arange(3), np.asarray(p["lrs"]), np.asarray(p["momenta"]),
                                         np.arange(p["n_init"]), indexing="ij")
        x0 = inits[init.ravel()]
        obj, lr, mom = obj.ravel().astype(np.int64), lr.ravel(), mom.ravel()
        ids = np.arange(obj.size)
        sel = _subset(obj.size, runs)
        if sel is not None:
            obj, lr, mom, x0, ids = obj[sel], lr[sel], mom[sel], x0[sel], sel
        return dict(workload=GRID_SGD_MOMENTUM, x0=np.ascontiguousarray(x0), obj=obj, lr=np.ascontiguousarray(lr),
                    momentum=np.ascontiguousarray(mom), T=int(steps or p["T"]), run_ids=ids)
    if name == LOGREG_MINIBATCH:
        p = LOGREG_MINIBATCH_PARAMS
        X, y, w_true = logreg_data()
        lr, seed, ids, T = _minibatch_runs(LOGREG_MINIBATCH, p, runs, steps)
        return dict(workload=LOGREG_MINIBATCH, X=X, y=y, w_true=w_true, lr=lr, seed=seed, momentum=p["momentum"],
                    B=p["B"], T=T, record_every=p["record_every"], w0=np.zeros((lr.size, p["d"])), run_ids=ids)
    if name == MLP_MINIBATCH:
        p = MLP_MINIBATCH_PARAMS
        X, y = mlp_data()
        lr, seed, ids, T = _minibatch_runs(MLP_MINIBATCH, p, runs, steps)
        theta = mlp_theta0()
        theta0 = np.ascontiguousarray(np.broadcast_to(theta, (lr.size, theta.size)))  # one θ0 for every run
        return dict(workload=MLP_MINIBATCH, X=X, y=y, lr=lr, seed=seed, momentum=p["momentum"], B=p["B"], T=T,
                    record_every=p["record_every"], noise=p["noise"], data_seed=p["data_seed"], width=p["width"],
                    n_classes=p["n_classes"], activation=p["activation"], theta0=theta0, run_ids=ids)
    raise KeyError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")


def work_size(inputs):
    """``(runs, steps)``; throughput is runs * steps / seconds."""
    R = len(inputs["x0"]) if inputs["workload"] in (ROSENBROCK_ADAM, GRID_SGD_MOMENTUM) else len(inputs["lr"])
    return int(R), int(inputs["T"])


def expected_shapes(inputs):
    """``(final shape, history shape)`` of a correct output."""
    R, T = work_size(inputs)
    if inputs["workload"] == LOGREG_MINIBATCH:
        return (R, inputs["X"].shape[1]), (R, T // inputs["record_every"] + 1)
    if inputs["workload"] == MLP_MINIBATCH:
        return (R, inputs["theta0"].shape[1]), (R, T // inputs["record_every"] + 1)
    return (R, 2), (R, T)


def check_output(inputs, out):
    """``(final, history)`` as float64 arrays; ValueError on a wrong shape."""
    want_f, want_h = expected_shapes(inputs)
    final = np.asarray(out["final"], dtype=np.float64)
    hist = np.asarray(out["history"], dtype=np.float64)
    if final.shape != want_f or hist.shape != want_h:
        raise ValueError(f"bad output shapes: final {final.shape} (want {want_f}), "
                         f"history {hist.shape} (want {want_h})")
    return final, hist
