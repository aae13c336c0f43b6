"""What every figure shares: the :class:`Plot` record, the :class:`Frame` layout in inches,
PNG output, log-axis labels, and the lines, labels and scales of value plots."""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, NullLocator
from PIL import Image

from ..data import BIG, Case, ReportData, best_per, fmt, slug

DPI = 100


CURVE_POINTS = 300  # steps per convergence line


PATH_POINTS = 500  # points per trajectory


MINIMA_COLORS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999",
                 "#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3"]


UNCONVERGED = "#cfcfcf"


EVALS_NOTE = ("Objective evaluations are counted in full-data gradient evaluations: a minibatch step counts "
              "batch_size / n_samples of one, a line-search step every evaluation of its search.")


MAX_LINES = 8  # above this, figures show one line per optimizer (its best setting) instead of per variant


FIGURE_FORMATS = ("png", "svg", "pdf")  # what plots/ can hold besides the PNGs the page embeds


_figure_format = "png"  # see set_figure_format


def set_figure_format(fmt: str) -> str:
    """Have :func:`to_png` also save every figure of this process as
    ``fmt`` (one of :data:`FIGURE_FORMATS`; "png": PNG only); returns the
    format it replaces.  A process setting rather than an argument, so that
    the figure functions need not pass it along: the report sets it here
    and in each drawing helper before drawing."""
    global _figure_format
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"unknown figure format {fmt!r}; known: {', '.join(FIGURE_FORMATS)}")
    previous, _figure_format = _figure_format, fmt
    return previous


class RenderedPNG(bytes):
    """What :func:`to_png` returns: the PNG bytes, carrying the same figure
    in the other format asked for (``{suffix: bytes}``), which :class:`Plot`
    moves into its own field."""

    other_formats: dict[str, bytes]


@dataclass
class Plot:
    kind: str
    name: str  # file stem under plots/
    title: str
    caption: str
    png: bytes
    n_runs: int
    other_formats: dict[str, bytes] = field(default_factory=dict)  # {suffix: the figure in it}, for plots/

    def __post_init__(self):
        if isinstance(self.png, RenderedPNG):
            self.other_formats = {**self.png.other_formats, **self.other_formats}
            self.png = bytes(self.png)


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


# what LogFormatterSciNotation writes: $\mathdefault{-2\times10^{-3}}$, $\mathdefault{0.5}$
_MATH_POWER = re.compile(r"^\$\\mathdefault\{(-?)(?:([0-9.]+)\\times)?([0-9.]+)\^\{(-?\d+)\}\}\$$")


_MATH_NUMBER = re.compile(r"^\$\\mathdefault\{(-?[0-9.e+-]+)\}\$$")


class PowerFormatter(LogFormatterSciNotation):
    """Matplotlib's log-axis labels (10⁻³, 2×10⁻³, 0.5) as plain Unicode text
    instead of mathtext: the same label, without mathtext's parser and
    layout, a measurable share of the drawing time.  A label of any
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


def to_png(fig: Figure) -> RenderedPNG:
    """Render through Agg and store as a 256-colour PNG (a third of the bytes
    of a truecolour one, no visible loss on line art); with a figure format
    set (:func:`set_figure_format`), save the figure in it too.  The figure
    is not cleared afterwards: clearing rebuilds every axis (a twentieth of
    the drawing time), and the garbage collector frees it all the same."""
    _plain_log_axes(fig)
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    w, h = canvas.get_width_height(physical=True)
    img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    img = img.quantize(256, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    img.save(out, format="PNG")
    png = RenderedPNG(out.getvalue())
    png.other_formats = {} if _figure_format == "png" else {_figure_format: _save_as(fig, _figure_format)}
    return png


def _save_as(fig: Figure, fmt: str) -> bytes:
    """``fig`` as an SVG or PDF file that is the same on every build: no
    date, and SVG element ids hashed with a fixed salt (matplotlib's
    default salt is a fresh random one)."""
    out = io.BytesIO()
    key = "Date" if fmt == "svg" else "CreationDate"
    with rc_context({"svg.hashsalt": "optbench"}):
        fig.savefig(out, format=fmt, metadata={key: None})
    return out.getvalue()


def warm_up() -> None:
    """Draw a small throwaway figure: it loads the font and fills the text
    caches that the first real figure of a process would otherwise pay for."""
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
                 wspace: float = 0.85, hspace: float = 0.75, title: bool = True, pad: float = 0.2,
                 top_extra: float = 0.0):
        """``top_extra``: inches more above the panels (for panel titles of two lines)."""
        self.PAD = pad
        ratios = list(height_ratios or [1] * nrows)
        heights = [panel_h * r / (sum(ratios) / nrows) for r in ratios]
        self.top_in = (0.55 if title else 0.25) + top_extra
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


def count(n: int, what: str = "run") -> str:
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
    return text + (f" ({count(n)})" if n is not None else "")


def value_floor(data: ReportData) -> float:
    t = [c for c in data.targets if c > 0]
    return min(1e-10, min(t) * 1e-3) if t else 1e-10


def value_scale(ax, values: np.ndarray, metric: str, floor: float, axis: str = "y") -> None:
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


def value_limits(values: np.ndarray, metric: str, floor: float):
    v = values[np.isfinite(values) & (values < BIG / 10)]
    if not v.size:
        return None
    lo, hi = float(v.min()), float(v.max())
    if metric == "gap":
        lo = max(lo, floor)
        return lo / 2, max(hi, lo) * 3
    if lo > 0 and hi / lo > 100:  # drawn on a log scale (see value_scale): pad by factors
        return lo / 2, hi * 3
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
    return lo - pad, hi + pad


def clip_top(a: np.ndarray, lim, metric: str) -> np.ndarray:
    """Diverged values (BIG) drawn just above the axis top, so lines leave the
    plot upwards without overflowing the scale transforms."""
    if lim is None:
        return np.where(a >= BIG / 10, np.nan, a)
    top = lim[1] * 10 if metric == "gap" else lim[1] + abs(lim[1] - lim[0])
    return np.minimum(a, top)


def hashable(v):
    return v if not isinstance(v, list) else tuple(v)


def safe_name(name: str) -> str:
    return slug(name)
