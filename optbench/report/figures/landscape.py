"""Figures drawn on a 2-D objective's surface: trajectories on contours and basins of attraction."""
from __future__ import annotations

import math

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.lines import Line2D

from .. import curves as curves_mod
from .. import surface
from ..data import Case, ReportData, case_runs
from .base import (
    MINIMA_COLORS,
    PATH_POINTS,
    UNCONVERGED,
    Frame,
    Plot,
    count,
    line_label,
    lines_for,
    to_png,
)

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


def _minima_in_view(case: Case, extent) -> set[str]:
    """The kinds of known minima ("global", "local") that :func:`_minima`
    draws inside ``extent``: the legend names only these."""
    if case.problem is None:
        return set()
    return {"global" if m.kind == "global" else "local" for m in case.problem.minima
            if extent[0] <= m.x[0] <= extent[1] and extent[2] <= m.x[1] <= extent[3]}


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
    ends: set[str] = set()  # end markers drawn: "s" run ended, "X" run diverged
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
                ends.add(end)
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
    hs.append(Line2D([], [], ls="none", marker="o", color="white", markeredgecolor="black", ms=7))
    ls_.append("start")
    if "s" in ends:
        hs.append(Line2D([], [], ls="none", marker="s", color="0.6", markeredgecolor="black", ms=6))
        ls_.append("end of run")
    if "X" in ends:
        hs.append(Line2D([], [], ls="none", marker="X", color="0.6", markeredgecolor="black", ms=6))
        ls_.append("diverged (last point in view)")
    kinds = _minima_in_view(case, extent)
    if "global" in kinds:
        hs.append(Line2D([], [], ls="none", marker="*", color="gold", markeredgecolor="black", ms=11))
        ls_.append("global minimum")
    if "local" in kinds:
        hs.append(Line2D([], [], ls="none", marker="*", color="white", markeredgecolor="black", ms=9))
        ls_.append("local minimum")
    fig = frame.finish(hs, ls_, f"Trajectories on {case.label}", where="below")
    n = len(sel)
    bg = ("log-spaced contours of f − min f over the domain box" if case.problem is not None
          else f"no surface drawn: {case.problem_note}")
    cap = (f"Paths on {case.label} from the same {len(chosen)} starting points (spread over those of the sweep), "
           f"{how}; dots every {max(1, int(data.manifest.get('log_every', 1) or 1)) * max(1, _stride(data))} "
           f"steps. Background: {bg}. {count(n)} drawn; a path leaving the view left the domain box.")
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
           f"{count(n)} in {len(lines)} panels." + ("" if case.problem is not None else
                                                f" Minima locations unknown here: {case.problem_note}."))
    return Plot("basins", f"{case.slug}-basins", f"Basins of attraction — {case.label}", cap, to_png(fig), n)
