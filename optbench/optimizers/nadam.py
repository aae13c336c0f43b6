r"""NAdam: ``torch.optim.NAdam``, single-tensor path (Adam with Nesterov momentum).

Update at step :math:`t` (torch's documented rule, :math:`\gamma` = lr,
:math:`\psi` = momentum_decay, :math:`\lambda` = weight_decay)::

    g_t = g_t + lambda * theta_{t-1}                    (coupled, if lambda != 0)
    theta_{t-1} = theta_{t-1} * (1 - gamma * lambda)    (decoupled_weight_decay)
    mu_t = beta1 (1 - 0.5 * 0.96^(t psi)),   mu_{t+1} = beta1 (1 - 0.5 * 0.96^((t+1) psi))
    m_t = beta1 m_{t-1} + (1 - beta1) g_t
    v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    d_t = sqrt(v_t / (1 - beta2^t)) + eps
    theta_t = theta_{t-1} - gamma (1 - mu_t) / (1 - prod_{i<=t} mu_i) * g_t / d_t
                          - gamma mu_{t+1} / (1 - prod_{i<=t+1} mu_i) * m_t / d_t

Arithmetic in torch's operation order (see ``adam.py``, "Rounding")::

    m     = m + (1 - beta1) * (g - m)           # lerp_
    v     = v * beta2 + ((1 - beta2) * g) * g   # mul_(beta2).addcmul_(...)
    denom = sqrt(v / bc2) + eps                 # bc2 = 1 - beta2 ** t
    theta = theta + (c_g * g) / denom           # c_g = -lr * (1 - mu) / (1 - mu_product)
    theta = theta + (c_m * m) / denom           # c_m = (-lr * mu_next) / (1 - mu_product * mu_next)

Traps: the running product of the mu_t lives in a 0-dim tensor of torch's
*default dtype* (float32 unless ``torch.set_default_dtype(torch.float64)``):
``mu_product *= mu`` rounds mu and the product to float32 at every step, and
the coefficients use that float32 value; the schedule here does the same
(default dtype float32).  Two separate addcdiv_ calls: the gradient term and
the momentum term are added to theta one after the other.  eps is added
after the root of the bias-corrected v.
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ._registry import Hyper, Optimizer, hyper_slots, register, require, step_rows
from .adam import check_betas, lerp

HYPERS = (
    Hyper("lr", 2e-3, "learning rate"),
    Hyper("beta1", 0.9, "decay of the first moment (betas[0])"),
    Hyper("beta2", 0.999, "decay of the second moment (betas[1])"),
    Hyper("eps", 1e-8, "added to the root of the bias-corrected second moment"),
    Hyper("weight_decay", 0.0, "L2 penalty (or decoupled decay)"),
    Hyper("momentum_decay", 4e-3, "psi in mu_t = beta1 (1 - 0.5 * 0.96^(t psi))"),
    Hyper("decoupled_weight_decay", False, "decay theta as AdamW does"),
)
LR, BETA1, BETA2, EPS, WEIGHT_DECAY, MOMENTUM_DECAY, DECOUPLED_WEIGHT_DECAY = hyper_slots(
    HYPERS, "lr", "beta1", "beta2", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay")


def nadam_schedule(hp: np.ndarray, steps: int) -> np.ndarray:
    """Per step: ``bias_correction2``, the gradient and momentum coefficients."""
    f32 = np.float32
    mu_product = f32(1.0)  # torch.tensor(1.0) in the default dtype (float32)
    out = np.empty((steps, 3), dtype=np.float64)
    for k, row in enumerate(step_rows(hp, steps)):
        lr, beta1, beta2, momentum_decay = row[LR], row[BETA1], row[BETA2], row[MOMENTUM_DECAY]
        step = float(k + 1)
        bias_correction2 = 1 - beta2**step
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mu_product = mu_product * f32(mu)  # float32 tensor *= Python float
        mp = float(mu_product)
        mu_product_next = mp * mu_next
        out[k, 0] = bias_correction2
        out[k, 1] = -lr * (1.0 - mu) / (1.0 - mp)
        out[k, 2] = (-lr * mu_next) / (1.0 - mu_product_next)
    return out


@jit
def nadam_step(x, g, state, hp, sched, t):
    lr = hp[LR]
    beta1 = hp[BETA1]
    beta2 = hp[BETA2]
    eps = hp[EPS]
    wd = hp[WEIGHT_DECAY]
    decoupled = hp[DECOUPLED_WEIGHT_DECAY] != 0.0
    w1 = 1.0 - beta1
    w2 = 1.0 - beta2
    decay = 1.0 - lr * wd
    bc2 = sched[0]
    c_grad = sched[1]
    c_avg = sched[2]
    for i in range(x.shape[0]):
        gi = g[i]
        if wd != 0.0:
            if decoupled:
                x[i] = x[i] * decay
            else:
                gi = gi + wd * x[i]
        m = lerp(state[0, i], gi, w1)
        v = state[1, i] * beta2 + (w2 * gi) * gi
        state[0, i] = m
        state[1, i] = v
        denom = math.sqrt(v / bc2) + eps
        xi = x[i] + (c_grad * gi) / denom
        x[i] = xi + (c_avg * m) / denom


def nadam_check(values: dict) -> None:
    check_betas("nadam", values)
    md = values["momentum_decay"]
    require(md >= 0.0, "nadam", f"momentum_decay must be >= 0 (got momentum_decay={md!r})")


register(Optimizer(
    name="nadam",
    torch_name="NAdam",
    summary="NAdam: Adam with Nesterov momentum and a momentum warm-up (Dozat, 2016)",
    hypers=HYPERS,
    n_state=2,  # exp_avg, exp_avg_sq
    n_sched=3,  # bias_correction2, grad coefficient, momentum coefficient
    step=nadam_step,
    schedule=nadam_schedule,
    check=nadam_check,
    momentum_like="beta1",
    doc=r"""
\mu_t = \beta_1\bigl(1 - \tfrac12 0.96^{t\psi}\bigr),\quad
m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\\
\theta_t = \theta_{t-1}
 - \frac{\gamma(1-\mu_t)}{1-\prod_{i\le t}\mu_i}\frac{g_t}{\sqrt{v_t/(1-\beta_2^t)}+\epsilon}
 - \frac{\gamma\mu_{t+1}}{1-\prod_{i\le t+1}\mu_i}\frac{m_t}{\sqrt{v_t/(1-\beta_2^t)}+\epsilon}
""",
))
