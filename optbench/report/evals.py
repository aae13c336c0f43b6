"""Counting cost in objective evaluations as well as in steps.

A first-order method spends one full-data gradient evaluation per step (a
minibatch step ``batch_size / n_samples`` of one); a line-search method
spends every evaluation its search makes.  The runs table records
``evals_final`` and, per target, ``evals_to_<t>`` beside ``steps_to_<t>``;
curves record ``evals`` beside ``step``.  Folders written before that count
one evaluation per step: :func:`with_evals` fills the columns in, once,
where the report prepares its data (:func:`.data.prepare`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import storage

X_AXES = ("auto", "steps", "evals")  # what the report's x axes (and its ranking ERT) count
X_LABELS = {"steps": "steps", "evals": "objective evaluations"}
EVALS_PREFIX = storage.schema.EVALS_TARGET_PREFIX  # per target: evaluations spent to reach it (NaN: never)


def with_evals(runs: pd.DataFrame) -> None:
    """Give a runs table written before evaluations were recorded its
    ``evals_final`` and ``evals_to_<t>`` columns, counting one evaluation per
    step (what every method of those folders spent); float either way."""
    if "evals_final" not in runs.columns:
        runs["evals_final"] = runs["steps_run"].astype(float)
    else:
        runs["evals_final"] = runs["evals_final"].astype("Float64").to_numpy(float, na_value=np.nan)
    for c in [c for c in runs.columns if c.startswith("steps_to_")]:
        e = EVALS_PREFIX + c[len("steps_to_"):]
        runs[e] = runs[e if e in runs.columns else c].astype("Float64").to_numpy(float, na_value=np.nan)


def evals_differ(runs: pd.DataFrame) -> bool:
    """Whether any run's evaluations differ from its steps (a line-search
    method, a minibatch run): where none does, the two counts are one."""
    pairs = [("evals_final", "steps_run")] + [(EVALS_PREFIX + c[len("steps_to_"):], c) for c in runs.columns
                                              if c.startswith("steps_to_")]
    for e, s in pairs:
        a, b = runs[e].to_numpy(float), runs[s].astype("Float64").to_numpy(float, na_value=np.nan)
        if not np.array_equal(a, b, equal_nan=True):
            return True
    return False


def check_x_axis(x_axis: str) -> str:
    """``x_axis`` if it is one of :data:`X_AXES`, else a one-line :class:`SpecError`."""
    if x_axis not in X_AXES:
        from .._errors import SpecError

        raise SpecError(f"unknown x axis {x_axis!r} for the report; known: {', '.join(X_AXES)}")
    return x_axis


def x_axis_of(x_axis: str, differ: bool) -> str:
    """``x_axis`` ("auto", "steps" or "evals") resolved: "auto" is "evals"
    where some run's evaluations differ from its steps (``differ``, see
    :func:`evals_differ`), else "steps"."""
    if check_x_axis(x_axis) == "auto":
        return "evals" if differ else "steps"
    return x_axis


def curves_have(results: storage.Results, column: str) -> bool:
    """Whether the curves table has ``column`` (read from the first part's schema)."""
    if results._curves is not None:
        return column in results._curves.columns
    parts = results._parts(storage.CURVES)
    if not parts:
        return False
    import pyarrow.parquet as pq

    try:
        return column in pq.read_schema(parts[0]).names
    except Exception:  # noqa: BLE001 - a damaged part is reported where the figures read it
        return False


def evals_at(runs: pd.DataFrame, steps: np.ndarray, targets: list[float]) -> np.ndarray:
    """Evaluations a run had spent at ``steps`` (one per run, NaN: never):
    its evaluations to a target met at that very step, else all it spent
    where that is its last step, else in proportion to the steps."""
    steps_run = runs["steps_run"].to_numpy(float)
    evals_final = runs["evals_final"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(steps >= steps_run, evals_final, steps * evals_final / np.maximum(steps_run, 1.0))
    for t in targets:
        at = runs[f"steps_to_{t:g}"].to_numpy(float) == steps
        out = np.where(at, runs[f"{EVALS_PREFIX}{t:g}"].to_numpy(float), out)
    return np.where(np.isnan(steps), np.nan, out)


RATE_RTOL = 1e-9  # evaluations per step that agree this closely are one rate


def case_costs(runs: pd.DataFrame, targets: list[float], steps: float) -> pd.DataFrame:
    """Per case (``case_id``): ``rate``, the evaluations every run of it
    spent per step where they all spent the same (a first-order method,
    full-batch or minibatch; NaN where they differ: a line-search method),
    and ``budget``, the most evaluations a run would have spent over
    ``steps`` at its own rate.

    Where a case has one rate, evaluations are steps times a constant, so
    its ranking and tests in evaluations are those in steps: they are
    computed in steps (:func:`.data.rank_unit`), which keeps exact ties of
    steps exact."""
    steps_run = runs["steps_run"].to_numpy(float)
    evals_final = runs["evals_final"].to_numpy(float)
    ran = steps_run > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(ran, evals_final / steps_run, np.nan)
    by_case = pd.DataFrame({"case_id": runs["case_id"].to_numpy(), "rate": rate})
    g = by_case.groupby("case_id", sort=True)["rate"]
    lo, hi = g.min(), g.max()
    common = hi.where((hi - lo) <= RATE_RTOL * hi.abs())
    common = common.where(hi.notna(), 1.0)  # no run made a step: nothing to tell the counts apart
    # every count to a target, and every count of a run that did not step, at the common rate
    expected = common.reindex(by_case["case_id"]).to_numpy()
    ok = np.where(ran, True, evals_final == 0)
    for t in targets:
        s = runs[f"steps_to_{t:g}"].to_numpy(float)
        e = runs[f"{EVALS_PREFIX}{t:g}"].to_numpy(float)
        same = np.isnan(s) & np.isnan(e) | (np.abs(e - expected * s) <= RATE_RTOL * np.maximum(np.abs(e), 1.0))
        ok &= same
    agree = pd.Series(ok, index=by_case.index).groupby(by_case["case_id"]).all()
    common = common.where(agree.reindex(common.index, fill_value=False))
    budget = g.max() * float(steps)
    return pd.DataFrame({"rate": common, "budget": budget})
