r"""RMSprop: ``torch.optim.RMSprop``, single-tensor path.

Update at step :math:`t` (torch's documented rule, :math:`\gamma` = lr,
:math:`\alpha` = alpha, :math:`\mu` = momentum, :math:`\lambda` =
weight_decay)::

    g_t = g_t + lambda * theta_{t-1}             (if lambda != 0)
    v_t = alpha v_{t-1} + (1 - alpha) g_t^2
    centered: ga_t = alpha ga_{t-1} + (1 - alpha) g_t;  v~_t = v_t - ga_t^2
    d_t = sqrt(v~_t) + eps                       (v~_t = v_t if not centered)
    mu > 0:  b_t = mu b_{t-1} + g_t / d_t;  theta_t = theta_{t-1} - gamma b_t
    else:    theta_t = theta_{t-1} - gamma g_t / d_t

Arithmetic in torch's operation order (see ``adam.py``, "Rounding")::

    v   = v * alpha + ((1 - alpha) * g) * g      # mul_(alpha).addcmul_(g, g, value=1 - alpha)
    ga  = ga + (1 - alpha) * (g - ga)            # lerp_(g, w), w = 1 - alpha < 0.5; else g - (g - ga) * (1 - w)
    avg = sqrt(v + (-1 * ga) * ga) + eps         # addcmul(ga, ga, value=-1).sqrt_().add_(eps)
    buf = buf * mu + g / avg                     # mul_(mu).addcdiv_(g, avg)
    theta = theta + (-lr) * buf                  # add_(buf, alpha=-lr)
    theta = theta + (-lr * g) / avg              # addcdiv_(g, avg, value=-lr)  (mu == 0)

Traps: no bias correction at all (the first steps are large: v_1 = (1-alpha)
g^2); eps is added outside the root; the momentum buffer starts at zero
(unlike SGD's).
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ._registry import Hyper, Optimizer, hyper_slots, register, require
from .adam import lerp_at

HYPERS = (
    Hyper("lr", 1e-2, "learning rate"),
    Hyper("alpha", 0.99, "smoothing constant of the squared-gradient average"),
    Hyper("eps", 1e-8, "added to the root of the average"),
    Hyper("weight_decay", 0.0, "L2 penalty added to the gradient"),
    Hyper("momentum", 0.0, "momentum factor (buffer starts at zero)"),
    Hyper("centered", False, "subtract the squared running mean of the gradient"),
)
LR, ALPHA, EPS, WEIGHT_DECAY, MOMENTUM, CENTERED = hyper_slots(
    HYPERS, "lr", "alpha", "eps", "weight_decay", "momentum", "centered")


def rmsprop_schedule(hp: np.ndarray, steps: int) -> np.ndarray:
    """Nothing varies per step."""
    return np.zeros((steps, 0), dtype=np.float64)


@jit(inline="always")
def _rmsprop_loop(x, g, state, alpha, eps, wd, momentum, w, neg_lr, use_wd, centered, use_momentum, near):
    # loads and stores unconditional, the flags pick values (see sgd_step);
    # with the flags constant (the usual settings, below) the unused ones fold away
    for i in range(x.shape[0]):
        xi = x[i]
        gi = g[i]
        if use_wd:
            gi = gi + wd * xi
        v = state[0, i] * alpha + (w * gi) * gi
        state[0, i] = v
        ga0 = state[1, i]
        if centered:
            ga = lerp_at(ga0, gi, w, near)
            avg = math.sqrt(v + (-1.0 * ga) * ga)
        else:
            ga = ga0
            avg = math.sqrt(v)
        state[1, i] = ga
        avg = avg + eps
        buf0 = state[2, i]
        if use_momentum:
            buf = buf0 * momentum + gi / avg
            xn = xi + neg_lr * buf
        else:
            buf = buf0
            xn = xi + (neg_lr * gi) / avg
        state[2, i] = buf
        x[i] = xn


@jit
def rmsprop_step(x, g, state, hp, sched, t):
    lr = hp[LR]
    alpha = hp[ALPHA]
    eps = hp[EPS]
    wd = hp[WEIGHT_DECAY]
    momentum = hp[MOMENTUM]
    centered = hp[CENTERED] != 0.0
    w = 1.0 - alpha
    neg_lr = -lr
    use_wd = wd != 0.0
    use_momentum = momentum > 0.0
    # the usual settings with their flags as constants: loops free of tests
    # (see sgd_step); the general call gives the same operations in the same order
    if not use_wd and not centered:
        if use_momentum:
            _rmsprop_loop(x, g, state, alpha, eps, wd, momentum, w, neg_lr, False, False, True, True)
        else:
            _rmsprop_loop(x, g, state, alpha, eps, wd, momentum, w, neg_lr, False, False, False, True)
    else:
        _rmsprop_loop(x, g, state, alpha, eps, wd, momentum, w, neg_lr, use_wd, centered, use_momentum,
                      abs(w) < 0.5)


def rmsprop_check(values: dict) -> None:
    for name in ("lr", "eps", "momentum", "weight_decay", "alpha"):
        v = values[name]
        require(v >= 0.0, "rmsprop", f"{name} must be >= 0 (got {name}={v!r})")


register(Optimizer(
    name="rmsprop",
    torch_name="RMSprop",
    summary="RMSprop: steps scaled by a running root mean square of the gradient (Hinton)",
    hypers=HYPERS,
    n_state=3,  # square_avg, grad_avg, momentum_buffer
    n_sched=0,
    step=rmsprop_step,
    schedule=rmsprop_schedule,
    check=rmsprop_check,
    momentum_like="momentum",
    doc=r"""
g_t \leftarrow g_t + \lambda\theta_{t-1},\quad
v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\quad
\tilde v_t = v_t - \bar g_t^2\ \text{(centered, } \bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t),\\
b_t = \mu b_{t-1} + \frac{g_t}{\sqrt{\tilde v_t} + \epsilon},\quad
\theta_t = \theta_{t-1} - \gamma b_t
\quad (\mu = 0:\ \theta_t = \theta_{t-1} - \gamma \tfrac{g_t}{\sqrt{\tilde v_t} + \epsilon})
""",
))
