"""Tuning budgets: the expected best of k settings drawn from a swept grid.

The best setting picked after the fact from a full grid flatters whichever
optimizer has the widest good range or the luckiest grid.  Sivaprasad et
al. (2020, "Optimizer Benchmarking Needs to Account for Hyperparameter
Tuning") ask instead: with a budget of k trials, drawn at random from the
grid, how good is the best of them on average?  Here that is computed
exactly from the grid's results, with no resampling.

With an optimizer's N settings ordered best first (a total order: the
report's ranking), the best of k settings drawn uniformly without
replacement is the j-th best (1-based) when the j-th is drawn and the other
k − 1 come from the N − j worse ones::

    P(best of k is j-th) = C(N − j, k − 1) / C(N, k)

and the expected value of a per-setting number ``v`` is
``E_k = Σ_j P(k, j) · v_j``.  At k = 1 it is the grid's mean, at k = N the
best setting's value.

An optimizer's grid on a case is every setting of that optimizer run on it
(all its variants and learning rates together: what a user sweeps), one row
of :func:`~optbench.report.data.setting_stats` each.  Two views:

- ``"success"``: settings in the report's first-hitting order
  (:func:`~optbench.report.data.rank`), ``v`` = success rate at the
  tightest criterion (higher is better);
- ``"final"``: settings in the final-state order
  (:func:`~optbench.report.data.rank_final`), ``v`` = :func:`final_scores`
  of the median final value (lower is better).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import data as data_mod
from .data import BIG, Case, ReportData

VIEWS = ("success", "final")


def best_of_k_probs(n: int) -> np.ndarray:
    """``P[k − 1, j − 1]``: the probability that the best of ``k`` settings
    drawn uniformly without replacement from ``n`` ranked ones is the
    ``j``-th best, for k, j = 1 … n.  Each row sums to 1.

    Row k by the ratio of neighbours rather than by binomials (C(n, k)
    overflows past n ≈ 1000): ``P(k, 1) = k / n`` and
    ``P(k, j + 1) / P(k, j) = (n − j − k + 1) / (n − j)``, zero once fewer
    than k − 1 worse settings are left.  A running product of n terms:
    relative error at most ~n ulp, where log-factorials of size n log n
    lose digits to cancellation."""
    n = int(n)
    if n < 1:
        raise ValueError(f"grid size n={n}; expected n ≥ 1")
    k = np.arange(1, n + 1, dtype=np.float64)[:, None]
    j = np.arange(1, n, dtype=np.float64)[None, :]
    ratio = np.maximum(n - j - k + 1, 0.0) / (n - j)
    return (k / n) * np.concatenate([np.ones((n, 1)), np.cumprod(ratio, axis=1)], axis=1)


def expected_best_of_k(values_best_first) -> np.ndarray:
    """``E[k − 1]``, k = 1 … N: the expected value of the best of k settings
    drawn from the grid, given each setting's value in the grid's best-first
    order (the order decides which is best; the values are what is
    averaged, so ties in them do not matter)."""
    v = np.asarray(values_best_first, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values_best_first: expected a non-empty 1-D array, got shape {v.shape}")
    return best_of_k_probs(v.size) @ v


def final_scores(med_final: np.ndarray, metric: str, floor: float) -> np.ndarray:
    """Per setting, the number the ``"final"`` view averages.

    Gaps (``metric == "gap"``): log10 of the median final gap, floored at
    ``floor`` (a gap of exactly 0 has no logarithm); averaging logs makes the
    expectation a geometric mean, which one lucky or unlucky setting does
    not swamp.  Objective values (``"f"``, no known optimum): the value itself.

    A setting whose median run diverged (``BIG``) counts as one decade (gap)
    or one value range (f) worse than the worst finite setting of the
    given settings: pass a case's every setting, so that all optimizers on
    it share that ceiling."""
    v = np.asarray(med_final, dtype=np.float64)
    diverged = v >= BIG / 10
    finite = v[~diverged]
    if metric == "gap":
        logs = np.log10(np.maximum(v, floor))
        top = float(logs[~diverged].max()) + 1.0 if finite.size else np.log10(floor) + 1.0
        return np.where(diverged, top, logs)
    if finite.size:
        span = float(finite.max() - finite.min())
        top = float(finite.max()) + (span if span > 0 else max(abs(float(finite.max())), 1.0))
    else:
        top = 1.0
    return np.where(diverged, top, v)


def case_curves(data: ReportData, case: Case, floor: float = 1e-10) -> pd.DataFrame:
    """The expected-best-of-k curves of every optimizer on ``case``, tidy:
    ``case_id, optimizer, view, k, n_settings, expected`` (see the module
    docstring for the two views; ``floor`` for :func:`final_scores`)."""
    stats = data.stats[case.id]
    scores = pd.Series(final_scores(stats["med_final"].to_numpy(float), case.metric, floor), index=stats.index)
    ordered = {"success": (stats, stats["success"]), "final": (data_mod.rank_final(stats), scores)}
    frames = []
    for view in VIEWS:
        table, values = ordered[view]
        for opt in data.optimizers():
            sids = table.index[(table["optimizer"] == opt).to_numpy()]
            if not len(sids):
                continue
            expected = expected_best_of_k(values.loc[sids].to_numpy(float))
            frames.append(pd.DataFrame({"case_id": case.id, "optimizer": opt, "view": view,
                                        "k": np.arange(1, len(sids) + 1), "n_settings": len(sids),
                                        "expected": expected}))
    return pd.concat(frames, ignore_index=True)


def curves(data: ReportData, floor: float = 1e-10) -> pd.DataFrame:
    """:func:`case_curves` of every case, one tidy table."""
    return pd.concat([case_curves(data, c, floor) for c in data.cases], ignore_index=True)


def at_budget(curve: pd.DataFrame, budget: np.ndarray) -> np.ndarray:
    """One optimizer's curve (one case, one view) read at each budget k:
    past its grid size N every setting has been tried, so E_k = E_N."""
    expected = curve.sort_values("k")["expected"].to_numpy(float)
    return expected[np.minimum(np.asarray(budget), len(expected)) - 1]


def summary(data: ReportData, floor: float = 1e-10) -> pd.DataFrame:
    """Over all cases, per optimizer and budget k = 1 … the largest grid:
    ``mean_success`` (mean over cases of the expected success of the best of
    k) and ``mean_rank`` (mean over cases of the optimizer's rank among the
    optimizers run on the case by expected final score at the same budget k,
    1 = best, ties sharing the mean rank), with ``n_settings``: its largest
    grid.  Budgets past an optimizer's grid read its full-grid value
    (:func:`at_budget`)."""
    table = curves(data, floor)
    budget = np.arange(1, int(table["n_settings"].max()) + 1)
    success, rank = {}, {}
    for _, per_case in table.groupby("case_id", sort=True):
        final = {}
        for (opt, view), curve in per_case.groupby(["optimizer", "view"], sort=False):
            values = at_budget(curve, budget)
            if view == "success":
                success.setdefault(opt, []).append(values)
            else:
                final[opt] = values
        names = list(final)
        ranks = pd.DataFrame(np.array([final[o] for o in names]), index=names).rank(axis=0, method="average")
        for opt in names:
            rank.setdefault(opt, []).append(ranks.loc[opt].to_numpy(float))
    sizes = table.groupby("optimizer")["n_settings"].max()
    rows = [pd.DataFrame({"optimizer": opt, "k": budget, "n_settings": int(sizes[opt]),
                          "mean_success": np.mean(success[opt], axis=0), "mean_rank": np.mean(rank[opt], axis=0),
                          "n_cases": len(success[opt])})
            for opt in data.optimizers() if opt in success]
    return pd.concat(rows, ignore_index=True)
