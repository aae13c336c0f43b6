"""Runtime distributions: ECDFs of steps to each target, per case and over all cases."""
from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from ..data import Case, ReportData, best_per, case_runs
from .base import (
    MAX_LINES,
    Frame,
    Plot,
    count,
    line_label,
    lines_for,
    to_png,
)

# ----------------------------------------------------------------- runtime distributions


def ecdf(ax, steps: np.ndarray, n: int, budget: int, color, ls) -> Line2D:
    s = np.sort(steps[np.isfinite(steps)])
    if n == 0:
        return ax.plot([], [], color=color, ls=ls)[0]
    x = np.concatenate([[0], s, [budget]])
    y = np.concatenate([[0], np.arange(1, len(s) + 1) / n, [len(s) / n]])
    return ax.step(x, y, where="post", color=color, ls=ls, lw=1.6)[0]


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
    budget = int(data.manifest.get("steps") or runs["steps_run"].max())
    idx = _pick(case.criteria)
    frame = Frame(1, len(idx), 2.7, 2.5, wspace=0.3)
    handles, labels = [], []
    for p, k in enumerate(idx):
        crit = case.criteria[k]
        ax = frame.add((0, p), sharey=frame.fig.axes[0] if p else None)
        for sid, label, color, ls in lines:
            r = runs[runs["setting_id"] == sid]
            h = ecdf(ax, r[crit.column].to_numpy(float), len(r), budget, color, ls)
            if p == 0:
                handles.append(h)
                labels.append(line_label(data, label, sid))
        steps_axis(ax, budget)
        ax.set_title(crit.label, fontsize=9)
        ax.set_xlabel("steps")
        if p == 0:
            ax.set_ylabel("fraction of runs")
        else:
            ax.tick_params(labelleft=False)
    fig = frame.finish(handles, labels, f"Runtime distributions on {case.label}", where="below")
    n = len(runs)
    cap = (f"Runtime distributions on {case.label} (empirical CDFs as in COCO's data profiles): the fraction of runs "
           f"that met each criterion within the number of steps on the x axis (symlog scale, dotted line: budget of "
           f"{budget} steps), {how}. {count(n)}; a curve that stays below 1 has runs that never met it.")
    return Plot("runtime", f"{case.slug}-runtime", f"Runtime distributions — {case.label}", cap, to_png(fig), n)


def runtime_profile(data: ReportData) -> Plot | None:
    """Aggregated data profile over every case with targets, per optimizer line."""
    cases = [c for c in data.cases if c.metric == "gap" and data.targets]
    if not cases:
        return None
    budget = int(data.manifest.get("steps") or data.runs["steps_run"].max())
    per_variant = len(data.variants) <= MAX_LINES
    keyname = "variant_id" if per_variant else "optimizer"
    # per line: steps (NaN = never) of every (run, target) pair at the best setting on each case
    pairs: dict = {}
    n_runs = 0
    for case in cases:
        best = best_per(data.stats[case.id], keyname)
        runs = case_runs(data, case, best.index)
        n_runs += len(runs)
        for sid, row in best.iterrows():
            r = runs[runs["setting_id"] == sid]
            key = row[keyname]
            for k, crit in enumerate(case.criteria):
                pairs.setdefault((key, k), []).append(r[crit.column].to_numpy(float))
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
            h = ecdf(ax, allv, len(allv), budget, color, ls)
            if p == 0:
                handles.append(h)
                labels.append(label)
        steps_axis(ax, budget)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("steps")
        if p == 0:
            ax.set_ylabel("fraction of (run, target) pairs")
        else:
            ax.tick_params(labelleft=False)
    fig = frame.finish(handles, labels, f"Runtime distributions over all {len(cases)} objectives with a known optimum",
                       where="below")
    cap = (f"Aggregated runtime distributions (COCO-style data profiles): for each optimizer"
           f"{' variant' if per_variant else ''} at its best setting on each objective, the fraction of (run, "
           f"target) pairs solved within the number of steps on the x axis, per target and over all targets; "
           f"{len(cases)} objectives, {count(n_runs)}, budget {budget} steps.")
    return Plot("runtime_profile", "all-runtime-profile", "Runtime distributions — all objectives", cap, to_png(fig),
                n_runs)
