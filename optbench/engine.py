"""The engine: runs a group of runs (one problem, one optimizer) in compiled code.

It knows neither formulas nor file formats.  It takes arrays (initial
points, hyperparameter rows, random-stream keys ...) and returns arrays.
Runs are independent: a run's numbers depend on its own inputs only, never
on which chunk or thread ran it, so results are identical for any thread
count or chunk size.

Two drivers give the same numbers bit for bit: the lane driver steps blocks
of 16 runs sharing a hyperparameter row in lock-step (analytic objectives
of dimension <= 8, vectorised across runs: ~5x the throughput on 2-D
surfaces), the scalar driver one run at a time (everything else).

Parallelism: the drivers are ``nogil`` Numba functions; work goes to a
long-lived pool of Python threads, one per core (``threads`` or
``NUMBA_NUM_THREADS`` or the CPU count).  Compared with ``parallel=True`` this
compiles faster, caches reliably, and keeps each run in one thread.
"""
from __future__ import annotations

import inspect
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from ._jit import jit
from ._process import usable_cores
from .objectives import Problem
from .optimizers import Optimizer

STATUS = ("unconverged", "converged", "diverged", "escaped")
DIVERGENCE_FACTOR = 1e8  # f - f* above 1e8 * max(f0 - f*, 1) counts as diverged


def default_threads() -> int:
    env = os.environ.get("NUMBA_NUM_THREADS")
    if env:
        return max(1, int(env))
    return usable_cores()


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


@jit
def _segments(hp):
    """Runs of equal consecutive rows: (first row of each run, run index of
    each row); ``!=`` as NumPy's (NaN differs from itself)."""
    R, H = hp.shape
    heads = np.empty(R, np.int64)
    seg = np.empty(R, np.int64)
    n = 0
    for r in range(R):
        new = r == 0
        if not new:
            for j in range(H):
                if hp[r, j] != hp[r - 1, j]:
                    new = True
                    break
        if new:
            heads[n] = r
            n += 1
        seg[r] = n - 1
    return heads[:n], seg


def row_groups(hp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(hp, axis=0, return_inverse=True)``, in O(R) for the usual
    case of equal rows next to each other (sweep order): np.unique over
    rows sorts them all (~3 ms for 4096 rows).  The scan is compiled and the
    few distinct runs are sorted with lexsort (np.unique over rows goes
    through structured dtypes): 0.02 instead of 0.2 ms for W2's 12288 rows,
    four times per W2 call."""
    R = hp.shape[0]
    if R == 0:
        return hp[:0], np.zeros(0, np.int64)
    hp = np.ascontiguousarray(hp, dtype=np.float64)
    head_rows, seg = _segments(hp)
    heads = hp[head_rows]
    order = np.lexsort(heads.T[::-1])  # lexicographic, as np.unique(axis=0)
    srt = heads[order]
    first = np.empty(srt.shape[0], bool)
    first[0] = True
    first[1:] = np.any(srt[1:] != srt[:-1], axis=1)
    inv_heads = np.empty(heads.shape[0], np.int64)
    inv_heads[order] = np.cumsum(first) - 1
    return srt[first], inv_heads[seg]


def schedules(optimizer: Optimizer, hp: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-step scalars for each distinct hyperparameter row: (table, row index per run)."""
    uniq, inverse = row_groups(hp)
    if optimizer.n_sched == 0:  # nothing per step: no call per row (W2: 64 a group)
        return np.zeros((uniq.shape[0], steps, 0)), inverse
    table = np.stack([np.asarray(optimizer.schedule(row, steps), dtype=np.float64) for row in uniq])
    return np.ascontiguousarray(table), inverse


# runs per block of the lane driver: 8 measured slower on AVX-512 and AVX2;
# 32 gained 2-7% on W1/W2 with the state in memory (Zen 1) and ranged from
# -12% to +12% by pair with it in registers (Zen 5), so 16 stays
LANES = 16
MAX_LANE_DIM = 8  # above this fg's loops over coordinates are not unrolled: one run at a time


def lane_eligible(problem: Problem, optimizer: Optimizer, noise: np.ndarray | None = None) -> bool:
    """Whether the vectorised lane driver can run this group: an analytic
    objective of small dimension, an elementwise optimizer, no gradient
    noise (its draws are per coordinate and step, in the scalar driver)."""
    return (not problem.batched and problem.dim <= MAX_LANE_DIM and optimizer.elementwise
            and (noise is None or not np.any(noise)))


def make_blocks(inverse: np.ndarray, lanes: int) -> np.ndarray:
    """(n_blocks, lanes) run indices, each block's runs sharing one
    hyperparameter row (``inverse``, the row of each run), in run order
    within a row; -1 pads the last block of a row.  Vectorised: a Python
    loop over rows cost ~0.3 ms per call for W2's 64 rows."""
    R = inverse.shape[0]
    if R == 0:
        return np.zeros((0, lanes), np.int64)
    if np.all(inverse[1:] >= inverse[:-1]):
        order, inv_sorted = np.arange(R), inverse
    else:
        order = np.argsort(inverse, kind="stable")
        inv_sorted = inverse[order]
    change = np.flatnonzero(inv_sorted[1:] != inv_sorted[:-1]) + 1
    starts = np.concatenate(([0], change))
    sizes = np.diff(np.append(starts, R))
    counts = -(-sizes // lanes)  # blocks per row
    first = np.cumsum(counts) - counts  # first block of each row
    row = np.repeat(np.arange(starts.size), sizes)  # row of each sorted run
    slot = first[row] * lanes + (np.arange(R) - starts[row])
    blocks = np.full(int(counts.sum()) * lanes, -1, np.int64)
    blocks[slot] = order
    return blocks.reshape(-1, lanes)


def _prepare(
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
    driver: str = "auto",
    out_curve_f: np.ndarray | None = None,
    out_x_final: np.ndarray | None = None,
) -> tuple:
    """Check the arguments of one group and allocate its result (see
    :func:`run_group`); returns ``(result, tasks, done, threads, kernel)``:
    the calls ``fn(*args)`` that fill the result, ``done()`` (or None) to
    call once they all have, the thread count, and ``kernel``, the compiled
    driver and arguments it is called with, ``(dispatcher, args)``."""
    x0 = np.ascontiguousarray(x0, dtype=np.float64)
    hp = np.ascontiguousarray(hp, dtype=np.float64)
    R, dim = x0.shape
    if dim != problem.dim:
        raise ValueError(f"x0 has {dim} columns; problem {problem.describe()} has dim {problem.dim}")
    if hp.shape != (R, len(optimizer.hypers)):
        raise ValueError(f"hp has shape {hp.shape}; expected ({R}, {len(optimizer.hypers)})")
    # None: no random stream, no noise, full batch (arrays only for the scalar driver, below)
    keys = None if keys is None else np.ascontiguousarray(keys, dtype=np.uint64)
    noise = None if noise is None else np.ascontiguousarray(noise, dtype=np.float64)
    batch = None if batch is None else np.ascontiguousarray(batch, dtype=np.int64)
    if problem.batched and batch is not None and np.any(batch > problem.n_samples):
        raise ValueError(f"batch size above the {problem.n_samples} rows of {problem.describe()}")
    if not problem.batched and batch is not None and np.any(batch != 0):
        raise ValueError(f"{problem.name} has no data; batch size does not apply")
    targets = np.ascontiguousarray(sorted(targets, reverse=True), dtype=np.float64)
    record_x = (dim == 2) if record_x is None else record_x
    n_log = len(log_steps(steps, log_every))
    sched, sched_idx = schedules(optimizer, hp, steps)
    if driver not in ("auto", "lanes", "scalar"):
        raise ValueError(f"driver must be 'auto', 'lanes' or 'scalar', got {driver!r}")
    use_lanes = driver != "scalar" and lane_eligible(problem, optimizer, noise)
    if driver == "lanes" and not use_lanes:
        raise ValueError(f"the lane driver cannot run {problem.describe()} with {optimizer.name} "
                         f"(data objective, dim > {MAX_LANE_DIM}, gradient noise or a non-elementwise optimizer)")

    def output(given, shape, fill):
        if given is None:
            # the lane driver writes every cell of its outputs (values, or NaN
            # after a stop): no pass over fresh memory to fill it first (a
            # W2 group logging f, |g| and x: 48 -> 39 ms, 1 thread)
            return np.empty(shape) if use_lanes else np.full(shape, fill)
        if given.shape != shape or given.dtype != np.float64 or not given.flags.c_contiguous:
            raise ValueError(f"a preallocated output must be a C-contiguous float64 array of shape {shape}, "
                             f"got {given.dtype} {given.shape}")
        if not use_lanes:
            given.fill(fill)
        return given

    out = GroupResult(
        curve_f=output(out_curve_f, (R, n_log), np.nan),
        curve_g=output(None, (R, n_log if record_grad else 0), np.nan),
        curve_x=output(None, (R, n_log if record_x else 0, dim), np.nan),
        x_final=output(out_x_final, (R, dim), 0.0),
        f_final=np.full(R, np.nan),
        f_best=np.full(R, np.nan),
        grad_norm_final=np.full(R, np.nan),
        steps_run=np.zeros(R, np.int64),
        n_logged=np.zeros(R, np.int64),
        status=np.zeros(R, np.int8),
        target_steps=np.full((R, targets.size), -1, np.int64),
        converged_step=np.full(R, -1, np.int64),
    )
    threads = default_threads() if threads is None else max(1, int(threads))
    if use_lanes:
        tasks = _lane_tasks(problem, optimizer, x0, hp, sched, sched_idx, out, steps=steps, log_every=log_every,
                            targets=targets, grad_tol=grad_tol, divergence_factor=divergence_factor,
                            threads=threads, chunk=chunk)
        done = (lambda: on_chunk(R)) if on_chunk is not None else None
        return out, tasks, done, threads, tasks[0]
    all_rows = problem.all_rows() if problem.batched else np.zeros(0, np.int64)
    fn = kernels.driver(problem.objective, optimizer)
    keys = np.zeros(R, np.uint64) if keys is None else keys
    noise = np.zeros(R) if noise is None else noise
    batch = np.zeros(R, np.int64) if batch is None else batch

    rest = (x0, hp, sched_idx, sched, keys, noise, batch, problem.args, all_rows,
            steps, log_every, float(problem.f_star), targets, float(grad_tol),
            float(divergence_factor), escape_value(problem),
            out.curve_f, out.curve_g, out.curve_x, out.x_final, out.f_final, out.f_best,
            out.grad_norm_final, out.steps_run, out.n_logged, out.status, out.target_steps,
            out.converged_step)

    def work(lo, hi):
        fn(lo, hi, *rest)
        if on_chunk is not None:
            on_chunk(hi - lo)

    if chunk is None:
        # enough chunks to balance load (runs that diverge early are cheap)
        chunk = max(1, min(1024, -(-R // (threads * 8))))
    tasks = [(work, (lo, min(R, lo + chunk))) for lo in range(0, R, chunk)]
    return out, tasks, None, threads, (fn, (0, R, *rest))


def run_group(problem: Problem, optimizer: Optimizer, x0: np.ndarray, hp: np.ndarray, **kw) -> GroupResult:
    """Run every row of ``x0`` with its ``hp`` row for ``steps`` steps.

    ``keys`` (uint64) key each run's random stream (minibatches, gradient
    noise); ``noise`` is the per-run gradient-noise sigma; ``batch`` the
    per-run minibatch size (0: full batch).  Positions are recorded for
    2-D problems unless ``record_x`` says otherwise.  ``on_chunk(n)`` is
    called (from a worker thread) after each chunk of ``n`` runs.

    ``driver``: ``"lanes"`` (blocks of :data:`LANES` runs stepped together,
    vectorised; see :func:`lane_eligible`), ``"scalar"`` (one run at a
    time), or ``"auto"``: lanes where eligible.  Both give the same numbers
    bit for bit.  ``out_curve_f`` / ``out_x_final``: C-contiguous float64
    arrays of the result's shapes to write into (no copy for a caller that
    gathers several groups into one array).  Keyword arguments: those of
    the signature shown (``inspect.signature(run_group)``).
    """
    return run_groups([dict(problem=problem, optimizer=optimizer, x0=x0, hp=hp, **kw)])[0]


run_group.__signature__ = inspect.signature(_prepare).replace(return_annotation=GroupResult)


def run_groups(groups) -> list[GroupResult]:
    """:func:`run_group` for each dict of its keyword arguments, with no
    barrier between groups: every group is prepared first, then all their
    kernel calls go to the thread pool at once, so a thread that finishes
    its share of one group goes on to the next (W2's three objectives: the
    idle core between groups cost ~10% of the wall time).  Preparing first
    keeps Python off the cores while the kernels run: on 2 cores, preparing
    W2's second group while the first one's kernels ran took 3.5-4.9 ms of
    wall time instead of 0.2-0.3 ms, the time it held a core that a kernel
    thread wanted.  Results are those of separate run_group calls, bit for
    bit: a group's numbers never depend on the threads or the order.  A
    group refused by its checks is raised after the groups before it have
    run to their end (a KeyboardInterrupt is not held back)."""
    results, prepared, error = [], [], None
    for kw in groups:
        kw = dict(kw)
        try:
            prepared.append(_prepare(kw.pop("problem"), kw.pop("optimizer"), kw.pop("x0"), kw.pop("hp"), **kw))
        except Exception as e:  # noqa: BLE001 -- raised below, after the groups before it
            error = e
            break
    if len(prepared) > 1:
        # kernels not compiled yet compile side by side in processes, one per thread
        kernels.compile_missing([p[4] for p in prepared], max(p[3] for p in prepared))
    pending = []
    try:
        for out, tasks, done, threads, _ in prepared:
            results.append(out)
            if threads == 1 or len(tasks) == 1:
                for fn, args in tasks:
                    fn(*args)
                if done is not None:
                    done()
            else:
                pool = _pool(threads)
                pending.append(([pool.submit(fn, *args) for fn, args in tasks], done))
    finally:
        # wait for everything submitted (the caller's arrays are written by it) before raising
        errors = []
        for futures, done in pending:
            for f in futures:
                try:
                    f.result()
                except Exception as e:  # noqa: BLE001 -- the first is re-raised below
                    errors.append(e)
            if done is not None and not errors:
                done()
        if errors:
            raise errors[0]
    if error is not None:
        raise error
    return results


def compile_kernels(groups) -> int:
    """Load or compile the drivers that :func:`run_groups` would call for
    ``groups`` (dicts of :func:`run_group`'s keyword arguments; a run or
    two per group is enough: the drivers depend on the arguments' types,
    not their sizes), the missing ones side by side in processes
    (:func:`optbench.kernels.compile_missing`).  Returns the number
    compiled in other processes."""
    prepared = []
    for kw in groups:
        kw = dict(kw)
        prepared.append(_prepare(kw.pop("problem"), kw.pop("optimizer"), kw.pop("x0"), kw.pop("hp"), **kw))
    if not prepared:
        return 0
    n = kernels.compile_missing([p[4] for p in prepared], max(p[3] for p in prepared))
    for *_, (fn, args) in prepared:  # load (or compile) the rest here
        fn.compile(kernels.signature(fn, args))
    return n


HUGE_PAGE = 2 << 20  # bytes of curve rows per chunk at most (one transparent huge page)


def guided_chunks(n_blocks: int, threads: int, max_blocks: int | None = None) -> np.ndarray:
    """Chunk boundaries (``starts[j]`` to ``starts[j + 1]``) for threads
    taking chunks in turn: each chunk is the remaining blocks over
    2 x threads, at most ``max_blocks``, down to one block.  Contiguous
    chunks keep each thread on its own rows of the (freshly allocated)
    curve arrays -- with one block per fetch both threads fault in the same
    huge pages (W1 in fresh processes: 30-50 ms of sys time per call,
    median 31-36 ms against 23) -- and the single blocks at the end balance
    load (runs that stop early make blocks cheap).  The cap (the lane
    driver's: a huge page of curve rows) bounds what a thread that runs
    slowly holds: on this shared VM one of two threads sometimes runs ~9x
    slower for a whole process, and with a first chunk of 1/4 of W1's
    blocks for the other thread, the slow one's 3/16 took twice the time
    of all the rest (28 ms calls against 10)."""
    cap = n_blocks if max_blocks is None else max(1, int(max_blocks))
    starts = [0]
    lo = 0
    while lo < n_blocks:
        lo = min(n_blocks, lo + min(cap, max(1, (n_blocks - lo) // (2 * threads))))
        starts.append(lo)
    return np.asarray(starts, dtype=np.int64)


def region_chunks(n_blocks: int, calls: int, max_blocks: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The lane driver's work plan for ``calls`` concurrent calls: the blocks
    cut into one contiguous region per call, each region into guided chunks
    (:func:`guided_chunks`).  Returns ``(starts, counter)``: chunk j is
    blocks ``starts[j]`` to ``starts[j + 1]``; ``counter`` (int64, updated by
    atomic adds in the kernel) is ``[next call id, next chunk of each region
    ..., end chunk of each region ...]``.  Call i works through region i in
    order, then takes what is left of regions i + 1, i + 2, ... chunk by
    chunk, so load still balances dynamically.

    Why regions: with one sequence of chunks taken in turn, the two threads
    always worked on neighbouring chunks of the freshly allocated curve
    array, and a chunk boundary almost never falls on a huge-page boundary,
    so both threads faulted in the same 2 MiB pages (one waits while the
    other zeroes it) at every boundary.  With a region each they meet once,
    at the end.  W2 on 2 threads: 18.3 -> 15.8 ms with the curve in fresh
    memory, unchanged with it already faulted in (Intel, medians of 21,
    alternating; c_omp 14.7 ms).  Which call takes which block never
    changes a number: each block is computed the same wherever it runs."""
    regions = max(1, min(int(calls), n_blocks))
    bounds = [n_blocks * i // regions for i in range(regions + 1)]
    starts, first = [0], []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        first.append(len(starts) - 1)
        starts.extend(int(s) + lo for s in guided_chunks(hi - lo, calls, max_blocks)[1:])
    ends = first[1:] + [len(starts) - 1]
    return np.asarray(starts, dtype=np.int64), np.asarray([0, *first, *ends], dtype=np.int64)


def _lane_tasks(problem, optimizer, x0, hp, sched, sched_idx, out: GroupResult, *, steps, log_every, targets,
                grad_tol, divergence_factor, threads, chunk) -> list:
    """Blocks of LANES runs (one hyperparameter row each), shared out between
    ``threads`` calls of the nogil lane driver: each call works through its
    own region of blocks, then helps with the others' (:func:`region_chunks`;
    with ``chunk``, one region of ``chunk`` runs at a time), taking chunks
    from counters (atomic adds inside the kernel), so load balances
    dynamically with one dispatch per thread."""
    blocks = make_blocks(sched_idx, LANES)
    f_escape = escape_value(problem)
    fn = kernels.lane_driver(problem.objective, optimizer, problem.dim, LANES, escape=f_escape > -np.inf)
    nb = blocks.shape[0]
    calls = min(threads, max(1, nb))
    if chunk is None:
        block_bytes = LANES * out.curve_f.shape[1] * out.curve_f.itemsize
        starts, counter = region_chunks(nb, calls, HUGE_PAGE // max(1, block_bytes))
    else:  # ``chunk`` counts runs, as for the scalar driver
        starts = np.append(np.arange(0, nb, max(1, -(-int(chunk) // LANES)), dtype=np.int64), nb)
        counter = np.array([0, 0, starts.size - 1], dtype=np.int64)
    args = (counter, starts, blocks, x0, hp, sched_idx, sched, problem.args, steps, log_every,
            float(problem.f_star), targets, float(grad_tol), float(divergence_factor), f_escape,
            out.curve_f, out.curve_g, out.curve_x, out.x_final, out.f_final, out.f_best,
            out.grad_norm_final, out.steps_run, out.n_logged, out.status, out.target_steps, out.converged_step)
    return [(fn, args)] * calls  # each call takes chunks until none are left


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """One long-lived pool per thread count: a sweep calls run_group once per
    chunk, and starting threads each time cost ~3 ms a call."""
    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="optbench")
        return pool
