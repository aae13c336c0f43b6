"""Sweep specs: TOML in, a validated :class:`Spec` out (:mod:`optbench.grid` expands it into runs).

Every list-valued field of an objective or optimizer entry is a sweep axis
(``lr = [1e-3, 1e-2]``, ``lr = { logspace = [-4, -1, 7] }``); the grid is
the product of the axes.  Everything a user can get wrong is checked here,
before anything runs or is written, with a one-line :class:`SpecError` that
names the field, the value and what would be accepted.
"""
from __future__ import annotations

import difflib
import itertools
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import objectives as objectives_mod
from . import optimizers as optimizers_mod
from ._errors import SpecError
from ._registry import unknown_message
from .objectives import Problem

TOP_FIELDS = {
    "name": "sweep name (letters, digits, '-', '_', '.')",
    "description": "free text",
    "steps": "optimizer steps per run",
    "log_every": "curve resolution in steps",
    "seed": "sweep seed",
    "targets": "gap-to-optimum targets for steps-to-target",
    "repeats": "independent random streams per initial point (minibatches, gradient noise)",
    "grad_tol": "stop a run when the gradient norm falls to this (0: never)",
    "skip_invalid": "skip hyperparameter combinations torch rejects instead of refusing the spec",
    "record_grad_norm": "log the gradient norm in curves",
    "plugins": "files (relative to the spec) or modules defining more objectives and optimizers",
    "objectives": "[[objectives]] entries",
    "optimizers": "[[optimizers]] entries",
    "init": "[init] table",
}
OBJECTIVE_FIELDS = {"name", "dim", "batch_size", "grad_noise"}
# fields of an analytic objective's entry: its seeded rotated / shifted instance
INSTANCE_FIELDS = set(objectives_mod.TRANSFORM_PARAMS)
# fields of an [[optimizers]] entry besides its hyperparameters: how it is trained
TRAINING_FIELDS = {
    "scheduler": "an lr scheduler table { name = ..., args }, or a list of them (an axis); \"none\": constant lr",
    "clip_grad_norm": "torch's clip_grad_norm_ max_norm (> 0), or a list (an axis)",
    "clip_norm_type": "its norm_type: 2 (default) or inf",
    "clip_grad_value": "torch's clip_grad_value_ clip_value (> 0), or a list (an axis)",
}
INIT_FIELDS = {"scheme", "count", "points", "std"}
INIT_SCHEMES = ("uniform", "normal", "grid", "points", "zeros")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_RUNS = 50_000_000
MAX_OBJECTIVE_CASES = 10_000  # objective cases x init schemes
MAX_OPTIMIZER_CASES = 100_000  # hyperparameter settings


@dataclass(frozen=True)
class InitSpec:
    """One initialization scheme of the sweep (``[init]`` may list several:
    each is an axis value, crossed with every objective case)."""

    scheme: str = "uniform"
    count: int = 8
    points: tuple = ()
    std: float = 1.0

    @property
    def uses_std(self) -> bool:
        return self.scheme == "normal"

    @property
    def label(self) -> str:
        return f"normal(std={self.std:g})" if self.uses_std else self.scheme


@dataclass
class ObjectiveCase:
    """One point of an objective entry's grid: a concrete problem and its run settings."""

    entry: int
    problem: Problem
    batch_size: int
    noise: float
    init: InitSpec = field(default_factory=InitSpec)

    @property
    def key(self) -> str:
        return f"{self.problem.describe()} batch={self.batch_size} grad_noise={self.noise:g} init={self.init.label}"


@dataclass
class OptimizerCase:
    entry: int
    name: str
    values: dict  # resolved hyperparameters
    scheduler: dict | None = None  # resolved lr scheduler (optbench.optimizers.schedulers.resolve); None: constant
    clip: tuple[float, float, float] | None = None  # (max_norm, norm_type, clip_value), inf: not clipped

    @property
    def key(self) -> tuple:
        """What makes two cases the same setting (hashable)."""
        return (self.name, tuple(sorted(self.values.items())), freeze(self.scheduler), self.clip)


def freeze(value):
    """A resolved scheduler (dicts, tuples) as nested tuples: hashable,
    comparable (:func:`thaw` inverts it)."""
    if isinstance(value, dict):
        return ("__dict__", tuple((k, freeze(v)) for k, v in sorted(value.items())))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value):
    """:func:`freeze`'s input back (lists as tuples)."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "__dict__":
        return {k: thaw(v) for k, v in value[1]}
    if isinstance(value, tuple):
        return tuple(thaw(v) for v in value)
    return value


@dataclass
class Spec:
    name: str
    steps: int
    log_every: int
    seed: int
    targets: tuple[float, ...]
    repeats: int
    grad_tol: float
    skip_invalid: bool
    record_grad_norm: bool
    inits: list[InitSpec]
    objective_cases: list[ObjectiveCase]
    optimizer_cases: list[OptimizerCase]
    skipped: list[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    description: str = ""
    plugins: tuple = ()  # optbench.plugins.Plugin, as the spec names them
    base: Path | None = None  # the folder the spec's plugin paths are relative to

    def n_inits(self, case: ObjectiveCase) -> int:
        return init_count(case.init, case.problem)

    @property
    def n_runs(self) -> int:
        per_obj = sum(self.n_inits(c) for c in self.objective_cases)
        return per_obj * len(self.optimizer_cases) * self.repeats


# ------------------------------------------------------------------ loading


MAX_DEPTH = 16  # nesting of lists and tables in a spec (a real one is about 5 deep)


def load_spec(source: str | Path | dict, base: Path | None = None) -> Spec:
    """Read and validate a spec from a TOML path, TOML text, or a dict.

    A string is a path when it is one line without ``=`` (TOML text always
    has one), so ``"problems/quick.toml"`` and ``"spec.txt"`` are files.
    The spec's ``plugins`` are loaded first, paths relative to ``base``
    (default: the spec file's folder, else the current folder)."""
    if isinstance(source, dict):
        raw, where = source, "spec"
    else:
        text, where = _read(source)
        if base is None and where != "spec":
            base = Path(where).resolve().parent
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{where}: malformed TOML: {exc}") from None
        except RecursionError:
            raise SpecError(f"{where}: nested too deeply to parse (a spec needs a few levels of lists and "
                            f"tables; at most {MAX_DEPTH})") from None
    _check_depth(raw, where)
    return validate(raw, base)


def _check_depth(raw, where: str) -> None:
    """Refuse lists and tables nested deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(raw, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SpecError(f"{where}: lists or tables nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node)


def _read(source) -> tuple[str, str]:
    is_path = isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and "=" not in source)
    if not is_path:
        return str(source), "spec"
    path = Path(source)
    name = str(path)
    if path.is_dir():
        raise SpecError(f"spec {name!r} is a folder; give a spec file, e.g. problems/quick.toml")
    if not path.exists():
        raise SpecError(f"spec file {name!r} not found")
    if not path.is_file():
        raise SpecError(f"spec {name!r} is not a regular file; give a spec file, e.g. problems/quick.toml")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is fine
    except UnicodeDecodeError as exc:
        raise SpecError(f"spec {name!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SpecError(f"cannot read spec {name!r}: {exc.strerror or exc}") from None
    if not text.strip():
        raise SpecError(f"spec {name!r} is empty; a spec needs a name, [[objectives]] and [[optimizers]] "
                        f"(see problems/quick.toml)")
    return text, name


def _unknown(what: str, key: str, known) -> SpecError:
    return SpecError(unknown_message(what, key, known, n=2))


def _int(raw: dict, key: str, default: int, low: int, high: int | None = None, where: str = "") -> int:
    v = raw.get(key, default)
    label = f"{where}{key}"
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{label} must be an integer, got {v!r}")
    if v < low or (high is not None and v > high):
        rng = f">= {low}" if high is None else f"in {low}..{high}"
        raise SpecError(f"{label} must be {rng}, got {v!r}")
    return v


def _float(v: Any, label: str, low: float | None = None, low_open: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SpecError(f"{label} must be a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise SpecError(f"{label} must be finite, got {v!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise SpecError(f"{label} must be {'>' if low_open else '>='} {low:g}, got {v!r}")
    return v


def axis_values(value: Any, label: str) -> list:
    """A field's values as a list: a scalar is one value, a list is an axis,
    ``{logspace = [a, b, n]}`` / ``{linspace = [a, b, n]}`` generate one."""
    if isinstance(value, dict):
        if len(value) != 1 or next(iter(value)) not in ("logspace", "linspace"):
            raise SpecError(
                f"{label}: a table must be {{logspace = [a, b, n]}} or {{linspace = [a, b, n]}}, got {value!r}"
            )
        kind, args = next(iter(value.items()))
        if (
            not isinstance(args, list)
            or len(args) != 3
            or any(isinstance(a, bool) or not isinstance(a, (int, float)) for a in args)
            or not isinstance(args[2], int)
            or args[2] < 1
            or not all(math.isfinite(a) for a in args)
        ):
            raise SpecError(f"{label}: {kind} takes [start, stop, count] with a count >= 1, got {args!r}")
        if args[2] > 100_000:
            raise SpecError(f"{label}: {kind} count {args[2]} is above 100000")
        fn = np.logspace if kind == "logspace" else np.linspace
        with np.errstate(over="ignore"):
            values = [float(v) for v in fn(args[0], args[1], args[2])]
        if not all(math.isfinite(v) for v in values):
            raise SpecError(f"{label}: {kind} {args!r} gives values too large for a float64 "
                            f"(10**{max(args[0], args[1]):g})")
        return values
    if isinstance(value, list):
        if not value:
            raise SpecError(f"{label}: an empty list gives an empty grid; give at least one value")
        seen = set()
        for v in value:
            key = (type(v) is bool, v)  # True and 1 are different values here
            try:
                if key in seen:
                    raise SpecError(f"{label} lists {v!r} twice; each value of an axis is one point of the grid")
                seen.add(key)
            except TypeError:  # unhashable (a list): left to the field's own check
                continue
        return list(value)
    return [value]


def validate(raw: dict, base: Path | None = None) -> Spec:
    if not isinstance(raw, dict):
        raise SpecError("a spec is a TOML table")
    for key in raw:
        if key not in TOP_FIELDS:
            raise _unknown("spec field", key, TOP_FIELDS)
    plugin_entries = raw.get("plugins", [])
    if not isinstance(plugin_entries, list) or not all(isinstance(e, str) for e in plugin_entries):
        raise SpecError(f"plugins must be a list of .py file paths (relative to the spec) or module names, "
                        f"got {plugin_entries!r}")
    from . import plugins as plugins_mod

    loaded_plugins = tuple(plugins_mod.load_all(plugin_entries, base))
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or name in (".", "..") or ".." in name:
        raise SpecError(
            f"name must be 1-100 characters of letters, digits, '-', '_', '.' (not starting with '.'), "
            f"got {name!r}"
        )
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise SpecError(f"description must be a string, got {description!r}")
    steps = _int(raw, "steps", 1000, 1, 10_000_000)
    log_every = _int(raw, "log_every", 1, 1)
    seed = _int(raw, "seed", 0, 0, 2**63 - 1)
    repeats = _int(raw, "repeats", 1, 1, 1_000_000)
    targets_raw = raw.get("targets", [1e-1, 1e-3, 1e-6])
    if not isinstance(targets_raw, list) or not targets_raw:
        raise SpecError(f"targets must be a non-empty list of positive gaps to the optimum (omit it for "
                        f"[1e-1, 1e-3, 1e-6]), got {targets_raw!r}")
    target_values = [_float(t, "targets[]", 0.0, low_open=True) for t in targets_raw]
    if len(set(target_values)) < len(target_values):
        raise SpecError(f"targets lists a value twice: {targets_raw!r}")
    targets = tuple(sorted(target_values, reverse=True))
    grad_tol = _float(raw.get("grad_tol", 0.0), "grad_tol", 0.0)
    skip_invalid = raw.get("skip_invalid", False)
    record_grad_norm = raw.get("record_grad_norm", True)
    for key, v in (("skip_invalid", skip_invalid), ("record_grad_norm", record_grad_norm)):
        if not isinstance(v, bool):
            raise SpecError(f"{key} must be true or false, got {v!r}")
    inits = _inits(raw.get("init", {}))

    obj_entries = raw.get("objectives")
    if not isinstance(obj_entries, list) or not obj_entries or not all(isinstance(e, dict) for e in obj_entries):
        raise SpecError("objectives: give at least one [[objectives]] entry with a name")
    opt_entries = raw.get("optimizers")
    if not isinstance(opt_entries, list) or not opt_entries or not all(isinstance(e, dict) for e in opt_entries):
        raise SpecError("optimizers: give at least one [[optimizers]] entry with a name")
    _check_grid_size(obj_entries, opt_entries, len(inits), repeats)

    objective_cases: list[ObjectiveCase] = []
    for i, entry in enumerate(obj_entries, 1):
        objective_cases.extend(_objective_cases(i, entry, inits))
    seen = set()
    for case in objective_cases:
        if case.key in seen:
            raise SpecError(f"[[objectives]] #{case.entry}: {case.key} appears twice in the grid")
        seen.add(case.key)

    optimizer_cases: list[OptimizerCase] = []
    skipped: list[str] = []
    settings_seen: dict = {}  # (optimizer, resolved values) -> the entry that gave it
    for i, entry in enumerate(opt_entries, 1):
        cases, skip = _optimizer_cases(i, entry, skip_invalid, steps)
        for case in cases:
            key = case.key
            if key in settings_seen:
                extra = "".join(f", {k}={v}" for k, v in (("scheduler", case.scheduler), ("clip", case.clip)) if v)
                raise SpecError(f"[[optimizers]] #{i}: {case.name} with {case.values}{extra} is already in the grid "
                                f"(from [[optimizers]] #{settings_seen[key]}); it would run twice")
            settings_seen[key] = i
        optimizer_cases.extend(cases)
        skipped.extend(skip)
    if not optimizer_cases:
        raise SpecError(f"optimizers: every combination was invalid and skipped ({len(skipped)}); nothing to run")
    _check_closure_cases(objective_cases, optimizer_cases)

    spec = Spec(
        name=name, steps=steps, log_every=log_every, seed=seed, targets=targets, repeats=repeats,
        grad_tol=grad_tol, skip_invalid=skip_invalid, record_grad_norm=record_grad_norm, inits=inits,
        objective_cases=objective_cases, optimizer_cases=optimizer_cases, skipped=skipped, raw=raw,
        description=description, plugins=loaded_plugins, base=base,
    )
    for case in objective_cases:  # points must fit every problem
        init_count(case.init, case.problem)
    if spec.n_runs > MAX_RUNS:
        raise SpecError(f"the grid has {spec.n_runs:,} runs; the limit is {MAX_RUNS:,}")
    return spec


def _entry_size(entry: dict, where: str) -> int:
    """The number of combinations of one entry's axes: a product of axis
    lengths, computed without building any combination."""
    n = 1
    for key, value in entry.items():
        if key == "name":
            continue
        if key == "scheduler":
            n *= len(_scheduler_tables(value, where))
        elif key == "betas" and isinstance(value, list) and value and all(isinstance(b, list) for b in value):
            n *= len(value)
        else:
            n *= len(axis_values(value, f"{where}: {key}"))
    return n


def _check_grid_size(obj_entries: list, opt_entries: list, n_inits: int, repeats: int) -> None:
    """Refuse a grid too large to build, before building any of it: the
    size is a product of axis lengths (every case has at least one initial
    point, so this many runs at least)."""
    n_obj = n_inits * sum(_entry_size(e, f"[[objectives]] #{i}") for i, e in enumerate(obj_entries, 1))
    n_opt = sum(_entry_size(e, f"[[optimizers]] #{i}") for i, e in enumerate(opt_entries, 1))
    if n_obj > MAX_OBJECTIVE_CASES:
        raise SpecError(f"objectives: the grid has {n_obj:,} objective cases (entries' axes x init schemes); "
                        f"at most {MAX_OBJECTIVE_CASES:,}")
    if n_opt > MAX_OPTIMIZER_CASES:
        raise SpecError(f"optimizers: the grid has {n_opt:,} hyperparameter settings; at most "
                        f"{MAX_OPTIMIZER_CASES:,}")
    if n_obj * n_opt * repeats > MAX_RUNS:
        raise SpecError(f"the grid has at least {n_obj * n_opt * repeats:,} runs (objective cases x settings x "
                        f"repeats, before initial points); the limit is {MAX_RUNS:,}")


def special_init_schemes() -> dict[str, list[str]]:
    """Initialization schemes that objectives define themselves (e.g. per-layer
    ``xavier_uniform`` for networks): scheme -> the objectives that have it."""
    out: dict[str, list[str]] = {}
    for name in objectives_mod.names():
        for scheme in sorted(objectives_mod.get(name).init_schemes):
            out.setdefault(scheme, []).append(name)
    return out


def _inits(raw: Any) -> list[InitSpec]:
    """The ``[init]`` table: ``scheme`` (and ``std`` for ``normal``) may be
    lists, each value an axis point; ``count`` and ``points`` are shared."""
    if not isinstance(raw, dict):
        raise SpecError(f"init must be a table ([init]), got {raw!r}")
    for key in raw:
        if key not in INIT_FIELDS:
            raise _unknown("init field", key, INIT_FIELDS)
    special = special_init_schemes()
    allowed = (*INIT_SCHEMES, *sorted(special))
    schemes = axis_values(raw.get("scheme", "uniform"), "init.scheme")
    for scheme in schemes:
        if not isinstance(scheme, str) or scheme not in allowed:
            near = difflib.get_close_matches(str(scheme), allowed, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise SpecError(f"init.scheme is {scheme!r}{hint} (allowed: {', '.join(allowed)})")
    count = _int(raw, "count", 8, 1, 1_000_000, where="init.")
    stds = [_float(v, "init.std", 0.0, low_open=True) for v in axis_values(raw.get("std", 1.0), "init.std")]
    if len(stds) > 1 and "normal" not in schemes:
        raise SpecError(f"init.std is only used with scheme = \"normal\" (schemes: {', '.join(schemes)})")
    points = raw.get("points", [])
    if "points" in schemes:
        if not isinstance(points, list) or not points:
            raise SpecError("init.points must be a non-empty list of points, e.g. [[-1.5, 2.0], [0.5, -0.5]]")
        checked = []
        for j, p in enumerate(points):
            if not isinstance(p, list) or not p:
                raise SpecError(f"init.points[{j}] must be a list of numbers, got {p!r}")
            checked.append(tuple(_float(v, f"init.points[{j}]") for v in p))
        points = tuple(checked)
    elif "points" in raw:
        raise SpecError(f"init.points is only used with scheme = \"points\" (scheme is {schemes[0]!r})")
    out = []
    for scheme in schemes:
        for std in (stds if scheme == "normal" else stds[:1]):
            out.append(InitSpec(scheme=scheme, count=count, points=points if scheme == "points" else (),
                                std=std))
    return out


def init_count(init: InitSpec, problem: Problem) -> int:
    if init.scheme == "points":
        for j, p in enumerate(init.points):
            if len(p) != problem.dim:
                raise SpecError(
                    f"init.points[{j}] has {len(p)} coordinates; objective {problem.describe()} has dim {problem.dim}"
                )
        return len(init.points)
    if init.scheme == "grid":
        n = init.count**problem.dim
        if n > 1_000_000:
            raise SpecError(
                f"init: grid of {init.count} points per axis in {problem.dim} dimensions is {n} points; "
                f"use scheme = \"uniform\" for dim > 3"
            )
        return n
    if init.scheme == "zeros":
        return 1
    return init.count


def _objective_cases(i: int, entry: dict, inits: list[InitSpec]) -> list[ObjectiveCase]:
    where = f"[[objectives]] #{i}"
    name = entry.get("name")
    if not isinstance(name, str):
        raise SpecError(f"{where}: 'name' must be an objective name, known: {', '.join(objectives_mod.names())}")
    try:
        objective = objectives_mod.get(name)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None
    allowed = OBJECTIVE_FIELDS | set(objective.params) | (set() if objective.batched else INSTANCE_FIELDS)
    for key in entry:
        # rotate / shift / instance on a data objective: make() says why not
        if key not in allowed and key not in INSTANCE_FIELDS:
            raise SpecError(f"{where}: {_unknown(f'field of objective {name!r}', key, allowed)}")
    keys = [k for k in entry if k != "name"]
    axes = [axis_values(entry[k], f"{where}: {k}") for k in keys]
    cases = []
    for combo in itertools.product(*axes):
        values = dict(zip(keys, combo))
        dim = values.pop("dim", None)
        batch = values.pop("batch_size", 0)
        noise = values.pop("grad_noise", 0.0)
        try:
            problem = objective.make(dim, **values)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
            raise SpecError(f"{where}: batch_size must be an integer >= 0 (0 = full batch), got {batch!r}")
        if batch and not problem.batched:
            raise SpecError(f"{where}: batch_size applies to data objectives only; {name!r} has no data")
        if batch > problem.n_samples:
            raise SpecError(f"{where}: batch_size {batch} is above the {problem.n_samples} samples of {name!r}")
        noise = _float(noise, f"{where}: grad_noise", 0.0)
        for init in inits:
            if init.scheme not in INIT_SCHEMES and init.scheme not in problem.objective.init_schemes:
                users = ", ".join(special_init_schemes()[init.scheme])
                raise SpecError(f"{where}: init.scheme {init.scheme!r} is not defined for objective {name!r} "
                                f"(it is for: {users}); schemes for every objective: {', '.join(INIT_SCHEMES)}")
            cases.append(ObjectiveCase(i, problem, int(batch), noise, init))
    return cases


def _scheduler_tables(value: Any, where: str) -> list[dict | None]:
    """``scheduler = ...`` as concrete tables, one per point of its axes
    (None: constant lr).  A name is a table without arguments; a list of
    tables is an axis; in a table, a list of numbers is an axis, while a
    list-typed argument (``milestones``, ``schedulers``) is one value as a
    list and an axis as a list of lists (the ``betas`` convention)."""
    from .optimizers import schedulers

    items = value if isinstance(value, list) else [value]
    if not items:
        raise SpecError(f"{where}: scheduler = [] gives an empty grid; give a scheduler table or a list of them")
    out: list[dict | None] = []
    for item in items:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise SpecError(f"{where}: scheduler must be a table {{ name = \"cosine_annealing_lr\", T_max = 1000 }}, "
                            f"a scheduler name, or a list of them (an axis); got {item!r}")
        name = item.get("name")
        if name == "none":
            if len(item) > 1:
                raise SpecError(f"{where}: scheduler \"none\" (constant lr) takes no arguments, got {item!r}")
            out.append(None)
            continue
        if not isinstance(name, str):
            raise SpecError(f"{where}: a scheduler table needs a name (one of: none, {', '.join(schedulers.names())})"
                            f", got {item!r}")
        try:
            kinds = {a.name: a.kind for a in schedulers.get(name).args}
        except SpecError as exc:
            raise SpecError(f"{where}: scheduler: {exc}") from None
        keys = [k for k in item if k != "name"]
        axes = []
        for k in keys:
            v = item[k]
            if kinds.get(k) in ("ints", "schedulers"):
                axes.append(v if isinstance(v, list) and v and all(isinstance(e, list) for e in v) else [v])
            elif kinds.get(k) is None or isinstance(v, dict):
                axes.append([v])  # resolve() says what is wrong with it
            else:
                axes.append(axis_values(v, f"{where}: scheduler {name}: {k}"))
        out.extend({"name": name, **dict(zip(keys, combo))} for combo in itertools.product(*axes))
    return out


def _clip_axes(entry: dict, where: str) -> list[tuple[float, float, float] | None]:
    """The entry's clipping settings, one per point of the clip axes (None: no clipping)."""
    if "clip_grad_norm" in entry and "clip_grad_value" in entry:
        raise SpecError(f"{where}: give clip_grad_norm or clip_grad_value, not both (use two entries to compare them)")
    if "clip_norm_type" in entry and "clip_grad_norm" not in entry:
        raise SpecError(f"{where}: clip_norm_type applies to clip_grad_norm, which is not given")
    inf = math.inf
    if "clip_grad_norm" in entry:
        norms = [_float(v, f"{where}: clip_grad_norm", 0.0, low_open=True)
                 for v in axis_values(entry["clip_grad_norm"], f"{where}: clip_grad_norm")]
        types = []
        for v in axis_values(entry.get("clip_norm_type", 2.0), f"{where}: clip_norm_type"):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v not in (2, inf):
                raise SpecError(f"{where}: clip_norm_type must be 2 or inf (torch's norm_type), got {v!r}")
            types.append(float(v))
        return [(n, t, inf) for n in norms for t in types]
    if "clip_grad_value" in entry:
        return [(inf, 2.0, _float(v, f"{where}: clip_grad_value", 0.0, low_open=True))
                for v in axis_values(entry["clip_grad_value"], f"{where}: clip_grad_value")]
    return [None]


def _optimizer_cases(i: int, entry: dict, skip_invalid: bool, steps: int) -> tuple[list[OptimizerCase], list[str]]:
    where = f"[[optimizers]] #{i}"
    name = entry.get("name")
    if not isinstance(name, str):
        raise SpecError(f"{where}: 'name' must be an optimizer name, known: {', '.join(optimizers_mod.names())}")
    try:
        opt = optimizers_mod.get(name)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None
    entry = dict(entry)
    if "betas" in entry and "beta1" in opt.hyper_names:
        both = [k for k in ("beta1", "beta2") if k in entry]
        if both:
            raise SpecError(f"{where}: give betas or {' and '.join(both)}, not both "
                            f"(betas = [beta1, beta2] sets both)")
        betas = entry.pop("betas")
        if isinstance(betas, list) and betas and all(isinstance(b, list) for b in betas):
            options = betas
        else:
            options = [betas]
        for b in options:
            if not (isinstance(b, list) and len(b) == 2):
                raise SpecError(f"{where}: betas must be [beta1, beta2] or a list of such pairs, got {b!r}")
        entry["__betas"] = options
    allowed = set(opt.hyper_names) | {"name", "__betas"} | set(TRAINING_FIELDS)
    for key in entry:
        if key not in allowed:
            known = set(opt.hyper_names) | ({"betas"} if "beta1" in opt.hyper_names else set()) | set(TRAINING_FIELDS)
            raise SpecError(f"{where}: {_unknown(f'hyperparameter of {name!r}', key, known)}")
    tables = _scheduler_tables(entry["scheduler"], where) if "scheduler" in entry else [None]
    clips = _clip_axes(entry, where)
    if opt.closure and (any(t is not None for t in tables) or any(c is not None for c in clips)):
        raise SpecError(f"{where}: {name} evaluates the objective in a line search; it takes no scheduler and no "
                        f"gradient clipping (remove them from the entry)")
    if any(t is not None for t in tables) and not opt.per_step_hypers:
        raise SpecError(f"{where}: optimizer {name!r} cannot take a scheduler: its schedule(hp, steps) reads one "
                        f"hyperparameter row, not one per step (see optbench.optimizers.step_rows)")
    keys = [k for k in entry if k != "name" and k not in TRAINING_FIELDS]
    axes = [entry[k] if k == "__betas" else axis_values(entry[k], f"{where}: {k}") for k in keys]
    cases, skipped = [], []
    for combo in itertools.product(*axes):
        values = dict(zip(keys, combo))
        if "__betas" in values:
            values["beta1"], values["beta2"] = values.pop("__betas")
        try:
            resolved = opt.resolve(values)
        except SpecError as exc:
            if skip_invalid:
                skipped.append(f"{where}: {exc}")
                continue
            crossed = math.prod(len(a) for a in axes) > 1
            hint = "; skip_invalid = true skips the combinations torch rejects" if crossed else ""
            raise SpecError(f"{where}: {exc}{hint}") from None
        for table in tables:
            sched = None if table is None else _resolve_scheduler(table, where, steps, opt)
            cases.extend(OptimizerCase(i, name, resolved, sched, clip) for clip in clips)
    return cases, skipped


def _check_closure_cases(objective_cases: list, optimizer_cases: list) -> None:
    """A line-search optimizer (``closure``) needs the exact full-batch
    gradient, evaluated as often as it asks: refuse minibatches and
    gradient noise with it, naming both entries."""
    for oc in optimizer_cases:
        opt = optimizers_mod.get(oc.name)
        if not opt.closure:
            continue
        where = f"[[optimizers]] #{oc.entry}: {oc.name} evaluates the objective in a line search"
        for case in objective_cases:
            if case.batch_size or case.noise:
                what = f"batch_size = {case.batch_size}" if case.batch_size else f"grad_noise = {case.noise:g}"
                raise SpecError(f"{where}, which needs exact full-batch gradients; [[objectives]] #{case.entry} "
                                f"({case.problem.name}) has {what} (put them in separate specs)")


def _resolve_scheduler(table: dict, where: str, steps: int, opt) -> dict:
    from .optimizers import schedulers

    return schedulers.resolve(table, steps=steps, hyper_names=opt.hyper_names, where=f"{where}: scheduler")
