"""What the report shows, computed from the stored tables alone.

A *case* is one objective instance of the sweep: objective name, dimension,
every ``obj_<param>`` value, batch size and gradient noise.  Grouping by the
whole key (not by objective name) is what lets a sweep that varies any
objective parameter (``cond``, ``loss``, an activation ...) get one section
per value.

A *setting* is one optimizer with all its hyperparameters; a *variant* is an
optimizer with its hyperparameters other than the learning rate, restricted
to those the sweep varies (``sgd (momentum=0.9, nesterov=True)``).  Lines in
the figures are variants at their best learning rate; tables rank
optimizers at their best setting.

Success criteria: with targets and a known optimum, "reached gap <= t" for
each target (the tightest is "success"); without them (objectives unbounded
below, unknown optimum, no targets), "escaped or converged" with the step at
which it happened.

Cost is counted two ways: in *steps* (optimizer updates) and in objective
*evaluations* (full-data gradient evaluations: a minibatch step counts
``batch_size / n_samples``, a line-search step every evaluation it made).
Folders written before evaluations were recorded count one per step.  The
report's x axis (:data:`X_AXES`) is steps or evaluations; "auto" picks
evaluations where any run's differ from its steps.  ERT is given in both;
the one on the x axis ranks (:attr:`ReportData.rank_by`).

"Best" puts settings where at most half the runs diverged before the
others (a learning rate that blows up most runs is not the one to
recommend, however fast its survivors are), then orders by the share of
(run, criterion) pairs met, then ERT at the tightest criterion, then at the
looser ones, then median final gap (or final value), then the number of
diverged runs (see :func:`rank`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import storage
from .._errors import OptbenchError, ResultsError
from .evals import (
    EVALS_PREFIX,
    X_LABELS,
    case_costs,
    check_x_axis,
    curves_have,
    evals_at,
    evals_differ,
    with_evals,
    x_axis_of,
)

BIG = 1e300  # a diverged run's final gap: sorts last, survives quantiles (inf - inf is nan)
MAX_VARIANTS = 6  # variants per optimizer before they are merged into one line

# columns of the runs table that are neither hyperparameters nor objective parameters
FIXED = storage.schema.FIXED_RUN_COLUMNS
REQUIRED = ["run_id", "objective", "dim", "optimizer", "init_index", "f_star", "f_final", "gap_final",
            "steps_run", "status"]

# one fixed colour per optimizer, in every figure; unknown names get a stable hashed one
OPT_COLORS = {
    "sgd": "#1f77b4", "adam": "#ff7f0e", "rmsprop": "#2ca02c", "adagrad": "#d62728",
    "adadelta": "#9467bd", "adamax": "#8c564b", "nadam": "#e377c2", "radam": "#17becf",
    "adamw": "#bcbd22", "lbfgs": "#393b79", "cg": "#637939", "gd_armijo": "#843c39",
}
EXTRA_COLORS = ["#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
                "#31a354", "#756bb1"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2))]
SHADES = [0.0, -0.45, 0.4, -0.7, 0.6, -0.2]  # >0 towards white, <0 towards black
# how a run was trained besides its hyperparameters (lr scheduler, clipping):
# part of its optimizer's setting and variant
TRAINING_COLUMNS = (storage.schema.SCHEDULER_COLUMN, *storage.schema.CLIP_COLUMNS)


def optimizer_color(name: str) -> str:
    if name in OPT_COLORS:
        return OPT_COLORS[name]
    import zlib

    return EXTRA_COLORS[zlib.crc32(name.encode()) % len(EXTRA_COLORS)]


def shade(color: str, amount: float) -> tuple:
    from matplotlib.colors import to_rgb

    rgb = np.array(to_rgb(color))
    target = np.ones(3) if amount > 0 else np.zeros(3)
    return tuple(rgb + (target - rgb) * abs(amount))


def fmt(v, digits: int = 3) -> str:
    """A hyperparameter or parameter value as people write it."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}g}"
    if isinstance(v, (np.integer,)):
        return str(int(v))
    return str(v)


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe piece of ``text`` (names come from the spec)."""
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    return s[:limit] or "x"


def variant_label(optimizer: str, values: dict) -> str:
    """``sgd (momentum=0.9, nesterov)``: switches by name when on, left out
    when off; a scheduler by its name (``cosine_annealing_lr T_max=1000``)."""
    parts = [p for h, v in values.items() if (p := label_part(h, v))]
    return optimizer + (f" ({', '.join(parts)})" if parts else "")


def label_part(h: str, v) -> str:
    """One hyperparameter (or scheduler argument) as a label shows it; '' for a switch that is off."""
    if h == storage.schema.SCHEDULER_COLUMN:
        return "constant lr" if v in (None, "none") else str(v)
    if _is_training(h) and v is None:  # another scheduler's argument, no clipping
        return ""
    if h.startswith(storage.schema.SCHED_ARG_PREFIX):
        h = h[len(storage.schema.SCHED_ARG_PREFIX):]
    if isinstance(v, (bool, np.bool_)):
        return h if v else ""
    return f"{h}={fmt(v)}"


def _py(v):
    """numpy / pandas scalars as plain Python values (None for missing)."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        v = v.item()
        if isinstance(v, float) and math.isnan(v):
            return None
    return v


@dataclass
class Criterion:
    """A success criterion of a case and the per-run step column it reads."""

    label: str  # "gap ≤ 1e-06"
    short: str  # "1e-06"
    column: str  # per-run steps at which it was met (NaN: never)
    target: float | None = None  # the gap, for criteria that are targets
    evals_column: str = ""  # per-run evaluations spent to meet it (NaN: never)

    def spent_column(self, unit: str) -> str:
        """The column counting ``unit`` ("steps" or "evals") to this criterion."""
        return self.evals_column if unit == "evals" else self.column


@dataclass
class Case:
    id: int
    objective: str
    dim: int
    params: dict  # objective parameters (obj_* without the prefix)
    batch_size: int
    noise: float  # gradient-noise sigma (grad_noise)
    init: str  # the initialization scheme, e.g. "xavier_uniform" or "normal(std=0.1)"
    label: str  # name plus the parameters that vary between cases of this objective
    detail: str  # every parameter
    slug: str
    metric: str  # "gap" (f - f*) or "f" (no finite optimum)
    f_star: float
    criteria: list[Criterion]
    n_runs: int
    problem: object = None  # registered Problem, for contours and minima (None: not available)
    problem_note: str = ""  # why there is no problem
    members: tuple = ()  # a pooled case (instances of a transformed objective): the case ids it pools
    evals_rate: float = math.nan  # evaluations per step, where every run of the case spent the same (evals.case_costs)
    evals_budget: float = math.nan  # the most evaluations a run would have spent over the step budget

    @property
    def ids(self) -> tuple:
        """The case ids whose runs this case holds: its own, or those it pools."""
        return self.members or (self.id,)

    @property
    def metric_label(self) -> str:
        return "gap to optimum f − f*" if self.metric == "gap" else "objective value f"


@dataclass
class Variant:
    id: int
    optimizer: str
    values: dict  # varied hyperparameters other than lr
    label: str
    color: tuple | str
    linestyle: str


@dataclass
class ReportData:
    folder: Path
    manifest: dict
    runs: pd.DataFrame  # with case_id, setting_id, variant_id, lr_, final_, success columns
    cases: list[Case]
    variants: list[Variant]
    settings: pd.DataFrame  # setting_id -> optimizer, variant_id, lr, label, hyper values
    hypers: dict  # optimizer -> its hyperparameter columns
    stats: dict = field(default_factory=dict)  # case_id -> per-setting stats, best first
    views: dict = field(default_factory=dict)  # case_id -> {view: best per optimizer, CIs, ties}: rankings.attach
    transforms: list = field(default_factory=list)  # plain vs rotated/shifted instances: transforms.attach
    targets: list = field(default_factory=list)
    results: storage.Results | None = None  # the checked folder: curves are read from its parts
    plugin_notes: list = field(default_factory=list)  # plugins of the manifest not loaded, and why
    x_axis: str = "steps"  # "steps" or "evals": what x axes count, and which ERT ranks (X_AXES, prepare)
    evals_differ: bool = False  # whether any run's evaluations differ from its steps
    curve_evals: bool = False  # whether curves.parquet has an evals column (else evals = step)
    _rows: dict | None = field(default=None, repr=False)  # (case_id, setting_id) -> row positions: setting_runs

    @property
    def rank_by(self) -> str:
        """Which ERT ranks ("steps" or "evals"): the one the x axes count."""
        return self.x_axis

    @property
    def x_label(self) -> str:
        return X_LABELS[self.x_axis]

    def variant(self, vid: int) -> Variant:
        return self.variants[vid]

    def color(self, optimizer: str):
        return optimizer_color(optimizer)

    def optimizers(self) -> list[str]:
        seen = []
        for v in self.variants:
            if v.optimizer not in seen:
                seen.append(v.optimizer)
        return seen


# ----------------------------------------------------------------- loading


def load(folder) -> tuple[storage.Results, Path]:
    folder = Path(folder)
    results = storage.load(folder)
    # the report never draws final points: leave their lists on disk (a
    # million-run sweep's x_final is ~120 MB as NumPy objects)
    results._runs = results.read_runs(exclude=("x_final",))
    missing = [c for c in REQUIRED if c not in results.runs.columns]
    if missing:
        raise ResultsError(f"{folder / storage.RUNS}: missing column(s) {', '.join(missing)}; "
                           f"not a runs table this optbench can report on")
    if results.runs.empty:
        raise ResultsError(f"{folder / storage.RUNS}: no runs to report on")
    return results, folder


def _optimizer_hypers(name: str, runs_opt: pd.DataFrame, candidates: list[str]) -> list[str]:
    try:
        from .. import optimizers

        names = [h for h in optimizers.get(name).hyper_names if h in runs_opt.columns]
        if names:
            return names + [c for c in candidates if _is_training(c) and runs_opt[c].notna().any()]
    except OptbenchError:
        pass
    # an optimizer this optbench does not know (a folder from elsewhere): its columns that hold values
    return [c for c in candidates if runs_opt[c].notna().any()]


def _chain_named(values: dict, row) -> dict:
    """``values`` with a sequential_lr shown as its chain, ``linear_lr > cosine_annealing_lr``."""
    chain = row.get("sched_schedulers") if values.get(storage.schema.SCHEDULER_COLUMN) == "sequential_lr" else None
    if not isinstance(chain, str):
        return values
    return {**values, storage.schema.SCHEDULER_COLUMN: " > ".join(re.findall(r"(\w+)\(", chain))}


def _is_training(column: str) -> bool:
    return column in TRAINING_COLUMNS or column.startswith(storage.schema.SCHED_ARG_PREFIX)


def momentum_like(name: str, hypers: list[str]) -> str | None:
    try:
        from .. import optimizers

        return optimizers.get(name).momentum_like
    except OptbenchError:
        for h in ("momentum", "beta1"):
            if h in hypers:
                return h
        return None


def _problem(objective: str, dim: int, params: dict):
    """The registered problem for a case, or (None, why not)."""
    try:
        from .. import objectives

        obj = objectives.get(objective)
    except OptbenchError:
        return None, (f"objective {objective!r} is not registered here (if a plugin defines it, "
                      f"`optbench report --plugin FILE` loads it)")
    try:
        typed = {}
        for k, v in params.items():
            p = obj.params.get(k)
            if p is not None and isinstance(p.default, bool):
                v = bool(v)
            elif p is not None and isinstance(p.default, int) and isinstance(v, float) and v.is_integer():
                v = int(v)
            typed[k] = v
        problem = obj.make(None if obj.dim_from_data else dim, **typed)
    except Exception as exc:  # noqa: BLE001 - a folder from another version: draw without the surface
        return None, f"objective {objective!r} could not be rebuilt here ({exc})"
    if problem.dim != dim:
        return None, f"objective {objective!r} has dim {problem.dim} here, {dim} in the results"
    return problem, ""


def _applies(objective: str, key: str, params: dict) -> bool:
    """Whether objective parameter ``key`` means anything for a case: a data
    generator's parameters (documented as "(synthetic)", "(synthetic, moons,
    xor)", "ignored for the fixed data sets") do not apply to a fixed data
    set, and a case header should not list them."""
    data = params.get("data")
    if data is None or key == "data":
        return True
    try:
        from .. import objectives

        doc = objectives.get(objective).params[key].doc
    except (OptbenchError, KeyError, AttributeError):
        return True
    if not re.search(r"synthetic|generat|fixed data sets", doc):
        return True
    return re.search(rf"\b{re.escape(str(data))}\b", doc) is not None


def attainment_note(case: Case) -> str:
    """Why no target can be met, where the optimum is an infimum no θ attains:
    cross-entropy or MSE-on-sigmoid losses with ``l2 = 0`` and f* = 0
    (separable data: the loss falls towards 0 as ‖θ‖ grows)."""
    p = case.params
    if (case.f_star == 0.0 and p.get("l2") == 0 and p.get("loss", "cross_entropy") in ("cross_entropy", "mse")
            and "data" in p):
        return ("f* = 0 is an infimum, not attained: the data are separable and l2 = 0, so the loss only "
                "approaches 0 as the weights grow without bound, and runs stall on a plateau far above any "
                "small target; set l2 > 0 for a minimum that is attained")
    return ""


def _init_labels(runs: pd.DataFrame) -> pd.Series:
    """Each run's initialization as one label: the scheme, with normal's std."""
    scheme = runs["init_scheme"].astype(str) if "init_scheme" in runs.columns else pd.Series("?", index=runs.index)
    if "init_std" not in runs.columns:
        return scheme
    std = runs["init_std"].to_numpy(float)
    with_std = np.isfinite(std)
    out = scheme.to_numpy(object).copy()
    out[with_std] = [f"{a}(std={b:g})" for a, b in zip(out[with_std], std[with_std])]
    return pd.Series(out, index=runs.index, dtype=object)


def prepare(results: storage.Results, folder: Path, x_axis: str = "auto") -> ReportData:
    """What the report shows, from a results folder's tables.  ``x_axis``:
    what the figures' x axes count and which ERT ranks ("steps", "evals",
    or "auto": evaluations where any run's differ from its steps)."""
    runs = results.runs  # loaded for the report alone (see load): columns are added in place
    manifest = results.manifest
    obj_cols = [c for c in runs.columns if c.startswith("obj_")]
    target_cols = [c for c in runs.columns if c.startswith("steps_to_")]
    check_x_axis(x_axis)
    with_evals(runs)
    differ = evals_differ(runs)
    if "grad_noise" not in runs.columns:  # folders written before the column was renamed
        runs["grad_noise"] = runs["noise"] if "noise" in runs.columns else 0.0
    if "batch_size" not in runs.columns:
        runs["batch_size"] = 0
    runs["objective"] = runs["objective"].astype(str)
    runs["optimizer"] = runs["optimizer"].astype(str)
    runs["status"] = runs["status"].astype(str)
    if "repeat" not in runs.columns:
        runs["repeat"] = 0
    runs["init_"] = _init_labels(runs)

    # ---- cases: (objective, dim, obj_* ..., batch_size, noise, init), in run order
    case_cols = ["objective", "dim", *obj_cols, "batch_size", "grad_noise", "init_"]
    runs["case_id"] = runs.groupby(case_cols, dropna=False, sort=False, observed=True).ngroup()
    targets = sorted((float(t) for t in manifest.get("targets", [])), reverse=True)
    targets = [t for t in targets if f"steps_to_{t:g}" in target_cols]
    firsts = runs.groupby("case_id", sort=True).head(1).set_index("case_id").sort_index()
    case_params = {}
    for cid, row in firsts.iterrows():
        case_params[cid] = {c[4:]: _py(row[c]) for c in obj_cols if _py(row[c]) is not None}
    # which parameters vary between cases of the same objective (they go in labels)
    varying: dict[str, list[str]] = {}
    for obj, grp in firsts.groupby("objective", sort=False):
        keys = []
        if grp["dim"].nunique() > 1:
            keys.append("dim")
        for c in obj_cols:
            # a switch left unset (the plain instance's shift) reads as off: labels do not show shift=false
            values = grp[c].fillna(False) if pd.api.types.is_bool_dtype(grp[c].dtype) else grp[c]
            if values.astype(object).nunique(dropna=False) > 1:
                keys.append(c[4:])
        for c in ("batch_size", "grad_noise"):
            if grp[c].nunique() > 1:
                keys.append(c)
        if grp["init_"].nunique() > 1:
            keys.append("init")
        varying[obj] = keys

    counts = runs.groupby("case_id").size()
    cases = []
    for cid, row in firsts.iterrows():
        obj, dim = row["objective"], int(row["dim"])
        params = case_params[cid]
        everything = {"dim": dim, **params, "batch_size": int(row["batch_size"]),
                      "grad_noise": float(row["grad_noise"]), "init": str(row["init_"])}
        # a case may lack a parameter its siblings have (the plain instance beside rotated ones)
        shown = {k: everything[k] for k in varying[obj] if k in everything}
        label = obj + (" (" + ", ".join(f"{k}={fmt(v, 4)}" for k, v in shown.items()) + ")" if shown else "")
        detail_items = {"dim": dim, **{k: v for k, v in params.items() if _applies(obj, k, params)}}
        if everything["batch_size"]:
            detail_items["batch_size"] = everything["batch_size"]
        if everything["grad_noise"]:
            detail_items["grad_noise"] = everything["grad_noise"]
        detail_items["init"] = everything["init"]
        detail = ", ".join(f"{k}={fmt(v, 6)}" for k, v in detail_items.items())
        f_star = float(row["f_star"])
        metric = "gap" if math.isfinite(f_star) else "f"
        if metric == "gap" and targets:
            criteria = [Criterion(f"gap ≤ {t:g}", f"{t:g}", f"steps_to_{t:g}", t, f"{EVALS_PREFIX}{t:g}")
                        for t in targets]
        else:
            criteria = [Criterion("escaped or converged", "escaped/converged", "_escape_or_converge", None,
                                  "_escape_or_converge_evals")]
        problem, note = (None, "not a 2-D objective")
        if dim == 2:
            problem, note = _problem(obj, dim, params)
        cases.append(Case(
            id=int(cid), objective=obj, dim=dim, params=params, batch_size=int(row["batch_size"]),
            noise=float(row["grad_noise"]), init=str(row["init_"]), label=label, detail=detail,
            slug=f"{int(cid):02d}-{slug(obj)}", metric=metric, f_star=f_star, criteria=criteria,
            n_runs=int(counts[cid]), problem=problem, problem_note=note,
        ))

    # ---- per-run derived columns
    status = runs["status"]
    diverged = (status == "diverged").to_numpy()
    final = np.where(np.isfinite(runs["f_star"].to_numpy(float)), runs["gap_final"].to_numpy(float),
                     runs["f_final"].to_numpy(float))
    final = np.where(diverged | np.isnan(final), BIG, final)
    runs["final_"] = final
    runs["diverged_"] = diverged
    conv_step = runs["converged_step"].astype("Float64").to_numpy(float, na_value=np.nan) \
        if "converged_step" in runs.columns else np.full(len(runs), np.nan)
    esc = np.where((status == "escaped").to_numpy(), runs["steps_run"].to_numpy(float), np.nan)
    runs["_escape_or_converge"] = np.where(np.isfinite(conv_step) & (status == "converged").to_numpy(),
                                           conv_step, esc)
    for c in target_cols:
        runs[c] = runs[c].astype("Float64").to_numpy(float, na_value=np.nan)
    runs["_escape_or_converge_evals"] = evals_at(runs, runs["_escape_or_converge"].to_numpy(float), targets)
    runs["lr_"] = runs["lr"].astype(float) if "lr" in runs.columns else np.nan

    # ---- settings and variants, per optimizer
    candidates = [c for c in runs.columns if c not in FIXED and not c.startswith(("obj_", "steps_to_", EVALS_PREFIX))
                  and not c.endswith("_") and not c.startswith("_") and c not in ("case_id", "evals_final")]
    hypers: dict[str, list[str]] = {}
    runs["setting_id"] = -1
    runs["variant_id"] = -1
    variants: list[Variant] = []
    setting_rows = []
    for opt in pd.unique(runs["optimizer"]):
        mask = (runs["optimizer"] == opt).to_numpy()
        sub = runs.loc[mask]
        hp = _optimizer_hypers(opt, sub, candidates)
        hypers[opt] = hp
        vary = [h for h in hp if h != "lr" and sub[h].astype(object).nunique(dropna=True) > 1]
        if vary:
            vkeys = sub.groupby(vary, dropna=False, sort=True, observed=True).ngroup().to_numpy()
            if vkeys.max() + 1 > MAX_VARIANTS:
                vary, vkeys = [], np.zeros(mask.sum(), int)
        else:
            vkeys = np.zeros(mask.sum(), int)
        base = len(variants)
        n_var = int(vkeys.max()) + 1
        color = optimizer_color(opt)
        for k in range(n_var):
            first = sub.loc[vkeys == k].iloc[0]
            values = {h: _py(first[h]) for h in vary}
            label = variant_label(opt, _chain_named(values, first))
            variants.append(Variant(base + k, opt, values, label,
                                    shade(color, SHADES[k % len(SHADES)]) if k else color,
                                    LINESTYLES[k % len(LINESTYLES)]))
        runs.loc[mask, "variant_id"] = base + vkeys
        skeys = sub.groupby(hp, dropna=False, sort=False, observed=True).ngroup().to_numpy() if hp else \
            np.zeros(mask.sum(), int)
        sbase = len(setting_rows)
        runs.loc[mask, "setting_id"] = sbase + skeys
        for k in range(int(skeys.max()) + 1):
            first = sub.loc[skeys == k].iloc[0]
            values = {h: _py(first[h]) for h in hp}
            setting_rows.append({
                "setting_id": sbase + k, "optimizer": opt, "variant_id": base + int(vkeys[skeys == k][0]),
                "lr": float(values["lr"]) if values.get("lr") is not None else np.nan,
                "values": values,
                "label": ", ".join(p for h, v in values.items() if h == "lr" or h in vary or _differs(sub, h)
                                   if (p := label_part(h, v) if _is_training(h) else f"{h}={fmt(v)}")),
            })
    settings = pd.DataFrame(setting_rows).set_index("setting_id")
    data = ReportData(folder, manifest, runs, cases, variants, settings, hypers, targets=targets, results=results,
                      x_axis=x_axis_of(x_axis, differ), evals_differ=differ, curve_evals=curves_have(results, "evals"))
    costs = case_costs(runs, targets, budget(data))
    for case in cases:
        case.evals_rate, case.evals_budget = (float(v) for v in costs.loc[case.id, ["rate", "budget"]])
        data.stats[case.id] = setting_stats(data, case)
    return data


def _differs(sub: pd.DataFrame, h: str) -> bool:
    return sub[h].astype(object).nunique(dropna=True) > 1


# ----------------------------------------------------------------- statistics


def setting_stats(data: ReportData, case: Case) -> pd.DataFrame:
    """One row per setting run on ``case``: counts, final-value quantiles and,
    per criterion, success rate, median steps (of runs that met it) and ERT
    in steps (``ert_<k>``) and in evaluations (``ert_evals_<k>``, and
    ``med_evals_<k>``).  Sorted best first (see the module docstring), by
    the ERT :attr:`ReportData.rank_by` names."""
    sub = data.runs[data.runs["case_id"].isin(case.ids)]
    g = sub.groupby("setting_id", sort=True)
    status = sub["status"]
    out = pd.DataFrame({
        "n": g.size(),
        "n_diverged": sub["diverged_"].groupby(sub["setting_id"]).sum(),
        "n_escaped": (status == "escaped").groupby(sub["setting_id"]).sum(),
        "n_converged": (status == "converged").groupby(sub["setting_id"]).sum(),
        "med_final": g["final_"].median(),
        "q25_final": g["final_"].quantile(0.25),
        "q75_final": g["final_"].quantile(0.75),
    })
    ran = {"steps": sub["steps_run"].to_numpy(float), "evals": sub["evals_final"].to_numpy(float)}
    for k, crit in enumerate(case.criteria):
        s = sub[crit.column]
        reached = s.notna()
        n_reached = reached.groupby(sub["setting_id"]).sum()
        out[f"succ_{k}"] = n_reached / out["n"]
        out[f"med_steps_{k}"] = s.groupby(sub["setting_id"]).median()
        out[f"med_evals_{k}"] = sub[crit.evals_column].groupby(sub["setting_id"]).median()
        # ERT: steps (evaluations) spent by every run (to the target if reached, else all it ran) per success
        for unit, all_ran in ran.items():
            spent = pd.Series(np.where(reached, sub[crit.spent_column(unit)].to_numpy(float), all_ran),
                              index=sub.index)
            total = spent.groupby(sub["setting_id"]).sum()
            with np.errstate(divide="ignore", invalid="ignore"):
                out[ert_column(k, unit)] = np.where(n_reached > 0, total / n_reached.where(n_reached > 0, 1),
                                                    np.inf)
    out["success"] = out[f"succ_{len(case.criteria) - 1}"]
    # runs that met the tightest target and ended above it again
    tight = case.criteria[-1]
    left = sub[tight.column].notna() & (sub["final_"] > tight.target) if tight.target is not None else \
        pd.Series(False, index=sub.index)
    out["n_left"] = left.groupby(sub["setting_id"]).sum()
    out = out.join(data.settings[["optimizer", "variant_id", "lr", "label"]])
    return rank(out, len(case.criteria), rank_unit(data, case))


def rank_unit(data: ReportData, case: Case) -> str:
    """What ranks ``case``'s settings and counts in its paired tests: the
    report's :attr:`ReportData.rank_by`, except that a case whose runs all
    spent one number of evaluations per step (:attr:`Case.evals_rate`) is
    ranked in steps, the same order without the rounding of a rescale."""
    return "evals" if data.rank_by == "evals" and not math.isfinite(case.evals_rate) else "steps"


def ert_column(k: int, unit: str = "steps") -> str:
    """The :func:`setting_stats` column of the ERT to criterion ``k`` in ``unit`` ("steps" or "evals")."""
    return f"ert_evals_{k}" if unit == "evals" else f"ert_{k}"


def rank(stats: pd.DataFrame, n_criteria: int, by: str = "steps") -> pd.DataFrame:
    """Best first: settings with at most half their runs diverged, then the
    larger share of (run, criterion) pairs met (COCO's data
    profile at the end of the budget), then the lower ERT (in ``by``:
    "steps" or "evals") at the tightest
    criterion, then at the looser ones, then the lower median final value,
    then fewer diverged runs.  Averaging over criteria keeps a setting where a
    few runs reach a tight target and most diverge from beating one where
    every run reaches the looser targets."""
    tmp = stats.copy()
    tmp["_neg_pairs"] = -sum(tmp[f"succ_{k}"] for k in range(n_criteria)) / n_criteria
    tmp["_mostly_diverged"] = tmp["n_diverged"] > 0.5 * tmp["n"]
    keys = (["_mostly_diverged", "_neg_pairs"] + [ert_column(k, by) for k in reversed(range(n_criteria))]
            + ["med_final", "n_diverged"])
    order = tmp.sort_values(keys, kind="stable", na_position="last").index
    return stats.loc[order]


def rank_final(stats: pd.DataFrame) -> pd.DataFrame:
    """:func:`setting_stats` rows in the final-state order, best first:
    settings with at most half their runs diverged, then the lower median
    final value (what a training run ends with), then fewer diverged runs,
    then the first-hitting order."""
    tmp = stats.copy()
    tmp["_mostly_diverged"] = tmp["n_diverged"] > 0.5 * tmp["n"]
    tmp["_first_hit"] = np.arange(len(tmp))
    order = tmp.sort_values(["_mostly_diverged", "med_final", "n_diverged", "_first_hit"], kind="stable",
                            na_position="last").index
    return stats.loc[order]


PAIR_KEY = ["init_index", "repeat"]  # runs of a case that share their initial point and minibatch stream


def budget(data: ReportData) -> float:
    """The sweep's step budget (steps per run)."""
    steps = data.manifest.get("steps")
    return float(steps) if steps is not None else float(data.runs["steps_run"].max())


def pair_key(case: Case) -> list[str]:
    """What pairs two settings' runs on ``case``: :data:`PAIR_KEY`, and the
    instance (case id) where the case pools several."""
    return ["case_id", *PAIR_KEY] if case.members else PAIR_KEY


def setting_runs(data: ReportData, case: Case, sid) -> pd.DataFrame:
    """The runs of setting ``sid`` on ``case``, in :data:`PAIR_KEY` order.
    Row positions per (case, setting) are found once for the whole table:
    rankings, intervals and figures ask for them setting by setting."""
    if data._rows is None:
        order = data.runs.sort_values(PAIR_KEY, kind="stable")
        data._rows = {k: data.runs.index.get_indexer(order.index[v]) for k, v in
                      order.groupby(["case_id", "setting_id"], sort=False).indices.items()}
    found = [r for cid in case.ids if (r := data._rows.get((cid, sid))) is not None]
    return data.runs.iloc[np.concatenate(found) if found else []]


def outcomes(data: ReportData, case: Case, sid) -> pd.DataFrame:
    """Per run of setting ``sid`` on ``case``, indexed by :data:`PAIR_KEY`:
    ``first_hit`` and ``final`` (see :mod:`.stats`, lower is better; first
    hitting counts what :func:`rank_unit` names, a target not met counting
    one step more than the budget, in evaluations at the case's highest
    rate), ``reached`` (met
    the case's tightest criterion), ``spent`` (steps to it, else all the run
    took), ``spent_evals`` (the same in evaluations) and ``final_`` (final
    value, diverged as BIG).  A pooled case's runs are indexed by
    :func:`pair_key`."""
    from . import stats as stats_mod

    sub = setting_runs(data, case, sid)
    unit = rank_unit(data, case)
    hits = sub[[c.spent_column(unit) for c in case.criteria]].to_numpy(float)
    reached = sub[case.criteria[-1].column].notna().to_numpy()
    steps = budget(data)
    # first_hit_outcome counts a miss as budget + 1: one step more, at the highest rate in evaluations
    missed = steps if unit == "steps" else case.evals_budget * (steps + 1) / steps - 1
    return pd.DataFrame({
        "first_hit": stats_mod.first_hit_outcome(hits, missed),
        "final": stats_mod.final_outcome(sub["final_"].to_numpy(float), sub["diverged_"].to_numpy(bool)),
        "reached": reached,
        "spent": np.where(reached, sub[case.criteria[-1].column].to_numpy(float), sub["steps_run"].to_numpy(float)),
        "spent_evals": np.where(reached, sub[case.criteria[-1].evals_column].to_numpy(float),
                                sub["evals_final"].to_numpy(float)),
        "final_": sub["final_"].to_numpy(float),
    }, index=pd.MultiIndex.from_frame(sub[pair_key(case)])).sort_index()


def case_value(case: Case, key: str):
    """The value of a case's parameter ``key``: dim, batch_size, grad_noise,
    init or an objective parameter (None where the case has none)."""
    if key == "dim":
        return case.dim
    if key == "batch_size":
        return case.batch_size
    if key == "grad_noise":
        return case.noise
    if key == "init":
        return case.init
    return case.params.get(key)


def compared_together(cases: list[Case], varying: list[str]) -> list[list[str]]:
    """The varied parameters of a family, split into sets to compare jointly.

    Two parameters go together when the family does not hold every
    combination of their values (``loss = "cross_entropy"`` only with
    ``activation = "sigmoid"``): a marginal over either one would mix in the
    other.  Parameters crossed in full (``init`` with everything) stand alone.
    """
    parent = {k: k for k in varying}

    def root(k):
        while parent[k] != k:
            k = parent[k]
        return k

    for i, a in enumerate(varying):
        for b in varying[i + 1:]:
            pairs = {(repr(case_value(c, a)), repr(case_value(c, b))) for c in cases}
            n_a = len({p[0] for p in pairs})
            n_b = len({p[1] for p in pairs})
            if len(pairs) < n_a * n_b:
                parent[root(b)] = root(a)
    out: dict[str, list[str]] = {}
    for k in varying:
        out.setdefault(root(k), []).append(k)
    return list(out.values())


def common_settings(data: ReportData, cases: list[Case]) -> dict[str, int]:
    """Per optimizer, the one setting run on every case of ``cases`` with the
    best mean rank among that optimizer's settings (ranks from the cases'
    best-first ordering): comparisons across cases at the same hyperparameters."""
    ranks: dict[str, dict[int, list[int]]] = {}
    for c in cases:
        stats = data.stats[c.id]
        for opt, sub in stats.groupby("optimizer", sort=False):
            for pos, sid in enumerate(sub.index):
                ranks.setdefault(opt, {}).setdefault(int(sid), []).append(pos)
    out = {}
    for opt, by_sid in ranks.items():
        full = {sid: float(np.mean(v)) for sid, v in by_sid.items() if len(v) == len(cases)}
        if full:
            out[opt] = min(full, key=lambda sid: (full[sid], sid))
    return out


def best_per(stats: pd.DataFrame, by: str) -> pd.DataFrame:
    """Best setting per ``by`` ('variant_id' or 'optimizer'), best first."""
    return stats.groupby(by, sort=False).head(1)


def best_per_lr(stats: pd.DataFrame) -> pd.DataFrame:
    """Best setting per (variant, lr): the points of the learning-rate sensitivity lines."""
    return stats.groupby(["variant_id", "lr"], sort=False, dropna=False).head(1)


def case_runs(data: ReportData, case: Case, setting_ids) -> pd.DataFrame:
    r = data.runs
    return r[r["case_id"].isin(case.ids) & r["setting_id"].isin(list(setting_ids))]

