r"""Adadelta: ``torch.optim.Adadelta``, single-tensor path.

Update at step :math:`t` (torch's documented rule, :math:`\gamma` = lr,
:math:`\rho` = rho, :math:`\lambda` = weight_decay)::

    g_t = g_t + lambda * theta_{t-1}             (if lambda != 0)
    v_t = rho v_{t-1} + (1 - rho) g_t^2
    dx_t = sqrt(u_{t-1} + eps) / sqrt(v_t + eps) * g_t
    u_t = rho u_{t-1} + (1 - rho) dx_t^2
    theta_t = theta_{t-1} - gamma dx_t

Arithmetic in torch's operation order (see ``adam.py``, "Rounding")::

    v     = v * rho + ((1 - rho) * g) * g        # mul_(rho).addcmul_(g, g, value=1 - rho)
    std   = sqrt(v + eps)
    delta = sqrt(u + eps) / std * g              # acc_delta.add(eps).sqrt_().div_(std).mul_(g)
    u     = u * rho + ((1 - rho) * delta) * delta
    theta = theta + (-lr) * delta                # add_(delta, alpha=-lr)

Traps: eps sits *inside* both roots (it is what makes the first step
nonzero: u_0 = 0); lr defaults to 1.0 and only scales the step.
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ._registry import Hyper, Optimizer, hyper_slots, register, require

HYPERS = (
    Hyper("lr", 1.0, "scale of the step"),
    Hyper("rho", 0.9, "smoothing constant of both running averages"),
    Hyper("eps", 1e-6, "added inside both roots"),
    Hyper("weight_decay", 0.0, "L2 penalty added to the gradient"),
)
LR, RHO, EPS, WEIGHT_DECAY = hyper_slots(HYPERS, "lr", "rho", "eps", "weight_decay")


def adadelta_schedule(hp: np.ndarray, steps: int) -> np.ndarray:
    """Nothing varies per step."""
    return np.zeros((steps, 0), dtype=np.float64)


@jit
def adadelta_step(x, g, state, hp, sched, t):
    lr = hp[LR]
    rho = hp[RHO]
    eps = hp[EPS]
    wd = hp[WEIGHT_DECAY]
    w = 1.0 - rho
    neg_lr = -lr
    for i in range(x.shape[0]):
        gi = g[i]
        if wd != 0.0:
            gi = gi + wd * x[i]
        v = state[0, i] * rho + (w * gi) * gi
        state[0, i] = v
        std = math.sqrt(v + eps)
        u = state[1, i]
        delta = math.sqrt(u + eps)
        delta = delta / std
        delta = delta * gi
        state[1, i] = u * rho + (w * delta) * delta
        x[i] = x[i] + neg_lr * delta


def adadelta_check(values: dict) -> None:
    lr, rho, eps, wd = values["lr"], values["rho"], values["eps"], values["weight_decay"]
    require(lr >= 0.0, "adadelta", f"lr must be >= 0 (got lr={lr!r})")
    require(0.0 <= rho <= 1.0, "adadelta", f"rho must be in [0, 1] (got rho={rho!r})")
    require(eps >= 0.0, "adadelta", f"eps must be >= 0 (got eps={eps!r})")
    require(wd >= 0.0, "adadelta", f"weight_decay must be >= 0 (got weight_decay={wd!r})")


register(Optimizer(
    name="adadelta",
    torch_name="Adadelta",
    summary="Adadelta: steps in units of a running RMS of past steps (Zeiler, 2012)",
    hypers=HYPERS,
    n_state=2,  # square_avg, acc_delta
    n_sched=0,
    step=adadelta_step,
    schedule=adadelta_schedule,
    check=adadelta_check,
    momentum_like="rho",
    doc=r"""
g_t \leftarrow g_t + \lambda\theta_{t-1},\quad
v_t = \rho v_{t-1} + (1-\rho) g_t^2,\quad
\Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t,\\
u_t = \rho u_{t-1} + (1-\rho)\Delta_t^2,\quad
\theta_t = \theta_{t-1} - \gamma \Delta_t
""",
))
