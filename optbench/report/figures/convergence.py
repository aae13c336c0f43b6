"""Convergence curves (gap or f against steps or objective evaluations) and learning-rate sensitivity."""
from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .. import curves as curves_mod
from ..data import BIG, Case, ReportData, best_per_lr, case_runs, slug
from ..rankings import criterion_intervals
from .base import (
    CURVE_POINTS,
    EVALS_NOTE,
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

BAND_PANELS = 4  # more lines with a visible band than this: one panel per line (the bands hid each other)

BAND_ALPHA = 0.12  # light enough that two overlapping bands and the lines inside them stay apart


def alive_quantiles(M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(runs left, q25, median, q75) at each step of ``M`` (runs × steps, as
    :func:`curves.aligned` gives it) over the runs still running there: a
    value of ``BIG`` (or above a tenth of it) marks a run after it diverged,
    and it leaves the quantiles instead of dragging the band to the top.
    The quantiles are NaN where fewer than half the runs are left."""
    alive = M < BIG / 10
    left = alive.sum(axis=0)
    shown = 2 * left >= max(1, M.shape[0])
    q = np.full((3, M.shape[1]), np.nan)
    if shown.any():  # every shown step has a run left: no all-NaN slice
        q[:, shown] = np.nanquantile(np.where(alive, M, np.nan)[:, shown], [0.25, 0.5, 0.75], axis=0)
    return left, q[0], q[1], q[2]


def _has_band(q25: np.ndarray, q75: np.ndarray) -> bool:
    ok = np.isfinite(q25) & np.isfinite(q75)
    return bool((q75[ok] > q25[ok] + 1e-9 * np.maximum(np.abs(q25[ok]), 1e-300)).any())


def _draw_line(ax, s: dict, lim, metric: str, alpha: float) -> None:
    """A line's median, its band with thin edges, and ✕ where it ends early."""
    q25, med, q75 = (clip_top(s[k], lim, metric) for k in ("q25", "med", "q75"))
    steps, color = s["steps"], s["color"]
    ax.plot(steps, med, color=color, ls=s["ls"], lw=1.8, zorder=3)
    ax.fill_between(steps, q25, q75, color=color, alpha=alpha, lw=0, zorder=2)
    for edge in (q25, q75):
        ax.plot(steps, edge, color=color, lw=0.5, alpha=0.55, zorder=2)
    if s["end"] is not None:
        ax.plot(steps[s["end"]], med[s["end"]], marker="X", ms=7, color=color, markeredgecolor="black",
                markeredgewidth=0.6, ls="none", zorder=4)


def _targets(ax, case: Case, lim, fontsize: float) -> None:
    if case.metric != "gap":
        return
    for c in case.criteria:
        t = c.target
        if t is not None and (lim is None or lim[0] <= t <= lim[1]):
            ax.axhline(t, color="0.5", ls=":", lw=0.8)
            ax.annotate(f"target {c.short}", (1.0, t), xycoords=("axes fraction", "data"), fontsize=fontsize,
                        color="0.35", ha="right", va="bottom")


def convergence(data: ReportData, case: Case) -> Plot | None:
    lines, how = lines_for(data, case)
    sids = [s for s, *_ in lines]
    runs = case_runs(data, case, sids)
    if runs.empty:
        return None
    grid = curves_mod.step_grid(data.manifest, CURVE_POINTS)
    value_col = "gap" if case.metric == "gap" else "f"
    cur = curves_mod.read_x(data, runs["run_id"], ["run_id", "step", value_col], grid)
    evals = data.x_axis == "evals"
    floor = value_floor(data)
    series = []
    for sid, label, color, ls in lines:
        r = runs[runs["setting_id"] == sid]
        if r.empty:
            continue
        ids = r["run_id"].to_numpy()
        mine = cur[cur["run_id"].isin(ids)]
        if evals:  # each line on its own grid: up to the most evaluations its runs spent
            steps, M = curves_mod.aligned_on(mine, ids, value_col, "evals", r["diverged_"].to_numpy(bool),
                                             curves_mod.x_grid(mine, ids, CURVE_POINTS))
        else:
            steps, M = curves_mod.aligned(mine, ids, value_col, r["diverged_"].to_numpy(bool), grid)
        if case.metric == "gap":
            M = np.maximum(M, floor)
        left, q25, med, q75 = alive_quantiles(M)
        drawn = np.flatnonzero(np.isfinite(med))
        end = int(drawn[-1]) if drawn.size and drawn[-1] < len(steps) - 1 else None
        n_div = int(r["diverged_"].sum())
        base_label = line_label(data, label, sid)
        series.append(dict(steps=steps, q25=q25, med=med, q75=q75, color=color, ls=ls, end=end,
                           title=base_label, counts=f"{count(len(ids))}, {n_div} diverged" if n_div
                           else count(len(ids))))
    if not series:
        return None
    allv = np.concatenate([np.concatenate([s_["q25"], s_["med"], s_["q75"]]) for s_ in series])
    allv = allv[np.isfinite(allv)]
    lim = value_limits(allv, case.metric, floor)
    if lim is not None and case.metric == "gap":
        # a run diverging passes through huge finite values first; keep the view on the descent
        start = max((s_["med"][0] for s_ in series if np.isfinite(s_["med"][0]) and s_["med"][0] < BIG / 10),
                    default=None)
        if start is not None and lim[1] > start * 1e3:
            lim = (lim[0], start * 1e3)
    ended = any(s_["end"] is not None for s_ in series)
    end_handle = Line2D([], [], ls="none", marker="X", ms=7, color="0.6", markeredgecolor="black",
                        markeredgewidth=0.6)
    end_label = "line ends: fewer than half its runs left"
    panels = sum(_has_band(s_["q25"], s_["q75"]) for s_ in series) > BAND_PANELS
    if panels:
        ncol = 3
        nrow = -(-len(series) // ncol)
        frame = Frame(nrow, ncol, 3.2, 2.1, wspace=0.3, hspace=0.85, top_extra=0.2)
        axes = []
        for p, s_ in enumerate(series):
            ax = frame.add((p // ncol, p % ncol), **({"sharex": axes[0], "sharey": axes[0]} if axes else {}))
            axes.append(ax)
            for other in series:
                if other is not s_:
                    ax.plot(other["steps"], clip_top(other["med"], lim, case.metric), color="0.72", lw=0.8,
                            zorder=1)
            _draw_line(ax, s_, lim, case.metric, 2 * BAND_ALPHA)
            value_scale(ax, allv, case.metric, floor)
            _targets(ax, case, lim, 6.5)
            ax.set_title(f"{s_['title']}\n{s_['counts']}", fontsize=8, color=s_["color"])
            ax.grid(True, which="major", alpha=0.3)
            below_empty = p + ncol >= len(series)
            ax.tick_params(labelleft=p % ncol == 0, labelbottom=below_empty, labelsize=8)
            if p % ncol == 0:
                ax.set_ylabel(case.metric_label, fontsize=9)
            if below_empty:
                ax.set_xlabel(data.x_label, fontsize=9)
        if lim:
            axes[0].set_ylim(*lim)
        handles = [Line2D([], [], color="0.2", lw=1.8), Patch(facecolor="0.2", alpha=2 * BAND_ALPHA, lw=0),
                   Line2D([], [], color="0.72", lw=0.8)]
        labels = ["median over the runs still running", "interquartile range over the same runs",
                  "the other panels' medians"]
        if ended:
            handles.append(end_handle)
            labels.append(end_label)
        fig = frame.finish(handles, labels, f"Convergence on {case.label}", where="below")
    else:
        frame = Frame(1, 1, 6.4, 3.6)
        ax = frame.add(0)
        for s_ in series:
            _draw_line(ax, s_, lim, case.metric, BAND_ALPHA)
        handles = [Line2D([], [], color=s_["color"], ls=s_["ls"], lw=1.8) for s_ in series]
        labels = [f"{s_['title']} ({s_['counts']})" for s_ in series]
        if ended:
            handles.append(end_handle)
            labels.append(end_label)
        value_scale(ax, allv, case.metric, floor)
        if lim:
            ax.set_ylim(*lim)
        _targets(ax, case, lim, 7)
        ax.set_xlabel(data.x_label)
        ax.set_ylabel(case.metric_label)
        ax.grid(True, which="major", alpha=0.3)
        fig = frame.finish(handles, labels, f"Convergence on {case.label}")
    n = len(runs)
    n_div = int(runs["diverged_"].sum())
    layout = (f" One panel per line, the other lines' medians in grey behind it: {len(series)} bands on one axis "
              f"would hide each other." if panels else "")
    x_word = "objective evaluations" if evals else "step"
    cap = (f"{case.metric_label.capitalize()} against {x_word} on {case.label} ({case.detail}), {how}: median (line) "
           f"and interquartile range (band) at each {'point' if evals else 'step'} over the runs that have not "
           f"diverged by then; a line ends{' (✕)' if ended else ''} where fewer than half its runs are left.{layout} "
           + (f"{EVALS_NOTE} Each line runs up to the most evaluations its runs spent; a run that spent fewer "
              f"keeps its last value. " if evals else "")
           + f"{count(n)} behind {len(series)} lines"
           f"{f', {n_div} of them diverged (counted beside each line)' if n_div else ', none diverged'}")
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
        # 95% bootstrap interval of each point's median, over its runs
        ci = np.array([criterion_intervals(data, case, sid, len(case.criteria) - 1).median_final
                       for sid in g.index], dtype=float).reshape(-1, 2)
        if case.metric == "gap":
            ci = np.maximum(ci, floor)
        ci = np.where(ci < BIG / 10, ci, np.nan)
        lo, hi = ci[:, 0], np.where(np.isnan(ci[:, 1]) & ok, lim[1] if lim else np.nan, ci[:, 1])
        ax.errorbar(np.where(ok, x, np.nan), np.where(ok, med, np.nan), yerr=[np.maximum(med - lo, 0),
                    np.maximum(hi - med, 0)], fmt="none", ecolor=color, elinewidth=1.0, capsize=2.5, alpha=0.8)
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
           f"(line) with its 95% bootstrap interval (error bars), and interquartile range (band) over the runs at "
           f"each learning rate"
           f"{'' if per_variant else ' (each optimizer at its best other hyperparameters)'}"
           f"{'; where a variant has several settings at one learning rate, the best' if per_variant else ''}. "
           f"Diverged runs count as +∞; ▲ at the top marks learning rates where the median run diverged, and the "
           f"lower panel shows the fraction of runs that diverged. {count(n_total)}.")
    stem = f"{case.slug}-{slug(optimizer)}-lr-sensitivity" if optimizer else f"{case.slug}-lr-sensitivity"
    return Plot("lr_sensitivity", stem, f"Learning-rate sensitivity — {on}", cap, to_png(fig), n_total)
