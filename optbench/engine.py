"""The engine: runs a group of runs (one problem, one optimizer) in compiled code.

It knows neither formulas nor file formats.  It takes arrays (initial
points, hyperparameter rows, random-stream keys ...) and returns arrays.
Runs are independent: a run's numbers depend on its own inputs only, never
on which chunk or thread ran it, so results are identical for any thread
count or chunk size.

Parallelism: the driver is a ``nogil`` Numba function over a range of runs;
chunks of runs go to a pool of Python threads, one per core (``threads`` or
``NUMBA_NUM_THREADS`` or the CPU count).  Compared with ``parallel=True`` this
compiles faster, caches reliably, and keeps each run in one thread.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from .objectives import Problem
from .optimizers import Optimizer

STATUS = ("unconverged", "converged", "diverged", "escaped")
DIVERGENCE_FACTOR = 1e8  # f - f* above 1e8 * max(f0 - f*, 1) counts as diverged


def default_threads() -> int:
    env = os.environ.get("NUMBA_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def log_steps(steps: int, log_every: int) -> np.ndarray:
    """Steps at which curves are recorded: 0, k, 2k, ... and always the last."""
    s = np.arange(0, steps + 1, log_every, dtype=np.int64)
    if s[-1] != steps:
        s = np.append(s, steps)
    return s


_escape_cache: dict = {}


def escape_value(problem: Problem) -> float:
    """For objectives unbounded below: the lowest value found on a dense
    sample of the domain box.  A run whose f falls below it has left the
    saddle region downhill for good; it stops with status "escaped".
    -inf (never) for bounded objectives."""
    if not problem.unbounded:
        return -np.inf
    key = problem.describe()
    if key not in _escape_cache:
        rng = np.random.default_rng(0)
        if problem.dim <= 3:
            axes = [np.linspace(lo, hi, 65) for lo, hi in zip(problem.lower, problem.upper)]
            pts = np.stack([m.ravel() for m in np.meshgrid(*axes)], axis=1)
        else:
            pts = rng.uniform(problem.lower, problem.upper, size=(4096, problem.dim))
        _escape_cache[key] = float(min(problem.value(p) for p in pts))
    return _escape_cache[key]


@dataclass
class GroupResult:
    """Arrays for the runs of one group, row r = the group's r-th run."""

    curve_f: np.ndarray  # (R, n_log)
    curve_g: np.ndarray  # (R, n_log) or (R, 0)
    curve_x: np.ndarray  # (R, n_log, dim) or (R, 0, dim)
    x_final: np.ndarray  # (R, dim)
    f_final: np.ndarray
    f_best: np.ndarray
    grad_norm_final: np.ndarray
    steps_run: np.ndarray
    n_logged: np.ndarray
    status: np.ndarray  # int8 index into STATUS
    target_steps: np.ndarray  # (R, n_targets), -1 where never reached
    converged_step: np.ndarray
    extra: dict = field(default_factory=dict)


def schedules(optimizer: Optimizer, hp: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-step scalars for each distinct hyperparameter row: (table, row index per run)."""
    uniq, inverse = np.unique(hp, axis=0, return_inverse=True)
    table = np.stack([np.asarray(optimizer.schedule(row, steps), dtype=np.float64) for row in uniq])
    return np.ascontiguousarray(table), np.ascontiguousarray(inverse.reshape(-1), dtype=np.int64)


def run_group(
    problem: Problem,
    optimizer: Optimizer,
    x0: np.ndarray,
    hp: np.ndarray,
    *,
    steps: int,
    log_every: int = 1,
    keys: np.ndarray | None = None,
    noise: np.ndarray | None = None,
    batch: np.ndarray | None = None,
    targets=(),
    grad_tol: float = 0.0,
    record_grad: bool = True,
    record_x: bool | None = None,
    divergence_factor: float = DIVERGENCE_FACTOR,
    threads: int | None = None,
    chunk: int | None = None,
    on_chunk=None,
) -> GroupResult:
    """Run every row of ``x0`` with its ``hp`` row for ``steps`` steps.

    ``keys`` (uint64) key each run's random stream (minibatches, gradient
    noise); ``noise`` is the per-run gradient-noise sigma; ``batch`` the
    per-run minibatch size (0: full batch).  Positions are recorded for
    2-D problems unless ``record_x`` says otherwise.  ``on_chunk(n)`` is
    called (from a worker thread) after each chunk of ``n`` runs.
    """
    x0 = np.ascontiguousarray(x0, dtype=np.float64)
    hp = np.ascontiguousarray(hp, dtype=np.float64)
    R, dim = x0.shape
    if dim != problem.dim:
        raise ValueError(f"x0 has {dim} columns; problem {problem.describe()} has dim {problem.dim}")
    if hp.shape != (R, len(optimizer.hypers)):
        raise ValueError(f"hp has shape {hp.shape}; expected ({R}, {len(optimizer.hypers)})")
    keys = np.zeros(R, np.uint64) if keys is None else np.ascontiguousarray(keys, dtype=np.uint64)
    noise = np.zeros(R) if noise is None else np.ascontiguousarray(noise, dtype=np.float64)
    batch = np.zeros(R, np.int64) if batch is None else np.ascontiguousarray(batch, dtype=np.int64)
    if problem.batched and np.any(batch > problem.n_samples):
        raise ValueError(f"batch size above the {problem.n_samples} rows of {problem.describe()}")
    if not problem.batched and np.any(batch != 0):
        raise ValueError(f"{problem.name} has no data; batch size does not apply")
    targets = np.ascontiguousarray(sorted(targets, reverse=True), dtype=np.float64)
    record_x = (dim == 2) if record_x is None else record_x
    n_log = len(log_steps(steps, log_every))
    sched, sched_idx = schedules(optimizer, hp, steps)

    out = GroupResult(
        curve_f=np.full((R, n_log), np.nan),
        curve_g=np.full((R, n_log if record_grad else 0), np.nan),
        curve_x=np.full((R, n_log if record_x else 0, dim), np.nan),
        x_final=np.empty((R, dim)),
        f_final=np.full(R, np.nan),
        f_best=np.full(R, np.nan),
        grad_norm_final=np.full(R, np.nan),
        steps_run=np.zeros(R, np.int64),
        n_logged=np.zeros(R, np.int64),
        status=np.zeros(R, np.int8),
        target_steps=np.full((R, targets.size), -1, np.int64),
        converged_step=np.full(R, -1, np.int64),
    )
    all_rows = problem.all_rows() if problem.batched else np.zeros(0, np.int64)
    fn = kernels.driver(problem.objective, optimizer)

    def work(lo_hi):
        lo, hi = lo_hi
        fn(lo, hi, x0, hp, sched_idx, sched, keys, noise, batch, problem.args, all_rows,
           steps, log_every, float(problem.f_star), targets, float(grad_tol),
           float(divergence_factor), escape_value(problem),
           out.curve_f, out.curve_g, out.curve_x, out.x_final, out.f_final, out.f_best,
           out.grad_norm_final, out.steps_run, out.n_logged, out.status, out.target_steps,
           out.converged_step)
        if on_chunk is not None:
            on_chunk(hi - lo)

    threads = default_threads() if threads is None else max(1, int(threads))
    if chunk is None:
        # enough chunks to balance load (runs that diverge early are cheap)
        chunk = max(1, min(1024, -(-R // (threads * 8))))
    bounds = [(lo, min(R, lo + chunk)) for lo in range(0, R, chunk)]
    if threads == 1 or len(bounds) == 1:
        for b in bounds:
            work(b)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(work, bounds))
    return out
