"""Runtime distributions: ECDFs of steps (or objective evaluations) to each target, per case and over all cases."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from ..data import Case, ReportData, best_per, case_runs
from .base import (
    EVALS_NOTE,
    MAX_LINES,
    Frame,
    Plot,
    count,
    line_label,
    lines_for,
    to_png,
)

# ----------------------------------------------------------------- runtime distributions


def ecdf(ax, steps: np.ndarray, n: int, budget: float, color, ls, own_budget: float | None = None) -> Line2D:
    """The fraction of ``n`` runs (or pairs) whose ``steps`` (NaN: never)
    are at most x, up to ``budget``; up to ``own_budget`` instead, marked
    ×, where the line's runs could spend less than the axis shows (counting
    evaluations, an optimizer's step budget buys fewer of them than
    another's)."""
    s = np.sort(steps[np.isfinite(steps)])
    if n == 0:
        return ax.plot([], [], color=color, ls=ls)[0]
    end = budget if own_budget is None else min(own_budget, budget)
    x = np.concatenate([[0], s, [end]])
    y = np.concatenate([[0], np.arange(1, len(s) + 1) / n, [len(s) / n]])
    line = ax.step(x, y, where="post", color=color, ls=ls, lw=1.6)[0]
    if end < budget:
        ax.plot([end], [len(s) / n], marker="x", ms=6, mew=1.5, color=color, ls="none")
    return line


def axis_budget(data: ReportData, runs) -> float:
    """Where a runtime axis ends: the step budget, or counting evaluations,
    the most that any of ``runs`` spent."""
    if data.x_axis == "evals":
        return float(np.nanmax(runs["evals_final"].to_numpy(float))) if len(runs) else 1.0
    return float(data.manifest.get("steps") or runs["steps_run"].max())


def _budget_text(data: ReportData, budget: float) -> str:
    return f"the most evaluations a run spent, {budget:,.0f}" if data.x_axis == "evals" else \
        f"budget of {int(budget)} steps"


def _pick(criteria: list, k: int = 4) -> list[int]:
    n = len(criteria)
    if n <= k:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})


def steps_axis(ax, budget: int) -> None:
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(0, budget * 1.05)
    ax.axvline(budget, color="0.5", ls=":", lw=0.8)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_minor_formatter(NullFormatter())


def runtime(data: ReportData, case: Case) -> Plot | None:
    lines, how = lines_for(data, case)
    runs = case_runs(data, case, [s for s, *_ in lines])
    if runs.empty:
        return None
    if all(runs[c.column].isna().all() for c in case.criteria):
        return None  # no run met any criterion: nothing to distribute
    budget = axis_budget(data, runs)
    unit = data.x_axis
    idx = _pick(case.criteria)
    frame = Frame(1, len(idx), 2.7, 2.5, wspace=0.3)
    handles, labels = [], []
    ends = False
    for p, k in enumerate(idx):
        crit = case.criteria[k]
        ax = frame.add((0, p), sharey=frame.fig.axes[0] if p else None)
        for sid, label, color, ls in lines:
            r = runs[runs["setting_id"] == sid]
            own = axis_budget(data, r) if unit == "evals" else None
            ends |= own is not None and own < budget
            h = ecdf(ax, r[crit.spent_column(unit)].to_numpy(float), len(r), budget, color, ls, own)
            if p == 0:
                handles.append(h)
                labels.append(line_label(data, label, sid))
        steps_axis(ax, budget)
        ax.set_title(crit.label, fontsize=9)
        ax.set_xlabel(data.x_label)
        if p == 0:
            ax.set_ylabel("fraction of runs")
        else:
            ax.tick_params(labelleft=False)
    fig = frame.finish(handles, labels, f"Runtime distributions on {case.label}", where="below")
    n = len(runs)
    cap = (f"Runtime distributions on {case.label} (empirical CDFs as in COCO's data profiles): the fraction of runs "
           f"that met each criterion within the number of {data.x_label} on the x axis (symlog scale, dotted line: "
           f"{_budget_text(data, budget)}), {how}. {count(n)}; a curve that stays below 1 has runs that never met it."
           + (f" {EVALS_NOTE}" if unit == "evals" else "")
           + (" × marks where a line's runs stopped: the most evaluations any of them spent." if ends else ""))
    return Plot("runtime", f"{case.slug}-runtime", f"Runtime distributions — {case.label}", cap, to_png(fig), n)


def runtime_profile(data: ReportData) -> Plot | None:
    """Aggregated data profile over every case with targets, per optimizer line."""
    cases = [c for c in data.cases if c.metric == "gap" and data.targets]
    if not cases:
        return None
    unit = data.x_axis
    per_variant = len(data.variants) <= MAX_LINES
    keyname = "variant_id" if per_variant else "optimizer"
    # per line: steps (NaN = never) of every (run, target) pair at the best setting on each case
    pairs: dict = {}
    spent: dict = {}  # line -> the most evaluations its runs spent (counting evaluations)
    drawn = []
    for case in cases:
        best = best_per(data.stats[case.id], keyname)
        runs = case_runs(data, case, best.index)
        drawn.append(runs)
        for sid, row in best.iterrows():
            r = runs[runs["setting_id"] == sid]
            key = row[keyname]
            spent[key] = max(spent.get(key, 0.0), axis_budget(data, r))
            for k, crit in enumerate(case.criteria):
                pairs.setdefault((key, k), []).append(r[crit.spent_column(unit)].to_numpy(float))
    n_runs = sum(len(r) for r in drawn)
    budget = axis_budget(data, pd.concat(drawn))
    ends = False
    keys = sorted({k for k, _ in pairs}, key=lambda x: x if per_variant else
                  [v.optimizer for v in data.variants].index(x))
    n_crit = len(data.targets)
    idx = _pick(list(range(n_crit)))
    frame = Frame(1, len(idx) + 1, 2.5, 2.5, wspace=0.3)
    handles, labels = [], []
    panels = [(f"gap ≤ {data.targets[k]:g}", [k]) for k in idx] + [("all targets", list(range(n_crit)))]
    for p, (title, ks) in enumerate(panels):
        ax = frame.add((0, p), sharey=frame.fig.axes[0] if p else None)
        for key in keys:
            if per_variant:
                v = data.variant(int(key))
                label, color, ls = v.label, v.color, v.linestyle
            else:
                label, color, ls = key, data.color(key), "-"
            arrs = [a for k in ks for a in pairs.get((key, k), [])]
            allv = np.concatenate(arrs) if arrs else np.zeros(0)
            own = spent.get(key) if unit == "evals" else None
            ends |= own is not None and own < budget
            h = ecdf(ax, allv, len(allv), budget, color, ls, own)
            if p == 0:
                handles.append(h)
                labels.append(label)
        steps_axis(ax, budget)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(data.x_label)
        if p == 0:
            ax.set_ylabel("fraction of (run, target) pairs")
        else:
            ax.tick_params(labelleft=False)
    fig = frame.finish(handles, labels, f"Runtime distributions over all {len(cases)} objectives with a known optimum",
                       where="below")
    cap = (f"Aggregated runtime distributions (COCO-style data profiles): for each optimizer"
           f"{' variant' if per_variant else ''} at its best setting on each objective, the fraction of (run, "
           f"target) pairs solved within the number of {data.x_label} on the x axis, per target and over all "
           f"targets; {len(cases)} objectives, {count(n_runs)}, {_budget_text(data, budget)}."
           + (f" {EVALS_NOTE}" if unit == "evals" else "")
           + (" × marks where a line's runs stopped: the most evaluations any of them spent." if ends else ""))
    return Plot("runtime_profile", "all-runtime-profile", "Runtime distributions — all objectives", cap, to_png(fig),
                n_runs)
