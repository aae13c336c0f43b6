"""Expand a validated spec into runs and chunks, and compute one chunk.

Run order (and so run ids): objective cases in spec order, then optimizer
cases in spec order, then initial points, then repeats.  A *group* is the
block of runs sharing one objective case and one optimizer; a *chunk* is a
contiguous range of one group's runs, the unit that is computed, written to
disk and resumed.  A chunk's numbers depend on its runs only (never on the
chunk size, the thread count or the machine that computed it), and a chunk
comes back as plain data (:class:`~optbench.storage.ChunkData`: two Parquet
files as bytes), so the local backend and Dask workers produce identical
files.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__, engine
from . import optimizers as optimizers_mod
from .spec import ObjectiveCase, Spec, initial_points, stable_hash, stream_keys
from .storage import ChunkData, table_bytes


@dataclass
class Group:
    case_index: int
    case: ObjectiveCase
    optimizer: str
    opt_cases: list  # OptimizerCase
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


CURVE_SLICE_POINTS = 1_000_000  # logged points converted to a table at a time
CHUNK_POINTS = 2_000_000  # default chunk: about this many logged points
MAX_CHUNK_RUNS = 100_000


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
                g = Group(ci, case, block[0].name, block, run_id, x0, spec.repeats)
                groups.append(g)
                run_id += g.n_runs
                block = []
            if oc is not None:
                block.append(oc)
    return groups


def default_chunk_runs(spec: Spec) -> int:
    """About ``CHUNK_POINTS`` logged points per chunk (at least one run)."""
    n_log = len(engine.log_steps(spec.steps, spec.log_every))
    return int(min(MAX_CHUNK_RUNS, max(1, CHUNK_POINTS // n_log)))


def chunk_plan(groups: list[Group], chunk_runs: int) -> list[Chunk]:
    """Chunks of at most ``chunk_runs`` runs; a chunk never spans two groups."""
    chunks = []
    for gi, g in enumerate(groups):
        for lo in range(0, g.n_runs, chunk_runs):
            hi = min(g.n_runs, lo + chunk_runs)
            chunks.append(Chunk(len(chunks), gi, lo, hi, g.first_run_id + lo))
    return chunks


def code_digest() -> str:
    """A digest of everything a run's numbers depend on besides the spec:
    a folder's finished chunks are only resumed by the same code."""
    root = Path(__file__).parent
    files = sorted([*root.joinpath("objectives").glob("*.py"), *root.joinpath("optimizers").glob("*.py"),
                    *(root / n for n in ("_driver_template.py", "_jit.py", "engine.py", "sweep.py", "spec.py",
                                         "kernels.py", "storage.py"))])
    h = hashlib.sha256()
    import numba

    for part in [__version__, numba.__version__, np.__version__, pa.__version__, *(f.read_text() for f in files)]:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


# ------------------------------------------------------------ one chunk


def _chunk_arrays(spec: Spec, group: Group, lo: int, hi: int):
    opt = optimizers_mod.get(group.optimizer)
    n_init = group.x0.shape[0]
    reps = group.repeats
    r = np.arange(lo, hi, dtype=np.int64)
    oc_index = r // (n_init * reps)
    init_index = (r % (n_init * reps)) // reps
    repeat = r % reps
    hp_rows = np.stack([opt.hp_row(oc.values) for oc in group.opt_cases])
    hp = hp_rows[oc_index]
    x0 = group.x0[init_index]
    # one key per distinct (init, repeat): shared by every optimizer case
    pair = init_index * reps + repeat
    uniq, inverse = np.unique(pair, return_inverse=True)
    ukeys = stream_keys(spec.seed, stable_hash(group.case.problem.describe()), uniq // reps, uniq % reps)
    keys = ukeys[inverse.reshape(-1)]
    return opt, oc_index, init_index, repeat, hp, x0, keys


def _group_call(spec: Spec, group: Group, opt, x0, hp, keys, threads: int) -> dict:
    """engine.run_group's arguments for these runs of ``group``."""
    R = len(x0)
    return dict(problem=group.case.problem, optimizer=opt, x0=x0, hp=hp, steps=spec.steps,
                log_every=spec.log_every, keys=keys, noise=np.full(R, group.case.noise),
                batch=np.full(R, group.case.batch_size, np.int64), targets=spec.targets,
                grad_tol=spec.grad_tol, record_grad=spec.record_grad_norm, threads=threads)


def compute_chunk(spec: Spec, chunk: Chunk, groups: list[Group] | None = None, *, threads: int | None = None,
                  sub_chunk: int | None = None, on_runs=None) -> ChunkData:
    """Run one chunk and encode its tables (Parquet bytes)."""
    t0 = time.perf_counter()
    groups = plan(spec) if groups is None else groups
    group = groups[chunk.group]
    opt, oc_index, init_index, repeat, hp, x0, keys = _chunk_arrays(spec, group, chunk.lo, chunk.hi)
    R = len(x0)
    problem = group.case.problem
    threads = engine.default_threads() if threads is None else max(1, int(threads))
    res = engine.run_group(**_group_call(spec, group, opt, x0, hp, keys, threads),
                           chunk=sub_chunk, on_chunk=on_runs)
    run_ids = np.arange(chunk.first_run, chunk.first_run + R, dtype=np.int64)
    runs = _runs_table(spec, group, opt, res, run_ids, oc_index, init_index, repeat, x0)
    runs_bytes = table_bytes(pa.Table.from_pandas(runs, schema=runs_schema(spec), preserve_index=False))
    del runs
    steps_logged = engine.log_steps(spec.steps, spec.log_every)
    sink = pa.BufferOutputStream()
    writer = pq.ParquetWriter(sink, CURVES_SCHEMA, compression="zstd")
    n_rows = 0
    # convert in slices so the long table never holds a second copy of the
    # chunk's curves beside the engine's arrays
    n_log = res.curve_f.shape[1]
    step = max(1, CURVE_SLICE_POINTS // max(1, n_log))
    for a in range(0, R, step):
        table = _curves_table(problem, res, run_ids, steps_logged, slice(a, min(R, a + step)))
        n_rows += table.num_rows
        writer.write_table(table)
    writer.close()
    del res
    return ChunkData(chunk.id, chunk.first_run, R, runs_bytes, sink.getvalue().to_pybytes(), n_rows,
                     time.perf_counter() - t0, threads)


# ------------------------------------------------------------ the tables

CURVES_SCHEMA = pa.schema([
    ("run_id", pa.int64()), ("step", pa.int64()), ("f", pa.float64()), ("gap", pa.float64()),
    ("grad_norm", pa.float64()), ("pos_x", pa.float64()), ("pos_y", pa.float64()),
])

# column kinds: pandas dtype and arrow type
_KINDS = {
    "int": (np.int64, pa.int64()),
    "Int": ("Int64", pa.int64()),
    "float": (np.float64, pa.float64()),
    "bool": (np.bool_, pa.bool_()),
    "boolean": ("boolean", pa.bool_()),
    # names: dictionary-encoded, so every Parquet reader gives categoricals
    "str": (object, pa.dictionary(pa.int32(), pa.string())),
    "list": (object, pa.list_(pa.float64())),
}


def _value_kind(values: list) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
        return "float"
    return "str"


def runs_columns(spec: Spec) -> list[tuple[str, str]]:
    """The runs table's columns and kinds: one schema for every part of a
    sweep (columns that do not apply to a run hold nulls)."""
    cols = [("run_id", "int"), ("objective", "str"), ("dim", "int")]
    obj_vals: dict[str, list] = {}
    for case in spec.objective_cases:
        for k, v in case.problem.params.items():
            obj_vals.setdefault(k, []).append(v)
    n_cases = len(spec.objective_cases)
    for k, vals in obj_vals.items():
        kind = _value_kind(vals)
        nullable = len(vals) < n_cases
        kind = {"int": "Int", "bool": "boolean"}.get(kind, kind) if nullable else kind
        cols.append((f"obj_{k}", kind))
    cols += [("batch_size", "int"), ("grad_noise", "float"), ("optimizer", "str")]
    opt_names = list(dict.fromkeys(oc.name for oc in spec.optimizer_cases))
    seen = {}
    for name in opt_names:
        for h in optimizers_mod.get(name).hypers:
            seen.setdefault(h.name, []).append(h.is_bool)
    for h, flags in seen.items():
        cols.append((h, ("bool" if len(flags) == len(opt_names) else "boolean") if all(flags) else "float"))
    cols += [("init_scheme", "str"), ("init_std", "float"), ("init_index", "int"), ("repeat", "int"), ("seed", "int"),
             ("x0", "list"), ("x_final", "list"), ("f_star", "float"), ("f_final", "float"), ("f_best", "float"),
             ("gap_final", "float"), ("gap_best", "float"), ("grad_norm_final", "float"), ("steps_run", "int"),
             ("status", "str"), ("diverged", "bool"), ("diverged_step", "Int"), ("converged_step", "Int"),
             ("minimum_reached", "int"), ("nearest_minimum", "int"), ("minimum_distance", "float")]
    cols += [(target_column(t), "Int") for t in sorted(spec.targets, reverse=True)]
    return cols


def runs_schema(spec: Spec) -> pa.Schema:
    return pa.schema([(name, _KINDS[kind][1]) for name, kind in runs_columns(spec)])


def _typed(values, kind: str, R: int):
    dtype = _KINDS[kind][0]
    if values is None:
        if kind in ("str", "list"):
            return np.full(R, None, dtype=object)
        if kind == "float":
            return np.full(R, np.nan)
        return pd.array([pd.NA] * R, dtype=dtype)
    if kind == "str":
        return np.array([str(v) for v in values], dtype=object) if len(values) else np.empty(0, object)
    if kind == "list":
        return values
    if kind == "Int":
        arr = np.asarray(values, dtype=np.int64)
        return pd.arrays.IntegerArray(arr, arr < 0)  # -1: never
    if kind == "boolean":
        return pd.array(np.asarray(values, dtype=bool), dtype="boolean")
    return np.asarray(values, dtype=dtype)


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
        cols[f"obj_{k}"] = np.full(R, v, dtype=object)
    cols["batch_size"] = np.full(R, group.case.batch_size, np.int64)
    cols["grad_noise"] = np.full(R, group.case.noise)
    cols["optimizer"] = np.full(R, group.optimizer, dtype=object)
    for h in opt.hypers:
        cols[h.name] = np.array([oc.values[h.name] for oc in group.opt_cases])[oc_index]
    init = group.case.init
    cols["init_scheme"] = np.full(R, init.scheme, dtype=object)
    cols["init_std"] = np.full(R, init.std if init.uses_std else np.nan)  # normal's sigma; NaN for other schemes
    cols["init_index"] = init_index
    cols["repeat"] = repeat
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
    cols["status"] = np.array(engine.STATUS, dtype=object)[res.status]
    cols["diverged"] = np.isin(res.status, (2, 3))
    cols["diverged_step"] = np.where(cols["diverged"], res.steps_run, -1)
    cols["converged_step"] = res.converged_step
    nearest, dist, reached = _nearest_minimum(problem, res.x_final, cols["diverged"])
    cols["minimum_reached"] = reached
    cols["nearest_minimum"] = nearest
    cols["minimum_distance"] = dist
    for k, t in enumerate(sorted(spec.targets, reverse=True)):
        cols[target_column(t)] = res.target_steps[:, k]
    # every column of the sweep's schema, in its order and dtype
    return pd.DataFrame({name: _typed(cols.get(name), kind, R) for name, kind in runs_columns(spec)})


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


def _curves_table(problem, res: engine.GroupResult, run_ids: np.ndarray, steps_logged: np.ndarray,
                  rows: slice) -> pa.Table:
    """Long-format curves of the chunk's runs ``rows``."""
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
    f = res.curve_f[abs_rr, cc]
    with np.errstate(invalid="ignore"):
        gap = f - problem.f_star if np.isfinite(problem.f_star) else np.full(len(rr), np.nan)
    # one schema for every chunk: columns that do not apply hold NaN
    nan = np.full(len(rr), np.nan)
    has_x = res.curve_x.shape[1] and problem.dim == 2
    cols = [
        run_ids[abs_rr],
        step[rr, cc].astype(np.int64),
        f,
        gap,
        res.curve_g[abs_rr, cc] if res.curve_g.shape[1] else nan,
        res.curve_x[abs_rr, cc, 0] if has_x else nan,
        res.curve_x[abs_rr, cc, 1] if has_x else nan,
    ]
    return pa.Table.from_arrays([pa.array(c) for c in cols], schema=CURVES_SCHEMA)


def warm(spec: Spec, groups: list[Group], threads: int | None = None) -> float:
    """Load (or compile) every kernel the sweep needs, before the first
    chunk runs: the missing ones compile side by side in ``threads``
    processes (see :func:`optbench.engine.compile_kernels`); seconds taken."""
    t0 = time.perf_counter()
    threads = engine.default_threads() if threads is None else max(1, int(threads))
    calls = []
    for g in groups:
        opt, _, _, _, hp, x0, keys = _chunk_arrays(spec, g, 0, 1)
        calls.append(_group_call(spec, g, opt, x0, hp, keys, threads))
    engine.compile_kernels(calls)
    return time.perf_counter() - t0
