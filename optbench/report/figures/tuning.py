"""Tuning budgets: the expected best of k settings drawn at random from each
optimizer's swept grid (:mod:`optbench.report.tuning`), per case and over all cases."""
from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from .. import tuning as tuning_mod
from ..data import Case, ReportData
from .base import Frame, Plot, count, to_png, value_floor

LOG_K_ABOVE = 30  # grids larger than this get a log k axis: the small budgets are where curves differ

def _k_axis(ax, n_max: int) -> None:
    if n_max > LOG_K_ABOVE:
        ax.set_xscale("log")
        ax.set_xlim(0.9, n_max * 1.1)
    else:
        ax.set_xlim(0.5, n_max + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=3))
    ax.set_xlabel("k: settings tried (at random)")
    ax.grid(True, alpha=0.3)


def _line(ax, k: np.ndarray, y: np.ndarray, n: int, n_max: int, color):
    """The curve to the optimizer's grid size (dot: its whole grid tried,
    the after-the-fact best), dotted and flat beyond it (nothing left to try)."""
    h = ax.plot(k, y, color=color, lw=1.6)[0]
    ax.plot([n], [y[-1]], "o", color=color, ms=4)
    if n < n_max:
        ax.plot([n, n_max], [y[-1], y[-1]], color=color, lw=1.0, ls=":")
    return h


def tuning(data: ReportData, case: Case) -> Plot | None:
    stats = data.stats[case.id]
    if stats.empty:
        return None
    table = tuning_mod.case_curves(data, case, value_floor(data))
    n_max = int(table["n_settings"].max())
    if n_max < 2:
        return None  # one setting per optimizer: nothing was tuned
    frame = Frame(1, 2, 3.2, 2.6, wspace=1.1)  # room for labelled minor ticks (2×10⁻³) on a short log axis
    handles, labels = [], []
    crit = case.criteria[-1]
    gap = case.metric == "gap"
    for p, view in enumerate(tuning_mod.VIEWS):
        ax = frame.add((0, p))
        for opt in data.optimizers():
            curve = table[(table["optimizer"] == opt) & (table["view"] == view)]
            if curve.empty:
                continue
            y = curve["expected"].to_numpy(float)
            if view == "final" and gap:
                y = 10.0 ** y  # expected log10 gap, drawn as the geometric mean gap
            n = int(curve["n_settings"].iloc[0])
            h = _line(ax, curve["k"].to_numpy(), y, n, n_max, data.color(opt))
            if p == 0:
                handles.append(h)
                labels.append(f"{opt} ({n} setting{'s' if n > 1 else ''})")
        _k_axis(ax, n_max)
        if view == "success":
            ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel(f"expected success ({crit.label})")
            ax.set_title("success of the best of k", fontsize=9)
        else:
            if gap:
                ax.set_yscale("log")
                ax.set_ylabel("expected median final gap")
            else:
                ax.set_ylabel("expected median final f")
            ax.set_title("final value of the best of k", fontsize=9)
    fig = frame.finish(handles, labels, f"Tuning budget — {case.label}", where="right")
    n_runs = int(stats["n"].sum())
    worse = "one decade above" if gap else "one value range above"
    final_what = (f"the geometric mean of the median final gap (the mean of its log10; gaps below "
                  f"{value_floor(data):g} count as {value_floor(data):g})" if gap
                  else "the mean of the median final objective value")
    cap = (f"Tuning budget on {case.label}: if only k settings of an optimizer's swept grid (every variant and "
           f"learning rate) could be run, drawn at random, and the best of them kept, what would it reach on "
           f"average? Computed exactly over every set of k settings, as Sivaprasad et al. 2020 propose "
           f"(\"Optimizer Benchmarking Needs to Account for Hyperparameter Tuning\"). Left: the expected success "
           f"rate ({crit.label}) of the best of k, best as the tables rank settings (first-hitting order). Right: "
           f"{final_what} of the best of k by final value; a setting whose median run diverged counts as "
           f"{worse} the worst finite one on this objective. At k = 1 a curve is the grid's average setting; the "
           f"dot is the whole grid tried, the best setting the tables report (dotted beyond: nothing left to "
           f"try, so the value stays). A curve that rises early belongs to an optimizer that is easy to tune; "
           f"one that wins only at its dot needs its full grid. {count(n_runs)}.")
    return Plot("tuning", f"{case.slug}-tuning", f"Tuning budget — {case.label}", cap, to_png(fig), n_runs)


def tuning_summary(data: ReportData) -> Plot | None:
    """Over all cases: mean expected success and mean rank by expected final value, per budget k."""
    if not data.cases:
        return None
    table = tuning_mod.summary(data, value_floor(data))
    n_max = int(table["k"].max())
    if n_max < 2:
        return None
    frame = Frame(1, 2, 3.2, 2.6, wspace=0.8)
    handles, labels = [], []
    n_opt = table["optimizer"].nunique()
    for p, column in enumerate(("mean_success", "mean_rank")):
        ax = frame.add((0, p))
        for opt, curve in table.groupby("optimizer", sort=False):
            n = int(curve["n_settings"].iloc[0])
            k = curve["k"].to_numpy()
            y = curve[column].to_numpy(float)
            h = ax.plot(k[k <= n], y[k <= n], color=data.color(opt), lw=1.6)[0]
            ax.plot([n], [y[n - 1]], "o", color=data.color(opt), ms=4)
            if n < n_max:
                ax.plot(k[k >= n], y[k >= n], color=data.color(opt), lw=1.0, ls=":")
            if p == 0:
                handles.append(h)
                labels.append(f"{opt} (up to {n} setting{'s' if n > 1 else ''})")
        _k_axis(ax, n_max)
        if column == "mean_success":
            ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel("mean expected success rate")
            ax.set_title("success of the best of k", fontsize=9)
        else:
            ax.set_ylim(n_opt + 0.3, 0.7)  # rank 1 on top
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("mean rank (1 = best)")
            ax.set_title("rank by final value of the best of k", fontsize=9)
    n_cases = int(table["n_cases"].max())
    fig = frame.finish(handles, labels, f"Tuning budget over all {n_cases} objective case"
                                        f"{'s' if n_cases > 1 else ''}", where="right")
    n_runs = len(data.runs)
    cap = (f"Tuning budget over all objectives: how each optimizer fares when only k settings of its swept grid "
           f"can be run, drawn at random, and the best of them kept (expected values computed exactly, as "
           f"Sivaprasad et al. 2020 propose: \"Optimizer Benchmarking Needs to Account for Hyperparameter "
           f"Tuning\"). Left: the expected success rate at each objective's tightest criterion, averaged over "
           f"objectives. Right: at each budget k, the optimizers of each objective ranked by the expected "
           f"final value of their best of k (geometric mean of the median final gap where the optimum is known), "
           f"the ranks averaged over objectives. Every optimizer gets the same budget k; past its own grid size "
           f"(dot: its whole grid, the after-the-fact best the ranking tables use) it has nothing left to try and "
           f"keeps its full-grid value (dotted; its rank can still fall as others keep trying). An optimizer "
           f"that leads only at the right end owes its lead to a large or lucky grid. {n_cases} objective "
           f"cases, {count(n_runs)}.")
    return Plot("tuning_summary", "all-tuning", "Tuning budget — all objectives", cap, to_png(fig), n_runs)
