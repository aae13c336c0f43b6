"""Read only the curve rows a figure needs, and align them on a step grid.

``curves.parquet`` is one row per run per logged step; a figure needs a few
runs (the best setting of each optimizer on one case) at a few hundred
steps.  Both are pushed into the parquet read as filters, so a sweep of
10^4 runs never has its curves in memory at once.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import storage
from .data import BIG


def step_grid(manifest: dict, cap: int) -> np.ndarray | None:
    """At most ``cap`` of the logged steps (evenly spaced, first and last kept);
    None when the manifest does not say which steps were logged."""
    steps, every = manifest.get("steps"), manifest.get("log_every")
    if not isinstance(steps, int) or not isinstance(every, int) or every < 1:
        return None
    grid = np.arange(0, steps + 1, every, dtype=np.int64)
    if grid[-1] != steps:
        grid = np.append(grid, steps)
    if len(grid) > cap:
        idx = np.unique(np.linspace(0, len(grid) - 1, cap).round().astype(int))
        grid = grid[idx]
    return grid


def read(results: storage.Results, run_ids, columns, steps: np.ndarray | None = None) -> pd.DataFrame:
    """Rows of ``run_ids`` (at ``steps``, if given): only the chunk parts that
    hold those runs are opened, with both filters pushed into the read."""
    ids = sorted({int(i) for i in run_ids})
    if not ids:
        return pd.DataFrame(columns=columns)
    return results.curves_for(ids, columns=columns, steps=steps)


def aligned(curves: pd.DataFrame, run_ids, column: str, diverged: np.ndarray,
            grid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(steps, matrix runs x steps) of ``column``.  After a run's last logged
    point the value is carried forward (it stopped converged or escaped), or
    is ``BIG`` if it diverged; non-finite values are ``BIG`` too."""
    run_ids = np.asarray(run_ids)
    if grid is None:
        grid = np.unique(curves["step"].to_numpy())
    grid = np.asarray(grid)
    M = np.full((len(run_ids), len(grid)), np.nan)
    if len(curves):
        rows = pd.Index(run_ids).get_indexer(curves["run_id"].to_numpy())
        steps = curves["step"].to_numpy()
        cols = np.searchsorted(grid, steps)
        ok = (rows >= 0) & (cols < len(grid))
        ok[ok] &= grid[cols[ok]] == steps[ok]
        M[rows[ok], cols[ok]] = curves[column].to_numpy(float)[ok]
    M = np.where(np.isinf(M), BIG, M)
    filled = pd.DataFrame(M).ffill(axis=1).to_numpy()
    has = ~np.isnan(M)
    last = np.where(has.any(axis=1), len(grid) - 1 - np.argmax(has[:, ::-1], axis=1), -1)
    after = np.arange(len(grid))[None, :] > last[:, None]
    filled = np.where(after & diverged[:, None], BIG, filled)
    filled = np.where(np.isnan(filled), BIG, filled)
    return grid, filled


def read_x(data, run_ids, columns, steps: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`read` of ``columns`` plus ``evals`` where the report's x axis
    counts evaluations: from the table, or (a folder written before it had
    the column) as the step, one evaluation per step."""
    columns = list(columns)
    if data.x_axis != "evals":
        return read(data.results, run_ids, columns, steps)
    if data.curve_evals:
        return read(data.results, run_ids, [*columns, "evals"], steps)
    out = read(data.results, run_ids, columns, steps)
    out["evals"] = out["step"].to_numpy(float) if len(out) else np.zeros(0)
    return out


def x_grid(curves: pd.DataFrame, run_ids, cap: int) -> np.ndarray:
    """``cap`` evenly spaced points over the evaluations that the runs
    ``run_ids`` logged: from the least first to the most last."""
    x = curves.loc[curves["run_id"].isin(np.asarray(run_ids)), "evals"].to_numpy(float)
    x = x[np.isfinite(x)]
    if not x.size:
        return np.zeros(1)
    return np.linspace(x.min(), x.max(), cap) if x.max() > x.min() else np.array([x.min()])


def aligned_on(curves: pd.DataFrame, run_ids, column: str, x: str, diverged: np.ndarray,
               grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grid, matrix runs x grid) of ``column`` against ``x``, a count that
    grows along each run (``evals``): at each grid point the value at the
    run's last logged point at or before it (NaN before its first).  After
    its last point as :func:`aligned`: carried forward, or ``BIG`` if it
    diverged; non-finite values are ``BIG`` too."""
    run_ids = np.asarray(run_ids)
    grid = np.asarray(grid, dtype=float)
    M = np.full((len(run_ids), len(grid)), np.nan)
    rows = pd.Index(run_ids).get_indexer(curves["run_id"].to_numpy()) if len(curves) else np.zeros(0, int)
    ordered = curves.assign(_row=rows).loc[rows >= 0].sort_values(["_row", x], kind="stable")
    for row, g in ordered.groupby("_row", sort=False):
        xs = g[x].to_numpy(float)
        vals = g[column].to_numpy(float)
        vals = np.where(np.isnan(vals), BIG, vals)  # a NaN objective is a diverged state
        at = np.searchsorted(xs, grid, side="right") - 1
        M[row] = np.where(at >= 0, vals[np.maximum(at, 0)], np.nan)
        if diverged[row]:
            M[row, grid > xs[-1]] = BIG
    return grid, np.where(np.isinf(M), BIG, M)
