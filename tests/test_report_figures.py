"""What the report's figures show, read off the matplotlib figures themselves
(issue 29): heatmap colour bars and diverged cells, convergence bands over
the runs still running, and trajectory legends that name only what is drawn."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle

import optbench
from optbench.report import data as data_mod
from optbench.report.data import BIG
from optbench.report.figures import base

# the modules, not the figure functions that optbench.report.figures exports under the same names
convergence, heatmaps, landscape = (importlib.import_module(f"optbench.report.figures.{m}")
                                    for m in ("convergence", "heatmaps", "landscape"))

# Rosenbrock at lr=3e-3 without momentum: some runs diverge, not all (3 of 8
# with this seed); with momentum 0.9, and at lr=0.1, every run diverges; no
# run reaches 1e-6 in 60 steps.  Six-hump camel has local minima as well.
SPEC = {
    "name": "figures-test",
    "steps": 60,
    "log_every": 2,
    "seed": 3,
    "targets": [1e-6],
    "objectives": [{"name": "rosenbrock", "dim": 2}, {"name": "six_hump_camel"}],
    "init": {"scheme": "uniform", "count": 8},
    "optimizers": [{"name": "sgd", "lr": [3e-3, 0.1], "momentum": [0.0, 0.9]}],
}


@pytest.fixture(scope="module")
def report_data(tmp_path_factory):
    res = optbench.run(SPEC, out=tmp_path_factory.mktemp("figures"), report=False)
    results, folder = data_mod.load(res.path)
    return data_mod.prepare(results, folder)


def _case(data, objective):
    return next(c for c in data.cases if c.objective == objective)


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures a figure module renders, kept for inspection."""
    figs = []

    def keep(module):
        def to_png(fig):
            png = base.to_png(fig)  # draws it: tick labels and legends are laid out
            figs.append(fig)
            return png
        monkeypatch.setattr(module, "to_png", to_png)
        return figs
    return keep


# ----------------------------------------------------------------- heatmaps


def test_step_labels_never_read_minus_zero():
    assert [heatmaps._step_label(v) for v in (-0.04, -0.0, 0.0, 0.4, 1234.0)] == ["0", "0", "0", "0", "1,234"]


def test_a_steps_scale_of_one_value_has_one_tick_and_an_empty_one_spans_the_budget():
    norm, ticks = heatmaps._steps_norm(np.array([40.0, 40.0]), 60)
    assert ticks == [40.0] and norm.vmin < 40 < norm.vmax
    norm, ticks = heatmaps._steps_norm(np.array([]), 60)
    assert ticks is None and (norm.vmin, norm.vmax) == (0.0, 60.0)


def test_heatmap_colour_bars_and_diverged_cells(report_data, drawn):
    figs = drawn(heatmaps)
    case = _case(report_data, "rosenbrock")
    stats = report_data.stats[case.id]
    n_alldiv = int((stats["n_diverged"] == stats["n"]).sum())
    assert n_alldiv >= 1 and (stats["succ_0"] == 0).all()  # what this test relies on
    (plot,) = heatmaps.heatmaps(report_data, case)
    (fig,) = figs
    for cax in [ax for ax in fig.axes if ax.get_ylabel() in ("step", "share of runs")]:
        labels = [t.get_text() for t in cax.get_yticklabels() if t.get_text()]
        assert labels, cax.get_ylabel()
        assert not any(t.lstrip("-\u2212") == "0" and t != "0" for t in labels), labels
        assert len(set(labels)) == len(labels), labels
    panels = [ax for ax in fig.axes if ax.get_xlabel() == "learning rate"]
    assert len(panels) == 2
    for ax in panels:  # each all-diverged cell wears the hatch, in both panels
        hatched = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch()]
        assert len(hatched) == n_alldiv
    legend = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert any("every run diverged" in t for t in legend)
    assert "every run diverged" in plot.caption


# ----------------------------------------------------------------- convergence


def test_quantiles_are_over_the_runs_still_running():
    M = np.array([[4.0, 3.0, 2.0, 1.0],
                  [8.0, 6.0, 4.0, 2.0],
                  [9.0, BIG, BIG, BIG],
                  [9.0, 9.0, BIG, BIG]])
    left, q25, med, q75 = convergence.alive_quantiles(M)
    assert left.tolist() == [4, 3, 2, 2]
    assert med[1] == 6.0 and med[3] == 1.5 and q75[3] < 2.0  # the diverged runs are not in it
    M[1, 3] = BIG  # one run of four left: under half, no line
    _, q25, med, q75 = convergence.alive_quantiles(M)
    assert np.isnan([q25[3], med[3], q75[3]]).all() and np.isfinite(med[:3]).all()


@pytest.mark.parametrize("panels", [False, True], ids=["one-axis", "small-multiples"])
def test_convergence_bands_leave_out_diverged_runs(report_data, drawn, monkeypatch, panels):
    monkeypatch.setattr(convergence, "BAND_PANELS", 0 if panels else 99)
    figs = drawn(convergence)
    case = _case(report_data, "rosenbrock")
    plot = convergence.convergence(report_data, case)
    (fig,) = figs
    lines, _ = base.lines_for(report_data, case)
    runs = data_mod.case_runs(report_data, case, [s for s, *_ in lines])
    n_div = runs.groupby("setting_id")["diverged_"].sum()
    partly = [sid for sid in n_div.index if 0 < n_div[sid] < 4]  # under half of 8: the line runs to the end
    assert partly, n_div  # what this test relies on
    axes = [ax for ax in fig.axes if ax.collections]
    assert len(axes) == (len(lines) if panels else 1)
    last = report_data.manifest["steps"]
    for ax in axes:
        top = ax.get_ylim()[1]
        for band in [c for c in ax.collections if isinstance(c, PolyCollection)]:
            xy = band.get_paths()[0].vertices
            at_end = xy[np.isclose(xy[:, 0], last), 1]
            if at_end.size and np.isfinite(at_end).all():
                assert at_end.max() < top  # before: the quartile of diverged runs, drawn off the top
    texts = ([t.get_text() for leg in fig.legends for t in leg.get_texts()] if not panels
             else [ax.get_title() for ax in axes])
    for sid in partly:
        assert any(f"{int(n_div[sid])} diverged" in t for t in texts), texts
    # a line all of whose runs diverged stops early, with its ✕ and a word for it
    if (n_div == 8).any():
        assert any(line.get_marker() == "X" for ax in axes for line in ax.lines)
        legend = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
        assert any("fewer than half" in t for t in legend)
        assert "(✕)" in plot.caption


# ----------------------------------------------------------------- trajectories


def _marker_handles(fig):
    leg = fig.legends[0]
    return [(h, t.get_text()) for h, t in zip(leg.legend_handles, leg.get_texts())
            if h.get_linestyle() in ("None", "none", "")]


@pytest.mark.parametrize("objective,local", [("rosenbrock", False), ("six_hump_camel", True)])
def test_trajectory_legend_names_only_drawn_markers(report_data, drawn, objective, local):
    figs = drawn(landscape)
    assert landscape.trajectories(report_data, _case(report_data, objective)) is not None
    (fig,) = figs
    # markers of single points: starts, ends and minima (paths are lines of many points)
    drawn_marks = [(line.get_marker(), line.get_markerfacecolor()) for ax in fig.axes for line in ax.lines
                   if len(line.get_xdata()) == 1]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    for handle, text in _marker_handles(fig):
        marker = handle.get_marker()
        if marker == "*":  # minima: the colour tells global from local
            assert (marker, handle.get_markerfacecolor()) in drawn_marks, text
        else:
            assert any(m == marker for m, _ in drawn_marks), text
    assert "global minimum" in labels
    assert ("local minimum" in labels) == local
    assert not any("local white" in t for t in labels)
