r"""SGD with momentum, dampening, Nesterov and weight decay: ``torch.optim.SGD``.

Update at step :math:`t` (torch's documented rule, :math:`\gamma` = lr,
:math:`\mu` = momentum, :math:`\tau` = dampening, :math:`\lambda` =
weight_decay)::

    g_t = g_t + lambda * theta_{t-1}               (if lambda != 0)
    b_t = g_t                                      (t = 1)
    b_t = mu * b_{t-1} + (1 - tau) * g_t           (t > 1)
    g_t = g_t + mu * b_t  (nesterov)   or   g_t = b_t       (if mu != 0)
    theta_t = theta_{t-1} - gamma * g_t

Arithmetic in torch's operation order (see ``adam.py``, "Rounding")::

    g   = g + wd * theta                 # grad.add(param, alpha=wd)
    buf = g                              # step 1: clone of the gradient
    buf = buf * mu + (1 - tau) * g       # mul_(mu).add_(g, alpha=1 - tau)
    g   = g + mu * buf  |  g = buf
    theta = theta + (-lr) * g            # add_(g, alpha=-lr)

Traps: the momentum buffer starts as a *copy of the first gradient* (not
zero), so dampening is not applied on step 1; with momentum 0 torch keeps no
buffer at all; Nesterov requires momentum > 0 and dampening 0.
"""
from __future__ import annotations

import numpy as np

from .._jit import jit
from ._registry import Hyper, Optimizer, hyper_slots, register, require

HYPERS = (
    Hyper("lr", 1e-3, "learning rate"),
    Hyper("momentum", 0.0, "momentum factor (0: no buffer)"),
    Hyper("dampening", 0.0, "dampening of the gradient in the buffer (not on step 1)"),
    Hyper("weight_decay", 0.0, "L2 penalty added to the gradient"),
    Hyper("nesterov", False, "Nesterov momentum (needs momentum > 0, dampening 0)"),
)
LR, MOMENTUM, DAMPENING, WEIGHT_DECAY, NESTEROV = hyper_slots(
    HYPERS, "lr", "momentum", "dampening", "weight_decay", "nesterov")


def sgd_schedule(hp: np.ndarray, steps: int) -> np.ndarray:
    """Nothing varies per step."""
    return np.zeros((steps, 0), dtype=np.float64)


@jit
def sgd_step(x, g, state, hp, sched, t):
    lr = hp[LR]
    momentum = hp[MOMENTUM]
    dampening = hp[DAMPENING]
    wd = hp[WEIGHT_DECAY]
    nesterov = hp[NESTEROV] != 0.0
    neg_lr = -lr
    keep = 1.0 - dampening
    n = x.shape[0]
    # The usual settings get loops of their own, free of tests: with the
    # tests inside, LLVM if-converts all four cases into one masked loop
    # that does the work of every case.
    # Each fast loop does the general loop's operations in its order
    # (1.0 * g == g exactly), so the numbers are the same bit for bit.
    if wd == 0.0 and not nesterov and dampening == 0.0:
        if momentum == 0.0:
            for i in range(n):
                x[i] = x[i] + neg_lr * g[i]
        elif t == 1:
            for i in range(n):
                buf = g[i]
                state[0, i] = buf
                x[i] = x[i] + neg_lr * buf
        else:
            for i in range(n):
                buf = state[0, i] * momentum + g[i]
                state[0, i] = buf
                x[i] = x[i] + neg_lr * buf
        return
    # Every store unconditional (the tests pick values, never whether to
    # store): a conditional store if-converts into a masked one, which keeps
    # the lane driver's stack buffer out of registers (_views.stack1).
    use_buf = momentum != 0.0
    first = t == 1
    for i in range(n):
        xi = x[i]
        gi = g[i]
        if wd != 0.0:
            gi = gi + wd * xi
        s0 = state[0, i]
        buf = gi if first else s0 * momentum + keep * gi
        d = gi + momentum * buf if nesterov else buf
        state[0, i] = buf if use_buf else s0
        x[i] = xi + neg_lr * (d if use_buf else gi)


def sgd_check(values: dict) -> None:
    lr, mom, damp, wd = values["lr"], values["momentum"], values["dampening"], values["weight_decay"]
    require(lr >= 0.0, "sgd", f"lr must be >= 0 (got lr={lr!r})")
    require(mom >= 0.0, "sgd", f"momentum must be >= 0 (got momentum={mom!r})")
    require(wd >= 0.0, "sgd", f"weight_decay must be >= 0 (got weight_decay={wd!r})")
    if values["nesterov"]:
        require(mom > 0.0 and damp == 0.0, "sgd",
                f"nesterov=true requires momentum > 0 and dampening = 0 "
                f"(got momentum={mom!r}, dampening={damp!r})")


register(Optimizer(
    name="sgd",
    torch_name="SGD",
    summary="stochastic gradient descent with optional (Nesterov) momentum",
    hypers=HYPERS,
    n_state=1,  # momentum_buffer
    n_sched=0,
    step=sgd_step,
    schedule=sgd_schedule,
    check=sgd_check,
    momentum_like="momentum",
    doc=r"""
g_t \leftarrow g_t + \lambda\theta_{t-1},\quad
b_1 = g_1,\ b_t = \mu b_{t-1} + (1-\tau) g_t,\\
g_t \leftarrow g_t + \mu b_t\ \text{(nesterov) or } b_t\ (\mu \ne 0),\quad
\theta_t = \theta_{t-1} - \gamma g_t
""",
))
