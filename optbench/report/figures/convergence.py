"""Convergence curves (gap or f against step) and learning-rate sensitivity."""
from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from .. import curves as curves_mod
from ..data import BIG, Case, ReportData, best_per_lr, case_runs, slug
from .base import (
    CURVE_POINTS,
    MAX_LINES,
    Frame,
    Plot,
    clip_top,
    count,
    line_label,
    lines_for,
    to_png,
    value_floor,
    value_limits,
    value_scale,
)

# ----------------------------------------------------------------- convergence


def convergence(data: ReportData, case: Case) -> Plot | None:
    lines, how = lines_for(data, case)
    sids = [s for s, *_ in lines]
    runs = case_runs(data, case, sids)
    if runs.empty:
        return None
    grid = curves_mod.step_grid(data.manifest, CURVE_POINTS)
    value_col = "gap" if case.metric == "gap" else "f"
    cur = curves_mod.read(data.results, runs["run_id"], ["run_id", "step", value_col], grid)
    floor = value_floor(data)
    series = []
    for sid, label, color, ls in lines:
        r = runs[runs["setting_id"] == sid]
        if r.empty:
            continue
        ids = r["run_id"].to_numpy()
        steps, M = curves_mod.aligned(cur[cur["run_id"].isin(ids)], ids, value_col,
                                      r["diverged_"].to_numpy(bool), grid)
        if case.metric == "gap":
            M = np.maximum(M, floor)
        q25, med, q75 = np.quantile(M, [0.25, 0.5, 0.75], axis=0)
        series.append((steps, q25, med, q75, color, ls, line_label(data, label, sid, len(ids))))
    if not series:
        return None
    allv = np.concatenate([np.concatenate(s_[1:4]) for s_ in series])
    lim = value_limits(allv, case.metric, floor)
    if lim is not None and case.metric == "gap":
        # a run diverging passes through huge finite values first; keep the view on the descent
        start = max((s_[2][0] for s_ in series if s_[2][0] < BIG / 10), default=None)
        if start is not None and lim[1] > start * 1e3:
            lim = (lim[0], start * 1e3)
    frame = Frame(1, 1, 6.4, 3.6)
    ax = frame.add(0)
    handles, labels = [], []
    for steps, q25, med, q75, color, ls, label in series:
        q25, med, q75 = (clip_top(a, lim, case.metric) for a in (q25, med, q75))
        (h,) = ax.plot(steps, med, color=color, ls=ls, lw=1.8)
        ax.fill_between(steps, q25, q75, color=color, alpha=0.15, lw=0)
        handles.append(h)
        labels.append(label)
    value_scale(ax, allv, case.metric, floor)
    if lim:
        ax.set_ylim(*lim)
    if case.metric == "gap":
        for c in case.criteria:
            t = c.target
            if t is not None and (lim is None or lim[0] <= t <= lim[1]):
                ax.axhline(t, color="0.5", ls=":", lw=0.8)
                ax.annotate(f"target {c.short}", (1.0, t), xycoords=("axes fraction", "data"), fontsize=7,
                            color="0.35", ha="right", va="bottom")
    ax.set_xlabel("step")
    ax.set_ylabel(case.metric_label)
    ax.grid(True, which="major", alpha=0.3)
    fig = frame.finish(handles, labels, f"Convergence on {case.label}")
    n = len(runs)
    cap = (f"{case.metric_label.capitalize()} against step on {case.label} ({case.detail}), {how}: median over "
           f"initial points and repeats (line) and interquartile range (band). {count(n)} behind "
           f"{len(handles)} lines. A run that diverged counts as +∞ from the step it diverged")
    cap += f"; gaps below {floor:g} are drawn at {floor:g}; dotted lines mark the targets." \
        if case.metric == "gap" else "; f* is not finite here, so the objective value itself is shown."
    return Plot("convergence", f"{case.slug}-convergence", f"Convergence — {case.label}", cap, to_png(fig), n)


# ----------------------------------------------------------------- learning-rate sensitivity


def lr_sensitivity(data: ReportData, case: Case) -> list[Plot]:
    """Final gap against the learning rate, a line per variant; where the
    variants are too many for one figure but each optimizer's are not (a
    sweep of schedulers), one figure per optimizer, so that its variants
    stay apart."""
    stats = data.stats[case.id]
    if not (stats.dropna(subset=["lr"]).groupby("variant_id")["lr"].nunique() >= 2).any():
        return []  # no line to draw: every optimizer ran at one learning rate
    if stats["variant_id"].nunique() <= MAX_LINES:
        return [_lr_plot(data, case, stats, True)]
    per_opt = list(stats.groupby("optimizer", sort=False))
    counts = [sub["variant_id"].nunique() for _, sub in per_opt]
    if max(counts) > 1 and max(counts) <= MAX_LINES:
        return [_lr_plot(data, case, sub, True, opt) for opt, sub in per_opt
                if sub.dropna(subset=["lr"])["lr"].nunique() >= 2]
    return [_lr_plot(data, case, stats, False)]


def _lr_plot(data: ReportData, case: Case, stats, per_variant: bool, optimizer: str = "") -> Plot:
    pts = best_per_lr(stats).dropna(subset=["lr"])
    key = "variant_id" if per_variant else "optimizer"
    if not per_variant:
        pts = stats.groupby(["optimizer", "lr"], sort=False).head(1).dropna(subset=["lr"])
    floor = value_floor(data)
    groups = list(pts.groupby(key, sort=False))
    groups.sort(key=lambda kv: kv[0] if per_variant else [v.optimizer for v in data.variants].index(kv[0]))
    allv = []
    for _, g in groups:
        vals = g[["med_final", "q25_final", "q75_final"]].to_numpy(float).ravel()
        allv.append(np.maximum(vals, floor) if case.metric == "gap" else vals)
    allv = np.concatenate(allv)
    lim = value_limits(allv, case.metric, floor)
    frame = Frame(2, 1, 6.4, 2.4, height_ratios=[3, 1], hspace=0.25)
    ax = frame.add(0)
    axd = frame.add(1, sharex=ax)
    handles, labels = [], []
    top_markers = []
    n_total = 0
    for k, g in groups:
        g = g.sort_values("lr")
        if per_variant:
            v = data.variant(int(k))
            label, color, ls = v.label, v.color, v.linestyle
        else:
            label, color, ls = k, data.color(k), "-"
        x = g["lr"].to_numpy(float)
        med, q25, q75 = (g[c].to_numpy(float) for c in ("med_final", "q25_final", "q75_final"))
        if case.metric == "gap":
            med, q25, q75 = (np.maximum(a, floor) for a in (med, q25, q75))
        ok = med < BIG / 10
        (h,) = ax.plot(np.where(ok, x, np.nan), np.where(ok, med, np.nan), color=color, ls=ls, marker="o", ms=4,
                       lw=1.6)
        ax.fill_between(x, clip_top(q25, lim, case.metric), clip_top(q75, lim, case.metric), color=color,
                        alpha=0.12, lw=0)
        top_markers.append((x[~ok], color))
        frac = (g["n_diverged"] / g["n"]).to_numpy(float)
        axd.plot(x, frac, color=color, ls=ls, marker="o", ms=3, lw=1.2)
        handles.append(h)
        n_runs = int(g["n"].sum())
        n_total += n_runs
        labels.append(f"{label} ({count(n_runs)})")
    value_scale(ax, allv, case.metric, floor)
    if lim:
        ax.set_ylim(*lim)
    any_top = False
    row = 0
    for xs, color in top_markers:
        if len(xs):
            any_top = True
            ax.plot(xs, np.full(len(xs), 0.95 - 0.055 * row), transform=ax.get_xaxis_transform(), ls="none",
                    marker="^", ms=7, color=color, markeredgecolor="black", markeredgewidth=0.6)
            row += 1
    if any_top:
        handles.append(Line2D([], [], ls="none", marker="^", color="white", markeredgecolor="black", ms=7))
        labels.append("median run diverged")
    ax.set_xscale("log")
    ax.set_ylabel(f"final {case.metric_label}")
    ax.tick_params(labelbottom=False)
    ax.grid(True, alpha=0.3)
    axd.set_ylim(-0.05, 1.05)
    axd.set_ylabel("diverged\n(fraction)")
    axd.set_xlabel("learning rate")
    axd.grid(True, alpha=0.3)
    on = f"{optimizer} on {case.label}" if optimizer else case.label
    fig = frame.finish(handles, labels, f"Learning-rate sensitivity of {on}" if optimizer
                       else f"Learning-rate sensitivity on {on}")
    steps = data.manifest.get("steps")
    cap = (f"Final {case.metric_label} after {steps} steps against learning rate on {case.label}: median "
           f"(line) and interquartile range (band) over the runs at each learning rate"
           f"{'' if per_variant else ' (each optimizer at its best other hyperparameters)'}"
           f"{'; where a variant has several settings at one learning rate, the best' if per_variant else ''}. "
           f"Diverged runs count as +∞; ▲ at the top marks learning rates where the median run diverged, and the "
           f"lower panel shows the fraction of runs that diverged. {count(n_total)}.")
    stem = f"{case.slug}-{slug(optimizer)}-lr-sensitivity" if optimizer else f"{case.slug}-lr-sensitivity"
    return Plot("lr_sensitivity", stem, f"Learning-rate sensitivity — {on}", cap, to_png(fig), n_total)
