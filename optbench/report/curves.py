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
