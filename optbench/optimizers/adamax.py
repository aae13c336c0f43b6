r"""Adamax: ``torch.optim.Adamax``, single-tensor path (Adam with an infinity norm).

Update at step :math:`t` (torch's documented rule, :math:`\gamma` = lr,
:math:`\lambda` = weight_decay)::

    g_t = g_t + lambda * theta_{t-1}             (if lambda != 0)
    m_t = beta1 m_{t-1} + (1 - beta1) g_t
    u_t = max(beta2 u_{t-1}, |g_t| + eps)
    theta_t = theta_{t-1} - gamma / (1 - beta1^t) * m_t / u_t

Arithmetic in torch's operation order (see ``adam.py``, "Rounding")::

    m     = m + (1 - beta1) * (g - m)            # lerp_(g, w), w = 1 - beta1 < 0.5; else g - (g - m) * (1 - w)
    u     = maximum(u * beta2, |g| + eps)        # torch.maximum(u.mul_(beta2), g.abs().add_(eps))
    theta = theta + (-clr * m) / u               # addcdiv_, clr = lr / (1 - beta1 ** t)

Traps: eps is added to |g| *inside* the max (torch 2.x; the paper has no
eps), so u >= eps and nothing divides by zero; u has no bias correction.
"""
from __future__ import annotations

import numpy as np

from .._jit import jit
from ._registry import Hyper, Optimizer, hyper_slots, register, step_rows
from .adam import check_betas, lerp, maximum

HYPERS = (
    Hyper("lr", 2e-3, "learning rate"),
    Hyper("beta1", 0.9, "decay of the first moment (betas[0])"),
    Hyper("beta2", 0.999, "decay of the infinity norm (betas[1])"),
    Hyper("eps", 1e-8, "added to |g| inside the max"),
    Hyper("weight_decay", 0.0, "L2 penalty added to the gradient"),
)
LR, BETA1, BETA2, EPS, WEIGHT_DECAY = hyper_slots(HYPERS, "lr", "beta1", "beta2", "eps", "weight_decay")


def adamax_schedule(hp: np.ndarray, steps: int) -> np.ndarray:
    """Per step: ``-clr = -(lr / (1 - beta1**t))``, Python floats."""
    out = np.empty((steps, 1), dtype=np.float64)
    for k, row in enumerate(step_rows(hp, steps)):
        lr, beta1 = row[LR], row[BETA1]
        step = float(k + 1)
        bias_correction = 1 - beta1**step
        clr = lr / bias_correction
        out[k, 0] = -clr
    return out


@jit
def adamax_step(x, g, state, hp, sched, t):
    beta1 = hp[BETA1]
    beta2 = hp[BETA2]
    eps = hp[EPS]
    wd = hp[WEIGHT_DECAY]
    w1 = 1.0 - beta1
    neg_clr = sched[0]
    for i in range(x.shape[0]):
        gi = g[i]
        if wd != 0.0:
            gi = gi + wd * x[i]
        m = lerp(state[0, i], gi, w1)
        u = maximum(state[1, i] * beta2, abs(gi) + eps)
        state[0, i] = m
        state[1, i] = u
        x[i] = x[i] + (neg_clr * m) / u


def adamax_check(values: dict) -> None:
    check_betas("adamax", values)


register(Optimizer(
    name="adamax",
    torch_name="Adamax",
    summary="Adamax: Adam with the infinity norm in place of the second moment",
    hypers=HYPERS,
    n_state=2,  # exp_avg, exp_inf
    n_sched=1,  # -clr
    step=adamax_step,
    schedule=adamax_schedule,
    check=adamax_check,
    momentum_like="beta1",
    doc=r"""
g_t \leftarrow g_t + \lambda\theta_{t-1},\quad
m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
u_t = \max(\beta_2 u_{t-1},\ |g_t| + \epsilon),\quad
\theta_t = \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\frac{m_t}{u_t}
""",
))
