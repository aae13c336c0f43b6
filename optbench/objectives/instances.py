"""Rotated and shifted instances of the analytic objectives (COCO/BBOB style).

Axis-aligned test functions flatter optimizers that adapt per coordinate
(Adam, RMSprop, Adagrad): the ellipsoid's axes are theirs.  An *instance*
runs the same function in rotated and shifted coordinates::

    F(x) = f(R (x - s) + c),        grad F(x) = R^T grad f(R (x - s) + c)

with ``R`` a random orthogonal matrix, ``s`` a random shift and ``c`` the
*anchor*: the mean of the objective's known global minima (the centre of its
domain box when it has none).  ``x = s`` maps to ``y = c``, so the rotation
turns the landscape about its minimum and the shift moves that minimum to
``s``.  Without ``rotate``, ``R = I``; without ``shift``, ``s = c``; with
neither, ``F = f`` (and the problem carries no transform at all).

A known minimum ``m`` of ``f`` becomes ``x = s + R^T (m - c)`` of ``F``
with the same value; ``f*``, the domain box (where initial points are drawn)
and the minima's kinds are unchanged.

Seeding (a user contract: instance 2 of ``rosenbrock`` in 10-D is the same
on every machine and in every version)::

    rng = numpy.random.default_rng(numpy.random.SeedSequence(
        [instance, dim, zlib.crc32(name.encode())]))
    G = rng.standard_normal((dim, dim))      # always drawn, also without rotate
    Q, T = numpy.linalg.qr(G)
    R = Q * sign(diag(T))                    # Haar-distributed (Mezzadri 2007)
    s = rng.uniform(lo, hi)                  # drawn only with shift

where ``[lo, hi]`` is the box of shifts that keeps ``s`` and every mapped
known minimum (global and local) inside the domain box.  Where no shift
does (rotated Styblinski-Tang in 4 to 6 dimensions: its 2^n minima fill the
box's corners), the box keeps ``s`` and the global minima inside, and local
minima may lie outside; where even that box is empty, it is an error naming
the objective, dimension and instance.  Without ``shift`` nothing is
checked: the rotation about ``c`` may carry minima other than ``c`` out of
the box.  The objective's other
parameters (an ellipsoid's ``cond``) do not enter the seed: instance 2 of a
1e3 and of a 1e6 ellipsoid share ``R`` and ``s``.

:func:`to_base` and :func:`pull_back` are the only code that applies a
transform: :meth:`~optbench.objectives.Problem.value_and_grad` calls them
from Python and the compiled drivers inline them, so both give the same
numbers bit for bit.
"""
from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass

import numpy as np

from .._errors import SpecError
from .._jit import jit

# spec fields / make() parameters of every analytic objective
TRANSFORM_PARAMS = ("rotate", "shift", "instance")
TRANSFORM_DOCS = {
    "rotate": "true: run the objective in randomly rotated coordinates (a seeded orthogonal R)",
    "shift": "true: move its minimum to a seeded random point of the domain box",
    "instance": "which seeded rotation and shift (an integer >= 1; with rotate or shift)",
}


@dataclass(frozen=True, eq=False)
class Transform:
    """``F(x) = f(R (x - s) + c)`` for one instance (see the module docstring).

    ``R``: (dim, dim) float64, C-contiguous, orthogonal (the identity
    without ``rotate``); ``s``: the shift (``c`` without ``shift``);
    ``c``: the anchor, the mean of the known global minima.
    """

    instance: int
    rotate: bool
    shift: bool
    R: np.ndarray
    s: np.ndarray
    c: np.ndarray

    def to_base(self, x: np.ndarray) -> np.ndarray:
        """``y = R (x - s) + c`` for one point (float64, contiguous)."""
        y = np.empty_like(x)
        to_base(x, self.R, self.s, self.c, y)
        return y

    def from_base(self, y: np.ndarray) -> np.ndarray:
        """The point ``x = s + R^T (y - c)`` that :meth:`to_base` maps to ``y``."""
        return self.s + self.R.T @ (np.asarray(y, dtype=np.float64) - self.c)

    def record(self) -> dict:
        """The instance as plain JSON values (for a results folder's manifest)."""
        return {"instance": self.instance, "rotate": self.rotate, "shift": self.shift,
                "R": self.R.tolist(), "s": self.s.tolist(), "c": self.c.tolist()}


@jit(inline="always")
def to_base(x, R, s, c, y):
    """y = R (x - s) + c."""
    n = x.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += R[i, j] * (x[j] - s[j])
        y[i] = acc + c[i]


@jit(inline="always")
def pull_back(gy, R, g):
    """g = R^T gy."""
    n = gy.shape[0]
    for j in range(n):
        acc = 0.0
        for i in range(n):
            acc += R[i, j] * gy[i]
        g[j] = acc


def anchor(minima, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The mean of the global minima; the centre of the box without any."""
    points = [m.x for m in minima if m.kind == "global"]
    if not points:
        return 0.5 * (lower + upper)
    return np.mean(np.stack(points), axis=0)


def haar_rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A Haar-distributed orthogonal matrix (QR of a Gaussian matrix, the
    columns' signs fixed by the diagonal of the triangular factor)."""
    gauss = rng.standard_normal((dim, dim))
    q, t = np.linalg.qr(gauss)
    signs = np.sign(np.diag(t))
    signs[signs == 0.0] = 1.0
    return np.ascontiguousarray(q * signs, dtype=np.float64)


def shift_box(R: np.ndarray, c: np.ndarray, lower: np.ndarray, upper: np.ndarray, minima) -> tuple:
    """(lo, hi): the shifts ``s`` that keep ``s`` and each minimum's image
    ``s + R^T (m - c)`` inside [lower, upper]; empty where lo > hi."""
    offsets = np.stack([np.zeros_like(c), *(R.T @ (m.x - c) for m in minima)])
    return lower - offsets.min(axis=0), upper - offsets.max(axis=0)


def make_transform(name: str, dim: int, lower: np.ndarray, upper: np.ndarray, minima, rotate: bool, shift: bool,
                   instance: int) -> Transform:
    """The seeded :class:`Transform` of instance ``instance`` (see the module docstring)."""
    c = anchor(minima, lower, upper)
    rng = np.random.default_rng(np.random.SeedSequence([instance, dim, zlib.crc32(name.encode())]))
    rotation = haar_rotation(rng, dim)
    R = rotation if rotate else np.eye(dim)
    s = c.copy()
    if shift:
        lo, hi = shift_box(R, c, lower, upper, minima)
        if np.any(lo > hi):  # e.g. Styblinski-Tang's 2^n minima in 4..6-D, rotated: keep the global ones
            lo, hi = shift_box(R, c, lower, upper, [m for m in minima if m.kind == "global"])
        if np.any(lo > hi):
            i = int(np.argmax(lo - hi))
            raise SpecError(
                f"objective {name!r} (dim {dim}) instance {instance}: no shift keeps its global minima inside the "
                f"domain box (after the rotation they span {upper[i] - lower[i] - (hi[i] - lo[i]):.3g} in "
                f"coordinate {i}, the box {upper[i] - lower[i]:.3g}); use another instance, or shift = false"
            )
        s = rng.uniform(lo, hi)
    return Transform(instance=int(instance), rotate=bool(rotate), shift=bool(shift), R=R,
                     s=np.ascontiguousarray(s, dtype=np.float64), c=np.ascontiguousarray(c, dtype=np.float64))


def transformed(problem, rotate: bool, shift: bool, instance: int):
    """``problem`` as its instance ``instance`` (a new :class:`Problem`):
    params gain ``rotate``, ``shift``, ``instance``; the known minima are
    mapped; ``problem`` itself when neither ``rotate`` nor ``shift``."""
    if not (rotate or shift):
        return problem
    if problem.batched:
        raise SpecError(f"objective {problem.name!r} is a data objective; rotate and shift apply to analytic "
                        f"objectives only")
    t = make_transform(problem.name, problem.dim, problem.lower, problem.upper, problem.minima, rotate, shift,
                       instance)
    minima = tuple(dataclasses.replace(m, x=t.from_base(m.x)) for m in problem.minima)
    params = {**problem.params, "rotate": bool(rotate), "shift": bool(shift), "instance": int(instance)}
    return dataclasses.replace(problem, params=params, minima=minima, transform=t)


def manifest_records(problems) -> list[dict]:
    """One record per distinct transformed problem (by ``describe()``):
    ``{"case", "objective", "dim", "instance", "rotate", "shift", "R", "s",
    "c"}``, so a results folder documents exactly what ran; [] when none is
    transformed."""
    out: dict[str, dict] = {}
    for p in problems:
        t = getattr(p, "transform", None)
        if t is None:
            continue
        key = p.describe()
        if key not in out:
            out[key] = {"case": key, "objective": p.name, "dim": p.dim, **t.record()}
    return list(out.values())
