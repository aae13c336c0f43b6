"""The report's figures, drawn with matplotlib's object API (no pyplot).

Figures are built as ``matplotlib.figure.Figure`` objects and saved through
the Agg canvas directly: nothing touches pyplot's global state or the
user's interactive backend (a notebook that calls ``optbench.run`` keeps
its backend), and figures are freed as soon as they are saved.

Every function returns a :class:`Plot` (PNG bytes plus a caption that says
what it shows and how many runs stand behind it) or ``None`` with no
figure to draw.  Captions are plain text; the HTML writer escapes them.
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogFormatterSciNotation, LogLocator, NullFormatter, NullLocator
from PIL import Image

from . import curves as curves_mod
from . import surface
from .data import BIG, Case, ReportData, best_per, best_per_lr, case_runs, fmt, momentum_like, slug

DPI = 100
CURVE_POINTS = 300  # steps per convergence line
PATH_POINTS = 500  # points per trajectory
MINIMA_COLORS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999",
                 "#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3"]
UNCONVERGED = "#cfcfcf"
MAX_LINES = 8  # above this, figures show one line per optimizer (its best setting) instead of per variant


@dataclass
class Plot:
    kind: str
    name: str  # file stem under plots/
    title: str
    caption: str
    png: bytes
    n_runs: int


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
# what LogFormatterSciNotation writes: $\mathdefault{-2\times10^{-3}}$, $\mathdefault{0.5}$
_MATH_POWER = re.compile(r"^\$\\mathdefault\{(-?)(?:([0-9.]+)\\times)?([0-9.]+)\^\{(-?\d+)\}\}\$$")
_MATH_NUMBER = re.compile(r"^\$\\mathdefault\{(-?[0-9.e+-]+)\}\$$")


class PowerFormatter(LogFormatterSciNotation):
    """Matplotlib's log-axis labels (10⁻³, 2×10⁻³, 0.5) as plain Unicode text
    instead of mathtext: the same label, without mathtext's parser and
    layout (the report's figures drew 7% faster, Zen 1).  A label of any
    other form is left as mathtext."""

    def __call__(self, x, pos=None):
        label = super().__call__(x, pos)
        m = _MATH_POWER.match(label)
        if m:
            sign, coeff, base, exponent = m.groups()
            return ("\u2212" if sign else "") + (coeff + "\u00d7" if coeff else "") + base + \
                exponent.translate(_SUPERSCRIPT)
        m = _MATH_NUMBER.match(label)
        return m.group(1).replace("-", "\u2212") if m else label


MINOR_DECADES = 3  # log axes spanning more decades get no minor ticks


def _plain_log_axes(fig: Figure) -> None:
    """Unicode labels on every log and symlog axis (:class:`PowerFormatter`),
    and no minor ticks on log axes spanning more than :data:`MINOR_DECADES`
    decades: each minor tick is a matplotlib artist with its own lines and
    texts, and they were a tenth of the drawing time; over many decades
    they also crowd the axis (matplotlib drops them above ten)."""
    for ax in fig.axes:
        for axis, lim in ((ax.xaxis, ax.get_xlim), (ax.yaxis, ax.get_ylim)):
            if axis.get_scale() not in ("log", "symlog"):
                continue
            for formatter, setter in ((axis.get_major_formatter(), axis.set_major_formatter),
                                      (axis.get_minor_formatter(), axis.set_minor_formatter)):
                if type(formatter) is LogFormatterSciNotation:
                    setter(PowerFormatter(formatter._base, labelOnlyBase=formatter.labelOnlyBase,
                                          minor_thresholds=formatter.minor_thresholds,
                                          linthresh=formatter._linthresh))
            lo, hi = sorted(lim())
            if axis.get_scale() == "log" and lo > 0 and math.log10(hi / lo) > MINOR_DECADES:
                axis.set_minor_locator(NullLocator())


def to_png(fig: Figure) -> bytes:
    """Render through Agg and store as a 256-colour PNG (a third of the bytes
    of a truecolour one, no visible loss on line art).  The figure is not
    cleared afterwards: clearing rebuilds every axis (a twentieth of the
    drawing time), and the garbage collector frees it all the same."""
    _plain_log_axes(fig)
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    w, h = canvas.get_width_height(physical=True)
    img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    img = img.quantize(256, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def warm_up() -> None:
    """Draw a small throwaway figure: it loads the font and fills the text
    caches that the first real figure of a process would otherwise pay for
    (it drew in 0.37 s instead of 0.22 s, Zen 1)."""
    frame = Frame(1, 1, 1.5, 1.0)
    ax = frame.add(0)
    ax.plot([1.0, 2.0], [1.0, 10.0], label="warm-up")
    ax.set_yscale("log")
    ax.set_xlabel("steps")
    ax.set_title("warm-up", fontsize=9)
    to_png(frame.finish(*ax.get_legend_handles_labels(), title="warm-up"))


class Frame:
    """A figure laid out in inches: a grid of panels of fixed size, a title
    band on top and, on the right, a legend outside the axes whose measured
    width widens the figure (so the legend never covers data).  Cheaper than
    constrained layout, which costs a second draw per figure."""

    LEFT, BOTTOM = 0.95, 0.65

    def __init__(self, nrows: int, ncols: int, panel_w: float, panel_h: float, *, height_ratios=None,
                 wspace: float = 0.85, hspace: float = 0.75, title: bool = True, pad: float = 0.2):
        self.PAD = pad
        ratios = list(height_ratios or [1] * nrows)
        heights = [panel_h * r / (sum(ratios) / nrows) for r in ratios]
        self.top_in = 0.55 if title else 0.25
        self.plot_w = self.LEFT + ncols * panel_w + (ncols - 1) * wspace + self.PAD
        self.H = self.BOTTOM + sum(heights) + (nrows - 1) * hspace + self.top_in
        self.fig = Figure(figsize=(self.plot_w, self.H), dpi=DPI)
        FigureCanvasAgg(self.fig)
        self.gs = self.fig.add_gridspec(
            nrows, ncols, height_ratios=ratios, left=self.LEFT / self.plot_w,
            right=(self.plot_w - self.PAD) / self.plot_w, bottom=self.BOTTOM / self.H, top=1 - self.top_in / self.H,
            wspace=wspace / panel_w, hspace=hspace / (sum(heights) / nrows))

    def add(self, spec, **kw):
        return self.fig.add_subplot(self.gs[spec], **kw)

    def finish(self, handles=(), labels=(), title: str | None = None, legend_title: str | None = None,
               where: str = "right") -> Figure:
        """Place the title and the legend (``where``: "right" of the panels,
        or "below" them for wide multi-panel figures), growing the figure by
        the legend's measured size."""
        fig = self.fig
        W, H = self.plot_w, self.H
        leg = None
        if handles:
            ncol = 1 if where == "right" else max(1, min(3, len(handles)))
            leg = fig.legend(list(handles), list(labels), loc="upper left", fontsize=8, frameon=False, ncol=ncol,
                             title=legend_title, title_fontsize=8, alignment="left", columnspacing=1.5)
            box = leg.get_window_extent(fig.canvas.get_renderer())
            if where == "right":
                W = self.plot_w + box.width / fig.dpi + 0.15
            else:
                H = self.H + box.height / fig.dpi + 0.1
                W = max(W, self.LEFT + box.width / fig.dpi + self.PAD)
        if (W, H) != (self.plot_w, self.H):
            fig.set_size_inches(W, H)
            self.gs.update(left=self.LEFT / W, right=(self.plot_w - self.PAD) / W,
                           bottom=(self.BOTTOM + H - self.H) / H, top=1 - self.top_in / H)
            for ax in fig.axes:  # GridSpec.update only moves the axes of pyplot-managed figures
                ss = ax.get_subplotspec()
                if ss is not None and ss.get_topmost_subplotspec().get_gridspec() is self.gs:
                    ax.set_position(ss.get_position(fig))
        top = 1 - self.top_in / H
        if leg is not None:
            anchor = (self.plot_w / W, top) if where == "right" else (self.LEFT / W * 0.6, (H - self.H + 0.02) / H)
            leg.set_bbox_to_anchor(anchor, transform=fig.transFigure)
        if title:
            fig.suptitle(title, fontsize=10, y=1 - 0.12 / H, va="top")
        return fig


def _n(n: int, what: str = "run") -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def lines_for(data: ReportData, case: Case):
    """The (setting_id, label, colour, linestyle) of each line on ``case``:
    every variant at its best learning rate, or each optimizer at its best
    setting when there would be too many lines."""
    stats = data.stats[case.id]
    if len(set(stats["variant_id"])) <= MAX_LINES:
        best = best_per(stats, "variant_id")
        order = sorted(best.index, key=lambda s: best.loc[s, "variant_id"])
        out = []
        for sid in order:
            v = data.variant(int(best.loc[sid, "variant_id"]))
            out.append((sid, v.label, v.color, v.linestyle))
        return out, "each optimizer variant at its best learning rate"
    best = best_per(stats, "optimizer")
    out = []
    for sid, row in best.iterrows():
        opt = row["optimizer"]
        setting = data.settings.loc[sid, "label"]
        out.append((sid, f"{opt} ({setting})" if setting else opt, data.color(opt), "-"))
    return out, "each optimizer at its best setting"


def lr_text(data: ReportData, sid) -> str:
    lr = data.settings.loc[sid, "lr"]
    return "" if lr is None or (isinstance(lr, float) and math.isnan(lr)) else f"lr={fmt(lr)}"


def line_label(data: ReportData, label: str, sid, n: int | None = None) -> str:
    lr = lr_text(data, sid)
    text = f"{label}, {lr}" if lr and "lr=" not in label else label
    return text + (f" ({_n(n)})" if n is not None else "")


def _floor(data: ReportData) -> float:
    t = [c for c in data.targets if c > 0]
    return min(1e-10, min(t) * 1e-3) if t else 1e-10


def _value_scale(ax, values: np.ndarray, metric: str, floor: float, axis: str = "y") -> None:
    """Log scale for gaps (floored), log or symlog for objective values."""
    finite = values[np.isfinite(values) & (np.abs(values) < BIG / 10)]
    setter = ax.set_yscale if axis == "y" else ax.set_xscale
    if metric == "gap":
        setter("log")
        return
    if finite.size and finite.min() > 0 and finite.max() / max(finite.min(), 1e-300) > 100:
        setter("log")
    elif finite.size and np.abs(finite).max() > 1e3:
        setter("symlog", linthresh=1.0)


def _limits(values: np.ndarray, metric: str, floor: float):
    v = values[np.isfinite(values) & (values < BIG / 10)]
    if not v.size:
        return None
    lo, hi = float(v.min()), float(v.max())
    if metric == "gap":
        lo = max(lo, floor)
        return lo / 2, max(hi, lo) * 3
    if lo > 0 and hi / lo > 100:  # drawn on a log scale (see _value_scale): pad by factors
        return lo / 2, hi * 3
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
    return lo - pad, hi + pad


def _clip_top(a: np.ndarray, lim, metric: str) -> np.ndarray:
    """Diverged values (BIG) drawn just above the axis top, so lines leave the
    plot upwards without overflowing the scale transforms."""
    if lim is None:
        return np.where(a >= BIG / 10, np.nan, a)
    top = lim[1] * 10 if metric == "gap" else lim[1] + abs(lim[1] - lim[0])
    return np.minimum(a, top)


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
    floor = _floor(data)
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
    lim = _limits(allv, case.metric, floor)
    if lim is not None and case.metric == "gap":
        # a run diverging passes through huge finite values first; keep the view on the descent
        start = max((s_[2][0] for s_ in series if s_[2][0] < BIG / 10), default=None)
        if start is not None and lim[1] > start * 1e3:
            lim = (lim[0], start * 1e3)
    frame = Frame(1, 1, 6.4, 3.6)
    ax = frame.add(0)
    handles, labels = [], []
    for steps, q25, med, q75, color, ls, label in series:
        q25, med, q75 = (_clip_top(a, lim, case.metric) for a in (q25, med, q75))
        (h,) = ax.plot(steps, med, color=color, ls=ls, lw=1.8)
        ax.fill_between(steps, q25, q75, color=color, alpha=0.15, lw=0)
        handles.append(h)
        labels.append(label)
    _value_scale(ax, allv, case.metric, floor)
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
           f"initial points and repeats (line) and interquartile range (band). {_n(n)} behind "
           f"{len(handles)} lines. A run that diverged counts as +∞ from the step it diverged")
    cap += f"; gaps below {floor:g} are drawn at {floor:g}; dotted lines mark the targets." \
        if case.metric == "gap" else "; f* is not finite here, so the objective value itself is shown."
    return Plot("convergence", f"{case.slug}-convergence", f"Convergence — {case.label}", cap, to_png(fig), n)


# ----------------------------------------------------------------- learning-rate sensitivity


def lr_sensitivity(data: ReportData, case: Case) -> Plot | None:
    stats = data.stats[case.id]
    if not (stats.dropna(subset=["lr"]).groupby("variant_id")["lr"].nunique() >= 2).any():
        return None  # no line to draw: every optimizer ran at one learning rate
    pts = best_per_lr(stats).dropna(subset=["lr"])
    per_variant = len(set(stats["variant_id"])) <= MAX_LINES
    key = "variant_id" if per_variant else "optimizer"
    if not per_variant:
        pts = stats.groupby(["optimizer", "lr"], sort=False).head(1).dropna(subset=["lr"])
    floor = _floor(data)
    groups = list(pts.groupby(key, sort=False))
    groups.sort(key=lambda kv: kv[0] if per_variant else [v.optimizer for v in data.variants].index(kv[0]))
    allv = []
    for _, g in groups:
        vals = g[["med_final", "q25_final", "q75_final"]].to_numpy(float).ravel()
        allv.append(np.maximum(vals, floor) if case.metric == "gap" else vals)
    allv = np.concatenate(allv)
    lim = _limits(allv, case.metric, floor)
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
        ax.fill_between(x, _clip_top(q25, lim, case.metric), _clip_top(q75, lim, case.metric), color=color,
                        alpha=0.12, lw=0)
        top_markers.append((x[~ok], color))
        frac = (g["n_diverged"] / g["n"]).to_numpy(float)
        axd.plot(x, frac, color=color, ls=ls, marker="o", ms=3, lw=1.2)
        handles.append(h)
        n_runs = int(g["n"].sum())
        n_total += n_runs
        labels.append(f"{label} ({_n(n_runs)})")
    _value_scale(ax, allv, case.metric, floor)
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
    fig = frame.finish(handles, labels, f"Learning-rate sensitivity on {case.label}")
    steps = data.manifest.get("steps")
    cap = (f"Final {case.metric_label} after {steps} steps against learning rate on {case.label}: median "
           f"(line) and interquartile range (band) over the runs at each learning rate"
           f"{'' if per_variant else ' (each optimizer at its best other hyperparameters)'}"
           f"{'; where a variant has several settings at one learning rate, the best' if per_variant else ''}. "
           f"Diverged runs count as +∞; ▲ at the top marks learning rates where the median run diverged, and the "
           f"lower panel shows the fraction of runs that diverged. {_n(n_total)}.")
    return Plot("lr_sensitivity", f"{case.slug}-lr-sensitivity", f"Learning-rate sensitivity — {case.label}", cap,
                to_png(fig), n_total)


# ----------------------------------------------------------------- lr x momentum heatmaps


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
        others = [h for h in hp if h not in ("lr", m) and len({_hashable(v.get(h)) for v in values}) > 1]
        table = table.assign(other_=[tuple(_hashable(v.get(h)) for h in others) for v in values])
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
                if pj == 0:
                    im = ax.imshow(mat, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1)
                else:
                    finite = mat[np.isfinite(mat)]
                    norm = None
                    if finite.size and finite.max() > 10 * max(1, finite.min()):
                        norm = LogNorm(vmin=max(1, finite.min()), vmax=finite.max())
                    im = ax.imshow(np.where(mat > 0, mat, np.where(np.isfinite(mat), 1, np.nan)), origin="lower",
                                   aspect="auto", cmap="viridis_r", norm=norm)
                    ax.set_facecolor("#eeeeee")
                cb = fig.colorbar(im, ax=ax, fraction=0.06, pad=0.03)
                cb.set_label("fraction of runs" if pj == 0 else "step", fontsize=8)
                cb.ax.tick_params(labelsize=7)
                if pj == 1:
                    if isinstance(im.norm, LogNorm):
                        cb.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                    cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
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
                        if np.isfinite(v):
                            r, g_, b, _ = im.cmap(im.norm(max(v, 1) if pj else v))
                            dark = 0.299 * r + 0.587 * g_ + 0.114 * b < 0.5
                        ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                                color="white" if dark else "black")
                ax.set_xticks(range(len(lrs)), [fmt(v) for v in lrs], fontsize=8, rotation=30)
                ax.set_yticks(range(len(ms)), [fmt(v) for v in ms], fontsize=8)
                ax.set_xlabel("learning rate")
                ax.set_ylabel(m)
                ax.set_title(f"{opt}{' (' + sub + ')' if sub else ''}: {title}", fontsize=9)
        layout.finish(title=f"{opt}: learning rate × {m} on {case.label}")
        per_cell = sorted({int(v) for v in table["n"]})
        cap = (f"Learning rate × {m} for {opt} on {case.label}: the fraction of runs that reached "
               f"{crit.label} within {data.manifest.get('steps')} steps (left) and the median step at which they "
               f"did (right; — no run did, div: every run diverged). Each cell is "
               f"{' or '.join(map(str, per_cell))} runs (initial points × repeats); {_n(n_total)} in all.")
        plots.append(Plot("heatmap", f"{case.slug}-heatmap-{_safe(opt)}", f"{opt}: learning rate × {m} — {case.label}",
                          cap, to_png(fig), n_total))
    return plots


def _hashable(v):
    return v if not isinstance(v, list) else tuple(v)


def _safe(name: str) -> str:
    return slug(name)


# ----------------------------------------------------------------- contour backgrounds


def _extent(case: Case, points: np.ndarray) -> tuple:
    if case.problem is not None:
        lo, hi = np.asarray(case.problem.lower, float), np.asarray(case.problem.upper, float)
    else:
        pts = points[np.all(np.isfinite(points), axis=1)]
        if not len(pts):
            return (-1.0, 1.0, -1.0, 1.0)
        lo, hi = np.percentile(pts, 1, axis=0), np.percentile(pts, 99, axis=0)
    fin = points[np.all(np.isfinite(points), axis=1)] if len(points) else points
    if len(fin):  # include the starting points
        lo, hi = np.minimum(lo, fin.min(axis=0)), np.maximum(hi, fin.max(axis=0))
    span = np.maximum(hi - lo, 1e-9)
    lo, hi = lo - 0.04 * span, hi + 0.04 * span
    return (lo[0], hi[0], lo[1], hi[1])


_surface_cache: dict = {}


def _surface(case: Case, extent):
    key = (case.id, tuple(np.round(extent, 12)))
    if key not in _surface_cache:
        _surface_cache.clear()
        _surface_cache[key] = surface.grid(case.problem, extent)
    return _surface_cache[key]


def _background(ax, case: Case, extent, filled: bool = True) -> None:
    if case.problem is None:
        ax.set_facecolor("#f7f7f7")
        return
    x, y, z = _surface(case, extent)
    if not np.isfinite(z).any():
        return
    zmin = np.nanmin(z)
    if math.isfinite(case.problem.f_star):
        zmin = min(zmin, case.problem.f_star)
    d = z - zmin
    pos = d[np.isfinite(d) & (d > 0)]
    if not pos.size:
        return
    lo = max(np.percentile(pos, 0.5), pos.max() * 1e-12)
    levels = np.logspace(np.log10(lo), np.log10(pos.max()), 18)
    d = np.clip(d, lo, None)
    if filled:
        ax.contourf(x, y, d, levels=levels, norm=LogNorm(levels[0], levels[-1]), cmap="Greys_r", alpha=0.35,
                    extend="both")
    ax.contour(x, y, d, levels=levels, colors="0.45", linewidths=0.45, alpha=0.8 if filled else 0.5)


def _minima(ax, case: Case, colored: bool = False) -> list:
    handles = []
    if case.problem is None:
        return handles
    for i, m in enumerate(case.problem.minima):
        face = MINIMA_COLORS[i % len(MINIMA_COLORS)] if colored else ("gold" if m.kind == "global" else "white")
        h = ax.plot(m.x[0], m.x[1], marker="*", ms=13 if m.kind == "global" else 10, color=face,
                    markeredgecolor="black", markeredgewidth=0.8, ls="none", zorder=5)[0]
        handles.append(h)
    return handles


def _starts(points: np.ndarray, k: int, case: Case) -> list[int]:
    """Up to ``k`` well-spread starting points: the farthest from any known
    minimum first, then each next farthest from those chosen."""
    n = len(points)
    if n <= k:
        return list(range(n))
    if case.problem is not None and case.problem.minima:
        M = np.stack([m.x for m in case.problem.minima])
        d0 = np.sqrt(((points[:, None, :] - M[None]) ** 2).sum(-1)).min(axis=1)
    else:
        d0 = np.sqrt(((points - points.mean(axis=0)) ** 2).sum(-1))
    chosen = [int(np.argmax(d0))]
    dist = np.sqrt(((points - points[chosen[0]]) ** 2).sum(-1))
    while len(chosen) < k:
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.sqrt(((points - points[nxt]) ** 2).sum(-1)))
    return chosen


def _x0(runs) -> np.ndarray:
    return np.array([np.asarray(v, float)[:2] for v in runs["x0"]]) if len(runs) else np.zeros((0, 2))


# ----------------------------------------------------------------- trajectories


def trajectories(data: ReportData, case: Case) -> Plot | None:
    if case.dim != 2 or "x0" not in data.runs.columns:
        return None
    lines, how = lines_for(data, case)
    sids = [s for s, *_ in lines]
    runs = case_runs(data, case, sids)
    runs = runs[runs["repeat"] == runs["repeat"].min()]
    inits = runs.drop_duplicates("init_index").sort_values("init_index")
    if inits.empty:
        return None
    x0 = _x0(inits)
    k = 4 if len(inits) == 4 else 3
    chosen = _starts(x0, k, case)
    init_ids = inits["init_index"].to_numpy()[chosen]
    sel = runs[runs["init_index"].isin(init_ids)]
    grid = curves_mod.step_grid(data.manifest, PATH_POINTS)
    cur = curves_mod.read(data.results, sel["run_id"], ["run_id", "step", "pos_x", "pos_y"], grid)
    if cur.empty or not np.isfinite(cur["pos_x"].to_numpy(float)).any():
        return None
    extent = _extent(case, x0)
    ncol = 2 if len(chosen) == 4 else len(chosen)
    nrow = 2 if len(chosen) == 4 else 1
    frame = Frame(nrow, ncol, 3.0, 2.8, wspace=0.7, hspace=0.8)
    handles, labels = {}, {}
    by_run = {rid: g for rid, g in cur.groupby("run_id", sort=False)}
    for p, (init, pi) in enumerate(zip(init_ids, chosen)):
        ax = frame.add((p // ncol, p % ncol))
        _background(ax, case, extent)
        _minima(ax, case)
        for sid, label, color, ls in lines:
            r = sel[(sel["setting_id"] == sid) & (sel["init_index"] == init)]
            if r.empty:
                continue
            row = r.iloc[0]
            g = by_run.get(int(row["run_id"]))
            if g is None:
                continue
            g = g.sort_values("step")
            px, py = g["pos_x"].to_numpy(float), g["pos_y"].to_numpy(float)
            ok = np.isfinite(px) & np.isfinite(py) & (np.abs(px) < 1e6) & (np.abs(py) < 1e6)
            px, py = px[ok], py[ok]
            (h,) = ax.plot(px, py, color=color, ls=ls, lw=1.3, marker="o", ms=1.6, alpha=0.9, zorder=3)
            end = "X" if row["status"] == "diverged" else "s"
            if len(px):
                ax.plot(px[-1], py[-1], marker=end, ms=6, color=color, markeredgecolor="black",
                        markeredgewidth=0.5, zorder=4)
            handles[label] = h
            labels[label] = line_label(data, label, sid)
        ax.plot(x0[pi, 0], x0[pi, 1], marker="o", ms=7, color="white", markeredgecolor="black", zorder=6)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_aspect("auto")
        ax.set_title(f"start ({x0[pi, 0]:.3g}, {x0[pi, 1]:.3g})", fontsize=9)
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
    hs = list(handles.values())
    ls_ = [labels[k] for k in handles]
    hs += [Line2D([], [], ls="none", marker="o", color="white", markeredgecolor="black", ms=7),
           Line2D([], [], ls="none", marker="s", color="0.6", markeredgecolor="black", ms=6)]
    ls_ += ["start", "end of run"]
    if (sel["status"] == "diverged").any():
        hs.append(Line2D([], [], ls="none", marker="X", color="0.6", markeredgecolor="black", ms=6))
        ls_.append("diverged (last point in view)")
    if case.problem is not None and case.problem.minima:
        hs += [Line2D([], [], ls="none", marker="*", color="gold", markeredgecolor="black", ms=11)]
        ls_ += ["known minimum (global gold, local white)"]
    fig = frame.finish(hs, ls_, f"Trajectories on {case.label}", where="below")
    n = len(sel)
    bg = ("log-spaced contours of f − min f over the domain box" if case.problem is not None
          else f"no surface drawn: {case.problem_note}")
    cap = (f"Paths on {case.label} from the same {len(chosen)} starting points (spread over those of the sweep), "
           f"{how}; dots every {max(1, int(data.manifest.get('log_every', 1) or 1)) * max(1, _stride(data))} "
           f"steps. Background: {bg}. {_n(n)} drawn; a path leaving the view left the domain box.")
    return Plot("trajectories", f"{case.slug}-trajectories", f"Trajectories — {case.label}", cap, to_png(fig), n)


def _stride(data: ReportData) -> int:
    grid = curves_mod.step_grid(data.manifest, PATH_POINTS)
    full = curves_mod.step_grid(data.manifest, 10**12)
    if grid is None or full is None:
        return 1
    return max(1, round(len(full) / len(grid)))


# ----------------------------------------------------------------- basins of attraction


def basins(data: ReportData, case: Case) -> Plot | None:
    if case.dim != 2 or "minimum_reached" not in data.runs.columns or "x0" not in data.runs.columns:
        return None
    sub = data.runs[data.runs["case_id"] == case.id]
    n_minima = len(case.problem.minima) if case.problem is not None else int(sub["minimum_reached"].max()) + 1
    if n_minima < 2:
        return None
    lines, how = lines_for(data, case)
    runs = case_runs(data, case, [s for s, *_ in lines])
    runs = runs[runs["repeat"] == runs["repeat"].min()]
    if runs.empty:
        return None
    ncol = min(3, len(lines))
    nrow = -(-len(lines) // ncol)
    frame = Frame(nrow, ncol, 3.0, 2.7, wspace=0.7, hspace=0.8)
    allx0 = _x0(runs)
    extent = _extent(case, allx0)
    per_panel = runs.groupby("setting_id").size()
    size = float(np.clip(2400 / max(1, per_panel.max()), 6, 60))
    for p, (sid, label, color, _) in enumerate(lines):
        ax = frame.add((p // ncol, p % ncol))
        _background(ax, case, extent, filled=False)
        r = runs[runs["setting_id"] == sid]
        pts = _x0(r)
        reached = r["minimum_reached"].to_numpy(int)
        bad = r["status"].isin(["diverged", "escaped"]).to_numpy()
        none = (reached < 0) & ~bad
        ax.scatter(pts[none, 0], pts[none, 1], s=size, c=UNCONVERGED, marker="s", linewidths=0)
        for i in range(n_minima):
            sel = reached == i
            if sel.any():
                ax.scatter(pts[sel, 0], pts[sel, 1], s=size, c=MINIMA_COLORS[i % len(MINIMA_COLORS)], marker="s",
                           linewidths=0)
        ax.scatter(pts[bad, 0], pts[bad, 1], s=size * 0.8, c="black", marker="x", linewidths=1)
        _minima(ax, case, colored=True)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_title(line_label(data, label, sid), fontsize=8, color=color)
        ax.set_xlabel("x₁ (start)")
        ax.set_ylabel("x₂ (start)")
    hs, ls_ = [], []
    for i in range(n_minima):
        c = MINIMA_COLORS[i % len(MINIMA_COLORS)]
        hs.append(Line2D([], [], ls="none", marker="s", color=c, ms=8))
        if case.problem is not None:
            m = case.problem.minima[i]
            kind = "" if m.kind == "global" else ", local"
            ls_.append(f"minimum {i} ({m.x[0]:.3g}, {m.x[1]:.3g}), f={m.f:.4g}{kind}")
        else:
            ls_.append(f"minimum {i}")
    hs += [Line2D([], [], ls="none", marker="s", color=UNCONVERGED, ms=8),
           Line2D([], [], ls="none", marker="x", color="black", ms=7)]
    ls_ += ["no minimum reached", "diverged"]
    fig = frame.finish(hs, ls_, f"Basins of attraction on {case.label}", legend_title="run ended at",
                       where="below")
    n = len(runs)
    cap = (f"Basins of attraction on {case.label}: every starting point of the sweep, coloured by the known minimum "
           f"the run ended at (within 1e-2 of it, relative to |x*|) after {data.manifest.get('steps')} steps; grey: "
           f"no minimum reached, black ✕: diverged. One panel per line ({how}); ★ the minima in their colours. "
           f"{_n(n)} in {len(lines)} panels." + ("" if case.problem is not None else
                                                f" Minima locations unknown here: {case.problem_note}."))
    return Plot("basins", f"{case.slug}-basins", f"Basins of attraction — {case.label}", cap, to_png(fig), n)


# ----------------------------------------------------------------- runtime distributions


def _ecdf(ax, steps: np.ndarray, n: int, budget: int, color, ls) -> Line2D:
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


def _steps_axis(ax, budget: int) -> None:
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
            h = _ecdf(ax, r[crit.column].to_numpy(float), len(r), budget, color, ls)
            if p == 0:
                handles.append(h)
                labels.append(line_label(data, label, sid))
        _steps_axis(ax, budget)
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
           f"{budget} steps), {how}. {_n(n)}; a curve that stays below 1 has runs that never met it.")
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
            h = _ecdf(ax, allv, len(allv), budget, color, ls)
            if p == 0:
                handles.append(h)
                labels.append(label)
        _steps_axis(ax, budget)
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
           f"{len(cases)} objectives, {_n(n_runs)}, budget {budget} steps.")
    return Plot("runtime_profile", "all-runtime-profile", "Runtime distributions — all objectives", cap, to_png(fig),
                n_runs)


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
    floor = _floor(data)
    allv = []
    n_runs = 0
    for opt in data.optimizers():
        succ, ert, fin = [], [], []
        for c in cases:
            b = best_per(data.stats[c.id], "optimizer")
            b = b[b["optimizer"] == opt]
            if not len(b):
                succ.append(np.nan), ert.append(np.nan), fin.append(np.nan)
                continue
            row = b.iloc[0]
            succ.append(float(row["success"]))
            e = float(row[f"ert_{len(c.criteria) - 1}"])
            ert.append(e if math.isfinite(e) else np.nan)
            f = float(row["med_final"])
            fin.append(np.nan if f >= BIG / 10 else (max(f, floor) if metric == "gap" else f))
            n_runs += int(row["n"])
        color = data.color(opt)
        (h,) = ax1.plot(xs, succ, marker="o", color=color)
        ax2.plot(xs, ert, marker="o", color=color)
        ax3.plot(xs, fin, marker="o", color=color)
        allv.append(np.array(fin))
        handles.append(h)
        labels.append(opt)
    if xs.min() > 0 and xs.max() / xs.min() >= 100:
        ax1.set_xscale("log")
    crit = cases[0].criteria[-1]
    ax1.set_ylim(-0.05, 1.05)
    ax1.set_ylabel(f"success rate\n({crit.label})", fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylabel(f"ERT to {crit.short}\n(steps)", fontsize=8)
    _value_scale(ax3, np.concatenate(allv), metric, floor)
    ax3.set_ylabel(f"median final\n{'gap' if metric == 'gap' else 'f'}", fontsize=8)
    ax3.set_xlabel(param)
    for ax in (ax1, ax2, ax3):
        ax.grid(True, alpha=0.3)
    for ax in (ax1, ax2):
        ax.tick_params(labelbottom=False)
    fig = frame.finish(handles, labels, f"{objective}: effect of {param}")
    cap = (f"{objective} across its {len(cases)} values of {param}: success rate ({crit.label}), expected running "
           f"time to it (missing where no run reached it) and median final {cases[0].metric_label} of each optimizer "
           f"at its best setting for each value ({_n(n_runs)}).")
    return Plot("parameter_effect", f"family-{slug(objective)}-{slug(param)}", f"{objective} across {param}", cap,
                to_png(fig), n_runs)


# ----------------------------------------------------------------- family comparison by parameter

COMPARE_MAX_GROUPS = 10
COMPARE_MAX_OPTIMIZERS = 4
GROUP_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
                "#1f78b4", "#b2df8a"]
GRAD_FLOOR = 1e-12


def family_comparison(data: ReportData, objective: str, cases: list[Case], params: list[str]) -> Plot | None:
    """The cases of one objective grouped by the values of ``params`` (e.g.
    activation and loss together, or the init scheme alone), each optimizer
    at one setting common to every case: median gradient norm and objective
    against step, and the runtime distribution over (run, target) pairs.
    Cases that differ in other parameters are pooled within a group."""
    from .data import case_value, common_settings

    groups: dict[tuple, list[Case]] = {}
    for c in cases:
        groups.setdefault(tuple(repr(case_value(c, k)) for k in params), []).append(c)
    if not 2 <= len(groups) <= COMPARE_MAX_GROUPS:
        return None
    settings = common_settings(data, cases)
    opts = [o for o in data.optimizers() if o in settings][:COMPARE_MAX_OPTIMIZERS]
    if not opts:
        return None
    labels = {}
    for key, members in groups.items():
        c = members[0]
        labels[key] = ", ".join(f"{k}={fmt(case_value(c, k), 4)}" for k in params)
    case_ids = {c.id for c in cases}
    runs = data.runs[data.runs["case_id"].isin(case_ids)
                     & data.runs["setting_id"].isin([settings[o] for o in opts])]
    if runs.empty:
        return None
    metric = "gap" if all(c.metric == "gap" for c in cases) else "f"
    value_col = "gap" if metric == "gap" else "f"
    grid = curves_mod.step_grid(data.manifest, CURVE_POINTS)
    cur = curves_mod.read(data.results, runs["run_id"], ["run_id", "step", "grad_norm", value_col], grid)
    has_grad = bool(len(cur)) and np.isfinite(cur["grad_norm"].to_numpy(float)).any()
    has_targets = any(runs[crit.column].notna().any() for c in cases for crit in c.criteria)
    rows = (["grad"] if has_grad else []) + ["value"] + (["ecdf"] if has_targets else [])
    budget = int(data.manifest.get("steps") or runs["steps_run"].max())
    floor = _floor(data)
    frame = Frame(len(rows), len(opts), 2.9, 2.1, wspace=0.45, hspace=0.55)
    handles: dict[tuple, Line2D] = {}
    by_case = {c.id: c for c in cases}
    first_ax: dict[str, object] = {}
    values_seen: dict[str, list] = {"grad": [], "value": []}
    n_drawn = 0
    for j, opt in enumerate(opts):
        sid = settings[opt]
        r_opt = runs[runs["setting_id"] == sid]
        n_drawn += len(r_opt)
        for i, row in enumerate(rows):
            share = first_ax.get(row)
            ax = frame.add((i, j), sharey=share) if share is not None else frame.add((i, j))
            first_ax.setdefault(row, ax)
            for g, (key, members) in enumerate(groups.items()):
                color = GROUP_COLORS[g % len(GROUP_COLORS)]
                r = r_opt[r_opt["case_id"].isin([c.id for c in members])]
                if r.empty:
                    continue
                if row == "ecdf":
                    # every (run, criterion) pair of the group's cases, each case with its own criteria
                    per_case = list(r.groupby("case_id"))
                    steps = np.concatenate([rc[crit.column].to_numpy(float) for c_id, rc in per_case
                                            for crit in by_case[c_id].criteria] or [np.zeros(0)])
                    n_pairs = sum(len(rc) * len(by_case[c_id].criteria) for c_id, rc in per_case)
                    h = _ecdf(ax, steps, n_pairs, budget, color, "-")
                else:
                    col = "grad_norm" if row == "grad" else value_col
                    ids = r["run_id"].to_numpy()
                    steps, M = curves_mod.aligned(cur[cur["run_id"].isin(ids)], ids, col,
                                                  r["diverged_"].to_numpy(bool), grid)
                    lo = GRAD_FLOOR if row == "grad" else floor
                    if row == "grad" or metric == "gap":
                        M = np.maximum(M, lo)
                    q25, med, q75 = np.quantile(M, [0.25, 0.5, 0.75], axis=0)
                    values_seen[row].append(np.concatenate([q25, med, q75]))
                    lim = _limits(med, "gap" if row == "grad" else metric, lo)
                    q25, med, q75 = (_clip_top(a, lim, "gap" if row == "grad" else metric) for a in (q25, med, q75))
                    (h,) = ax.plot(steps, med, color=color, lw=1.6)
                    ax.fill_between(steps, q25, q75, color=color, alpha=0.12, lw=0)
                handles.setdefault(key, h)
            if i == 0:
                ax.set_title(f"{opt} ({lr_text(data, sid) or data.settings.loc[sid, 'label']})", fontsize=9)
            if row == "ecdf":
                _steps_axis(ax, budget)
            else:
                ax.grid(True, alpha=0.3)
            if i == len(rows) - 1:
                ax.set_xlabel("step")
            if j == 0:
                ax.set_ylabel({"grad": "gradient norm", "value": "gap f − f*" if metric == "gap" else "f",
                               "ecdf": "fraction of\n(run, target) pairs"}[row], fontsize=8)
            else:
                ax.tick_params(labelleft=False)
    for row in rows:
        if row == "ecdf" or not values_seen[row]:
            continue
        allv = np.concatenate(values_seen[row])
        ax = first_ax[row]
        _value_scale(ax, allv, "gap" if row == "grad" else metric, floor)
        lim = _limits(allv, "gap" if row == "grad" else metric, GRAD_FLOOR if row == "grad" else floor)
        if lim is not None:
            ax.set_ylim(*lim)
    what = ", ".join(params)
    fig = frame.finish([handles[k] for k in groups if k in handles], [labels[k] for k in groups if k in handles],
                       f"{objective}: by {what}", legend_title=what)
    pooled = [k for k in ("dim", *sorted({k for c in cases for k in c.params}), "batch_size", "grad_noise", "init")
              if k not in params and len({repr(case_value(c, k)) for c in cases}) > 1]
    cap = (f"The {len(cases)} cases of {objective} grouped by {what} ({len(groups)} groups"
           + (f"; cases that differ in {', '.join(pooled)} are pooled within a group" if pooled else "")
           + "). Each column is one optimizer at one setting common to every case (the one with the best mean "
           "rank over the cases), so groups are compared at the same hyperparameters. ")
    parts = []
    if has_grad:
        parts.append("median gradient norm against step (band: interquartile range; a gradient that vanishes "
                     "while the loss is still high is the saturation of the activation)")
    parts.append(f"median {'gap f − f*' if metric == 'gap' else 'objective value f'} against step")
    if has_targets:
        parts.append("the fraction of (run, target) pairs reached within the steps on the x axis (COCO data "
                     f"profile; dotted line: budget of {budget} steps)")
    cap += "Rows: " + "; ".join(parts) + f". {_n(n_drawn)} drawn; a diverged run counts as +∞ from its stop."
    if "loss" in params:
        cap += (" Different losses have different scales, so their values and gaps (and the targets on them) are "
                "not directly comparable; the gradient norm is what shows a saturated activation.")
    return Plot("family_comparison", f"family-{slug(objective)}-by-{slug('-'.join(params))}",
                f"{objective} by {what}", cap, to_png(fig), n_drawn)
