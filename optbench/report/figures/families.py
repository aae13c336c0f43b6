"""An objective's cases compared by their parameters (activation, loss, init, ...)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.lines import Line2D

from .. import curves as curves_mod
from ..data import BIG, Case, ReportData, best_per, case_value, common_settings, ert_column, fmt, slug
from ..rankings import criterion_intervals
from .base import (
    CURVE_POINTS,
    Frame,
    Plot,
    clip_top,
    count,
    lr_text,
    to_png,
    value_floor,
    value_limits,
    value_scale,
)
from .runtime import axis_budget, ecdf, steps_axis

# ----------------------------------------------------------------- objective-parameter effect


def parameter_effect(data: ReportData, objective: str, cases: list[Case], param: str) -> Plot | None:
    """Success rate, ERT and median final value at each optimizer's best
    setting against one varied (numeric) objective parameter."""
    vals = []
    for c in cases:
        v = c.params.get(param, {"dim": c.dim, "grad_noise": c.noise, "batch_size": c.batch_size}.get(param))
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        vals.append(float(v))
    order = np.argsort(vals)
    xs = np.array(vals)[order]
    cases = [cases[i] for i in order]
    frame = Frame(3, 1, 6.4, 1.7, hspace=0.25)
    ax1 = frame.add(0)
    ax2 = frame.add(1, sharex=ax1)
    ax3 = frame.add(2, sharex=ax1)
    handles, labels = [], []
    metric = cases[0].metric
    floor = value_floor(data)
    allv = []
    n_runs = 0
    for opt in data.optimizers():
        succ, ert, fin = [], [], []
        bands = {"succ": [], "ert": [], "fin": []}  # 95% bootstrap intervals (lo, hi)
        for c in cases:
            b = best_per(data.stats[c.id], "optimizer")
            b = b[b["optimizer"] == opt]
            if not len(b):
                succ.append(np.nan), ert.append(np.nan), fin.append(np.nan)
                for v in bands.values():
                    v.append((np.nan, np.nan))
                continue
            row = b.iloc[0]
            ci = criterion_intervals(data, c, b.index[0], len(c.criteria) - 1, data.rank_by)
            succ.append(float(row["success"]))
            bands["succ"].append(ci.success)
            e = float(row[ert_column(len(c.criteria) - 1, data.rank_by)])
            ert.append(e if math.isfinite(e) else np.nan)
            bands["ert"].append(tuple(x if math.isfinite(x) else np.nan for x in ci.ert) if math.isfinite(e)
                                else (np.nan, np.nan))
            f = float(row["med_final"])
            fin.append(np.nan if f >= BIG / 10 else (max(f, floor) if metric == "gap" else f))
            bands["fin"].append(tuple(np.nan if x >= BIG / 10 else (max(x, floor) if metric == "gap" else x)
                                      for x in ci.median_final))
            n_runs += int(row["n"])
        color = data.color(opt)
        (h,) = ax1.plot(xs, succ, marker="o", color=color)
        ax2.plot(xs, ert, marker="o", color=color)
        ax3.plot(xs, fin, marker="o", color=color)
        for ax, key in ((ax1, "succ"), (ax2, "ert"), (ax3, "fin")):
            lo, hi = np.array(bands[key], dtype=float).T
            ax.fill_between(xs, lo, hi, color=color, alpha=0.12, lw=0)
        allv.append(np.array(fin))
        handles.append(h)
        labels.append(opt)
    if xs.min() > 0 and xs.max() / xs.min() >= 100:
        ax1.set_xscale("log")
    crit = cases[0].criteria[-1]
    ax1.set_ylim(-0.05, 1.05)
    ax1.set_ylabel(f"success rate\n({crit.label})", fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylabel(f"ERT to {crit.short}\n({'evaluations' if data.rank_by == 'evals' else 'steps'})", fontsize=8)
    value_scale(ax3, np.concatenate(allv), metric, floor)
    ax3.set_ylabel(f"median final\n{'gap' if metric == 'gap' else 'f'}", fontsize=8)
    ax3.set_xlabel(param)
    for ax in (ax1, ax2, ax3):
        ax.grid(True, alpha=0.3)
    for ax in (ax1, ax2):
        ax.tick_params(labelbottom=False)
    fig = frame.finish(handles, labels, f"{objective}: effect of {param}")
    cap = (f"{objective} across its {len(cases)} values of {param}: success rate ({crit.label}), expected running "
           f"time to it (missing where no run reached it) and median final {cases[0].metric_label} of each optimizer "
           f"at its best setting for each value, with 95% bootstrap intervals over its runs as bands "
           f"({count(n_runs)}).")
    return Plot("parameter_effect", f"family-{slug(objective)}-{slug(param)}", f"{objective} across {param}", cap,
                to_png(fig), n_runs)


# ----------------------------------------------------------------- family comparison by parameter

COMPARE_MAX_GROUPS = 10


COMPARE_MAX_OPTIMIZERS = 4


GROUP_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
                "#1f78b4", "#b2df8a"]


GRAD_FLOOR = 1e-12


def _family_groups(cases: list[Case], params: list[str]) -> tuple[dict[tuple, list[Case]], dict[tuple, str]]:
    """The cases grouped by their values of ``params``, and each group's label."""
    groups: dict[tuple, list[Case]] = {}
    for c in cases:
        groups.setdefault(tuple(repr(case_value(c, k)) for k in params), []).append(c)
    # a parameter a case lacks (the plain instance beside rotated ones: no rotate, no instance) is left out
    labels = {key: ", ".join(f"{k}={fmt(v, 4)}" for k in params if (v := case_value(members[0], k)) is not None)
              or "plain" for key, members in groups.items()}
    return groups, labels


@dataclass
class _Panels:
    """What every panel of a family comparison draws from."""

    rows: list[str]  # "grad", "value", "ecdf"
    groups: dict[tuple, list[Case]]
    by_case: dict[int, Case]
    curves: object  # the curves of the drawn runs on the step grid
    grid: object
    budget: float
    metric: str
    value_col: str
    floor: float
    unit: str = "steps"  # what the x axes count: "steps" or "evals"
    x_label: str = "steps"


def _draw_group(ax, row: str, r, color, p: _Panels, values_seen: dict):
    """One group's line (median and band) or ECDF in one panel; returns its handle."""
    if row == "ecdf":
        # every (run, criterion) pair of the group's cases, each case with its own criteria
        per_case = list(r.groupby("case_id"))
        steps = np.concatenate([rc[crit.spent_column(p.unit)].to_numpy(float) for c_id, rc in per_case
                                for crit in p.by_case[c_id].criteria] or [np.zeros(0)])
        n_pairs = sum(len(rc) * len(p.by_case[c_id].criteria) for c_id, rc in per_case)
        return ecdf(ax, steps, n_pairs, p.budget, color, "-")
    col = "grad_norm" if row == "grad" else p.value_col
    ids = r["run_id"].to_numpy()
    mine = p.curves[p.curves["run_id"].isin(ids)]
    if p.unit == "evals":
        steps, M = curves_mod.aligned_on(mine, ids, col, "evals", r["diverged_"].to_numpy(bool),
                                         curves_mod.x_grid(mine, ids, CURVE_POINTS))
    else:
        steps, M = curves_mod.aligned(mine, ids, col, r["diverged_"].to_numpy(bool), p.grid)
    lo = GRAD_FLOOR if row == "grad" else p.floor
    metric = "gap" if row == "grad" else p.metric
    if row == "grad" or p.metric == "gap":
        M = np.maximum(M, lo)
    q25, med, q75 = np.quantile(M, [0.25, 0.5, 0.75], axis=0)
    values_seen[row].append(np.concatenate([q25, med, q75]))
    lim = value_limits(med, metric, lo)
    q25, med, q75 = (clip_top(a, lim, metric) for a in (q25, med, q75))
    (h,) = ax.plot(steps, med, color=color, lw=1.6)
    ax.fill_between(steps, q25, q75, color=color, alpha=0.12, lw=0)
    return h


def _label_panel(ax, data: ReportData, p: _Panels, opt: str, sid, i: int, j: int) -> None:
    row = p.rows[i]
    if i == 0:
        ax.set_title(f"{opt} ({lr_text(data, sid) or data.settings.loc[sid, 'label']})", fontsize=9)
    if row == "ecdf":
        steps_axis(ax, p.budget)
    else:
        ax.grid(True, alpha=0.3)
    if i == len(p.rows) - 1:
        ax.set_xlabel(p.x_label)
    if j == 0:
        ax.set_ylabel({"grad": "gradient norm", "value": "gap f − f*" if p.metric == "gap" else "f",
                       "ecdf": "fraction of\n(run, target) pairs"}[row], fontsize=8)
    else:
        ax.tick_params(labelleft=False)


def _family_caption(objective: str, cases: list[Case], params: list[str], n_groups: int, p: _Panels,
                    n_drawn: int) -> str:
    what = ", ".join(params)
    pooled = [k for k in ("dim", *sorted({k for c in cases for k in c.params}), "batch_size", "grad_noise", "init")
              if k not in params and len({repr(case_value(c, k)) for c in cases}) > 1]
    cap = (f"The {len(cases)} cases of {objective} grouped by {what} ({n_groups} groups"
           + (f"; cases that differ in {', '.join(pooled)} are pooled within a group" if pooled else "")
           + "). Each column is one optimizer at one setting common to every case (the one with the best mean "
           "rank over the cases), so groups are compared at the same hyperparameters. ")
    parts = []
    x_word = "objective evaluations" if p.unit == "evals" else "step"
    if "grad" in p.rows:
        parts.append(f"median gradient norm against {x_word} (band: interquartile range; a gradient that vanishes "
                     "while the loss is still high is the saturation of the activation)")
    parts.append(f"median {'gap f − f*' if p.metric == 'gap' else 'objective value f'} against {x_word}")
    if "ecdf" in p.rows:
        budget = f"the most evaluations a run spent, {p.budget:,.0f}" if p.unit == "evals" else \
            f"budget of {int(p.budget)} steps"
        parts.append(f"the fraction of (run, target) pairs reached within the {p.x_label} on the x axis (COCO data "
                     f"profile; dotted line: {budget})")
    cap += "Rows: " + "; ".join(parts) + f". {count(n_drawn)} drawn; a diverged run counts as +∞ from its stop."
    if "loss" in params:
        cap += (" Different losses have different scales, so their values and gaps (and the targets on them) are "
                "not directly comparable; the gradient norm is what shows a saturated activation.")
    return cap


def family_comparison(data: ReportData, objective: str, cases: list[Case], params: list[str]) -> Plot | None:
    """The cases of one objective grouped by the values of ``params`` (e.g.
    activation and loss together, or the init scheme alone), each optimizer
    at one setting common to every case: median gradient norm and objective
    against step, and the runtime distribution over (run, target) pairs.
    Cases that differ in other parameters are pooled within a group."""
    groups, labels = _family_groups(cases, params)
    if not 2 <= len(groups) <= COMPARE_MAX_GROUPS:
        return None
    settings = common_settings(data, cases)
    opts = [o for o in data.optimizers() if o in settings][:COMPARE_MAX_OPTIMIZERS]
    if not opts:
        return None
    case_ids = {c.id for c in cases}
    runs = data.runs[data.runs["case_id"].isin(case_ids)
                     & data.runs["setting_id"].isin([settings[o] for o in opts])]
    if runs.empty:
        return None
    metric = "gap" if all(c.metric == "gap" for c in cases) else "f"
    value_col = "gap" if metric == "gap" else "f"
    grid = curves_mod.step_grid(data.manifest, CURVE_POINTS)
    cur = curves_mod.read_x(data, runs["run_id"], ["run_id", "step", "grad_norm", value_col], grid)
    has_grad = bool(len(cur)) and np.isfinite(cur["grad_norm"].to_numpy(float)).any()
    has_targets = any(runs[crit.column].notna().any() for c in cases for crit in c.criteria)
    p = _Panels(rows=(["grad"] if has_grad else []) + ["value"] + (["ecdf"] if has_targets else []),
                groups=groups, by_case={c.id: c for c in cases}, curves=cur, grid=grid,
                budget=axis_budget(data, runs), metric=metric, value_col=value_col, floor=value_floor(data),
                unit=data.x_axis, x_label=data.x_label)
    frame = Frame(len(p.rows), len(opts), 2.9, 2.1, wspace=0.45, hspace=0.55)
    handles: dict[tuple, Line2D] = {}
    first_ax: dict[str, object] = {}
    values_seen: dict[str, list] = {"grad": [], "value": []}
    n_drawn = 0
    for j, opt in enumerate(opts):
        sid = settings[opt]
        r_opt = runs[runs["setting_id"] == sid]
        n_drawn += len(r_opt)
        for i, row in enumerate(p.rows):
            share = first_ax.get(row)
            ax = frame.add((i, j), sharey=share) if share is not None else frame.add((i, j))
            first_ax.setdefault(row, ax)
            for g, (key, members) in enumerate(groups.items()):
                r = r_opt[r_opt["case_id"].isin([c.id for c in members])]
                if not r.empty:
                    handles.setdefault(key, _draw_group(ax, row, r, GROUP_COLORS[g % len(GROUP_COLORS)], p,
                                                        values_seen))
            _label_panel(ax, data, p, opt, sid, i, j)
    for row in p.rows:
        if row == "ecdf" or not values_seen[row]:
            continue
        allv = np.concatenate(values_seen[row])
        ax = first_ax[row]
        value_scale(ax, allv, "gap" if row == "grad" else metric, p.floor)
        lim = value_limits(allv, "gap" if row == "grad" else metric, GRAD_FLOOR if row == "grad" else p.floor)
        if lim is not None:
            ax.set_ylim(*lim)
    what = ", ".join(params)
    fig = frame.finish([handles[k] for k in groups if k in handles], [labels[k] for k in groups if k in handles],
                       f"{objective}: by {what}", legend_title=what)
    return Plot("family_comparison", f"family-{slug(objective)}-by-{slug('-'.join(params))}",
                f"{objective} by {what}", _family_caption(objective, cases, params, len(groups), p, n_drawn),
                to_png(fig), n_drawn)
