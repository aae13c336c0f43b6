"""Reading a results folder: every part checked against its chunk record.

``runs.parquet`` and ``curves.parquet`` are Parquet datasets (folders) with
one schema across parts, so ``pandas.read_parquet(folder / "runs.parquet")``
and other Parquet readers work on them directly; :func:`load` adds the
checks and the categorical / nullable dtypes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._errors import ResultsError
from .folder import check_chunk, read_manifest
from .schema import CHUNKS, CURVES, OBJECTIVE_PARAM_PREFIX, RUNS, part_name, record_name

RESUME_HINT = "run the same spec again with `optbench run` to resume (it re-runs only what is missing)"


@dataclass
class Results:
    """A sweep's tables.  ``runs`` and ``curves`` are read on first use."""

    path: Path | None
    manifest: dict
    records: dict = field(default_factory=dict, repr=False)  # chunk -> record (finished chunks)
    _runs: pd.DataFrame | None = field(default=None, repr=False)
    _curves: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def complete(self) -> bool:
        return len(self.records) == len(self.manifest.get("chunks", []))

    def _parts(self, sub: str, chunks=None) -> list[Path]:
        chunks = sorted(self.records) if chunks is None else chunks
        return [self.path / sub / part_name(c) for c in chunks]

    @property
    def runs(self) -> pd.DataFrame:
        if self._runs is None:
            self._runs = self.read_runs()
        return self._runs

    def read_runs(self, exclude=()) -> pd.DataFrame:
        """The runs table without the columns ``exclude`` (read from disk
        each call: e.g. without ``x_final`` when only summaries are needed)."""
        if self.path is None:
            raise ResultsError("these results have no folder on disk")
        parts = self._parts(RUNS)
        columns = None
        if exclude and parts:
            try:
                names = pq.read_schema(parts[0]).names
            except (OSError, pa.ArrowException, ValueError) as exc:
                raise ResultsError(f"{parts[0]}: unreadable or corrupt parquet ({exc.__class__.__name__}: {exc}); "
                                   f"{RESUME_HINT}") from None
            columns = [c for c in names if c not in set(exclude)]
        return finish_runs(_read_parts(parts, columns=columns), self.manifest)

    @property
    def curves(self) -> pd.DataFrame:
        if self._curves is None:
            if self.path is None:
                raise ResultsError("these results have no folder on disk and no curves")
            self._curves = _read_parts(self._parts(CURVES))
        return self._curves

    def curves_for(self, run_ids, columns=None, steps=None) -> pd.DataFrame:
        """Curves of some runs only: reads just the parts holding them, and
        pushes the run (and step) filter into the Parquet read."""
        ids = sorted({int(i) for i in run_ids})
        if self._curves is not None:
            out = self._curves[self._curves["run_id"].isin(ids)]
            if steps is not None:
                out = out[out["step"].isin([int(s) for s in steps])]
            return out if columns is None else out[columns]
        chunks = self.chunks_of(ids)
        filters = [("run_id", "in", ids)]
        if steps is not None:
            filters.append(("step", "in", [int(s) for s in steps]))
        return _read_parts(self._parts(CURVES, chunks), columns=columns, filters=filters)

    def chunks_of(self, run_ids) -> list[int]:
        plan = self.manifest["chunks"]
        starts = np.array([c[0] for c in plan], dtype=np.int64)
        ids = np.asarray(sorted(run_ids), dtype=np.int64)
        if not len(ids):
            return []
        found = np.unique(np.searchsorted(starts, ids, side="right") - 1)
        return [int(c) for c in found if c in self.records]

    def __repr__(self) -> str:
        done = f"{len(self.records)}/{len(self.manifest.get('chunks', []))} chunks"
        return f"Results({str(self.path)!r}, runs={self.manifest.get('n_runs')}, {done})"


def _read_parts(paths: list[Path], columns=None, filters=None) -> pd.DataFrame:
    tables = []
    for p in paths:
        try:
            tables.append(pq.read_table(p, columns=columns, filters=filters))
        except (OSError, pa.ArrowException, ValueError) as exc:
            raise ResultsError(f"{p}: unreadable or corrupt parquet ({exc.__class__.__name__}: {exc}); "
                               f"{RESUME_HINT}") from None
    if not tables:
        return pd.DataFrame(columns=columns) if columns else pd.DataFrame()
    table = pa.concat_tables(tables)
    del tables
    # columns are handed over one at a time: never two copies of the floats
    return table.to_pandas(split_blocks=True, self_destruct=True)


def finish_runs(runs: pd.DataFrame, manifest: dict) -> pd.DataFrame:
    """Categoricals for names (sorted categories, whatever the chunking)."""
    if runs.empty:
        return runs
    for col in ("objective", "optimizer", "init_scheme", "status"):
        if col in runs:
            runs[col] = runs[col].astype("category")
    for col in runs.columns:
        named = pd.api.types.is_string_dtype(runs[col]) or runs[col].dtype == object
        if col.startswith(OBJECTIVE_PARAM_PREFIX) and named:
            runs[col] = runs[col].astype("category")
    return runs


def load(path, *, partial: bool = False, verify: bool = True) -> Results:
    """Read a results folder, checking the manifest and every part against
    its chunk record (size and CRC-32 unless ``verify=False``).

    An unfinished sweep is refused unless ``partial=True``, which reads the
    chunks that finished."""
    folder = Path(path)
    manifest = read_manifest(folder)
    records = {}
    missing = 0
    for chunk in range(len(manifest["chunks"])):
        record, problem = check_chunk(folder, manifest, chunk, verify=verify)
        if problem is None:
            records[chunk] = record
            continue
        if manifest.get("state") == "complete" or (folder / CHUNKS / record_name(chunk)).exists():
            raise ResultsError(f"{problem}; {RESUME_HINT}")
        missing += 1
    if missing and not partial:
        raise ResultsError(
            f"{folder}: the sweep is unfinished ({len(records)} of {len(manifest['chunks'])} chunks done); "
            f"{RESUME_HINT}, or load(..., partial=True) to read what is done"
        )
    return Results(folder, manifest, records)
