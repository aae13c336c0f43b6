r"""Adagrad: ``torch.optim.Adagrad``, single-tensor (dense) path.

Update at step :math:`t` (torch's documented rule, :math:`\gamma` = lr,
:math:`\eta` = lr_decay, :math:`\lambda` = weight_decay, :math:`\tau` =
initial_accumulator_value)::

    g_t = g_t + lambda * theta_{t-1}             (if lambda != 0)
    clr = gamma / (1 + (t - 1) * eta)
    s_t = s_{t-1} + g_t^2                        (s_0 = tau)
    theta_t = theta_{t-1} - clr * g_t / (sqrt(s_t) + eps)

Arithmetic in torch's operation order (see ``adam.py``, "Rounding")::

    s     = s + (1 * g) * g                      # addcmul_(g, g, value=1)
    std   = sqrt(s) + eps
    theta = theta + (-clr * g) / std             # addcdiv_(g, std, value=-clr)

Traps: the accumulator starts at ``initial_accumulator_value`` (set at
construction, not zero); eps is added outside the root; the lr decay is
``lr / (1 + (t-1) lr_decay)``, a Python float per step.
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ._registry import Hyper, Optimizer, hyper_slots, register, require, step_rows

HYPERS = (
    Hyper("lr", 1e-2, "learning rate"),
    Hyper("lr_decay", 0.0, "lr at step t is lr / (1 + (t - 1) * lr_decay)"),
    Hyper("weight_decay", 0.0, "L2 penalty added to the gradient"),
    Hyper("initial_accumulator_value", 0.0, "starting value of the squared-gradient sum"),
    Hyper("eps", 1e-10, "added to the root of the sum"),
)
LR, LR_DECAY, WEIGHT_DECAY, INITIAL_ACCUMULATOR_VALUE, EPS = hyper_slots(
    HYPERS, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")


def adagrad_schedule(hp: np.ndarray, steps: int) -> np.ndarray:
    """Per step: ``-clr = -(lr / (1 + (t - 1) * lr_decay))``, Python floats."""
    out = np.empty((steps, 1), dtype=np.float64)
    for k, row in enumerate(step_rows(hp, steps)):
        lr, lr_decay = row[LR], row[LR_DECAY]
        step = float(k + 1)
        clr = lr / (1 + (step - 1) * lr_decay)
        out[k, 0] = -clr
    return out


@jit
def adagrad_step(x, g, state, hp, sched, t):
    wd = hp[WEIGHT_DECAY]
    init = hp[INITIAL_ACCUMULATOR_VALUE]
    eps = hp[EPS]
    neg_clr = sched[0]
    first = t == 1
    # loads and stores unconditional, the tests pick values (see sgd_step)
    for i in range(x.shape[0]):
        xi = x[i]
        gi = g[i]
        if wd != 0.0:
            gi = gi + wd * xi
        s0 = state[0, i]
        s = (init if first else s0) + gi * gi  # addcmul_ with value=1: (1 * g) * g == g * g
        state[0, i] = s
        std = math.sqrt(s) + eps
        x[i] = xi + (neg_clr * gi) / std


def adagrad_check(values: dict) -> None:
    for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
        v = values[name]
        require(v >= 0.0, "adagrad", f"{name} must be >= 0 (got {name}={v!r})")


register(Optimizer(
    name="adagrad",
    torch_name="Adagrad",
    summary="Adagrad: per-coordinate steps scaled by the root of the summed squared gradients",
    hypers=HYPERS,
    n_state=1,  # sum
    n_sched=1,  # -clr
    step=adagrad_step,
    schedule=adagrad_schedule,
    check=adagrad_check,
    momentum_like=None,
    doc=r"""
g_t \leftarrow g_t + \lambda\theta_{t-1},\quad
\tilde\gamma = \frac{\gamma}{1 + (t-1)\eta},\quad
s_t = s_{t-1} + g_t^2\ (s_0 = \tau),\quad
\theta_t = \theta_{t-1} - \tilde\gamma \frac{g_t}{\sqrt{s_t} + \epsilon}
""",
))
