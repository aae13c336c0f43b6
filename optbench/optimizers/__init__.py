"""Registered optimizers, each with torch.optim's exact update rule.

To add one, see :func:`optimizer` (and ``docs/extending.md``).
"""
from __future__ import annotations

from . import adadelta, adagrad, adam, adamax, cg, gd_armijo, lbfgs, nadam, radam, rmsprop, sgd  # noqa: E402,F401  (register)
from ._registry import OPTIMIZERS, Hyper, Optimizer, hyper_slots, no_schedule, optimizer, register, require, step_rows


def get(name: str) -> Optimizer:
    """The optimizer registered as ``name``; unknown names suggest close ones."""
    return OPTIMIZERS[name]


def names() -> list[str]:
    return list(OPTIMIZERS)


__all__ = ["OPTIMIZERS", "Hyper", "Optimizer", "get", "hyper_slots", "names", "no_schedule", "optimizer", "register",
           "require", "step_rows"]
