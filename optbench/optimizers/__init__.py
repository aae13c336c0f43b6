"""Registered optimizers, each with torch.optim's exact update rule."""
from __future__ import annotations

from . import adadelta, adagrad, adam, adamax, nadam, radam, rmsprop, sgd  # noqa: E402,F401  (register)
from ._registry import OPTIMIZERS, Hyper, Optimizer, register


def get(name: str) -> Optimizer:
    return OPTIMIZERS[name]


def names() -> list[str]:
    return list(OPTIMIZERS)


__all__ = ["OPTIMIZERS", "Hyper", "Optimizer", "get", "names", "register"]
