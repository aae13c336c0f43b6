"""One chunk of a sweep: its runs through the engine, its tables as Parquet bytes.

A chunk's numbers depend on its runs only (never on the chunk size, the
thread count or the machine that computed it), and a chunk comes back as
plain data (:class:`~optbench.storage.ChunkData`: two Parquet files as
bytes), so the local backend and Dask workers produce identical files.
"""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import engine
from ..grid import Chunk, Group, GroupRuns, group_runs, plan
from ..spec import Spec
from ..storage import CURVES_SCHEMA, ChunkData, runs_schema, table_bytes
from ..storage.tables import curves_table, runs_table, step_cost

CURVE_SLICE_POINTS = 1_000_000  # logged points converted to a table at a time


def group_call(spec: Spec, group: Group, runs: GroupRuns, threads: int) -> dict:
    """:func:`optbench.engine.run_group`'s arguments for ``runs`` of ``group``
    (the driver chosen for the whole group's work, so every chunk and the
    warm-up agree)."""
    R = runs.n_runs
    return dict(problem=group.case.problem, optimizer=runs.optimizer, x0=runs.x0, hp=runs.hp, steps=spec.steps,
                work=group.n_runs * spec.steps,
                log_every=spec.log_every, keys=runs.keys, noise=np.full(R, group.case.noise),
                batch=np.full(R, group.case.batch_size, np.int64), targets=spec.targets,
                grad_tol=spec.grad_tol, record_grad=spec.record_grad_norm, threads=threads, **runs.engine_args())


def compute_chunk(spec: Spec, chunk: Chunk, groups: list[Group] | None = None, *, threads: int | None = None,
                  sub_chunk: int | None = None, on_runs=None) -> ChunkData:
    """Run one chunk and encode its tables (Parquet bytes)."""
    t0 = time.perf_counter()
    groups = plan(spec) if groups is None else groups
    group = groups[chunk.group]
    runs = group_runs(spec, group, chunk.lo, chunk.hi)
    R = runs.n_runs
    problem = group.case.problem
    threads = engine.default_threads() if threads is None else max(1, int(threads))
    res = engine.run_group(**group_call(spec, group, runs, threads), chunk=sub_chunk, on_chunk=on_runs)
    run_ids = np.arange(chunk.first_run, chunk.first_run + R, dtype=np.int64)
    table = runs_table(spec, group, runs, res, run_ids)
    runs_bytes = table_bytes(pa.Table.from_pandas(table, schema=runs_schema(spec), preserve_index=False))
    del table
    steps_logged = engine.log_steps(spec.steps, spec.log_every)
    sink = pa.BufferOutputStream()
    writer = pq.ParquetWriter(sink, CURVES_SCHEMA, compression="zstd")
    n_rows = 0
    # convert in slices so the long table never holds a second copy of the
    # chunk's curves beside the engine's arrays
    n_log = res.curve_f.shape[1]
    step = max(1, CURVE_SLICE_POINTS // max(1, n_log))
    for a in range(0, R, step):
        part = curves_table(problem, res, run_ids, steps_logged, slice(a, min(R, a + step)),
                            step_cost(problem, group.case.batch_size))
        n_rows += part.num_rows
        writer.write_table(part)
    writer.close()
    del res
    return ChunkData(chunk.id, chunk.first_run, R, runs_bytes, sink.getvalue().to_pybytes(), n_rows,
                     time.perf_counter() - t0, threads)


def warm(spec: Spec, groups: list[Group], threads: int | None = None, notify=None, driver: str = "auto") -> float:
    """Load (or compile) every kernel the sweep needs, before the first
    chunk runs: the missing ones compile side by side in ``threads``
    processes (see :func:`optbench.engine.compile_kernels`, which calls
    ``notify(n, processes)`` first); ``driver``: see
    :func:`optbench.engine.run_group`; seconds taken."""
    t0 = time.perf_counter()
    threads = engine.default_threads() if threads is None else max(1, int(threads))
    engine.compile_kernels([dict(group_call(spec, g, group_runs(spec, g, 0, 1), threads), driver=driver)
                            for g in groups], notify)
    return time.perf_counter() - t0
