"""Learning rate × momentum heatmaps: success rate and median steps to the tightest target."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from ..data import Case, ReportData, fmt, momentum_like
from .base import (
    Frame,
    Plot,
    count,
    hashable,
    safe_name,
    to_png,
)

# ----------------------------------------------------------------- lr x momentum heatmaps

# cells where every run diverged: a colour and hatch outside both colour maps,
# so that they cannot be read as 0 % (viridis' dark end) or as "no run reached it" (grey)
DIVERGED_FACE, DIVERGED_HATCH, DIVERGED_EDGE = "#f6d2cc", "///", "#b2182b"
NOT_REACHED_FACE = "#eeeeee"


def _step_label(v: float, _pos=None) -> str:
    """A step count as a colour-bar label: whole numbers with thousands
    separators, and never "−0" (a tick a hair below zero rounds to "0")."""
    text = f"{v:,.0f}"
    return "0" if text in ("-0", "0") else text


def _steps_norm(finite: np.ndarray, n_steps) -> tuple[Normalize, list | None]:
    """The colour scale of a median-steps panel, and fixed ticks where the
    scale has only one value to show.  Matplotlib's autoscaling gives an
    empty panel a (−0.1, 0.1) scale and a panel of equal values a scale one
    unit wide, both labelled "0 0 0 −0 −0" or five equal numbers."""
    if not finite.size:  # no cell reached the target: the scale of what could have been
        top = float(n_steps) if isinstance(n_steps, (int, float)) and n_steps > 0 else 1.0
        return Normalize(0.0, top), None
    lo, hi = max(1.0, float(finite.min())), float(finite.max())
    if hi <= lo:  # one value: one tick, the value in the middle of the colour map
        return Normalize(lo - max(1.0, 0.5 * lo), lo + max(1.0, 0.5 * lo)), [lo]
    if hi > 10 * lo:
        return LogNorm(vmin=lo, vmax=hi), None
    return Normalize(lo, hi), None


def heatmaps(data: ReportData, case: Case) -> list[Plot]:
    plots = []
    stats = data.stats[case.id]
    for opt in data.optimizers():
        s = stats[stats["optimizer"] == opt]
        hp = data.hypers.get(opt, [])
        m = momentum_like(opt, hp)
        if s.empty or m is None or m not in hp or "lr" not in hp:
            continue
        values = data.settings.loc[s.index, "values"]
        table = s.assign(m_=[v.get(m) for v in values])
        others = [h for h in hp if h not in ("lr", m) and len({hashable(v.get(h)) for v in values}) > 1]
        table = table.assign(other_=[tuple(hashable(v.get(h)) for h in others) for v in values])
        groups = []
        for key, g in table.groupby("other_", sort=True):
            if g["lr"].nunique() >= 2 and g["m_"].nunique() >= 2:
                groups.append((key, g))
        if not groups:
            continue
        groups = groups[:3]
        layout = Frame(len(groups), 2, 4.6, 2.9, wspace=1.3, hspace=0.95, pad=0.9)
        fig = layout.fig
        crit = case.criteria[-1]
        k = len(case.criteria) - 1
        n_total = 0
        any_div = any_unreached = False
        for gi, (key, g) in enumerate(groups):
            lrs = np.sort(g["lr"].unique())
            ms = np.sort(g["m_"].astype(float).unique())
            succ = np.full((len(ms), len(lrs)), np.nan)
            steps = np.full_like(succ, np.nan)
            alldiv = np.zeros_like(succ, bool)
            ncell = np.zeros_like(succ)
            for _, row in g.iterrows():
                i, j = np.searchsorted(ms, float(row["m_"])), np.searchsorted(lrs, row["lr"])
                succ[i, j] = row[f"succ_{k}"]
                steps[i, j] = row[f"med_steps_{k}"]
                alldiv[i, j] = row["n_diverged"] == row["n"]
                ncell[i, j] = row["n"]
            n_total += int(g["n"].sum())
            sub = ", ".join(f"{h}={fmt(v)}" for h, v in zip(others, key))
            for pj, (mat, title) in enumerate([(succ, f"success rate ({crit.label})"),
                                               (steps, f"median steps to {crit.short}")]):
                ax = layout.add((gi, pj))
                ticks = None
                if pj == 0:
                    im = ax.imshow(np.where(alldiv, np.nan, mat), origin="lower", aspect="auto", cmap="viridis",
                                   vmin=0, vmax=1)
                else:
                    norm, ticks = _steps_norm(mat[np.isfinite(mat)], data.manifest.get("steps"))
                    im = ax.imshow(np.where(mat > 0, mat, np.where(np.isfinite(mat), 1, np.nan)), origin="lower",
                                   aspect="auto", cmap="viridis_r", norm=norm)
                    ax.set_facecolor(NOT_REACHED_FACE)
                for i, j in zip(*np.nonzero(alldiv)):
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=DIVERGED_FACE, hatch=DIVERGED_HATCH,
                                           edgecolor=DIVERGED_EDGE, lw=0, zorder=2))
                cb = fig.colorbar(im, ax=ax, fraction=0.06, pad=0.03)
                cb.set_label("share of runs" if pj == 0 else "step", fontsize=8)
                cb.ax.tick_params(labelsize=7)
                if pj == 0:
                    cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
                else:
                    if ticks is not None:
                        cb.ax.yaxis.set_major_locator(FixedLocator(ticks))
                    elif isinstance(im.norm, LogNorm):
                        cb.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                    else:
                        cb.ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
                    cb.ax.yaxis.set_major_formatter(FuncFormatter(_step_label))
                    cb.ax.yaxis.set_minor_formatter(NullFormatter())
                for i in range(len(ms)):
                    for j in range(len(lrs)):
                        v = mat[i, j]
                        if alldiv[i, j]:
                            txt = "div"
                        elif not np.isfinite(v):
                            txt = "—"
                        else:
                            txt = f"{v:.0%}" if pj == 0 else f"{v:.0f}"
                        dark = False
                        if np.isfinite(v) and not alldiv[i, j]:
                            r, g_, b, _ = im.cmap(im.norm(max(v, 1) if pj else v))
                            dark = 0.299 * r + 0.587 * g_ + 0.114 * b < 0.5
                        box = dict(facecolor=DIVERGED_FACE, edgecolor="none", pad=1.0) if alldiv[i, j] else None
                        ax.text(j, i, txt, ha="center", va="center", fontsize=7, zorder=3, bbox=box,
                                color="white" if dark else "black")
                any_div |= bool(alldiv.any())
                any_unreached |= bool((pj == 1) and (~np.isfinite(mat) & ~alldiv & (ncell > 0)).any())
                ax.set_xticks(range(len(lrs)), [fmt(v) for v in lrs], fontsize=8, rotation=30)
                ax.set_yticks(range(len(ms)), [fmt(v) for v in ms], fontsize=8)
                ax.set_xlabel("learning rate")
                ax.set_ylabel(m)
                ax.set_title(f"{opt}{' (' + sub + ')' if sub else ''}: {title}", fontsize=9)
        handles, labels = [], []  # only what some cell shows
        if any_div:
            handles.append(Patch(facecolor=DIVERGED_FACE, hatch=DIVERGED_HATCH, edgecolor=DIVERGED_EDGE, lw=0.5))
            labels.append("div: every run diverged")
        if any_unreached:
            handles.append(Patch(facecolor=NOT_REACHED_FACE, edgecolor="0.6", lw=0.5))
            labels.append("— no run reached the target")
        layout.finish(handles, labels, title=f"{opt}: learning rate × {m} on {case.label}", where="below")
        per_cell = sorted({int(v) for v in table["n"]})
        cap = (f"Learning rate × {m} for {opt} on {case.label}: the fraction of runs that reached "
               f"{crit.label} within {data.manifest.get('steps')} steps (left) and the median step at which they "
               f"did (right; — on grey: no run did; div on red hatching: every run diverged, which is not 0 %). "
               f"Each cell is "
               f"{' or '.join(map(str, per_cell))} runs (initial points × repeats); {count(n_total)} in all.")
        title = f"{opt}: learning rate × {m} — {case.label}"
        plots.append(Plot("heatmap", f"{case.slug}-heatmap-{safe_name(opt)}", title, cap, to_png(fig), n_total))
    return plots
