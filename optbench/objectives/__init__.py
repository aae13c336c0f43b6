"""Registered objectives: analytic test surfaces, machine-learning losses and small networks.

>>> from optbench import objectives
>>> p = objectives.make("rosenbrock", dim=3)
>>> p.value_and_grad([1.0, 1.0, 1.0])
(0.0, array([0., 0., 0.]))
"""
from __future__ import annotations

from . import (
    ml,  # noqa: E402,F401  (registers the data objectives)
    nn,  # noqa: E402,F401  (registers the neural-network objectives)
    surfaces,  # noqa: E402,F401  (registers the analytic surfaces)
)
from ._registry import OBJECTIVES, Built, Minimum, Objective, Param, Problem, register, surface
from .instances import TRANSFORM_PARAMS, Transform


def get(name: str) -> Objective:
    """The objective registered as ``name``; unknown names suggest close ones."""
    return OBJECTIVES[name]


def make(name: str, dim: int | None = None, **params) -> Problem:
    """Build the concrete problem ``name`` (validated ``dim`` and parameters)."""
    return OBJECTIVES[name].make(dim, **params)


def names() -> list[str]:
    return list(OBJECTIVES)


__all__ = [
    "OBJECTIVES", "TRANSFORM_PARAMS", "Built", "Minimum", "Objective", "Param", "Problem", "Transform", "get", "make",
    "names", "register", "surface",
]
