"""Expand a validated spec into runs, execute them group by group, and
turn the engine's arrays into the ``runs`` and ``curves`` tables.

Run order (and so run ids): objective cases in spec order, then optimizer
cases in spec order, then initial points, then repeats.  A group is the
block of runs sharing one objective case and one optimizer case entry; it is
one engine call.  Curves are handed to a sink group by group, so a sweep
never holds more than one group's curve arrays.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import engine
from . import optimizers as optimizers_mod
from .spec import ObjectiveCase, Spec, initial_points, stable_hash, stream_keys


@dataclass
class Group:
    case_index: int
    case: ObjectiveCase
    optimizer: str
    opt_cases: list  # OptimizerCase
    first_run_id: int
    x0: np.ndarray  # (n_inits, dim)

    @property
    def n_runs_per_opt_case(self) -> int:
        return self.x0.shape[0]


CURVE_SLICE_POINTS = 1_000_000  # logged points converted to a table at a time


def target_column(t: float) -> str:
    return f"steps_to_{t:g}"


def plan(spec: Spec) -> list[Group]:
    """Groups of runs in run-id order (contiguous run ids per group)."""
    groups = []
    run_id = 0
    for ci, case in enumerate(spec.objective_cases):
        x0 = initial_points(spec, case)
        # consecutive optimizer cases of the same optimizer form one group
        block: list = []
        for oc in spec.optimizer_cases + [None]:
            if block and (oc is None or oc.name != block[0].name):
                groups.append(Group(ci, case, block[0].name, block, run_id, x0))
                run_id += len(block) * x0.shape[0] * spec.repeats
                block = []
            if oc is not None:
                block.append(oc)
    return groups


def _group_arrays(spec: Spec, group: Group):
    opt = optimizers_mod.get(group.optimizer)
    n_init = group.x0.shape[0]
    reps = spec.repeats
    n_oc = len(group.opt_cases)
    oc_index = np.repeat(np.arange(n_oc), n_init * reps)
    init_index = np.tile(np.repeat(np.arange(n_init), reps), n_oc)
    repeat = np.tile(np.arange(reps), n_oc * n_init)
    hp_rows = np.stack([opt.hp_row(oc.values) for oc in group.opt_cases])
    hp = hp_rows[oc_index]
    x0 = group.x0[init_index]
    keys = stream_keys(spec.seed, stable_hash(group.case.problem.describe()), init_index, repeat)
    return opt, oc_index, init_index, repeat, hp, x0, keys


def run_groups(
    spec: Spec,
    on_curves: Callable[[pd.DataFrame], None] | None = None,
    threads: int | None = None,
    chunk: int | None = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Run every group; return the runs table and timing facts.  Each
    group's curves table goes to ``on_curves`` as soon as it exists."""
    groups = plan(spec)
    steps_logged = engine.log_steps(spec.steps, spec.log_every)
    runs_parts = []
    t0 = time.perf_counter()
    compile_s = 0.0
    total = spec.n_runs
    lock = threading.Lock()
    shown = {"runs": 0, "at": 0.0}

    def show(n):
        with lock:
            shown["runs"] += n
            now = time.perf_counter()
            if now - shown["at"] < 0.2 and shown["runs"] < total:
                return
            shown["at"] = now
            elapsed = now - t0
            width = 30
            filled = int(width * shown["runs"] / max(total, 1))
            print(f"\r  [{'#' * filled}{'.' * (width - filled)}] {shown['runs']:,}/{total:,} runs  {elapsed:.1f} s",
                  end="", file=sys.stderr, flush=True)

    for group in groups:
        opt, oc_index, init_index, repeat, hp, x0, keys = _group_arrays(spec, group)
        R = len(x0)
        problem = group.case.problem
        tc = time.perf_counter()
        from . import kernels

        kernels.driver(problem.objective, opt)  # load (or generate) before timing the group
        compile_s += time.perf_counter() - tc
        res = engine.run_group(
            problem, opt, x0, hp,
            steps=spec.steps, log_every=spec.log_every, keys=keys,
            noise=np.full(R, group.case.noise), batch=np.full(R, group.case.batch_size, np.int64),
            targets=spec.targets, grad_tol=spec.grad_tol, record_grad=spec.record_grad_norm,
            threads=threads, chunk=chunk, on_chunk=show if progress else None,
        )
        run_ids = np.arange(group.first_run_id, group.first_run_id + R, dtype=np.int64)
        runs_parts.append(_runs_table(spec, group, opt, res, run_ids, oc_index, init_index, repeat, x0))
        if on_curves is not None:
            # convert in slices so the long table never holds a second copy
            # of the whole group's curves beside the engine's arrays
            n_log = res.curve_f.shape[1]
            step = max(1, CURVE_SLICE_POINTS // max(1, n_log))
            for lo in range(0, R, step):
                on_curves(_curves_table(problem, res, run_ids, steps_logged, slice(lo, min(R, lo + step))))
        del res
    if progress:
        print(file=sys.stderr)
    runs = pd.concat(runs_parts, ignore_index=True) if runs_parts else pd.DataFrame()
    runs = _finish_runs(runs, spec)
    wall = time.perf_counter() - t0
    return runs, {"wall_s": wall, "load_or_compile_s": compile_s, "groups": len(groups), "runs": int(total)}


def _runs_table(spec, group, opt, res, run_ids, oc_index, init_index, repeat, x0) -> pd.DataFrame:
    problem = group.case.problem
    R = len(run_ids)
    f_star = problem.f_star
    cols: dict = {
        "run_id": run_ids,
        "objective": np.full(R, problem.name, dtype=object),
        "dim": np.full(R, problem.dim, np.int64),
    }
    for k, v in problem.params.items():
        cols[f"obj_{k}"] = np.full(R, v, dtype=object if isinstance(v, str) else None)
    cols["batch_size"] = np.full(R, group.case.batch_size, np.int64)
    cols["grad_noise"] = np.full(R, group.case.noise)
    cols["optimizer"] = np.full(R, group.optimizer, dtype=object)
    for h in opt.hypers:
        vals = np.array([oc.values[h.name] for oc in group.opt_cases])[oc_index]
        cols[h.name] = vals
    cols["init_scheme"] = np.full(R, spec.init.scheme, dtype=object)
    cols["init_index"] = init_index.astype(np.int64)
    cols["repeat"] = repeat.astype(np.int64)
    cols["seed"] = np.full(R, spec.seed, np.int64)
    cols["x0"] = list(x0)
    cols["x_final"] = list(res.x_final)
    cols["f_star"] = np.full(R, f_star)
    cols["f_final"] = res.f_final
    cols["f_best"] = res.f_best
    with np.errstate(invalid="ignore"):
        cols["gap_final"] = res.f_final - f_star if np.isfinite(f_star) else np.full(R, np.nan)
        cols["gap_best"] = res.f_best - f_star if np.isfinite(f_star) else np.full(R, np.nan)
    cols["grad_norm_final"] = res.grad_norm_final
    cols["steps_run"] = res.steps_run
    status = np.array(engine.STATUS, dtype=object)[res.status]
    cols["status"] = status
    cols["diverged"] = np.isin(res.status, (2, 3))
    cols["diverged_step"] = np.where(cols["diverged"], res.steps_run, -1)
    cols["converged_step"] = res.converged_step
    nearest, dist, reached = _nearest_minimum(problem, res.x_final, cols["diverged"])
    cols["minimum_reached"] = reached
    cols["nearest_minimum"] = nearest
    cols["minimum_distance"] = dist
    for k, t in enumerate(sorted(spec.targets, reverse=True)):
        cols[target_column(t)] = res.target_steps[:, k]
    return pd.DataFrame(cols)


def _nearest_minimum(problem, x_final: np.ndarray, diverged: np.ndarray):
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


def _finish_runs(runs: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """Categoricals for names, nullable integers for 'never' (-1 in the engine)."""
    if runs.empty:
        return runs
    for col in ("objective", "optimizer", "init_scheme", "status"):
        runs[col] = runs[col].astype("category")
    for col in runs.columns:
        if col.startswith("obj_") and runs[col].dtype == object:
            runs[col] = runs[col].astype("category")
    bool_hypers = {h.name for name in runs["optimizer"].cat.categories for h in optimizers_mod.get(name).hypers
                   if h.is_bool}
    for col in bool_hypers:
        runs[col] = runs[col].astype("boolean")
    never = ["diverged_step", "converged_step"] + [target_column(t) for t in spec.targets]
    for col in never:
        runs[col] = runs[col].astype("Int64").mask(runs[col] < 0)
    return runs


def _curves_table(problem, res: engine.GroupResult, run_ids: np.ndarray, steps_logged: np.ndarray,
                  rows: slice) -> pd.DataFrame:
    """Long-format curves of the group's runs ``rows``."""
    n_logged = res.n_logged[rows]
    R = len(n_logged)
    n_log = res.curve_f.shape[1]
    valid = np.arange(n_log)[None, :] < n_logged[:, None]
    step = np.broadcast_to(steps_logged[None, :n_log], (R, n_log)).copy()
    # a run that diverged has its last point at the step where it stopped
    stopped = np.isin(res.status[rows], (2, 3)) & (n_logged > 0)
    rows_stopped = np.flatnonzero(stopped)
    step[rows_stopped, n_logged[rows_stopped] - 1] = res.steps_run[rows][rows_stopped]
    rr, cc = np.nonzero(valid)
    abs_rr = rr + rows.start
    cols = {
        "run_id": run_ids[abs_rr],
        "step": step[rr, cc].astype(np.int64),
        "f": res.curve_f[abs_rr, cc],
    }
    with np.errstate(invalid="ignore"):
        cols["gap"] = cols["f"] - problem.f_star if np.isfinite(problem.f_star) else np.full(len(rr), np.nan)
    # one schema for every group: columns that do not apply hold NaN
    nan = np.full(len(rr), np.nan)
    cols["grad_norm"] = res.curve_g[abs_rr, cc] if res.curve_g.shape[1] else nan
    has_x = res.curve_x.shape[1] and problem.dim == 2
    cols["pos_x"] = res.curve_x[abs_rr, cc, 0] if has_x else nan
    cols["pos_y"] = res.curve_x[abs_rr, cc, 1] if has_x else nan
    return pd.DataFrame(cols)
