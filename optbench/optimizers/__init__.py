"""Registered optimizers, each with torch.optim's exact update rule."""
from __future__ import annotations

from ._registry import OPTIMIZERS, Hyper, Optimizer, register

from . import sgd, adagrad, rmsprop, adadelta, adam, adamax, nadam, radam  # noqa: E402,F401  (register)


def get(name: str) -> Optimizer:
    return OPTIMIZERS[name]


def names() -> list[str]:
    return list(OPTIMIZERS)


__all__ = ["OPTIMIZERS", "Hyper", "Optimizer", "get", "names", "register"]
