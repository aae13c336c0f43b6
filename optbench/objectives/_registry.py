"""The objective registry: one small definition per objective.

An :class:`Objective` is a *family* (``rosenbrock`` in any dimension,
``logistic`` on any data set); :meth:`Objective.make` turns it and the
parameters a user gave into a :class:`Problem`, the concrete thing an
optimizer runs on: dimension, arguments for the compiled value-and-gradient
function, domain box, known minima and optimal value.

The compiled function has one of two signatures::

    f = fg(x, g, *args)            # analytic surfaces
    f = fg(x, g, rows, *args)      # data objectives (``batched=True``):
                                   # loss over the rows ``rows`` of the data

It returns the value at ``x`` and writes the gradient into ``g``.  ``args``
come from :attr:`Problem.args` (data arrays, a condition number ...), so one
compiled function serves every instance of the family.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import SpecError
from .._registry import Registry, origin_of, unknown_message
from .instances import TRANSFORM_DOCS, TRANSFORM_PARAMS, Transform, pull_back, to_base, transformed

TAGS = ("convex", "saddle", "valley", "multimodal", "ml", "unbounded")


@dataclass(frozen=True)
class Param:
    """One user-settable parameter of an objective (a spec field)."""

    default: Any
    doc: str = ""
    choices: tuple | None = None
    low: float | None = None  # inclusive bounds for numbers
    high: float | None = None

    def coerce(self, objective: str, name: str, value: Any) -> Any:
        """Check ``value`` against type, choices and bounds; return it typed."""
        where = f"objective {objective!r}: parameter {name!r}"
        kind = type(self.default)
        if self.default is None:
            kind = object
        if kind is bool:
            if not isinstance(value, bool):
                raise SpecError(f"{where} must be true or false, got {value!r}")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise SpecError(f"{where} must be an integer, got {value!r}")
            value = int(value)
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise SpecError(f"{where} must be a number, got {value!r}")
            value = float(value)
            if not np.isfinite(value):
                raise SpecError(f"{where} must be finite, got {value!r}")
        elif kind is str:
            if not isinstance(value, str):
                raise SpecError(f"{where} must be a string, got {value!r}")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise SpecError(f"{where} is {value!r}; allowed: {allowed}")
        if self.low is not None and value < self.low:
            raise SpecError(f"{where} is {value!r}; must be >= {self.low:g}")
        if self.high is not None and value > self.high:
            raise SpecError(f"{where} is {value!r}; must be <= {self.high:g}")
        return value


@dataclass(frozen=True)
class Minimum:
    """A known (local or global) minimum: location and value."""

    x: np.ndarray
    f: float
    kind: str = "global"  # "global" | "local"


@dataclass(frozen=True)
class Built:
    """What an objective's builder returns for one set of parameters."""

    dim: int
    args: tuple
    lower: np.ndarray
    upper: np.ndarray
    minima: tuple[Minimum, ...]
    f_star: float  # optimal value; -inf if unbounded below; nan if unknown
    n_samples: int = 0  # rows of data (batched objectives)
    data_digest: str = ""  # identifies the data (for caches and manifests)


@dataclass(frozen=True)
class Objective:
    """A registered objective family.

    ``build(dim, params) -> Built`` makes one instance.  ``dims`` is the
    (min, max) dimension accepted (max ``None``: any); objectives whose
    dimension follows from their data have ``dim_from_data=True``.
    """

    name: str
    fg: Any
    summary: str
    tags: frozenset
    build: Callable[[int | None, dict], Built]
    dims: tuple[int, int | None] = (2, 2)
    default_dim: int | None = 2
    params: Mapping[str, Param] = field(default_factory=dict)
    batched: bool = False
    # value_only: fg accepts an empty g (length 0) and then returns the value
    # alone, leaving g untouched (a data objective's logged full-data loss
    # skips its backward pass when no gradient norm is recorded there)
    value_only: bool = False
    # fg_step (batched objectives, optional): fg for the minibatch of an
    # optimizer step.  The driver reads its gradient, and its value only to
    # stop a run whose minibatch loss is not finite (reported with that
    # value); so fg_step writes fg's gradient and returns a value that is
    # finite exactly when fg's is, and the same NaN or inf when it is not.
    # It may skip terms that are always finite (the logistic loss skips its
    # log1p).  None: fg itself.
    fg_step: Any = None
    dim_from_data: bool = False
    formula: str = ""
    # check_given(given, resolved) may refuse combinations of the fields a
    # user actually set (e.g. a generator's size with a fixed data set)
    check_given: Callable[[set, dict], None] | None = None
    # init_points(problem, scheme, rng, count, std) -> (count, dim) float64
    # initial points for the init scheme ``scheme``, or None where the
    # objective has no special handling for it (the generic uniform / normal /
    # zeros ... of the spec then apply).  ``init_schemes`` names the schemes
    # beyond the generic ones that it supports (e.g. "xavier_uniform").
    init_points: Callable[[Problem, str, np.random.Generator, int, float], np.ndarray | None] | None = None
    init_schemes: frozenset = frozenset()

    def make(self, dim: int | None = None, **params) -> Problem:
        """Validate ``dim`` and ``params`` and build the concrete problem.

        Analytic objectives also take ``rotate``, ``shift`` (default false)
        and ``instance`` (default 1): the seeded rotated and/or shifted
        instance (:mod:`optbench.objectives.instances`).
        """
        rotate, shift, instance = self.resolve_transform(params)
        params = {k: v for k, v in params.items() if k not in TRANSFORM_PARAMS or k in self.params}
        resolved = self.resolve_params(params)
        if self.check_given is not None:
            self.check_given(set(params), resolved)
        dim = self.check_dim(dim)
        built = self.build(dim, resolved)
        problem = Problem(objective=self, params=resolved, **built.__dict__)
        return transformed(problem, rotate, shift, instance)

    def resolve_transform(self, params: Mapping[str, Any]) -> tuple[bool, bool, int]:
        """``(rotate, shift, instance)`` from the parameters a user gave."""
        given = [k for k in TRANSFORM_PARAMS if k in params and k not in self.params]  # (a data objective's own)
        if not given:
            return False, False, 1
        if self.batched:
            raise SpecError(f"objective {self.name!r}: {given[0]} applies to analytic objectives only; "
                            f"{self.name!r} is a data objective")
        rotate, shift, instance = (TRANSFORM_FIELDS[k].coerce(self.name, k, params.get(k, TRANSFORM_FIELDS[k].default))
                                   for k in TRANSFORM_PARAMS)
        if "instance" in params and not (rotate or shift):
            raise SpecError(f"objective {self.name!r}: instance applies to rotated or shifted instances; "
                            f"set rotate = true or shift = true")
        return rotate, shift, instance

    def resolve_params(self, params: Mapping[str, Any]) -> dict:
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise SpecError(unknown_message(f"parameter of objective {self.name!r}", unknown[0], self.params))
        return {k: p.coerce(self.name, k, params.get(k, p.default)) for k, p in self.params.items()}

    def check_dim(self, dim: int | None) -> int | None:
        if self.dim_from_data:
            if dim is not None:
                raise SpecError(
                    f"objective {self.name!r} takes its dimension from its data; remove 'dim' "
                    f"(set the data's features instead)"
                )
            return None
        if dim is None:
            return self.default_dim
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise SpecError(f"objective {self.name!r}: dim must be an integer, got {dim!r}")
        lo, hi = self.dims
        if dim < lo or (hi is not None and dim > hi):
            raise SpecError(f"objective {self.name!r}: dim {dim} not supported; accepted: {self.dims_text}")
        return int(dim)

    @property
    def dims_text(self) -> str:
        lo, hi = self.dims
        if self.dim_from_data:
            return "from data"
        if hi == lo:
            return str(lo)
        return f">= {lo}" if hi is None else f"{lo}..{hi}"


@dataclass(frozen=True, eq=False)
class Problem:
    """A concrete objective instance: what one run optimizes."""

    objective: Objective
    params: dict
    dim: int
    args: tuple
    lower: np.ndarray
    upper: np.ndarray
    minima: tuple[Minimum, ...]
    f_star: float
    n_samples: int = 0
    data_digest: str = ""
    # the rotated / shifted instance (None: the objective as defined);
    # the compiled drivers apply it as value_and_grad does
    transform: Transform | None = None

    @property
    def name(self) -> str:
        return self.objective.name

    @property
    def batched(self) -> bool:
        return self.objective.batched

    @property
    def unbounded(self) -> bool:
        return self.f_star == -np.inf

    def all_rows(self) -> np.ndarray:
        return np.arange(self.n_samples, dtype=np.int64)

    def coerce_point(self, x) -> np.ndarray:
        """``x`` as a contiguous float64 vector of this problem's dimension."""
        arr = np.asarray(x, dtype=np.float64)
        if arr.shape != (self.dim,):
            raise SpecError(
                f"objective {self.name!r} (dim {self.dim}): point has shape {arr.shape}; expected ({self.dim},)"
            )
        arr = np.ascontiguousarray(arr)
        # a read-only point (a recorded minimum) would compile fg once more:
        # Numba types read-only arrays apart
        return arr if arr.flags.writeable else arr.copy()

    def value_and_grad(self, x, rows=None) -> tuple[float, np.ndarray]:
        """Value and analytic gradient at ``x`` (full data unless ``rows``);
        of the rotated / shifted instance where :attr:`transform` is set:
        ``f(R (x - s) + c)`` and ``R^T`` times f's gradient there."""
        x = self.coerce_point(x)
        g = np.empty_like(x)
        if self.batched:
            rows = self.all_rows() if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
            f = self.objective.fg(x, g, rows, *self.args)
        else:
            if rows is not None:
                raise SpecError(f"objective {self.name!r} has no data; 'rows' does not apply")
            t = self.transform
            if t is None:
                f = self.objective.fg(x, g, *self.args)
            else:
                y = np.empty_like(x)
                gy = np.empty_like(x)
                to_base(x, t.R, t.s, t.c, y)
                f = self.objective.fg(y, gy, *self.args)
                pull_back(gy, t.R, g)
        return float(f), g

    def value(self, x, rows=None) -> float:
        return self.value_and_grad(x, rows)[0]

    def init_points(self, scheme: str, rng: np.random.Generator, count: int, std: float) -> np.ndarray | None:
        """``count`` initial points (count, dim) from the objective's own
        ``scheme`` (e.g. per-layer Xavier for a network), drawn from ``rng``;
        None when the objective leaves ``scheme`` to the generic code."""
        hook = self.objective.init_points
        if hook is None:
            return None
        points = hook(self, scheme, rng, count, std)
        if points is None:
            return None
        points = np.ascontiguousarray(points, dtype=np.float64)
        if points.shape != (count, self.dim):
            raise ValueError(
                f"objective {self.name!r}: init scheme {scheme!r} gave points of shape {points.shape}; "
                f"expected ({count}, {self.dim})"
            )
        return points

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}(dim={self.dim}{', ' + shown if shown else ''})"


OBJECTIVES = Registry("objective")

# the parameters every analytic objective takes besides its own (see Objective.make)
TRANSFORM_FIELDS = {
    "rotate": Param(False, TRANSFORM_DOCS["rotate"]),
    "shift": Param(False, TRANSFORM_DOCS["shift"]),
    "instance": Param(1, TRANSFORM_DOCS["instance"], low=1),
}


NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


def register(obj: Objective) -> Objective:
    """Add ``obj`` to the registry, after checking its name, tags and the
    signature of its ``fg``: ``fg(x, g, *args)``, or ``fg(x, g, rows,
    *args)`` with ``batched=True``."""
    from ..optimizers._registry import _check_parameters

    if not isinstance(obj.name, str) or not NAME_RE.match(obj.name):
        raise SpecError(f"objective name must be letters, digits, '_', '-' (starting with a letter), "
                        f"got {obj.name!r}")
    if not callable(obj.fg):
        raise SpecError(f"objective {obj.name!r}: fg must be a numba.njit function, got {type(obj.fg).__name__}")
    _check_parameters(f"objective {obj.name!r}: fg", obj.fg, ("x", "g", "rows") if obj.batched else ("x", "g"),
                      at_least=True)
    reserved = sorted(set(obj.params) & set(TRANSFORM_PARAMS))
    if reserved and not obj.batched:
        raise SpecError(f"objective {obj.name!r}: parameter name {reserved[0]!r} is reserved for rotated and shifted "
                        f"instances ({', '.join(TRANSFORM_PARAMS)}); rename it")
    bad = set(obj.tags) - set(TAGS)
    if bad:
        raise SpecError(f"objective {obj.name!r}: unknown tags {sorted(bad)}; known: {', '.join(TAGS)}")
    return OBJECTIVES.register(obj, origin_of(obj.fg))


def box(dim: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    return np.full(dim, float(lo)), np.full(dim, float(hi))


def surface(
    name: str,
    fg,
    *,
    summary: str = "",
    tags=(),
    domain: tuple[float, float] | Callable[[int, dict], tuple[np.ndarray, np.ndarray]],
    minima: Callable[[int, dict], list[Minimum]] | list[Minimum],
    f_star: float | Callable[[int, dict], float] | None = None,
    dims: tuple[int, int | None] = (2, 2),
    default_dim: int = 2,
    params: Mapping[str, Param] | None = None,
    args: Callable[[int, dict], tuple] | None = None,
    formula: str = "",
) -> Objective:
    """Define and register an analytic surface; returns its :class:`Objective`.

    ``fg(x, g, *args) -> f``: a ``numba.njit`` function (a plain Python
    function is compiled with optbench's flags) that returns the value at
    ``x`` (float64, shape ``(dim,)``) and writes the gradient into ``g``;
    ``args(dim, params) -> tuple`` gives its extra arguments (arrays,
    numbers) for each instance.  ``domain``: ``(low, high)`` for every
    coordinate, or ``(dim, params) -> (lower, upper)`` arrays: where
    initial points are drawn and contours are plotted.  ``minima``: the
    known :class:`Minimum` points (a list, or ``(dim, params) -> list``);
    ``f_star`` defaults to the smallest of their values; pass ``-inf`` for
    surfaces unbounded below.  ``dims``: the (min, max) dimension accepted
    (max ``None``: any).  ``params``: name -> :class:`Param`, settable in a
    spec.  ``tags``: any of :data:`TAGS`.  ``optbench check NAME`` checks
    ``fg``'s gradient against finite differences.
    """
    from .._jit import jit

    if callable(fg) and not hasattr(fg, "py_func"):
        fg = jit(fg, cache=False)

    def build(dim: int, params: dict) -> Built:
        lo_hi = domain(dim, params) if callable(domain) else box(dim, *domain)
        lo_hi = tuple(np.asarray(b, dtype=np.float64) for b in lo_hi)
        if any(b.shape != (dim,) for b in lo_hi) or not np.all(lo_hi[0] < lo_hi[1]):
            raise SpecError(f"objective {name!r}: domain must give lower < upper, each of shape ({dim},)")
        mins = minima(dim, params) if callable(minima) else minima
        mins = tuple(Minimum(np.asarray(m.x, dtype=np.float64), float(m.f), m.kind) for m in mins)
        if any(m.x.shape != (dim,) for m in mins):
            raise SpecError(f"objective {name!r}: a known minimum's x does not have shape ({dim},)")
        extra = args(dim, params) if args else ()
        n_extra = len(inspect.signature(fg.py_func).parameters) - 2
        if len(extra) != n_extra:
            raise SpecError(f"objective {name!r}: fg takes {n_extra} argument(s) after (x, g) but args(dim, params) "
                            f"gave {len(extra)}")
        if callable(f_star):
            fs = float(f_star(dim, params))
        elif f_star is not None:
            fs = float(f_star)
        else:
            fs = min(m.f for m in mins) if mins else float("nan")
        return Built(
            dim=dim,
            args=tuple(extra),
            lower=lo_hi[0],
            upper=lo_hi[1],
            minima=mins,
            f_star=fs,
        )

    return register(
        Objective(
            name=name,
            fg=fg,
            summary=summary,
            tags=frozenset(tags),
            build=build,
            dims=dims,
            default_dim=default_dim,
            params=params or {},
            formula=formula,
        )
    )
