"""An optbench plugin: the Lion optimizer and the Bohachevsky function.

Load it from a spec (``plugins = ["my_plugin.py"]``, see
``own_optimizer.toml`` beside it) or with ``optbench run SPEC --plugin
examples/my_plugin.py``.  Its functions are plain ``numba.njit`` functions;
optbench compiles them into its sweep drivers itself.  See
``docs/extending.md`` for the API.
"""
import math

import numba
import numpy as np

from optbench.objectives import Minimum, surface
from optbench.optimizers import hyper_slots, optimizer, require

# ----------------------------------------------------------------- Lion

LION_HYPERS = {"lr": 1e-4, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0}
LR, BETA1, BETA2, WEIGHT_DECAY = hyper_slots(LION_HYPERS, "lr", "beta1", "beta2", "weight_decay")


@numba.njit
def lion_step(x, g, state, hp, sched, t):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"),
    as lion-pytorch computes it, with m = state[0] (zero before step 1)::

        x = x * (1 - lr * weight_decay)                  # decoupled weight decay
        c = m * beta1 + (1 - beta1) * g                  # the update's direction
        x = x + (-lr) * sign(c)                          # a step of lr in every coordinate
        m = m * beta2 + (1 - beta2) * g                  # the momentum it keeps
    """
    lr = hp[LR]
    beta1 = hp[BETA1]
    beta2 = hp[BETA2]
    decay = 1.0 - lr * hp[WEIGHT_DECAY]
    for i in range(x.shape[0]):
        m = state[0, i]
        c = m * beta1 + (1.0 - beta1) * g[i]
        x[i] = x[i] * decay + (-lr) * np.sign(c)
        state[0, i] = m * beta2 + (1.0 - beta2) * g[i]


def lion_check(values):
    for beta in ("beta1", "beta2"):
        require(0.0 <= values[beta] < 1.0, "lion", f"{beta} must be in [0, 1), got {values[beta]!r}")
    require(values["weight_decay"] >= 0.0, "lion", f"weight_decay must be >= 0, got {values['weight_decay']!r}")


optimizer("lion", lion_step, hypers=LION_HYPERS, n_state=1, check=lion_check, momentum_like="beta1",
          summary="Lion: the sign of an interpolated momentum (Chen et al. 2023)")

# ----------------------------------------------------------- Bohachevsky


@numba.njit
def bohachevsky_fg(x, g):
    """f(x, y) = x^2 + 2 y^2 - 0.3 cos(3 pi x) - 0.4 cos(4 pi y) + 0.7."""
    a = 3.0 * math.pi * x[0]
    b = 4.0 * math.pi * x[1]
    g[0] = 2.0 * x[0] + 0.9 * math.pi * math.sin(a)
    g[1] = 4.0 * x[1] + 1.6 * math.pi * math.sin(b)
    return x[0] * x[0] + 2.0 * x[1] * x[1] - 0.3 * math.cos(a) - 0.4 * math.cos(b) + 0.7


surface("bohachevsky", bohachevsky_fg, summary="a bowl with cosine ripples (Bohachevsky 1)",
        formula="f(x, y) = x² + 2y² − 0.3 cos(3πx) − 0.4 cos(4πy) + 0.7",
        tags={"multimodal"}, domain=(-2.0, 2.0), minima=[Minimum(np.zeros(2), 0.0)])
