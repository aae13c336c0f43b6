"""Learning-rate schedulers with torch.optim.lr_scheduler's exact per-step values.

A scheduler table (``{"name": "cosine_annealing_lr", "T_max": 100}``) is
checked by :func:`resolve`, which refuses in one line what torch refuses or
would crash on, and :func:`per_step` turns it into the lr (and, for
one_cycle_lr, the momentum or beta1) that torch's optimizer uses at each step
of ``for t in 1..steps: optimizer.step(); scheduler.step()``, bit for bit.

Why a simulation of torch's objects rather than formulas: torch steps its
schedulers with recursive ("chainable") ``get_lr`` forms whose rounding
accumulates, not with the closed forms, and SequentialLR builds its
sub-schedulers one after another on one shared param group (each construction
steps and mutates ``group["lr"]``), then resets and undoes, and enters each
later scheduler through its closed form.  So each class (``_torch_lr``)
mirrors torch 2.13's ``__init__``, ``step``, ``get_lr`` and
``_get_closed_form_lr`` operation for operation on a param-group dict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._errors import SpecError
from .._registry import unknown_message
from ._torch_lr import (
    _ConstantLR,
    _CosineAnnealingLR,
    _CosineAnnealingWarmRestarts,
    _ExponentialLR,
    _LinearLR,
    _MultiStepLR,
    _OneCycleLR,
    _PolynomialLR,
    _SequentialLR,
    _Sim,
    _StepLR,
)


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()  # the default of an argument that torch requires and optbench does not supply


@dataclass(frozen=True)
class Arg:
    """One argument: torch's name, its default (:data:`REQUIRED` or a value;
    ``None`` where optbench fills it from the run, see ``doc``) and its kind:
    "float", "int", "bool", "str", "ints" (a list of ints) or "schedulers"."""

    name: str
    default: object
    kind: str
    doc: str = ""


@dataclass(frozen=True)
class Scheduler:
    name: str  # "cosine_annealing_lr"
    torch_name: str  # class in torch.optim.lr_scheduler
    summary: str
    args: tuple[Arg, ...]

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args)


_GAMMA = Arg("gamma", 0.1, "float", "factor applied at each decay")
SCHEDULERS: dict[str, Scheduler] = {s.name: s for s in (
    Scheduler("step_lr", "StepLR", "multiply lr by gamma every step_size steps", (
        Arg("step_size", REQUIRED, "int", "steps between decays"), _GAMMA)),
    Scheduler("multi_step_lr", "MultiStepLR", "multiply lr by gamma at each milestone step", (
        Arg("milestones", REQUIRED, "ints", "strictly increasing step numbers"), _GAMMA)),
    Scheduler("exponential_lr", "ExponentialLR", "multiply lr by gamma every step", (
        Arg("gamma", REQUIRED, "float", "factor applied at every step"),)),
    Scheduler("cosine_annealing_lr", "CosineAnnealingLR",
              "cosine from lr down to eta_min over T_max steps, then back up (period 2 T_max)", (
                  Arg("T_max", REQUIRED, "int", "steps of a half period"),
                  Arg("eta_min", 0.0, "float", "lowest lr"))),
    Scheduler("cosine_annealing_warm_restarts", "CosineAnnealingWarmRestarts",
              "cosine from lr down to eta_min, restarting after T_0, T_0 T_mult, ... steps", (
                  Arg("T_0", REQUIRED, "int", "steps until the first restart"),
                  Arg("T_mult", 1, "int", "factor on the period after each restart"),
                  Arg("eta_min", 0.0, "float", "lowest lr"))),
    Scheduler("linear_lr", "LinearLR", "lr times a factor going linearly from start_factor to end_factor", (
        Arg("start_factor", 1.0 / 3, "float", "factor at the first step"),
        Arg("end_factor", 1.0, "float", "factor from step total_iters on"),
        Arg("total_iters", 5, "int", "steps of the ramp"))),
    Scheduler("constant_lr", "ConstantLR", "lr times factor for the first total_iters steps", (
        Arg("factor", 1.0 / 3, "float", "factor until total_iters"),
        Arg("total_iters", 5, "int", "steps with the factor"))),
    Scheduler("polynomial_lr", "PolynomialLR", "lr times (1 - t / total_iters) ** power, then 0", (
        Arg("total_iters", 5, "int", "steps of the decay"),
        Arg("power", 1.0, "float", "power of the polynomial"))),
    Scheduler("one_cycle_lr", "OneCycleLR",
              "lr up from max_lr/div_factor to max_lr, then down to a tiny lr; momentum the other way", (
                  Arg("max_lr", None, "float", "peak lr; default: the run's lr, so the lr axis sweeps the peak"),
                  Arg("total_steps", None, "int", "steps of the cycle; default: the sweep's steps"),
                  Arg("pct_start", 0.3, "float", "fraction of the cycle spent raising lr"),
                  Arg("anneal_strategy", "cos", "str", '"cos" or "linear"'),
                  Arg("cycle_momentum", True, "bool", "move momentum (or beta1) inversely to lr"),
                  Arg("base_momentum", 0.85, "float", "momentum at the peak lr"),
                  Arg("max_momentum", 0.95, "float", "momentum at the start and the end"),
                  Arg("div_factor", 25.0, "float", "initial lr = max_lr / div_factor"),
                  Arg("final_div_factor", 1e4, "float", "final lr = initial lr / final_div_factor"),
                  Arg("three_phase", False, "bool", "come back down to the initial lr before annealing"))),
    Scheduler("sequential_lr", "SequentialLR", "one scheduler after another, switching at milestones", (
        Arg("schedulers", REQUIRED, "schedulers", "scheduler tables, run one after another"),
        Arg("milestones", REQUIRED, "ints", "the steps at which the next scheduler starts"))),
)}
_FROM_RUN = {"max_lr": "lr", "total_steps": "steps"}  # shown for the None defaults that the run fills


def names() -> list[str]:
    return sorted(SCHEDULERS)


def get(name: str) -> Scheduler:
    """The scheduler called ``name``; an unknown name suggests close ones."""
    try:
        return SCHEDULERS[name]
    except (KeyError, TypeError):
        raise SpecError(unknown_message("scheduler", name, SCHEDULERS)) from None


def _show(arg: Arg) -> str:
    if arg.default is REQUIRED:
        return f"{arg.name} (required)"
    if arg.default is None:
        return f"{arg.name}={_FROM_RUN[arg.name]}"
    if isinstance(arg.default, float) and arg.default == 1.0 / 3:
        return f"{arg.name}=1/3"
    if isinstance(arg.default, bool):
        return f"{arg.name}={str(arg.default).lower()}"
    return f"{arg.name}={arg.default!r}"


def describe() -> list[tuple[str, str, str]]:
    """Rows for ``optbench list schedulers``: (name, "arg=default, arg2 (required), ...", summary)."""
    return [(s.name, ", ".join(_show(a) for a in s.args), s.summary) for s in (SCHEDULERS[n] for n in names())]


# ----------------------------------------------------------------------------------------------------------------
# resolve: types, defaults and torch's refusals


def _momentum_key(hyper_names) -> str | None:
    """The hyperparameter OneCycleLR cycles: torch prefers betas[0] over momentum."""
    return "beta1" if "beta1" in hyper_names else "momentum" if "momentum" in hyper_names else None


def _coerce(kind: str, value, bad):
    """``value`` as ``kind`` (floats as float, ints as int, lists as tuples), else ``bad(accepted)``."""
    is_bool = isinstance(value, (bool, np.bool_))
    if kind == "float":
        if is_bool or not isinstance(value, (int, float, np.integer, np.floating)):
            bad("a number")
        value = float(value)
        if not math.isfinite(value):
            bad("a finite number")
        return value
    if kind == "int":
        if is_bool or not isinstance(value, (int, np.integer)):
            bad("an integer")
        return int(value)
    if kind == "bool":
        if not is_bool:
            bad("true or false")
        return bool(value)
    if kind == "str":
        if not isinstance(value, str):
            bad("a string")
        return value
    if kind == "ints":
        if not isinstance(value, (list, tuple)) or any(
                isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) for v in value):
            bad("a list of integers")
        return tuple(int(v) for v in value)
    if kind == "schedulers":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, dict) for v in value):
            bad("a list of scheduler tables")
        return tuple(value)
    raise AssertionError(kind)


def _refuser(head: str, arg: str, value):
    """A function raising the one-line "``head``: ``arg`` must be <accepted>, got ``value``"."""
    def bad(accepted: str):
        raise SpecError(f"{head}: {arg} must be {accepted}, got {value!r}")
    return bad


def _milestones_ok(ms: tuple[int, ...]) -> bool:
    return all(m >= 1 for m in ms) and all(a < b for a, b in zip(ms, ms[1:]))


def _zero_width_phase(v: dict, reach: int) -> bool:
    """Whether OneCycleLR's get_lr divides by zero at some step in 0..reach: a phase of zero width is chosen
    (a step chooses the first phase whose end_step it does not pass, else the last)."""
    total, pct = v["total_steps"], v["pct_start"]
    ends = [float(pct * total) - 1]  # torch's end_step expressions
    if v["three_phase"]:
        ends.append(float(2 * pct * total) - 2)
    ends.append(total - 1)
    if ends[0] == 0.0:  # step 0 (the construction's) chooses the first phase
        return True
    # a middle phase of zero width is never chosen; the last one is by every step above all earlier ends
    return ends[-1] - ends[-2] == 0 and reach > max(ends[:-1])


def _reaches(milestones: tuple[int, ...], n_scheds: int, steps: int) -> list[int]:
    """The last ``last_epoch`` each sub-scheduler of SequentialLR reaches in ``steps`` steps (0: never entered)."""
    out = []
    for i in range(n_scheds):
        begin = 0 if i == 0 else milestones[i - 1]
        end = steps if i == n_scheds - 1 else min(steps, milestones[i] - 1)
        out.append(max(0, end - begin) if begin <= steps else 0)
    return out


def resolve(table: dict, *, steps: int, hyper_names: tuple[str, ...], where: str = "scheduler") -> dict:
    """Check one concrete scheduler table and return ``{"name": name, arg: value, ...}`` with every
    argument (defaults filled, types coerced, lists as tuples); ``max_lr`` stays ``None`` for the run's lr.
    Raises :class:`SpecError` (one line naming ``where`` and the argument) for what torch refuses or
    would crash on within ``steps`` steps."""
    return _resolve(table, steps, tuple(hyper_names), where, steps, nested=False)


def _resolve(table, steps: int, hyper_names: tuple[str, ...], where: str, reach: int, nested: bool) -> dict:
    if not isinstance(table, dict):
        raise SpecError(f"{where}: a scheduler must be a table with a name (one of {', '.join(names())}), "
                        f"got {table!r}")
    if "name" not in table:
        raise SpecError(f"{where}: a scheduler table needs a name, one of {', '.join(names())}")
    name = table["name"]
    if not isinstance(name, str) or name not in SCHEDULERS:
        raise SpecError(f"{where}: {unknown_message('scheduler', name, SCHEDULERS)}")
    sched = SCHEDULERS[name]
    for key in table:
        if key != "name" and key not in sched.arg_names:
            raise SpecError(f"{where}: {unknown_message(f'argument of scheduler {name!r}', key, sched.arg_names)}")
    head = f"{where} {name!r}"
    v: dict = {"name": name}
    for arg in sched.args:
        if arg.name not in table or (table[arg.name] is None and arg.default is None):
            if arg.default is REQUIRED:
                raise SpecError(f"{head}: {arg.name} is required ({arg.doc})")
            v[arg.name] = arg.default
            continue
        v[arg.name] = _coerce(arg.kind, table[arg.name], _refuser(head, arg.name, table[arg.name]))

    def bad(arg: str, accepted: str):
        _refuser(head, arg, v[arg])(accepted)

    def at_least(arg: str, low, why: str = ""):
        if v[arg] < low:
            bad(arg, f">= {low}{why}")

    if "gamma" in v and v["gamma"] < 0:
        bad("gamma", ">= 0 (a negative factor makes lr negative)")
    if "eta_min" in v and v["eta_min"] < 0:
        bad("eta_min", ">= 0 (the lowest lr)")
    if name == "step_lr":
        at_least("step_size", 1, " (torch takes the step number modulo it)")
    elif name == "multi_step_lr":
        if not _milestones_ok(v["milestones"]):
            bad("milestones", "strictly increasing integers >= 1")
    elif name == "cosine_annealing_lr":
        at_least("T_max", 1, " (torch divides by it)")
    elif name == "cosine_annealing_warm_restarts":
        if v["T_0"] < 1:
            bad("T_0", "a positive integer (torch: Expected positive integer T_0)")
        if v["T_mult"] < 1:
            bad("T_mult", "an integer >= 1 (torch: Expected integer T_mult >= 1)")
    elif name == "linear_lr":
        if not 0.0 < v["start_factor"] <= 1.0:
            bad("start_factor", "in (0, 1] (torch: Starting multiplicative factor expected to be greater than 0 "
                "and less or equal to 1)")
        if not 0.0 <= v["end_factor"] <= 1.0:
            bad("end_factor", "in [0, 1] (torch: Ending multiplicative factor expected to be between 0 and 1)")
        at_least("total_iters", 1, " (with 0 torch never leaves start_factor)")
    elif name == "constant_lr":
        if not 0.0 <= v["factor"] <= 1.0:
            bad("factor", "in [0, 1] (torch: Constant multiplicative factor expected to be between 0 and 1)")
        at_least("total_iters", 1, " (with 0 torch never restores the lr)")
        if v["factor"] == 0.0 and v["total_iters"] <= reach:
            bad("factor", f"> 0 when total_iters ({v['total_iters']}) is reached: torch divides by factor there")
    elif name == "polynomial_lr":
        at_least("total_iters", 1, " (torch divides by it)")
        at_least("power", 0.0, " (torch raises 0.0 to it at total_iters)")
    elif name == "one_cycle_lr":
        _check_one_cycle(v, head, bad, steps, hyper_names, reach, nested)
    elif name == "sequential_lr":
        if nested:
            raise SpecError(f"{head}: a sequential_lr inside a sequential_lr is not supported; "
                            "put its schedulers in the outer one")
        subs, ms = v["schedulers"], v["milestones"]
        if not subs:
            raise SpecError(f"{head}: schedulers must not be empty (torch: SequentialLR expects at least one "
                            "scheduler, but got no scheduler)")
        if len(ms) != len(subs) - 1:
            raise SpecError(f"{head}: Sequential Schedulers expects number of schedulers provided to be one more "
                            f"than the number of milestone points, but got number of schedulers {len(subs)} and "
                            f"the number of milestones to be equal to {len(ms)}")
        if not _milestones_ok(ms):
            bad("milestones", "strictly increasing integers >= 1")
        v["schedulers"] = tuple(_resolve(t, steps, hyper_names, f"{where}.schedulers[{i}]", r, nested=True)
                                for i, (t, r) in enumerate(zip(subs, _reaches(ms, len(subs), reach))))
    return v


def _check_one_cycle(v: dict, head: str, bad, steps: int, hyper_names, reach: int, nested: bool) -> None:
    if v["max_lr"] is not None and v["max_lr"] < 0:
        bad("max_lr", ">= 0 (torch: Invalid learning rate)")
    if v["total_steps"] is None:
        v["total_steps"] = int(steps)
    if v["total_steps"] < 1:
        bad("total_steps", "a positive integer (torch: Expected positive integer total_steps)")
    if v["total_steps"] < reach:
        runs = f"the {reach} steps it runs in sequential_lr" if nested else f"the sweep's steps ({reach})"
        raise SpecError(f"{head}: total_steps = {v['total_steps']} is below {runs}; torch's OneCycleLR raises "
                        f"when stepped past total_steps: give total_steps >= {reach} or leave it out")
    if not 0.0 <= v["pct_start"] <= 1.0:
        bad("pct_start", "between 0 and 1 (torch: Expected float between 0 and 1 pct_start)")
    if v["anneal_strategy"] not in ("cos", "linear"):
        bad("anneal_strategy", "one of 'cos' or 'linear' (torch: anneal_strategy must be one of 'cos' or 'linear')")
    for arg in ("div_factor", "final_div_factor"):
        if v[arg] <= 0:
            bad(arg, "> 0 (torch divides by it)")
    if v["cycle_momentum"]:
        key = _momentum_key(hyper_names)
        if key is None:
            raise SpecError(f"{head}: cycle_momentum = true but the optimizer has neither momentum nor beta1 "
                            "(torch: optimizer must support momentum or beta1 with `cycle_momentum` option "
                            "enabled); set cycle_momentum = false")
        for arg in ("base_momentum", "max_momentum"):
            if key == "beta1" and not 0.0 <= v[arg] < 1.0:
                bad(arg, "in [0, 1) as it sets beta1 (torch: Invalid beta parameter)")
            if key == "momentum" and v[arg] < 0:
                bad(arg, ">= 0 as it sets momentum (torch: Invalid momentum value)")
    if _zero_width_phase(v, reach):
        raise SpecError(f"{head}: pct_start = {v['pct_start']!r} with total_steps = {v['total_steps']} gives a "
                        "phase of zero steps, where torch divides by zero; change pct_start or total_steps")


def moved(resolved: dict, hyper_names: tuple[str, ...]) -> tuple[str, ...]:
    """The hyperparameters the scheduler sets per step: ("lr",) or ("lr", "momentum") / ("lr", "beta1")."""
    subs = resolved["schedulers"] if resolved["name"] == "sequential_lr" else (resolved,)
    cycles = any(s["name"] == "one_cycle_lr" and s["cycle_momentum"] for s in subs)
    key = _momentum_key(hyper_names)
    return ("lr", key) if cycles and key is not None else ("lr",)


def _build(resolved: dict, group: dict, hypers: dict, steps: int) -> _Sim:
    """torch's scheduler for ``resolved`` constructed on the param group ``group``."""
    name, v = resolved["name"], resolved
    if name == "sequential_lr":
        subs = [_build(t, group, hypers, steps) for t in v["schedulers"]]  # constructed in order, on one group
        return _SequentialLR(group, subs, v["milestones"])
    if name == "one_cycle_lr":
        key = _momentum_key(tuple(hypers)) if v["cycle_momentum"] else None
        if v["cycle_momentum"] and key is None:
            raise SpecError("scheduler 'one_cycle_lr': cycle_momentum = true but the optimizer has neither momentum "
                            "nor beta1; set cycle_momentum = false")
        max_lr = float(hypers["lr"]) if v["max_lr"] is None else v["max_lr"]
        total = steps if v["total_steps"] is None else v["total_steps"]
        args = {a: v[a] for a in SCHEDULERS[name].arg_names if a not in ("max_lr", "total_steps")}
        return _OneCycleLR(group, key, max_lr, total, **args)
    cls = _CLASSES[name]
    return cls(group, **{a: v[a] for a in SCHEDULERS[name].arg_names})


_CLASSES = {"step_lr": _StepLR, "multi_step_lr": _MultiStepLR, "exponential_lr": _ExponentialLR,
            "cosine_annealing_lr": _CosineAnnealingLR, "cosine_annealing_warm_restarts": _CosineAnnealingWarmRestarts,
            "linear_lr": _LinearLR, "constant_lr": _ConstantLR, "polynomial_lr": _PolynomialLR}


def _simulate(resolved: dict, hypers: dict, steps: int) -> dict[str, list[float]]:
    names_ = moved(resolved, tuple(hypers))
    key = names_[1] if len(names_) > 1 else None
    group = {"lr": float(hypers["lr"])}
    if key is not None:
        group[key] = float(hypers[key])
    lrs: list[float] = []
    moms: list[float] | None = [] if key is not None else None
    sim = _build(resolved, group, hypers, steps)
    sim.run(steps, lrs, moms, key)
    return {"lr": lrs, **({key: moms} if key is not None else {})}


def per_step(resolved: dict, hypers: dict[str, float], steps: int) -> dict[str, np.ndarray]:
    """For each name in :func:`moved`: a float64 array of length ``steps`` whose entry ``t - 1`` is the
    value torch's optimizer uses at its ``t``-th step (the scheduler built on an optimizer whose values
    are ``hypers``: ``lr``, and ``momentum`` or ``beta1`` for one_cycle_lr)."""
    try:
        values = _simulate(resolved, hypers, int(steps))
    except (ZeroDivisionError, OverflowError) as exc:  # resolve refuses the known cases; this is torch's own crash
        raise SpecError(f"scheduler {resolved['name']!r}: torch's {SCHEDULERS[resolved['name']].torch_name} "
                        f"fails within {steps} steps with these settings ({exc.__class__.__name__}: {exc})") from None
    return {k: np.array(v, dtype=np.float64) for k, v in values.items()}
