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

A *closure* optimizer (``closure=True``: L-BFGS, line searches) is torch's
``optimizer.step(closure)``: one step may evaluate the objective many
times.  Its step is ``step(x, g, f, state, hp, sched, t, closure) -> int``:
``f`` and ``g`` are the value and gradient at ``x`` (the evaluation that
starts the step, which the driver made and counts as one), it may call
:func:`optbench.optimizers.linesearch.evaluate` ``(x2, g2, closure)`` as
often as it likes, and it returns how many further evaluations it made.
Its state has ``state_size(hp)`` rows (a history of any length), and it
runs one run at a time, on full gradients only.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import SpecError
from .._registry import Registry, origin_of, unknown_message


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: torch's name and default."""

    name: str
    default: float | bool | str
    doc: str = ""
    choices: tuple[str, ...] | None = None  # a named option (TOML has no null: "none"); hp holds its index
    integer: bool = False  # a count (torch takes an int): whole numbers only

    @property
    def is_bool(self) -> bool:
        return isinstance(self.default, bool)

    @property
    def is_choice(self) -> bool:
        return self.choices is not None


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
    per_step_hypers: bool = True  # schedule() takes one hp row per step (see step_rows): a scheduler may be used
    closure: bool = False  # step(x, g, f, state, hp, sched, t, closure) -> evaluations (see the module docstring)
    state_size: Callable[[np.ndarray], int] | None = None  # closure optimizers: state rows for an hp row
    # derive(given, values): fill hyperparameters whose default follows from
    # others (torch's ``max_eval = max_iter * 5 // 4`` where None is given)
    derive: Callable[[set, dict], None] | None = None

    def rows_for(self, hp: np.ndarray) -> int:
        """State rows a run with hyperparameter rows ``hp`` (one or many) needs."""
        if self.state_size is None:
            return int(self.n_state)
        hp = np.atleast_2d(hp)
        return max([int(self.n_state), *(int(self.state_size(row)) for row in hp)])

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
            if h.is_choice:
                if not isinstance(v, str) or v not in h.choices:
                    raise SpecError(f"{where} must be one of {', '.join(map(repr, h.choices))}, got {v!r}")
            elif h.is_bool:
                if not isinstance(v, (bool, np.bool_)):
                    raise SpecError(f"{where} must be true or false, got {v!r}")
                v = bool(v)
            else:
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                    raise SpecError(f"{where} must be a number, got {v!r}")
                v = float(v)
                if not np.isfinite(v):
                    raise SpecError(f"{where} must be finite, got {v!r}")
                if h.integer and v != int(v):
                    raise SpecError(f"{where} must be a whole number, got {v!r}")
            out[h.name] = v
        if self.derive is not None:
            self.derive(set(values), out)
        self.check(out)
        return out

    def hp_row(self, values: dict) -> np.ndarray:
        """The float64 row a kernel sees, from resolved values."""
        return np.array([float(h.choices.index(values[h.name]) if h.is_choice else values[h.name])
                         for h in self.hypers], dtype=np.float64)

    def torch_kwargs(self, values: dict) -> dict:
        """The keyword arguments that build the same optimizer in torch.optim."""
        kw = dict(values)
        for h in self.hypers:
            if h.is_choice and kw.get(h.name) == "none":
                kw[h.name] = None  # torch's None
            elif h.integer and h.name in kw:
                kw[h.name] = int(kw[h.name])
        if "beta1" in kw:
            kw["betas"] = (kw.pop("beta1"), kw.pop("beta2"))
        return kw


def hyper_slots(hypers, *names: str) -> tuple[int, ...]:
    """The positions of ``names`` in ``hypers`` (a tuple of :class:`Hyper`
    or a dict name -> default), which are their indices in the ``hp`` row a
    step reads: ``LR, MOMENTUM = hyper_slots(HYPERS, "lr", "momentum")``,
    then ``hp[LR]``.  Looked up by name, so the order lives in the
    declaration alone; a name not declared fails at import."""
    declared = list(hypers) if isinstance(hypers, dict) else [h.name for h in hypers]
    missing = [n for n in names if n not in declared]
    if missing:
        raise ValueError(f"hyper_slots: {', '.join(map(repr, missing))} not among the hyperparameters {declared}")
    return tuple(declared.index(n) for n in names)


OPTIMIZERS = Registry("optimizer")


def register(opt: Optimizer) -> Optimizer:
    """Add ``opt`` to the registry (see :func:`optbench.optimizers.optimizer`
    for the checked way to define one)."""
    return OPTIMIZERS.register(opt, origin_of(opt.step))


STEP_PARAMETERS = ("x", "g", "state", "hp", "sched", "t")
CLOSURE_STEP_PARAMETERS = ("x", "g", "f", "state", "hp", "sched", "t", "closure")


def step_rows(hp: np.ndarray, steps: int) -> list[list[float]]:
    """Row ``t - 1`` of the hyperparameters at step ``t``, as Python floats:
    ``hp`` is one row (constant hyperparameters) or one row per step (what
    a scheduler sets: lr, momentum or beta1), so a ``schedule`` written
    with it serves both: ``for k, row in enumerate(step_rows(hp, steps)):
    lr = row[LR]``."""
    hp = np.asarray(hp, dtype=np.float64)
    if hp.ndim == 1:
        return [hp.tolist()] * steps
    if hp.ndim != 2 or hp.shape[0] != steps:
        raise ValueError(f"hp must be one row or {steps} rows (one per step), got shape {hp.shape}")
    return hp.tolist()


def no_schedule(hp: np.ndarray, steps: int) -> np.ndarray:
    """No per-step scalars: a ``(steps, 0)`` array."""
    return np.zeros((steps, 0), dtype=np.float64)


def check_lr(values: dict, name: str = "") -> None:
    """torch's own check, ``Invalid learning rate``: lr >= 0."""
    if "lr" in values:
        require(values["lr"] >= 0.0, name, f"lr must be >= 0, got {values['lr']!r}")


def optimizer(name: str, step, *, hypers, n_state: int = 0, schedule=None, check=None, summary: str = "",
              torch_name: str = "", momentum_like: str | None = None, elementwise: bool | None = None,
              doc: str | None = None, closure: bool = False, state_size=None) -> Optimizer:
    """Define and register an optimizer; returns its :class:`Optimizer`.

    ``step(x, g, state, hp, sched, t)``: a ``numba.njit`` function (a plain
    Python function is compiled with optbench's flags) that updates ``x``
    (float64, shape ``(dim,)``) and ``state`` (float64, ``(n_state, dim)``,
    zeros before step 1) in place from the gradient ``g`` (which it may
    overwrite); ``hp`` is the run's hyperparameter row in the order of
    ``hypers`` (read it as ``hp[LR]`` with ``LR, = hyper_slots(HYPERS,
    "lr")``), ``sched`` this step's row of ``schedule``, ``t`` the 1-based
    step number.  It returns nothing.

    ``hypers``: ``{"lr": 1e-3, "beta": 0.9, ...}`` (name -> default; a
    default that is ``True``/``False`` makes a switch) or a tuple of
    :class:`Hyper`; it must contain ``lr``.
    ``schedule(hp, steps) -> (steps, n_sched)`` float64: per-step scalars
    (bias corrections ...) computed once per hyperparameter row, in Python,
    so the compiled loop never calls ``pow``; row ``t - 1`` is step ``t``'s
    ``sched``.  With an lr scheduler ``hp`` is one row per step (read it
    with :func:`step_rows`, which serves both); a schedule that takes only
    one row cannot be used with a scheduler.  Default: none.
    ``check(values)``: raise :class:`~optbench.SpecError` (see
    :func:`require`) for settings the rule refuses; ``lr >= 0`` is always
    checked.
    ``elementwise``: whether coordinate ``i`` of the update reads only
    coordinate ``i`` of ``x``, ``g`` and ``state``; such steps run in the
    vectorised lane driver, many runs per call.  ``None`` (default): found
    out when a sweep first uses it, by stepping two blocks of coordinates
    apart and together (bit-identical results mean elementwise); say
    ``False`` if some setting couples coordinates (a norm of the gradient).
    ``momentum_like``: the hyperparameter drawn against lr on the report's
    heatmap.  Names follow torch's where the rule has a torch counterpart.
    ``closure=True``: a step that evaluates the objective itself (a line
    search), ``step(x, g, f, state, hp, sched, t, closure) -> int`` (see the
    module docstring); ``state_size(hp) -> int`` (optional) gives its state
    rows for an ``hp`` row where they depend on it.
    """
    from .._jit import jit

    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError(f"optimizer name must be letters, digits, '_', '-' (starting with a letter), got {name!r}")
    if not callable(step):
        raise SpecError(f"optimizer {name!r}: step must be a numba.njit function, got {type(step).__name__}")
    _check_parameters(f"optimizer {name!r}: step", step, CLOSURE_STEP_PARAMETERS if closure else STEP_PARAMETERS)
    if state_size is not None and not (closure and callable(state_size)):
        raise SpecError(f"optimizer {name!r}: state_size is for closure optimizers, a function hp -> rows")
    if closure:
        elementwise = False
    if not hasattr(step, "py_func"):
        step = jit(step, cache=False)
    hyper_tuple = _hypers(name, hypers)
    if "lr" not in [h.name for h in hyper_tuple]:
        raise SpecError(f"optimizer {name!r}: hypers must include 'lr' (the report's learning-rate axis)")
    if isinstance(n_state, bool) or not isinstance(n_state, (int, np.integer)) or not 0 <= n_state <= 64:
        raise SpecError(f"optimizer {name!r}: n_state must be an integer from 0 to 64 (state rows), got {n_state!r}")
    if momentum_like is not None and momentum_like not in [h.name for h in hyper_tuple]:
        raise SpecError(f"optimizer {name!r}: momentum_like {momentum_like!r} is not one of its hypers")
    schedule = no_schedule if schedule is None else schedule
    if not callable(schedule):
        raise SpecError(f"optimizer {name!r}: schedule must be a function (hp, steps) -> array, got {schedule!r}")
    row = np.array([float(h.default) for h in hyper_tuple])
    try:
        probe = np.asarray(schedule(row, 2))
    except Exception as exc:  # noqa: BLE001 - the user's function: one line
        raise SpecError(f"optimizer {name!r}: schedule(hp, 2) failed: {type(exc).__name__}: {exc}") from None
    if probe.ndim != 2 or probe.shape[0] != 2 or probe.dtype != np.float64:
        raise SpecError(f"optimizer {name!r}: schedule(hp, steps) must return float64 of shape (steps, n_sched); "
                        f"for 2 steps it gave {probe.dtype} {probe.shape}")
    per_step = schedule is no_schedule or _takes_step_rows(schedule, row, probe)
    user_check = check

    def check_all(values: dict) -> None:
        check_lr(values, name)
        if user_check is not None:
            user_check(values)

    if elementwise not in (None, True, False):
        raise SpecError(f"optimizer {name!r}: elementwise must be True, False or None, got {elementwise!r}")
    opt = Optimizer(name=name, torch_name=torch_name, summary=summary or _first_line(step), hypers=hyper_tuple,
                    n_state=int(n_state), n_sched=int(probe.shape[1]), step=step, schedule=schedule,
                    check=check_all, momentum_like=momentum_like,
                    doc=doc if doc is not None else (getattr(step, "__doc__", None) or ""),
                    elementwise=True if elementwise is None else bool(elementwise), per_step_hypers=per_step,
                    closure=bool(closure), state_size=state_size)
    if elementwise is None:
        _PROBE_ELEMENTWISE.add(name)
    return register(opt)


def _takes_step_rows(schedule, row: np.ndarray, probe: np.ndarray) -> bool:
    """Whether ``schedule`` also takes one hyperparameter row per step (as
    with a scheduler): given the same row twice it must give what it gave
    for the one row."""
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(schedule(np.stack([row, row]), 2))
    except Exception:  # noqa: BLE001 - written for one row only
        return False
    return out.shape == probe.shape and bool(np.array_equal(out, probe, equal_nan=True))


# optimizers whose elementwise flag is found out when first used (optbench.plugins.check_used)
_PROBE_ELEMENTWISE: set[str] = set()

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


def _first_line(fn) -> str:
    doc = getattr(getattr(fn, "py_func", fn), "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _check_parameters(where: str, fn, expected: tuple[str, ...], at_least: bool = False) -> None:
    """Refuse a function whose positional parameters are not ``expected``
    in number (names are the user's)."""
    import inspect

    try:
        params = list(inspect.signature(getattr(fn, "py_func", fn)).parameters.values())
    except (TypeError, ValueError):
        raise SpecError(f"{where} must be a Python or numba.njit function") from None
    if any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params):
        raise SpecError(f"{where} must take plain positional parameters ({', '.join(expected)}), "
                        f"not *args, **kwargs or keyword-only ones")
    names = [p.name for p in params]
    if len(names) != len(expected) and not (at_least and len(names) >= len(expected)):
        want = f"at least {len(expected)}" if at_least else str(len(expected))
        raise SpecError(f"{where} takes ({', '.join(expected)}{', ...' if at_least else ''}): {want} parameters; "
                        f"{getattr(getattr(fn, 'py_func', fn), '__name__', fn)} has {len(names)} "
                        f"({', '.join(names)})")


def _hypers(name: str, hypers) -> tuple[Hyper, ...]:
    if isinstance(hypers, dict):
        hypers = tuple(Hyper(k, v) for k, v in hypers.items())
    elif isinstance(hypers, (tuple, list)) and all(isinstance(h, Hyper) for h in hypers):
        hypers = tuple(hypers)
    else:
        raise SpecError(f"optimizer {name!r}: hypers must be a dict of name -> default or a tuple of Hyper, "
                        f"got {type(hypers).__name__}")
    seen = set()
    for h in hypers:
        if not isinstance(h.name, str) or not h.name.isidentifier():
            raise SpecError(f"optimizer {name!r}: hyperparameter name {h.name!r} must be an identifier")
        if h.name in seen:
            raise SpecError(f"optimizer {name!r}: hyperparameter {h.name!r} is given twice")
        seen.add(h.name)
        ok = isinstance(h.default, (bool, int, float, np.integer, np.floating)) and (
            isinstance(h.default, bool) or np.isfinite(h.default))
        if not ok:
            raise SpecError(f"optimizer {name!r}: hyperparameter {h.name!r} has default {h.default!r} "
                            f"({type(h.default).__name__}); give a finite number or true/false")
    return tuple(Hyper(h.name, h.default if isinstance(h.default, (bool, str)) else float(h.default), h.doc,
                       h.choices, h.integer) for h in hypers)


def require(cond: bool, opt: str, message: str) -> None:
    """Raise a one-line SpecError ``optimizer 'x': message`` unless ``cond``."""
    if not cond:
        raise SpecError(f"optimizer {opt!r}: {message}")
