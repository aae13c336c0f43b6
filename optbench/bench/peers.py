"""What a user would otherwise write: vectorized NumPy, batched torch, JAX.

Each peer is ``run(workload, inputs) -> {"final", "history"}`` with an
optional ``prepare(workload, inputs)`` (ahead-of-time compilation), as in the
peer harness (``../shared/peers``).  All follow the canonical operation order
of :mod:`optbench.bench.workloads`:

* ``numpy``: all runs as arrays, a Python loop over steps (grid-sgd-momentum
  grouped by objective, the minibatch workloads through batched ``matmul`` over
  (runs, batch, ...)).  Always available; it is the
  reference of the agreement check, and it takes rounding-sensitivity
  probes (``noise``).
* ``torch``: the same with float64 tensors under ``inference_mode``, plain
  binary operators only (``alpha=``, ``lerp_`` and ``addcmul_`` use fused
  multiply-adds on CPU).  When ``torch`` is importable.
* ``jax``: ``jit(vmap(lax.scan))`` per workload, x64, compiled ahead of time
  in ``prepare``.  When ``jax`` is importable.

mlp-minibatch's gradient is backpropagation written out (as logreg-minibatch's)
in all three, the same arithmetic as optbench's ``mlp_fg`` up to summation
order: softmax as ``e * (1 / Σe)`` minus the one-hot label, ``tanh' = 1 -
a²``, the mean as the sum over the batch divided by B.
"""
from __future__ import annotations

import importlib.util

import numpy as np

from .._codes import SPLITMIX_GAMMA, SPLITMIX_M1, SPLITMIX_M2, SPLITMIX_SHIFTS
from .workloads import (
    GRID_SGD_MOMENTUM,
    LOGREG_MINIBATCH,
    MLP_MINIBATCH,
    OBJECTIVE_FG,
    ROSENBROCK_ADAM,
    adam_step_scalars,
    objective_groups,
    rosenbrock_fg,
    splitmix_indices,
)


# ====================================================================== NumPy
def _scaled(g, noise):
    return g if noise is None else g * noise(g.shape)


def numpy_rosenbrock_adam(inp, noise=None):
    x0, T = inp["x0"], inp["T"]
    b1, b2, eps = inp["beta1"], inp["beta2"], inp["eps"]
    R = x0.shape[0]
    step_size, bc2_sqrt = adam_step_scalars(T, inp["lr"], b1, b2)
    w1, w2 = 1.0 - b1, 1.0 - b2
    x, y = x0[:, 0].copy(), x0[:, 1].copy()
    mx, my, vx, vy = (np.zeros(R) for _ in range(4))
    hist = np.empty((T, R))
    for t in range(T):
        f, gx, gy = rosenbrock_fg(x, y)
        hist[t] = f
        gx, gy = _scaled(gx, noise), _scaled(gy, noise)
        mx += w1 * (gx - mx)
        my += w1 * (gy - my)
        vx *= b2
        vx += (w2 * gx) * gx
        vy *= b2
        vy += (w2 * gy) * gy
        s, c = -step_size[t], bc2_sqrt[t]
        x += (s * mx) / (np.sqrt(vx) / c + eps)
        y += (s * my) / (np.sqrt(vy) / c + eps)
    return {"final": np.stack([x, y], axis=1), "history": hist.T}


def numpy_grid_sgd_momentum(inp, noise=None):
    x0, T = inp["x0"], inp["T"]
    R = x0.shape[0]
    hist = np.empty((T, R))
    final = np.empty((R, 2))
    for k, sel in objective_groups(inp["obj"]):
        fg = OBJECTIVE_FG[k]
        x, y = x0[sel, 0].copy(), x0[sel, 1].copy()
        neg_lr, mu = -inp["lr"][sel], inp["momentum"][sel]
        bx = by = None
        for t in range(T):
            f, gx, gy = fg(x, y)
            hist[t, sel] = f
            gx, gy = _scaled(gx, noise), _scaled(gy, noise)
            if t == 0:
                bx, by = gx, gy  # torch: the buffer starts as a copy of the first gradient
            else:
                bx *= mu
                bx += gx
                by *= mu
                by += gy
            x += neg_lr * bx
            y += neg_lr * by
        final[sel, 0], final[sel, 1] = x, y
    return {"final": final, "history": hist.T}


def logreg_loss(X, y, W):
    """Full-data mean BCE with logits of each row of ``W`` (R, d) -> (R,)."""
    Z = X @ W.T
    softplus = np.maximum(Z, 0.0) + np.log1p(np.exp(-np.abs(Z)))
    return (softplus - y[:, None] * Z).mean(axis=0)


def numpy_logreg_minibatch(inp, noise=None):
    X, yv, T, B, rec = inp["X"], inp["y"], inp["T"], inp["B"], inp["record_every"]
    N = X.shape[0]
    mu = inp["momentum"]
    neg_lr = -inp["lr"][:, None]
    W = inp["w0"].copy()
    hist = np.empty((W.shape[0], T // rec + 1))
    buf = None
    for t in range(T):
        if t % rec == 0:
            hist[:, t // rec] = logreg_loss(X, yv, W)
        idx = splitmix_indices(inp["seed"], t, B, N)  # (R, B)
        Xb = X[idx]  # (R, B, d)
        z = np.matmul(Xb, W[:, :, None])[:, :, 0]
        s = 1.0 / (1.0 + np.exp(-z))
        g = _scaled(np.matmul((s - yv[idx])[:, None, :], Xb)[:, 0, :] / B, noise)
        if t == 0:
            buf = g
        else:
            buf *= mu
            buf += g
        W += neg_lr * buf
    hist[:, -1] = logreg_loss(X, yv, W)
    return {"final": W, "history": hist}


def mlp_unpack(theta, inp):
    """Views (W1 (R, h, d), b1 (R, h), W2 (R, K, h), b2 (R, K)) of the packed θ (R, dim)."""
    R, d, h, K = theta.shape[0], inp["X"].shape[1], inp["width"], inp["n_classes"]
    o1, o2, o3 = h * d, h * d + h, h * d + h + K * h
    return (theta[:, :o1].reshape(R, h, d), theta[:, o1:o2], theta[:, o2:o3].reshape(R, K, h), theta[:, o3:])


def _mlp_forward(X, W1, b1, W2, b2):
    """Hidden activations (R, n, h) and logits (R, n, K); ``X`` (R or 1, n, d)."""
    A = np.tanh(np.matmul(X, W1.transpose(0, 2, 1)) + b1[:, None, :])
    return A, np.matmul(A, W2.transpose(0, 2, 1)) + b2[:, None, :]


def mlp_loss(X, y, theta, inp):
    """Full-data mean softmax cross-entropy of every run: (R,)."""
    W1, b1, W2, b2 = mlp_unpack(theta, inp)
    _, O = _mlp_forward(X[None], W1, b1, W2, b2)
    m = O.max(axis=2)
    lse = m + np.log(np.exp(O - m[:, :, None]).sum(axis=2))
    return (lse - O[:, np.arange(X.shape[0]), y]).mean(axis=1)


def numpy_mlp_minibatch(inp, noise=None):
    X, T, B, rec, mu = inp["X"], inp["T"], inp["B"], inp["record_every"], inp["momentum"]
    N, K = X.shape[0], inp["n_classes"]
    yi = inp["y"].astype(np.int64)
    onehot = (yi[:, None] == np.arange(K)).astype(np.float64)  # (N, K)
    neg_lr = -inp["lr"][:, None]
    theta = inp["theta0"].copy()
    R = theta.shape[0]
    W1, b1, W2, b2 = mlp_unpack(theta, inp)  # views: updated in place with theta
    g = np.empty_like(theta)
    gW1, gb1, gW2, gb2 = mlp_unpack(g, inp)
    hist = np.empty((R, T // rec + 1))
    buf = None
    for t in range(T):
        if t % rec == 0:
            hist[:, t // rec] = mlp_loss(X, yi, theta, inp)
        idx = splitmix_indices(inp["seed"], t, B, N)  # (R, B)
        Xb = X[idx]  # (R, B, d)
        A, O = _mlp_forward(Xb, W1, b1, W2, b2)
        E = np.exp(O - O.max(axis=2, keepdims=True))
        dO = E * (1.0 / E.sum(axis=2, keepdims=True)) - onehot[idx]  # softmax - onehot: (R, B, K)
        gW2[...] = np.matmul(dO.transpose(0, 2, 1), A)
        gb2[...] = dO.sum(axis=1)
        dZ = np.matmul(dO, W2) * (1.0 - A * A)  # (R, B, h)
        gW1[...] = np.matmul(dZ.transpose(0, 2, 1), Xb)
        gb1[...] = dZ.sum(axis=1)
        gt = _scaled(g / B, noise)
        if t == 0:
            buf = gt
        else:
            buf *= mu
            buf += gt
        theta += neg_lr * buf
    hist[:, -1] = mlp_loss(X, yi, theta, inp)
    return {"final": theta, "history": hist}


NUMPY = {ROSENBROCK_ADAM: numpy_rosenbrock_adam, GRID_SGD_MOMENTUM: numpy_grid_sgd_momentum,
         LOGREG_MINIBATCH: numpy_logreg_minibatch, MLP_MINIBATCH: numpy_mlp_minibatch}


def run_numpy(workload, inputs, noise=None):
    """The NumPy peer; ``noise(shape) -> factors`` multiplies every gradient
    (rounding-sensitivity probes only)."""
    with np.errstate(all="ignore"):  # grid-sgd-momentum has diverging runs (inf/nan)
        return NUMPY[workload](inputs, noise)


def numpy_info():
    return {"numpy": np.__version__}


# ====================================================================== torch
def _torch_fns():
    import torch

    DT = torch.float64

    def as_tensor(a):
        return torch.from_numpy(np.ascontiguousarray(a))

    def signed(c):
        return c - (1 << 64) if c >= 1 << 63 else c

    gamma, m1, m2 = signed(SPLITMIX_GAMMA), signed(SPLITMIX_M1), signed(SPLITMIX_M2)
    S1, S2, S3 = SPLITMIX_SHIFTS

    def lsr(z, s):  # logical right shift of int64 bit patterns
        return (z >> s) & ((1 << (64 - s)) - 1)

    def indices(seeds, t, B, N):
        k = torch.arange(t * B + 1, t * B + B + 1, dtype=torch.int64)
        z = seeds[:, None] + k[None, :] * gamma
        z = (z ^ lsr(z, S1)) * m1
        z = (z ^ lsr(z, S2)) * m2
        z = z ^ lsr(z, S3)
        return (lsr(z, 32) * N) >> 32

    def loss(X, y, W):
        Z = X @ W.T
        sp = torch.clamp_min(Z, 0.0) + torch.log1p(torch.exp(-torch.abs(Z)))
        return (sp - y[:, None] * Z).mean(dim=0)

    @torch.inference_mode()
    def rosenbrock_adam(inp):
        x0, T = as_tensor(inp["x0"]), inp["T"]
        b1, b2, eps = inp["beta1"], inp["beta2"], inp["eps"]
        step_size, bc2_sqrt = adam_step_scalars(T, inp["lr"], b1, b2)
        w1_, w2_ = 1.0 - b1, 1.0 - b2
        R = x0.shape[0]
        x, y = x0[:, 0].clone(), x0[:, 1].clone()
        mx, my, vx, vy = (torch.zeros(R, dtype=DT) for _ in range(4))
        hist = torch.empty((T, R), dtype=DT)
        for t in range(T):
            f, gx, gy = rosenbrock_fg(x, y)
            hist[t] = f
            mx += w1_ * (gx - mx)
            my += w1_ * (gy - my)
            vx *= b2
            vx += (w2_ * gx) * gx
            vy *= b2
            vy += (w2_ * gy) * gy
            s, c = -float(step_size[t]), float(bc2_sqrt[t])
            x += (s * mx) / (torch.sqrt(vx) / c + eps)
            y += (s * my) / (torch.sqrt(vy) / c + eps)
        return {"final": torch.stack([x, y], 1).numpy(), "history": hist.numpy().T}

    @torch.inference_mode()
    def grid_sgd_momentum(inp):
        x0, T = as_tensor(inp["x0"]), inp["T"]
        R = x0.shape[0]
        hist = torch.empty((T, R), dtype=DT)
        final = torch.empty((R, 2), dtype=DT)
        lr_all, mu_all = as_tensor(inp["lr"]), as_tensor(inp["momentum"])
        for k, sel in objective_groups(inp["obj"]):
            sel_t = sel if isinstance(sel, slice) else torch.from_numpy(sel)
            fg = OBJECTIVE_FG[k]
            x, y = x0[sel_t, 0].clone(), x0[sel_t, 1].clone()
            neg_lr, mu = -lr_all[sel_t], mu_all[sel_t]
            bx = by = None
            for t in range(T):
                f, gx, gy = fg(x, y)
                hist[t, sel_t] = f
                if t == 0:
                    bx, by = gx, gy
                else:
                    bx *= mu
                    bx += gx
                    by *= mu
                    by += gy
                x += neg_lr * bx
                y += neg_lr * by
            final[sel_t, 0], final[sel_t, 1] = x, y
        return {"final": final.numpy(), "history": hist.numpy().T}

    @torch.inference_mode()
    def logreg_minibatch(inp):
        X, yv = as_tensor(inp["X"]), as_tensor(inp["y"])
        T, B, rec, mu = inp["T"], inp["B"], inp["record_every"], inp["momentum"]
        N = X.shape[0]
        neg_lr = -as_tensor(inp["lr"])[:, None]
        seeds = as_tensor(inp["seed"]).to(torch.int64)
        W = as_tensor(inp["w0"]).clone()
        hist = torch.empty((W.shape[0], T // rec + 1), dtype=DT)
        buf = None
        for t in range(T):
            if t % rec == 0:
                hist[:, t // rec] = loss(X, yv, W)
            idx = indices(seeds, t, B, N)
            Xb = X[idx]
            z = torch.bmm(Xb, W[:, :, None])[:, :, 0]
            s = 1.0 / (1.0 + torch.exp(-z))
            g = torch.bmm((s - yv[idx])[:, None, :], Xb)[:, 0, :] / B
            if t == 0:
                buf = g
            else:
                buf *= mu
                buf += g
            W += neg_lr * buf
        hist[:, -1] = loss(X, yv, W)
        return {"final": W.numpy(), "history": hist.numpy()}

    def mlp_views(theta, inp):
        R, d, h, K = theta.shape[0], inp["X"].shape[1], inp["width"], inp["n_classes"]
        o1, o2, o3 = h * d, h * d + h, h * d + h + K * h
        return theta[:, :o1].view(R, h, d), theta[:, o1:o2], theta[:, o2:o3].view(R, K, h), theta[:, o3:]

    def mlp_loss(X, yi, rows, W1, b1, W2, b2):
        A = torch.tanh(torch.matmul(X, W1.transpose(1, 2)) + b1[:, None, :])  # (R, N, h)
        O = torch.bmm(A, W2.transpose(1, 2)) + b2[:, None, :]
        m = O.amax(dim=2)
        lse = m + torch.log(torch.exp(O - m[:, :, None]).sum(dim=2))
        return (lse - O[:, rows, yi]).mean(dim=1)

    @torch.inference_mode()
    def mlp_minibatch(inp):
        X = as_tensor(inp["X"])
        T, B, rec, mu = inp["T"], inp["B"], inp["record_every"], inp["momentum"]
        N, K = X.shape[0], inp["n_classes"]
        yi = as_tensor(inp["y"]).to(torch.int64)
        rows = torch.arange(N)
        onehot = (yi[:, None] == torch.arange(K)[None, :]).to(DT)
        neg_lr = -as_tensor(inp["lr"])[:, None]
        seeds = as_tensor(inp["seed"]).to(torch.int64)
        theta = as_tensor(inp["theta0"]).clone()
        W1, b1, W2, b2 = mlp_views(theta, inp)
        g = torch.empty_like(theta)
        gW1, gb1, gW2, gb2 = mlp_views(g, inp)
        hist = torch.empty((theta.shape[0], T // rec + 1), dtype=DT)
        buf = None
        for t in range(T):
            if t % rec == 0:
                hist[:, t // rec] = mlp_loss(X, yi, rows, W1, b1, W2, b2)
            idx = indices(seeds, t, B, N)
            Xb = X[idx]  # (R, B, d)
            A = torch.tanh(torch.bmm(Xb, W1.transpose(1, 2)) + b1[:, None, :])
            O = torch.bmm(A, W2.transpose(1, 2)) + b2[:, None, :]
            E = torch.exp(O - O.amax(dim=2, keepdim=True))
            dO = E * (1.0 / E.sum(dim=2, keepdim=True)) - onehot[idx]
            gW2.copy_(torch.bmm(dO.transpose(1, 2), A))
            gb2.copy_(dO.sum(dim=1))
            dZ = torch.bmm(dO, W2) * (1.0 - A * A)
            gW1.copy_(torch.bmm(dZ.transpose(1, 2), Xb))
            gb1.copy_(dZ.sum(dim=1))
            gt = g / B
            if t == 0:
                buf = gt
            else:
                buf *= mu
                buf += gt
            theta += neg_lr * buf
        hist[:, -1] = mlp_loss(X, yi, rows, W1, b1, W2, b2)
        return {"final": theta.numpy(), "history": hist.numpy()}

    return {ROSENBROCK_ADAM: rosenbrock_adam, GRID_SGD_MOMENTUM: grid_sgd_momentum, LOGREG_MINIBATCH: logreg_minibatch,
            MLP_MINIBATCH: mlp_minibatch}


_TORCH = None


def run_torch(workload, inputs):
    """Batched torch (float64 tensors, manual canonical update)."""
    global _TORCH
    if _TORCH is None:
        _TORCH = _torch_fns()
    return _TORCH[workload](inputs)


def torch_info():
    import torch

    return {"torch": torch.__version__, "threads": torch.get_num_threads()}


# ======================================================================== JAX
_JAX_COMPILED: dict = {}


def _mix64(z):
    """SplitMix64's output function on uint64 arrays (NumPy or JAX)."""
    s1, s2, s3 = SPLITMIX_SHIFTS
    z = (z ^ (z >> s1)) * np.uint64(SPLITMIX_M1)
    z = (z ^ (z >> s2)) * np.uint64(SPLITMIX_M2)
    return z ^ (z >> s3)


def _jax_plan(workload, inp):
    """``[(cache key, builder of the jitted function, args, selector)]``."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    if workload == ROSENBROCK_ADAM:
        b1, b2, eps = inp["beta1"], inp["beta2"], inp["eps"]

        def single(p0, ss, b2s):
            w1_, w2_ = 1.0 - b1, 1.0 - b2

            def body(c, s):
                x, y, mx, my, vx, vy = c
                step_size, bc2 = s
                f, gx, gy = rosenbrock_fg(x, y)
                mx = mx + w1_ * (gx - mx)
                my = my + w1_ * (gy - my)
                vx = vx * b2 + (w2_ * gx) * gx
                vy = vy * b2 + (w2_ * gy) * gy
                x = x + (-step_size * mx) / (jnp.sqrt(vx) / bc2 + eps)
                y = y + (-step_size * my) / (jnp.sqrt(vy) / bc2 + eps)
                return (x, y, mx, my, vx, vy), f

            z = jnp.zeros((), p0.dtype)
            c, hist = lax.scan(body, (p0[0], p0[1], z, z, z, z), (ss, b2s))
            return jnp.stack([c[0], c[1]]), hist

        ss, b2s = adam_step_scalars(inp["T"], inp["lr"], b1, b2)
        key = (ROSENBROCK_ADAM, inp["x0"].shape, inp["T"], b1, b2, eps)
        return [(key, lambda: jax.jit(jax.vmap(single, in_axes=(0, None, None))), (inp["x0"], ss, b2s),
                 slice(None))]

    if workload == GRID_SGD_MOMENTUM:
        T = inp["T"]

        def make(k):
            fg = OBJECTIVE_FG[k]

            def single(p0, lr, mu):
                def body(c, t):
                    x, y, bx, by = c
                    f, gx, gy = fg(x, y)
                    bx = jnp.where(t == 0, gx, bx * mu + gx)
                    by = jnp.where(t == 0, gy, by * mu + gy)
                    return (x + (-lr) * bx, y + (-lr) * by, bx, by), f

                z = jnp.zeros((), p0.dtype)
                c, hist = lax.scan(body, (p0[0], p0[1], z, z), jnp.arange(T))
                return jnp.stack([c[0], c[1]]), hist

            return jax.jit(jax.vmap(single))

        plan = []
        for k, sel in objective_groups(inp["obj"]):
            args = (np.ascontiguousarray(inp["x0"][sel]), inp["lr"][sel], inp["momentum"][sel])
            plan.append(((GRID_SGD_MOMENTUM, k, args[0].shape, T), (lambda k=k: make(k)), args, sel))
        return plan

    if workload == LOGREG_MINIBATCH:
        mu, B, T, rec = inp["momentum"], inp["B"], inp["T"], inp["record_every"]

        def full_loss(X, y, w):
            z = X @ w
            return jnp.mean(jnp.maximum(z, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(z))) - y * z)

        def single(w0, lr, seed, X, y):
            N = X.shape[0]
            seed = seed.astype(jnp.uint64)
            j1 = jnp.arange(1, B + 1, dtype=jnp.uint64)

            def step(c, t):
                w, buf = c
                u = _mix64(seed + (t.astype(jnp.uint64) * np.uint64(B) + j1) * np.uint64(SPLITMIX_GAMMA))
                idx = (((u >> 32) * np.uint64(N)) >> 32).astype(jnp.int64)
                Xb = X[idx]
                s = 1.0 / (1.0 + jnp.exp(-(Xb @ w)))
                g = ((s - y[idx]) @ Xb) / B
                buf = jnp.where(t == 0, g, buf * mu + g)
                return (w + (-lr) * buf, buf), None

            def chunk(c, k):
                loss = full_loss(X, y, c[0])
                c, _ = lax.scan(step, c, k * rec + jnp.arange(rec))
                return c, loss

            c, losses = lax.scan(chunk, (w0, jnp.zeros_like(w0)), jnp.arange(T // rec))
            return c[0], jnp.concatenate([losses, full_loss(X, y, c[0])[None]])

        key = (LOGREG_MINIBATCH, inp["w0"].shape, inp["X"].shape, mu, B, T, rec)
        args = (inp["w0"], inp["lr"], inp["seed"], inp["X"], inp["y"])
        return [(key, lambda: jax.jit(jax.vmap(single, in_axes=(0, 0, 0, None, None))), args, slice(None))]

    if workload == MLP_MINIBATCH:
        mu, B, T, rec = inp["momentum"], inp["B"], inp["T"], inp["record_every"]
        d, h, K = inp["X"].shape[1], inp["width"], inp["n_classes"]
        o1, o2, o3 = h * d, h * d + h, h * d + h + K * h

        def unpack(th):
            return th[:o1].reshape(h, d), th[o1:o2], th[o2:o3].reshape(K, h), th[o3:]

        def full_loss(th, X, yi):
            W1, b1, W2, b2 = unpack(th)
            O = jnp.tanh(X @ W1.T + b1) @ W2.T + b2  # (N, K)
            m = O.max(axis=1)
            lse = m + jnp.log(jnp.exp(O - m[:, None]).sum(axis=1))
            return jnp.mean(lse - jnp.take_along_axis(O, yi[:, None], axis=1)[:, 0])

        def single(th0, lr, seed, X, yi, onehot):
            N = X.shape[0]
            seed = seed.astype(jnp.uint64)
            j1 = jnp.arange(1, B + 1, dtype=jnp.uint64)

            def step(c, t):
                th, buf = c
                u = _mix64(seed + (t.astype(jnp.uint64) * np.uint64(B) + j1) * np.uint64(SPLITMIX_GAMMA))
                idx = (((u >> 32) * np.uint64(N)) >> 32).astype(jnp.int64)
                Xb = X[idx]
                W1, b1, W2, b2 = unpack(th)
                A = jnp.tanh(Xb @ W1.T + b1)  # (B, h)
                O = A @ W2.T + b2  # (B, K)
                E = jnp.exp(O - O.max(axis=1, keepdims=True))
                dO = E * (1.0 / E.sum(axis=1, keepdims=True)) - onehot[idx]
                dZ = (dO @ W2) * (1.0 - A * A)
                g = jnp.concatenate([(dZ.T @ Xb).ravel(), dZ.sum(axis=0), (dO.T @ A).ravel(), dO.sum(axis=0)]) / B
                buf = jnp.where(t == 0, g, buf * mu + g)
                return (th + (-lr) * buf, buf), None

            def chunk(c, k):
                loss = full_loss(c[0], X, yi)
                c, _ = lax.scan(step, c, k * rec + jnp.arange(rec))
                return c, loss

            c, losses = lax.scan(chunk, (th0, jnp.zeros_like(th0)), jnp.arange(T // rec))
            return c[0], jnp.concatenate([losses, full_loss(c[0], X, yi)[None]])

        yi = inp["y"].astype(np.int64)
        onehot = (yi[:, None] == np.arange(K)[None, :]).astype(np.float64)
        key = (MLP_MINIBATCH, inp["theta0"].shape, inp["X"].shape, h, K, mu, B, T, rec)
        args = (inp["theta0"], inp["lr"], inp["seed"], inp["X"], yi, onehot)
        return [(key, lambda: jax.jit(jax.vmap(single, in_axes=(0, 0, 0, None, None, None))), args, slice(None))]
    raise KeyError(workload)


def _jax_compiled(key, make, args):
    if key not in _JAX_COMPILED:
        _JAX_COMPILED[key] = make().lower(*args).compile()
    return _JAX_COMPILED[key]


def prepare_jax(workload, inputs):
    for key, make, args, _ in _jax_plan(workload, inputs):
        _jax_compiled(key, make, args)


def run_jax(workload, inputs):
    """JAX: jit(vmap(scan)), float64, compiled ahead of time by :func:`prepare_jax`."""
    outs = [(_jax_compiled(key, make, args)(*args), sel) for key, make, args, sel in _jax_plan(workload, inputs)]
    if len(outs) == 1:
        (f, h), _ = outs[0]
        return {"final": np.asarray(f), "history": np.asarray(h)}
    R, T = inputs["x0"].shape[0], inputs["T"]
    final, hist = np.empty((R, 2)), np.empty((R, T))
    for (f, h), sel in outs:
        final[sel], hist[sel] = np.asarray(f), np.asarray(h)
    return {"final": final, "history": hist}


def jax_info():
    import jax

    return {"jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}


def available() -> dict:
    """Peers importable here: name -> (run, prepare or None, info)."""
    out = {"numpy": (run_numpy, None, numpy_info)}
    if importlib.util.find_spec("torch") is not None:
        out["torch"] = (run_torch, None, torch_info)
    if importlib.util.find_spec("jax") is not None:
        out["jax"] = (run_jax, prepare_jax, jax_info)
    return out
