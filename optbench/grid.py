"""The grid: a validated spec expanded into runs, groups and chunks.

Run order (and so run ids): objective cases in spec order, then optimizer
cases in spec order, then initial points, then repeats.  A *group* is the
block of runs sharing one objective case and one optimizer (one compiled
kernel); a *chunk* is a contiguous range of one group's runs, the unit that
is computed, written to disk and resumed.

Everything random about a run is a function of the spec and the run's grid
coordinates, never of its position in a chunk: initial points come from
``default_rng([seed, problem])``, minibatches and gradient noise from a
counter-based stream keyed by ``SeedSequence([seed, problem, init, repeat])``
(:func:`stream_keys`).
"""
from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import optimizers
from ._errors import SpecError
from ._process import available_memory, format_bytes
from .engine import log_steps
from .optimizers import Optimizer
from .spec import INIT_SCHEMES, ObjectiveCase, OptimizerCase, Spec, freeze, thaw

CHUNK_POINTS = 2_000_000  # default chunk: about this many logged points
MAX_CHUNK_RUNS = 100_000
RUN_BYTES = 400  # per run, in the runs table in memory (beyond x0 / x_final)
LIST_BYTES = 120  # per run and list column (x0, x_final): a NumPy array object beside its numbers


@dataclass
class Group:
    """The runs of one objective case with one optimizer: its cases × initial points × repeats."""

    case_index: int
    case: ObjectiveCase
    optimizer: str
    opt_cases: list[OptimizerCase]
    first_run_id: int
    x0: np.ndarray  # (n_inits, dim)
    repeats: int

    @property
    def n_runs(self) -> int:
        return len(self.opt_cases) * self.x0.shape[0] * self.repeats


@dataclass(frozen=True)
class Chunk:
    id: int
    group: int  # index into plan(spec)
    lo: int  # the group's runs lo..hi-1
    hi: int
    first_run: int  # run id of the group's run lo

    @property
    def n_runs(self) -> int:
        return self.hi - self.lo


class GroupRuns(NamedTuple):
    """Runs ``lo..hi-1`` of a group, one row each: where they sit in the
    grid and what the engine needs to run them."""

    optimizer: Optimizer
    opt_index: np.ndarray  # index into group.opt_cases
    init_index: np.ndarray
    repeat: np.ndarray
    hp: np.ndarray  # (R, n_hypers) hyperparameter rows
    x0: np.ndarray  # (R, dim)
    keys: np.ndarray  # (R,) uint64 random-stream keys
    hp_steps: np.ndarray | None = None  # (n, steps, n_hypers): per-step rows where a case has a scheduler
    hp_index: np.ndarray | None = None  # (R,) each run's table in hp_steps
    clip: np.ndarray | None = None  # (R, 3) max_norm, norm_type, clip_value (inf: off) where a case clips

    @property
    def n_runs(self) -> int:
        return len(self.x0)

    def engine_args(self) -> dict:
        """The per-step and clipping arguments of :func:`optbench.engine.run_group` (only those in use)."""
        out = {}
        if self.hp_steps is not None:
            out.update(hp_steps=self.hp_steps, hp_index=self.hp_index)
        if self.clip is not None:
            out["clip"] = self.clip
        return out


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
                g = Group(ci, case, block[0].name, block, run_id, x0, spec.repeats)
                groups.append(g)
                run_id += g.n_runs
                block = []
            if oc is not None:
                block.append(oc)
    return groups


def default_chunk_runs(spec: Spec) -> int:
    """About ``CHUNK_POINTS`` logged points per chunk (at least one run)."""
    n_log = len(log_steps(spec.steps, spec.log_every))
    return int(min(MAX_CHUNK_RUNS, max(1, CHUNK_POINTS // n_log)))


def chunk_plan(groups: list[Group], chunk_runs: int) -> list[Chunk]:
    """Chunks of at most ``chunk_runs`` runs; a chunk never spans two groups."""
    chunks = []
    for gi, g in enumerate(groups):
        for lo in range(0, g.n_runs, chunk_runs):
            hi = min(g.n_runs, lo + chunk_runs)
            chunks.append(Chunk(len(chunks), gi, lo, hi, g.first_run_id + lo))
    return chunks


def group_runs(spec: Spec, group: Group, lo: int, hi: int) -> GroupRuns:
    """The grid rows of the group's runs ``lo..hi-1``."""
    opt = optimizers.get(group.optimizer)
    n_init = group.x0.shape[0]
    reps = group.repeats
    r = np.arange(lo, hi, dtype=np.int64)
    opt_index = r // (n_init * reps)
    init_index = (r % (n_init * reps)) // reps
    repeat = r % reps
    hp_rows = np.stack([opt.hp_row(oc.values) for oc in group.opt_cases])
    # one key per distinct (init, repeat): shared by every optimizer case
    pair = init_index * reps + repeat
    uniq, inverse = np.unique(pair, return_inverse=True)
    ukeys = stream_keys(spec.seed, stable_hash(group.case.problem.describe()), uniq // reps, uniq % reps)
    hp_steps = hp_index = clip = None
    # per group, not per chunk: one driver variant serves every chunk of a group
    if any(oc.scheduler is not None for oc in group.opt_cases):
        used = np.unique(opt_index)  # one table per optimizer case of these runs
        hp_steps = np.stack([step_table(opt, group.opt_cases[j], hp_rows[j], spec.steps) for j in used])
        hp_index = np.searchsorted(used, opt_index)
    if any(oc.clip is not None for oc in group.opt_cases):
        off = (np.inf, 2.0, np.inf)
        clip = np.array([oc.clip or off for oc in group.opt_cases], dtype=np.float64)[opt_index]
    return GroupRuns(opt, opt_index, init_index, repeat, hp_rows[opt_index], group.x0[init_index],
                     ukeys[inverse.reshape(-1)], hp_steps, hp_index, clip)


def step_table(opt: Optimizer, case: OptimizerCase, row: np.ndarray, steps: int) -> np.ndarray:
    """(steps, n_hypers): the case's hyperparameters at each step, its
    scheduler's values (lr, and momentum or beta1) in their columns."""
    if case.scheduler is None:
        return np.broadcast_to(row, (steps, row.size))
    return _step_table(opt.name, opt.hyper_names, freeze(case.scheduler), tuple(row.tolist()), steps)


@functools.lru_cache(maxsize=256)
def _step_table(name: str, hyper_names: tuple, frozen: tuple, row: tuple, steps: int) -> np.ndarray:
    """Cached: every chunk of a group asks for the same tables."""
    from .optimizers import schedulers

    table = np.tile(np.array(row), (steps, 1))
    values = schedulers.per_step(thaw(frozen), dict(zip(hyper_names, row)), steps)
    for h, v in values.items():
        table[:, hyper_names.index(h)] = v
    table.flags.writeable = False
    return table


# ------------------------------------------------------------ random draws


def stable_hash(text: str) -> int:
    return zlib.crc32(text.encode())


def initial_points(spec: Spec, case: ObjectiveCase) -> np.ndarray:
    """The initial points of one objective case, (n_inits, dim): a function
    of the spec seed, the problem's description and the case's init scheme.

    Every scheme of a problem draws from the same stream
    ``default_rng([seed, problem])`` (common random numbers: ``normal`` with
    two values of std gives the same points scaled).  An objective may define
    a scheme itself (networks: per-layer ``xavier_uniform``, ``he_normal``,
    ``normal`` weights with zero biases); otherwise the generic schemes apply.
    """
    p = case.problem
    init = case.init
    if init.scheme == "points":
        return np.array(init.points, dtype=np.float64)
    rng = np.random.default_rng([spec.seed, stable_hash(p.describe())])
    own = p.init_points(init.scheme, rng, init.count, init.std)
    if own is not None:
        return own
    if init.scheme not in INIT_SCHEMES:  # validation makes this unreachable
        raise SpecError(f"objective {p.name!r} has no init scheme {init.scheme!r}")
    if init.scheme == "zeros":
        return np.zeros((1, p.dim))
    if init.scheme == "grid":
        axes = []
        for lo, hi in zip(p.lower, p.upper):
            # cell centres: no point on the domain's edge
            axes.append(lo + (np.arange(init.count) + 0.5) * (hi - lo) / init.count)
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)
    if init.scheme == "uniform":
        return rng.uniform(p.lower, p.upper, size=(init.count, p.dim))
    centre = 0.5 * (p.lower + p.upper)
    return centre + init.std * rng.standard_normal((init.count, p.dim))


def stream_keys(seed: int, problem_hash: int, init_index: np.ndarray, repeat: np.ndarray) -> np.ndarray:
    """64-bit keys of the runs' counter-based random streams (minibatches,
    gradient noise): from SeedSequence(seed, problem, init, repeat), so runs
    that differ only in optimizer or hyperparameters see the same minibatches
    (common random numbers) and no key depends on the run's position."""
    out = np.empty(len(init_index), np.uint64)
    for j, (ii, rr) in enumerate(zip(init_index.tolist(), repeat.tolist())):
        out[j] = np.random.SeedSequence([seed, problem_hash, ii, rr]).generate_state(1, np.uint64)[0]
    return out


# ------------------------------------------------------------ resources


# Bytes per run and coordinate, in units of one float64 vector of the
# problem's dimension, measured (peak RSS, docs/performance.md "Memory"):
# a chunk's runs hold x0 (twice), x and g and the optimizer's state per
# thread, x_final, the nearest-minimum temporaries, and x0 and x_final in
# the runs table as pandas, Arrow and Parquet (whose memory pool keeps what
# it frees for a while); the finished sweep's runs table holds x0 and
# x_final as Arrow and as NumPy.
CHUNK_RUN_VECTORS = 24
TABLE_RUN_VECTORS = 4
CASE_VECTORS = 8  # per objective case: the box, the minima, drawing the initial points


def memory_needed(spec: Spec, chunk_runs: int | None = None) -> tuple[int, int]:
    """(bytes, chunk size): an upper bound of the memory a sweep needs at
    its peak, which is one chunk's arrays (the engine's, the tables built
    from them and their Parquet bytes) and, once the sweep is done, the
    runs table; the curves go to disk chunk by chunk."""
    n_runs = spec.n_runs
    n_log = len(range(0, spec.steps + 1, spec.log_every)) + 1
    chunk = min(n_runs, chunk_runs or default_chunk_runs(spec))
    worst_chunk = 0
    runs_bytes = 0
    for case in spec.objective_cases:
        runs = spec.n_inits(case) * len(spec.optimizer_cases) * spec.repeats
        vector = 8 * case.problem.dim
        cols = 3 + (case.problem.dim if case.problem.dim == 2 else 0) + (1 if spec.record_grad_norm else 0)
        in_chunk = min(runs, chunk)
        per_run = n_log * 8 * (3 * cols + 2) + (CHUNK_RUN_VECTORS + 3 * len(case.problem.minima)) * vector
        worst_chunk = max(worst_chunk, in_chunk * per_run + CASE_VECTORS * vector)
        runs_bytes += runs * (RUN_BYTES + TABLE_RUN_VECTORS * vector + 2 * LIST_BYTES)
    return runs_bytes + worst_chunk, chunk


def check_memory(spec: Spec, chunk_runs: int | None = None) -> None:
    """Refuse, before running, a grid whose memory would not fit
    (:func:`memory_needed` against the memory available now).  The disk
    the tables need is checked against the output folder
    (:func:`optbench.storage.check_disk`)."""
    need, chunk = memory_needed(spec, chunk_runs)
    avail = available_memory()
    if need > 0.8 * avail:
        n_log = len(range(0, spec.steps + 1, spec.log_every)) + 1
        raise SpecError(
            f"the grid needs about {format_bytes(need)} of memory ({spec.n_runs:,} runs in the runs table, chunks "
            f"of {chunk:,} runs x {n_log:,} logged steps) but {format_bytes(avail)} are available; "
            f"raise log_every or reduce the grid"
        )
