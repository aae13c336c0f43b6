r"""Adam and AdamW: ``torch.optim.Adam`` / ``torch.optim.AdamW``, single-tensor path.

Update at step :math:`t` (torch's documented rule, :math:`\gamma` = lr,
:math:`\lambda` = weight_decay)::

    Adam:  g_t = g_t + lambda * theta_{t-1}            (if lambda != 0)
    AdamW: theta_{t-1} = theta_{t-1} * (1 - gamma * lambda)   (decoupled, first)
    m_t = beta1 m_{t-1} + (1 - beta1) g_t
    v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    vmax_t = max(vmax_{t-1}, v_t)                      (amsgrad; v_t otherwise)
    theta_t = theta_{t-1} - gamma / (1 - beta1^t) * m_t / (sqrt(vmax_t) / sqrt(1 - beta2^t) + eps)

Arithmetic in torch's operation order (per-step scalars are Python floats
from the schedule; see "Rounding" below)::

    m     = m + (1 - beta1) * (g - m)       # lerp_(g, w), w = 1 - beta1 < 0.5; else g - (g - m) * (1 - w)
    v     = v * beta2 + ((1 - beta2) * g) * g  # mul_(beta2).addcmul_(g, g, value=1 - beta2)
    denom = sqrt(v) / bc2_sqrt + eps        # bc2_sqrt = (1 - beta2 ** t) ** 0.5
    theta = theta + (-step_size * m) / denom   # addcdiv_, step_size = lr / (1 - beta1 ** t)

Traps: eps is added *after* dividing sqrt(v) by the bias correction (not
inside the root, not before the division); the m-hat / v-hat of the paper are
never formed.  AdamW's default weight_decay is 1e-2 (Adam's is 0) and it
shrinks the parameters, ``theta *= 1 - lr * wd``, before the moment updates;
Adam's (coupled) weight decay adds ``wd * theta`` to the gradient instead.
With amsgrad the running maximum of v (not of the bias-corrected v) is used.

Rounding (all optimizers here): the operations are torch's, in torch's order,
unfused, as in the canonical order of the peer implementations.  torch's own
CPU kernels (AVX2 / AVX512 builds) contract ``add_(x, alpha=a)``,
``addcmul_`` and ``lerp_`` into fused multiply-adds and take ``sqrt`` from
MKL (not always correctly rounded), so a trajectory agrees with torch.optim's
to a few ulps per step (~1e-14 relative over hundreds of steps on smooth
problems), not bit for bit; chaotic runs amplify that like any 1-ulp change.
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ._registry import Hyper, Optimizer, hyper_slots, register, require, step_rows


# ------------------------------------------------------------ shared helpers
@jit(inline="always")
def lerp(a, b, w):
    """torch's ``a.lerp_(b, w)`` for float64: two formulas, split at |w| = 0.5."""
    if abs(w) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (1.0 - w)


@jit(inline="always")
def lerp_at(a, b, w, near):
    """``lerp`` with its formula picked by the caller, ``near = abs(w) < 0.5``
    computed once outside the loop over coordinates."""
    if near:
        return a + w * (b - a)
    return b - (b - a) * (1.0 - w)


@jit(inline="always")
def maximum(a, b):
    """``torch.maximum``: NaN if either argument is NaN."""
    if a > b or a != a:
        return a
    return b


def check_betas(name: str, values: dict) -> None:
    """Torch's common checks for the Adam family: lr, eps, betas in [0, 1), weight_decay."""
    lr, eps = values["lr"], values["eps"]
    require(lr >= 0.0, name, f"lr must be >= 0 (got lr={lr!r})")
    require(eps >= 0.0, name, f"eps must be >= 0 (got eps={eps!r})")
    for b in ("beta1", "beta2"):
        v = values[b]
        require(0.0 <= v < 1.0, name, f"{b} must be in [0, 1) (got {b}={v!r})")
    wd = values["weight_decay"]
    require(wd >= 0.0, name, f"weight_decay must be >= 0 (got weight_decay={wd!r})")


# ------------------------------------------------------------------- Adam
HYPERS = (
    Hyper("lr", 1e-3, "learning rate"),
    Hyper("beta1", 0.9, "decay of the first moment (betas[0])"),
    Hyper("beta2", 0.999, "decay of the second moment (betas[1])"),
    Hyper("eps", 1e-8, "added to the bias-corrected root of the second moment"),
    Hyper("weight_decay", 0.0, "L2 penalty added to the gradient"),
    Hyper("amsgrad", False, "use the running maximum of the second moment"),
)
LR, BETA1, BETA2, EPS, WEIGHT_DECAY, AMSGRAD = hyper_slots(
    HYPERS, "lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad")
# AdamW: the same slots (one step function serves both), its own weight decay
HYPERS_W = tuple(Hyper("weight_decay", 1e-2, "decoupled decay: theta *= 1 - lr * weight_decay")
                 if h.name == "weight_decay" else h for h in HYPERS)


def adam_schedule(hp: np.ndarray, steps: int) -> np.ndarray:
    """Per step: ``-lr / (1 - beta1**t)`` and ``(1 - beta2**t) ** 0.5``, Python floats."""
    out = np.empty((steps, 2), dtype=np.float64)
    for k, row in enumerate(step_rows(hp, steps)):
        lr, beta1, beta2 = row[LR], row[BETA1], row[BETA2]
        step = float(k + 1)  # torch's step counter is a float tensor; .item()
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        out[k, 0] = -step_size
        out[k, 1] = bias_correction2**0.5
    return out


@jit(inline="always")
def _adam_plain(x, g, state, beta2, w1, w2, eps, neg_step_size, bc2_sqrt, near):
    """The update without weight decay or amsgrad, ``near`` (a constant at
    each call) picking lerp's formula: loops free of tests vectorise (with
    the tests inside, LLVM if-converts every case into one masked loop).
    The operations and their order are _adam_update's."""
    for i in range(x.shape[0]):
        gi = g[i]
        m0 = state[0, i]
        if near:
            m = m0 + w1 * (gi - m0)
        else:
            m = gi - (gi - m0) * (1.0 - w1)
        v = state[1, i] * beta2 + (w2 * gi) * gi
        state[0, i] = m
        state[1, i] = v
        denom = math.sqrt(v) / bc2_sqrt + eps
        x[i] = x[i] + (neg_step_size * m) / denom


@jit(inline="always")
def _adam_update(x, g, state, hp, sched, decoupled):
    lr = hp[LR]
    beta1 = hp[BETA1]
    beta2 = hp[BETA2]
    eps = hp[EPS]
    wd = hp[WEIGHT_DECAY]
    amsgrad = hp[AMSGRAD] != 0.0
    w1 = 1.0 - beta1
    w2 = 1.0 - beta2
    decay = 1.0 - lr * wd
    neg_step_size = sched[0]
    bc2_sqrt = sched[1]
    if wd == 0.0 and not amsgrad:
        if abs(w1) < 0.5:
            _adam_plain(x, g, state, beta2, w1, w2, eps, neg_step_size, bc2_sqrt, True)
        else:
            _adam_plain(x, g, state, beta2, w1, w2, eps, neg_step_size, bc2_sqrt, False)
        return
    # every store unconditional, the tests pick values (see sgd_step)
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
        vmax0 = state[2, i]
        vmax = maximum(vmax0, v)
        state[2, i] = vmax if amsgrad else vmax0
        denom = math.sqrt(vmax if amsgrad else v) / bc2_sqrt + eps
        x[i] = xi + (neg_step_size * m) / denom


@jit
def adam_step(x, g, state, hp, sched, t):
    _adam_update(x, g, state, hp, sched, False)


@jit
def adamw_step(x, g, state, hp, sched, t):
    _adam_update(x, g, state, hp, sched, True)


def adam_check(values: dict) -> None:
    check_betas("adam", values)


def adamw_check(values: dict) -> None:
    check_betas("adamw", values)


_DOC = r"""
m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad
\hat v_t = \max(\hat v_{t-1}, v_t)\ \text{(amsgrad, else } v_t),\\
\theta_t = \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
  \frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \epsilon}
"""

register(Optimizer(
    name="adam",
    torch_name="Adam",
    summary="Adam: bias-corrected first and second moments (Kingma & Ba, 2015)",
    hypers=HYPERS,
    n_state=3,  # exp_avg, exp_avg_sq, max_exp_avg_sq
    n_sched=2,  # -step_size, bias_correction2_sqrt
    step=adam_step,
    schedule=adam_schedule,
    check=adam_check,
    momentum_like="beta1",
    doc=r"g_t \leftarrow g_t + \lambda\theta_{t-1}\ (\lambda \ne 0),\\" + _DOC,
))

register(Optimizer(
    name="adamw",
    torch_name="AdamW",
    summary="AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)",
    hypers=HYPERS_W,
    n_state=3,
    n_sched=2,
    step=adamw_step,
    schedule=adam_schedule,
    check=adamw_check,
    momentum_like="beta1",
    doc=r"\theta_{t-1} \leftarrow \theta_{t-1}(1-\gamma\lambda),\\" + _DOC,
))
