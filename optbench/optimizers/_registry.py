"""The optimizer registry: one small definition per optimizer.

An optimizer here is torch.optim's update rule, split so that a compiled
sweep kernel can run it for thousands of runs at once:

* ``hypers``: torch's hyperparameter names and defaults, in a fixed order.
  A run's hyperparameters travel to the kernel as one float64 row ``hp`` in
  that order (booleans as 0.0 / 1.0; ``betas`` as two entries ``beta1``,
  ``beta2``).
* ``schedule(hp, steps) -> (steps, n_sched)`` float64: the per-step scalars
  that torch computes in Python floats (bias corrections, ``lr / (1 -
  beta1**t)``, NAdam's running ``mu_product``, RAdam's ``rho_t`` ...).  They
  depend on the step number and the hyperparameters only, so they are
  computed once per distinct hyperparameter row, in Python float arithmetic
  exactly as torch does (C ``pow``), and row ``t - 1`` is passed to step
  ``t``.  This keeps every ``pow`` out of the inner loop and keeps the
  arithmetic bit-identical to torch's.
* ``step(x, g, state, hp, sched, t)``: a Numba function updating ``x``
  (float64, shape (dim,)) and ``state`` (float64, shape (n_state, dim),
  zero-filled before step 1) in place, given the gradient ``g`` at ``x``
  (the step may overwrite ``g``), the run's ``hp`` row, the schedule row
  ``sched`` of this step and the 1-based step number ``t``.
* ``check(hp_dict)``: refuses what torch refuses (negative lr, nesterov
  without momentum ...) with a one-line :class:`SpecError`.
* ``elementwise``: the update of coordinate ``i`` reads only coordinate
  ``i`` of ``x``, ``g`` and ``state`` (and ``hp``, ``sched``, ``t``), as for
  every torch.optim rule here.  The engine then steps a block of runs that
  share a hyperparameter row with one call on their concatenated
  coordinates (the vectorised lane driver).  An optimizer whose update
  couples coordinates (a norm of the whole gradient, LARS, Adafactor's
  factored moments ...) must say ``elementwise=False``; it then runs in the
  one-run-at-a-time driver.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import SpecError
from .._registry import Registry, unknown_message


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: torch's name and default."""

    name: str
    default: float | bool
    doc: str = ""

    @property
    def is_bool(self) -> bool:
        return isinstance(self.default, bool)


@dataclass(frozen=True)
class Optimizer:
    name: str
    torch_name: str  # class in torch.optim
    summary: str
    hypers: tuple[Hyper, ...]
    n_state: int
    n_sched: int
    step: Any
    schedule: Callable[[np.ndarray, int], np.ndarray]
    check: Callable[[dict], None]
    momentum_like: str | None = None  # hyper shown on the lr x momentum heatmap
    doc: str = ""
    elementwise: bool = True  # see the module docstring: allows the lane driver

    @property
    def hyper_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hypers)

    def defaults(self) -> dict:
        return {h.name: h.default for h in self.hypers}

    def resolve(self, values: dict) -> dict:
        """Fill defaults, coerce types, and check as torch would."""
        unknown = sorted(set(values) - set(self.hyper_names))
        if unknown:
            raise SpecError(unknown_message(f"hyperparameter of optimizer {self.name!r}", unknown[0], self.hyper_names))
        out = {}
        for h in self.hypers:
            v = values.get(h.name, h.default)
            where = f"optimizer {self.name!r}: {h.name}"
            if h.is_bool:
                if not isinstance(v, (bool, np.bool_)):
                    raise SpecError(f"{where} must be true or false, got {v!r}")
                v = bool(v)
            else:
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                    raise SpecError(f"{where} must be a number, got {v!r}")
                v = float(v)
                if not np.isfinite(v):
                    raise SpecError(f"{where} must be finite, got {v!r}")
            out[h.name] = v
        self.check(out)
        return out

    def hp_row(self, values: dict) -> np.ndarray:
        """The float64 row a kernel sees, from resolved values."""
        return np.array([float(values[h.name]) for h in self.hypers], dtype=np.float64)

    def torch_kwargs(self, values: dict) -> dict:
        """The keyword arguments that build the same optimizer in torch.optim."""
        kw = dict(values)
        if "beta1" in kw:
            kw["betas"] = (kw.pop("beta1"), kw.pop("beta2"))
        return kw


def hyper_slots(hypers: tuple[Hyper, ...], *names: str) -> tuple[int, ...]:
    """The positions of ``names`` in ``hypers``, which are their indices in
    the ``hp`` row a step reads: ``LR, MOMENTUM = hyper_slots(HYPERS, "lr",
    "momentum")``, then ``hp[LR]``.  Looked up by name, so the order lives in
    the declaration alone; a name not declared fails at import."""
    declared = [h.name for h in hypers]
    missing = [n for n in names if n not in declared]
    if missing:
        raise ValueError(f"hyper_slots: {', '.join(map(repr, missing))} not among the hyperparameters {declared}")
    return tuple(declared.index(n) for n in names)


OPTIMIZERS = Registry("optimizer")


def register(opt: Optimizer) -> Optimizer:
    return OPTIMIZERS.register(opt)


def require(cond: bool, opt: str, message: str) -> None:
    """Raise a one-line SpecError ``optimizer 'x': message`` unless ``cond``."""
    if not cond:
        raise SpecError(f"optimizer {opt!r}: {message}")
