"""The engine: runs a group of runs (one problem, one optimizer) in compiled code.

It knows neither formulas nor file formats.  It takes arrays (initial
points, hyperparameter rows, random-stream keys ...) and returns arrays.
Runs are independent: a run's numbers depend on its own inputs only, never
on which chunk or thread ran it, so results are identical for any thread
count or chunk size.

Three drivers give the same numbers bit for bit: the lane driver steps
blocks of 16 runs (32 with AVX2) sharing a hyperparameter row in lock-step
(analytic objectives of dimension <= 8, vectorised across runs), the scalar
driver one run at a time (everything else), both specialized to their
(objective, optimizer) pair; and the generic driver, one run at a time for
every pair of a kind (:mod:`.generic`), which runs what is too small to pay
for compiling a specialized one (:func:`choose_tier`).

Parallelism: the drivers are ``nogil`` Numba functions; work goes to a
long-lived pool of Python threads, one per core (``threads`` or
``NUMBA_NUM_THREADS`` or the CPU count).  Compared with ``parallel=True`` this
compiles faster, caches reliably, and keeps each run in one thread.
"""
from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields

import numpy as np

from .._errors import SpecError
from .._process import usable_cores
from ..objectives import Problem
from ..optimizers import Optimizer
from . import compiling, drivers, generic
from .blocks import HUGE_PAGE, MAX_LANE_DIM, make_blocks, region_chunks, row_groups

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
    status: np.ndarray  # int8 status code (optbench._codes)
    target_steps: np.ndarray  # (R, n_targets), -1 where never reached
    converged_step: np.ndarray
    # objective evaluations (closure optimizers only; else (R, 0) and
    # NaN: one per step, see evaluations()): at each logged point, in all,
    # and when each target was reached
    curve_e: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    evals_final: np.ndarray = field(default_factory=lambda: np.zeros(0))
    target_evals: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    extra: dict = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays every driver fills, by name (its parameters of the same names)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in EVALUATION_ARRAYS}

    @property
    def counts_evaluations(self) -> bool:
        """Whether the driver counted evaluations (a closure optimizer's runs)."""
        return self.curve_e.shape[1] > 0 or self.target_evals.shape[1] > 0 or bool(np.isfinite(self.evals_final).any())


EVALUATION_ARRAYS = ("curve_e", "evals_final", "target_evals", "extra")


@dataclass
class PreparedGroup:
    """One group, checked and allocated, ready to run."""

    result: GroupResult
    tasks: list[tuple[Callable, tuple]]  # calls fn(*args) that together fill the result
    done: Callable[[], None] | None  # to call once every task has run
    threads: int
    kernel: Callable  # the compiled driver the tasks call ...
    kernel_args: tuple  # ... and the arguments it is compiled for
    tier: str = "lanes"  # which driver: "lanes", "scalar" (specialized) or "generic"
    functions: list = field(default_factory=list)  # (dispatcher, types) of the generic driver's first-class functions

    def compile_items(self) -> list[tuple]:
        """(dispatcher, argument types) of everything the tasks call compiled."""
        return [(self.kernel, compiling.signature(self.kernel, self.kernel_args)), *self.functions]


def schedules(optimizer: Optimizer, hp: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-step scalars for each distinct hyperparameter row: (table, row index per run)."""
    uniq, inverse = row_groups(hp)
    return _sched_table(optimizer, uniq, steps), inverse


def _sched_table(optimizer: Optimizer, rows, steps: int) -> np.ndarray:
    """``optimizer.schedule`` of each of ``rows`` (one hp row, or one row per step), stacked."""
    if optimizer.n_sched == 0:  # nothing per step: no Python call per distinct row
        return np.zeros((len(rows), steps, 0))
    table = np.stack([np.asarray(optimizer.schedule(row, steps), dtype=np.float64) for row in rows])
    return np.ascontiguousarray(table)


def run_settings(optimizer: Optimizer, hp: np.ndarray, steps: int, hp_steps: np.ndarray | None = None,
                 hp_index: np.ndarray | None = None, clip: np.ndarray | None = None):
    """What the drivers read per distinct setting of a run (its hp row, its
    per-step hp table ``hp_steps[hp_index[r]]`` and its clip row): (sched
    table, per-step hp table, clip table, setting index per run).  Without
    per-step tables and clipping a setting is a distinct hp row, as always."""
    n_hp = hp.shape[1]
    if hp_steps is None and clip is None:
        sched, idx = schedules(optimizer, hp, steps)
        return sched, np.zeros((0, 0, n_hp)), np.zeros((0, 3)), idx
    key = hp
    if hp_steps is not None:
        key = np.column_stack([key, hp_index.astype(np.float64)])
    if clip is not None:
        key = np.column_stack([key, clip])
    uniq, idx = row_groups(key)
    rep = np.empty(uniq.shape[0], np.int64)
    rep[idx] = np.arange(len(idx))  # a run of each setting
    if hp_steps is not None:
        hpt = np.ascontiguousarray(hp_steps[hp_index[rep]])
        sched = _sched_table(optimizer, list(hpt), steps)
    else:
        hpt = np.zeros((0, 0, n_hp))
        sched = _sched_table(optimizer, list(hp[rep]), steps)
    cl = np.ascontiguousarray(clip[rep]) if clip is not None else np.zeros((0, 3))
    return sched, hpt, cl, idx


def lane_eligible(problem: Problem, optimizer: Optimizer, noise: np.ndarray | None = None) -> bool:
    """Whether the vectorised lane driver can run this group: an analytic
    objective of small dimension, an elementwise optimizer, no gradient
    noise (its draws are per coordinate and step, in the scalar driver)."""
    return (not problem.batched and problem.dim <= MAX_LANE_DIM and optimizer.elementwise
            and (noise is None or not np.any(noise)) and problem.transform is None)


def prepare_group(
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
    work: float | None = None,
    out_curve_f: np.ndarray | None = None,
    out_x_final: np.ndarray | None = None,
    hp_steps: np.ndarray | None = None,
    hp_index: np.ndarray | None = None,
    clip: np.ndarray | None = None,
) -> PreparedGroup:
    """Check the arguments of one group (see :func:`run_group`), allocate
    its result and list the kernel calls that fill it."""
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
    if hp_steps is not None:
        hp_steps = np.ascontiguousarray(hp_steps, dtype=np.float64)
        hp_index = np.ascontiguousarray(hp_index, dtype=np.int64)
        if hp_steps.ndim != 3 or hp_steps.shape[1:] != (steps, hp.shape[1]) or hp_index.shape != (R,) or (
                R and (hp_index.min() < 0 or hp_index.max() >= hp_steps.shape[0])):
            raise ValueError(f"hp_steps must have shape (n, {steps}, {hp.shape[1]}) and hp_index {R} indices "
                             f"into it; got {hp_steps.shape} and {hp_index.shape}")
    if clip is not None:
        clip = np.ascontiguousarray(clip, dtype=np.float64)
        if clip.shape != (R, 3):
            raise ValueError(f"clip must have shape ({R}, 3) (max_norm, norm_type, clip_value), got {clip.shape}")
    sched, hpt, clip_table, sched_idx = run_settings(optimizer, hp, steps, hp_steps, hp_index, clip)
    per_step, clipped = hp_steps is not None, clip is not None
    if driver not in DRIVERS:
        raise ValueError(f"driver must be one of {', '.join(map(repr, DRIVERS))}, got {driver!r}")
    if optimizer.closure:
        check_closure(problem, optimizer, noise, batch, per_step, clipped, driver)
    if driver == "lanes" and not lane_eligible(problem, optimizer, noise):
        raise ValueError(f"the lane driver cannot run {problem.describe()} with {optimizer.name} "
                         f"(data objective, dim > {MAX_LANE_DIM}, gradient noise or a non-elementwise optimizer)")
    if driver == "auto":
        driver = driver_override()
    if optimizer.closure and driver == "generic":
        driver = "specialized"  # the override's preference; closure steps have no generic driver
    tier = driver
    if driver == "auto":
        tier = choose_tier(problem, optimizer, noise, R * steps if work is None else work, per_step, clipped)
    elif driver == "specialized":
        tier = "lanes" if lane_eligible(problem, optimizer, noise) else "scalar"
    use_lanes = tier == "lanes"

    def output(given, shape, fill):
        if given is None:
            # the lane driver writes every cell of its outputs (values, or NaN
            # after a stop): no pass over fresh memory to fill it first
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
        curve_e=np.full((R, n_log if optimizer.closure else 0), np.nan),
        evals_final=np.full(R, np.nan),
        target_evals=np.full((R, targets.size if optimizer.closure else 0), -1, np.int64),
    )
    threads = default_threads() if threads is None else max(1, int(threads))
    # the arguments every driver takes, by the names of its parameters
    common = dict(x0=x0, hp=hp, sched_idx=sched_idx, sched=sched, hpt=hpt, clip=clip_table, args=problem.args,
                  steps=steps,
                  log_every=log_every, f_star=float(problem.f_star), targets=targets, grad_tol=float(grad_tol),
                  div_factor=float(divergence_factor), f_escape=escape_value(problem), **out.arrays())
    if use_lanes:
        fn, args, calls = _lane_call(problem, optimizer, sched_idx, common, threads=threads, chunk=chunk,
                                     per_step=per_step, clip=clipped)
        done = (lambda: on_chunk(R)) if on_chunk is not None else None
        return PreparedGroup(out, [(fn, args)] * calls, done, threads, fn, args)
    kernels, functions = (), []
    transformed = problem.transform is not None
    if tier == "generic":
        fn = generic.driver(problem, per_step, clipped)
        kernels = generic.kernels(problem, optimizer)
        functions = generic.functions(kernels)
    else:
        fn = drivers.driver(problem.objective, optimizer, per_step, clipped, transform=transformed)
        if optimizer.closure:  # its state rows, and the objective for the step to evaluate
            kernels = (optimizer.rows_for(hp), generic.objective_function(problem))
            functions = generic.functions(kernels)
    xform = (problem.transform.R, problem.transform.s, problem.transform.c) if transformed else \
        (np.zeros((0, 0)), np.zeros(0), np.zeros(0))
    inputs = dict(common, kernels=kernels, xform=xform, curve_e=out.curve_e, evals_final=out.evals_final,
                  target_evals=out.target_evals, keys=np.zeros(R, np.uint64) if keys is None else keys,
                  noise=np.zeros(R) if noise is None else noise,
                  batch=np.zeros(R, np.int64) if batch is None else batch,
                  all_rows=problem.all_rows() if problem.batched else np.zeros(0, np.int64))

    def task(n_runs, args):
        fn(*args)
        if on_chunk is not None:
            on_chunk(n_runs)

    if chunk is None:
        # enough chunks to balance load (runs that diverge early are cheap)
        chunk = max(1, min(1024, -(-R // (threads * 8))))
    tasks = []
    for lo in range(0, R, chunk):
        hi = min(R, lo + chunk)
        tasks.append((task, (hi - lo, drivers.call_args(fn, dict(inputs, lo=lo, hi=hi)))))
    return PreparedGroup(out, tasks, None, threads, fn, drivers.call_args(fn, dict(inputs, lo=0, hi=R)),
                         "scalar" if tier == "specialized" else tier, functions)


DRIVERS = ("auto", "specialized", "lanes", "scalar", "generic")


def check_closure(problem: Problem, optimizer: Optimizer, noise, batch, per_step: bool, clipped: bool,
                  driver: str) -> None:
    """Refuse what a closure optimizer (a line search) cannot run: a
    stochastic gradient, per-step hyperparameters, clipping, the lanes or
    the generic driver."""
    where = f"{optimizer.name} evaluates the objective itself (a line search)"
    if (noise is not None and np.any(noise)) or (batch is not None and np.any(batch)):
        raise ValueError(f"{where}: it needs exact full-batch gradients, not minibatches or gradient noise")
    if per_step or clipped:
        raise ValueError(f"{where}: it takes no scheduler and no gradient clipping")
    if driver in ("lanes", "generic") and driver_override() != "generic":
        raise ValueError(f"{where}: it runs in the specialized scalar driver only, not {driver!r}")


def driver_override() -> str:
    """``$OPTBENCH_DRIVER`` (``auto`` where unset): what ``driver="auto"`` means."""
    value = os.environ.get("OPTBENCH_DRIVER") or "auto"
    if value not in ("auto", "specialized", "generic"):
        raise SpecError(f"OPTBENCH_DRIVER must be 'auto', 'specialized' or 'generic', got {value!r}")
    return value


def choose_tier(problem: Problem, optimizer: Optimizer, noise: np.ndarray | None, work: float,
                per_step: bool = False, clip: bool = False) -> str:
    """The driver ``driver="auto"`` runs a group with: the specialized one
    (``"lanes"`` where :func:`lane_eligible`, else ``"scalar"``) where it
    is compiled already or pays for its compile over ``work`` runs x steps
    (:func:`generic.worth_specializing`), else ``"generic"``.  Every driver
    gives the same numbers, so the choice changes only the time."""
    kind = "lanes" if lane_eligible(problem, optimizer, noise) else "scalar"
    if optimizer.closure:
        return "scalar"
    if kind == "lanes":
        fn = drivers.lane_driver(problem.objective, optimizer, problem.dim, drivers.lane_width(optimizer, problem.dim),
                                 escape=problem.unbounded, per_step=per_step, clip=clip, create=False)
    else:
        fn = drivers.driver(problem.objective, optimizer, per_step, clip, create=False,
                            transform=problem.transform is not None)
    if fn is not None and (fn.overloads or compiling.cached_any(fn)):
        return kind
    return kind if generic.worth_specializing("data" if problem.batched else kind, work) else "generic"


def run_group(problem: Problem, optimizer: Optimizer, x0: np.ndarray, hp: np.ndarray, **kw) -> GroupResult:
    """Run every row of ``x0`` with its ``hp`` row for ``steps`` steps.

    ``keys`` (uint64) key each run's random stream (minibatches, gradient
    noise); ``noise`` is the per-run gradient-noise sigma; ``batch`` the
    per-run minibatch size (0: full batch).  Positions are recorded for
    2-D problems unless ``record_x`` says otherwise.  ``on_chunk(n)`` is
    called (from a worker thread) after each chunk of ``n`` runs.

    ``hp_steps`` (n, steps, n_hypers) and ``hp_index`` (R,): run r's
    hyperparameters at step t + 1 are ``hp_steps[hp_index[r], t]`` (an lr
    scheduler's values; ``hp`` then only groups runs).  ``clip`` (R, 3):
    each run's (max_norm, norm_type, clip_value), inf where not clipped,
    applied to the gradient before each step as torch's
    ``clip_grad_norm_`` then ``clip_grad_value_``.

    ``driver``: ``"lanes"`` (blocks of :func:`~.drivers.lane_width` runs
    stepped together, vectorised; see :func:`lane_eligible`), ``"scalar"`` (one run at a
    time), both specialized to the pair, ``"specialized"`` (lanes where
    eligible, else scalar), ``"generic"`` (one driver for all pairs, see
    :mod:`optbench.engine.generic`), or ``"auto"`` (:func:`choose_tier`:
    specialized where compiled already or where ``work``, the runs x steps
    the caller expects to run with it, pays for its compile; else
    generic; ``$OPTBENCH_DRIVER`` = ``specialized`` or ``generic`` overrides
    it).  All give the same numbers bit for bit.  ``out_curve_f`` / ``out_x_final``: C-contiguous float64
    arrays of the result's shapes to write into (no copy for a caller that
    gathers several groups into one array).  Keyword arguments: those of
    the signature shown (``inspect.signature(run_group)``).
    """
    return run_groups([dict(problem=problem, optimizer=optimizer, x0=x0, hp=hp, **kw)])[0]


run_group.__signature__ = inspect.signature(prepare_group).replace(return_annotation=GroupResult)


def run_groups(groups) -> list[GroupResult]:
    """:func:`run_group` for each dict of its keyword arguments, with no
    barrier between groups: every group is prepared first, then all their
    kernel calls go to the thread pool at once, so a thread that finishes
    its share of one group goes on to the next instead of idling at a
    barrier, and Python holds no core while the kernels run.  Results are
    those of separate run_group calls, bit for
    bit: a group's numbers never depend on the threads or the order.  A
    group refused by its checks is raised after the groups before it have
    run to their end (a KeyboardInterrupt is not held back)."""
    results, prepared, error = [], [], None
    for kw in groups:
        try:
            prepared.append(prepare_group(**kw))
        except Exception as e:  # noqa: BLE001 -- raised below, after the groups before it
            error = e
            break
    if len(prepared) > 1:
        # kernels not compiled yet compile side by side in processes, one per thread
        compiling.compile_missing([i for p in prepared for i in p.compile_items()], max(p.threads for p in prepared))
    pending = []
    try:
        for p in prepared:
            results.append(p.result)
            if p.threads == 1 or len(p.tasks) == 1:
                for fn, args in p.tasks:
                    fn(*args)
                if p.done is not None:
                    p.done()
            else:
                pool = _pool(p.threads)
                pending.append(([pool.submit(fn, *args) for fn, args in p.tasks], p.done))
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


def compile_kernels(groups, notify=None) -> int:
    """Load or compile the drivers (and the generic driver's functions)
    that :func:`run_groups` would call for ``groups`` (dicts of
    :func:`run_group`'s keyword arguments; a run or two per group is
    enough: the drivers depend on the arguments' types, not their sizes,
    but the tier on ``work``), the missing ones side by side in processes
    (:func:`optbench.engine.compiling.compile_missing`, which calls
    ``notify(n, processes)`` first).  Returns the number compiled in other processes."""
    prepared = [prepare_group(**kw) for kw in groups]
    if not prepared:
        return 0
    items = [i for p in prepared for i in p.compile_items()]
    n = compiling.compile_missing(items, max(p.threads for p in prepared), notify)
    for fn, sig in items:  # load (or compile) the rest here
        fn.compile(sig)
    return n


def _lane_call(problem: Problem, optimizer: Optimizer, sched_idx: np.ndarray, common: dict, *, threads: int,
               chunk: int | None, per_step: bool = False, clip: bool = False) -> tuple[Callable, tuple, int]:
    """The lane driver, its arguments and how many concurrent calls of it
    run the group: blocks of :func:`~optbench.engine.drivers.lane_width`
    runs (one hyperparameter row each),
    shared out between ``threads`` calls of the nogil driver: each call
    works through its own region of blocks, then helps with the others'
    (:func:`~optbench.engine.blocks.region_chunks`; with ``chunk``, one
    region of ``chunk`` runs at a time), taking chunks from counters
    (atomic adds inside the kernel), so load balances dynamically with one
    dispatch per thread."""
    lanes = drivers.lane_width(optimizer, problem.dim)
    blocks = make_blocks(sched_idx, lanes)
    fn = drivers.lane_driver(problem.objective, optimizer, problem.dim, lanes, escape=common["f_escape"] > -np.inf,
                             per_step=per_step, clip=clip)
    nb = blocks.shape[0]
    calls = min(threads, max(1, nb))
    if chunk is None:
        curve_f = common["curve_f"]
        block_bytes = lanes * curve_f.shape[1] * curve_f.itemsize
        starts, counter = region_chunks(nb, calls, HUGE_PAGE // max(1, block_bytes))
    else:  # ``chunk`` counts runs, as for the scalar driver
        starts = np.append(np.arange(0, nb, max(1, -(-int(chunk) // lanes)), dtype=np.int64), nb)
        counter = np.array([0, 0, starts.size - 1], dtype=np.int64)
    args = drivers.call_args(fn, dict(common, counter=counter, starts=starts, blk_runs=blocks))
    return fn, args, calls  # each call takes chunks until none are left


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """One long-lived pool per thread count: a sweep calls run_group once per
    chunk, and starting threads for each call is not free."""
    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="optbench")
        return pool
