r"""RAdam: ``torch.optim.RAdam``, single-tensor path (rectified Adam).

Update at step :math:`t` (torch's documented rule, :math:`\gamma` = lr,
:math:`\lambda` = weight_decay)::

    g_t = g_t + lambda * theta_{t-1}                    (coupled, if lambda != 0)
    theta_{t-1} = theta_{t-1} * (1 - gamma * lambda)    (decoupled_weight_decay)
    m_t = beta1 m_{t-1} + (1 - beta1) g_t
    v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    m^_t = m_t / (1 - beta1^t)
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    rho_t > 5:  l_t = sqrt(1 - beta2^t) / (sqrt(v_t) + eps)
                r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                theta_t = theta_{t-1} - gamma m^_t l_t r_t
    else:       theta_t = theta_{t-1} - gamma m^_t

Arithmetic in torch's operation order (see ``adam.py``, "Rounding")::

    m  = m + (1 - beta1) * (g - m)            # lerp_
    v  = v * beta2 + ((1 - beta2) * g) * g    # mul_(beta2).addcmul_(...)
    u  = (m / bc1) * lr
    u  = (u * ((1 / (sqrt(v) + eps)) * bc2 ** 0.5)) * rect   # float / tensor is reciprocal() * float
    theta = theta - u                         # add_(u, alpha=-1.0)

Traps: while rho_t <= 5 (the first steps: 5 of them with beta2 = 0.999) the
step is plain bias-corrected momentum SGD, no second moment at all; eps is
added to sqrt(v) *before* the bias correction of v.
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ._registry import Hyper, Optimizer, hyper_slots, register, step_rows
from .adam import check_betas, lerp

HYPERS = (
    Hyper("lr", 1e-3, "learning rate"),
    Hyper("beta1", 0.9, "decay of the first moment (betas[0])"),
    Hyper("beta2", 0.999, "decay of the second moment (betas[1])"),
    Hyper("eps", 1e-8, "added to sqrt(v) before its bias correction"),
    Hyper("weight_decay", 0.0, "L2 penalty (or decoupled decay)"),
    Hyper("decoupled_weight_decay", False, "decay theta as AdamW does"),
)
LR, BETA1, BETA2, EPS, WEIGHT_DECAY, DECOUPLED_WEIGHT_DECAY = hyper_slots(
    HYPERS, "lr", "beta1", "beta2", "eps", "weight_decay", "decoupled_weight_decay")


def radam_schedule(hp: np.ndarray, steps: int) -> np.ndarray:
    """Per step: ``bc1``, ``bc2 ** 0.5``, the rectification and whether rho_t > 5."""
    out = np.zeros((steps, 4), dtype=np.float64)
    for k, row in enumerate(step_rows(hp, steps)):
        beta1, beta2 = row[BETA1], row[BETA2]
        rho_inf = 2 / (1 - beta2) - 1
        step = float(k + 1)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        out[k, 0] = bias_correction1
        out[k, 1] = bias_correction2**0.5
        if rho_t > 5.0:
            out[k, 2] = (
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            ) ** 0.5
            out[k, 3] = 1.0
    return out


@jit
def radam_step(x, g, state, hp, sched, t):
    lr = hp[LR]
    beta1 = hp[BETA1]
    beta2 = hp[BETA2]
    eps = hp[EPS]
    wd = hp[WEIGHT_DECAY]
    decoupled = hp[DECOUPLED_WEIGHT_DECAY] != 0.0
    w1 = 1.0 - beta1
    w2 = 1.0 - beta2
    decay = 1.0 - lr * wd
    bc1 = sched[0]
    bc2_sqrt = sched[1]
    rect = sched[2]
    rectified = sched[3] != 0.0
    # loads and stores unconditional, the tests pick values (see sgd_step)
    for i in range(x.shape[0]):
        xi = x[i]
        gi = g[i]
        if wd != 0.0:
            if decoupled:
                xi = xi * decay
            else:
                gi = gi + wd * xi
        m = lerp(state[0, i], gi, w1)
        v = state[1, i] * beta2 + (w2 * gi) * gi
        state[0, i] = m
        state[1, i] = v
        u = (m / bc1) * lr
        if rectified:
            adaptive = (1.0 / (math.sqrt(v) + eps)) * bc2_sqrt
            u = (u * adaptive) * rect
        x[i] = xi - u


def radam_check(values: dict) -> None:
    check_betas("radam", values)


register(Optimizer(
    name="radam",
    torch_name="RAdam",
    summary="RAdam: Adam with a variance rectification term and an SGD warm-up (Liu et al., 2020)",
    hypers=HYPERS,
    n_state=2,  # exp_avg, exp_avg_sq
    n_sched=4,  # bc1, bc2 ** 0.5, rect, rho_t > 5
    step=radam_step,
    schedule=radam_schedule,
    check=radam_check,
    momentum_like="beta1",
    doc=r"""
m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad
\hat m_t = \frac{m_t}{1-\beta_1^t},\\
\rho_\infty = \frac{2}{1-\beta_2} - 1,\quad
\rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t},\\
\rho_t > 5:\ \theta_t = \theta_{t-1} - \gamma\hat m_t\,
  \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t}+\epsilon}
  \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}},
\quad\text{else } \theta_t = \theta_{t-1} - \gamma\hat m_t
""",
))
