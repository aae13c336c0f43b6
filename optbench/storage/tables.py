"""The engine's arrays for one chunk of runs, as the two tables of the schema."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from .._codes import STOPPED
from .schema import (
    CURVES_SCHEMA,
    KINDS,
    OBJECTIVE_PARAM_PREFIX,
    STATUSES,
    evals_target_column,
    runs_columns,
    target_column,
    training_columns,
    training_values,
)

if TYPE_CHECKING:
    from ..engine import GroupResult
    from ..grid import Group, GroupRuns
    from ..objectives import Problem
    from ..spec import Spec


def _typed(values, kind: str, R: int):
    dtype = KINDS[kind][0]
    if values is None:
        if kind in ("str", "nstr", "list"):
            return np.full(R, None, dtype=object)
        if kind == "float":
            return np.full(R, np.nan)
        return pd.array([pd.NA] * R, dtype=dtype)
    if kind == "str":
        return np.array([str(v) for v in values], dtype=object) if len(values) else np.empty(0, object)
    if kind == "nstr":
        return np.array([None if v is None else str(v) for v in values], dtype=object)
    if kind == "list":
        return values
    if kind == "Int":
        arr = np.asarray(values, dtype=np.int64)
        return pd.arrays.IntegerArray(arr, arr < 0)  # -1: never
    if kind == "boolean":
        return pd.array([None if v is None else bool(v) for v in values], dtype="boolean")
    return np.asarray(values, dtype=dtype)


def runs_table(spec: Spec, group: Group, runs: GroupRuns, res: GroupResult, run_ids: np.ndarray) -> pd.DataFrame:
    """One row per run of ``runs`` (a range of ``group``), every column of
    the sweep's schema in its order and dtype."""
    problem = group.case.problem
    R = len(run_ids)
    f_star = problem.f_star
    cols: dict = {
        "run_id": run_ids,
        "objective": np.full(R, problem.name, dtype=object),
        "dim": np.full(R, problem.dim, np.int64),
    }
    for k, v in problem.params.items():
        cols[f"{OBJECTIVE_PARAM_PREFIX}{k}"] = np.full(R, v, dtype=object)
    cols["batch_size"] = np.full(R, group.case.batch_size, np.int64)
    cols["grad_noise"] = np.full(R, group.case.noise)
    cols["optimizer"] = np.full(R, group.optimizer, dtype=object)
    for h in runs.optimizer.hypers:
        cols[h.name] = np.array([oc.values[h.name] for oc in group.opt_cases])[runs.opt_index]
    training = [training_values(spec, oc) for oc in group.opt_cases]
    for name, _ in training_columns(spec):
        cols[name] = np.array([t.get(name) for t in training], dtype=object)[runs.opt_index]  # None: null
    init = group.case.init
    cols["init_scheme"] = np.full(R, init.scheme, dtype=object)
    cols["init_std"] = np.full(R, init.std if init.uses_std else np.nan)  # normal's sigma; NaN for other schemes
    cols["init_index"] = runs.init_index
    cols["repeat"] = runs.repeat
    cols["seed"] = np.full(R, spec.seed, np.int64)
    cols["x0"] = list(runs.x0)
    cols["x_final"] = list(res.x_final)
    cols["f_star"] = np.full(R, f_star)
    cols["f_final"] = res.f_final
    cols["f_best"] = res.f_best
    with np.errstate(invalid="ignore"):
        cols["gap_final"] = res.f_final - f_star if np.isfinite(f_star) else np.full(R, np.nan)
        cols["gap_best"] = res.f_best - f_star if np.isfinite(f_star) else np.full(R, np.nan)
    cols["grad_norm_final"] = res.grad_norm_final
    cols["steps_run"] = res.steps_run
    cols["status"] = np.array(STATUSES, dtype=object)[res.status]
    cols["diverged"] = np.isin(res.status, STOPPED)
    cols["diverged_step"] = np.where(cols["diverged"], res.steps_run, -1)
    cols["converged_step"] = res.converged_step
    nearest, dist, reached = nearest_minimum(problem, res.x_final, cols["diverged"])
    cols["minimum_reached"] = reached
    cols["nearest_minimum"] = nearest
    cols["minimum_distance"] = dist
    cost = step_cost(problem, group.case.batch_size)
    counted = res.counts_evaluations
    cols["evals_final"] = res.evals_final if counted else res.steps_run * cost
    for k, t in enumerate(sorted(spec.targets, reverse=True)):
        cols[target_column(t)] = res.target_steps[:, k]
        hit = res.target_evals[:, k] if counted else res.target_steps[:, k] * cost
        cols[evals_target_column(t)] = np.where(res.target_steps[:, k] >= 0, hit, np.nan)
    return pd.DataFrame({name: _typed(cols.get(name), kind, R) for name, kind in runs_columns(spec)})


def step_cost(problem: Problem, batch_size: int) -> float:
    """Objective evaluations one step of a first-order method costs, in
    full-data gradients: a minibatch of ``b`` of ``N`` rows is ``b / N``."""
    if problem.batched and batch_size > 0:
        return batch_size / problem.n_samples
    return 1.0


def nearest_minimum(problem: Problem, x_final: np.ndarray, diverged: np.ndarray):
    """Index of the closest known minimum, its distance, and that index if
    the run ended within 1e-2 * max(1, |x*|) of it (else -1)."""
    R = len(x_final)
    if not problem.minima:
        return np.full(R, -1), np.full(R, np.nan), np.full(R, -1)
    M = np.stack([m.x for m in problem.minima])  # (k, dim)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.sqrt(((x_final[:, None, :] - M[None, :, :]) ** 2).sum(axis=2))  # (R, k)
    d = np.where(np.isfinite(d), d, np.inf)
    nearest = np.argmin(d, axis=1)
    dist = d[np.arange(R), nearest]
    tol = 1e-2 * np.maximum(1.0, np.linalg.norm(M, axis=1))[nearest]
    reached = np.where((dist <= tol) & ~diverged, nearest, -1)
    nearest = np.where(np.isfinite(dist), nearest, -1)
    return nearest.astype(np.int64), np.where(np.isfinite(dist), dist, np.nan), reached.astype(np.int64)


def curves_table(problem: Problem, res: GroupResult, run_ids: np.ndarray, steps_logged: np.ndarray,
                 rows: slice, cost: float = 1.0) -> pa.Table:
    """Long-format curves of the chunk's runs ``rows``; ``evals`` are the
    driver's counts where it counted them (a line search), else ``step``
    times ``cost`` (:func:`step_cost`)."""
    n_logged = res.n_logged[rows]
    R = len(n_logged)
    n_log = res.curve_f.shape[1]
    valid = np.arange(n_log)[None, :] < n_logged[:, None]
    step = np.broadcast_to(steps_logged[None, :n_log], (R, n_log)).copy()
    # a run that diverged has its last point at the step where it stopped
    stopped = np.isin(res.status[rows], STOPPED) & (n_logged > 0)
    rows_stopped = np.flatnonzero(stopped)
    step[rows_stopped, n_logged[rows_stopped] - 1] = res.steps_run[rows][rows_stopped]
    rr, cc = np.nonzero(valid)
    abs_rr = rr + rows.start
    f = res.curve_f[abs_rr, cc]
    with np.errstate(invalid="ignore"):
        gap = f - problem.f_star if np.isfinite(problem.f_star) else np.full(len(rr), np.nan)
    # one schema for every chunk: columns that do not apply hold NaN
    nan = np.full(len(rr), np.nan)
    has_x = res.curve_x.shape[1] and problem.dim == 2
    cols = {
        "run_id": run_ids[abs_rr],
        "step": step[rr, cc].astype(np.int64),
        "f": f,
        "gap": gap,
        "grad_norm": res.curve_g[abs_rr, cc] if res.curve_g.shape[1] else nan,
        "pos_x": res.curve_x[abs_rr, cc, 0] if has_x else nan,
        "pos_y": res.curve_x[abs_rr, cc, 1] if has_x else nan,
        "evals": res.curve_e[abs_rr, cc] if res.curve_e.shape[1] else step[rr, cc] * cost,
    }
    return pa.Table.from_arrays([pa.array(cols[name]) for name in CURVES_SCHEMA.names], schema=CURVES_SCHEMA)
