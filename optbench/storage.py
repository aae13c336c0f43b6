"""Results on disk: a folder of Parquet parts, one per finished chunk.

Layout of ``<out>/<sweep name>/`` (``SCHEMA_VERSION`` 2)::

    manifest.json            the spec, its digest, the chunk plan, state
    runs.parquet/            part-000000.parquet, ...  one row per run
    curves.parquet/          part-000000.parquet, ...  one row per logged step
    chunks/000000.json       a chunk's record: its run ids, rows, file sizes
                             and CRC-32s; written last, so it is the commit

Every file is written to a hidden temporary name, flushed to disk and
renamed into place, so a process killed at any moment leaves either a whole
file or none.  A chunk counts as finished only when its record exists and
its parts match the record; anything else is re-run on resume.  Reading a
folder checks every part against its record and names the file that is
missing, truncated or corrupt.

``runs.parquet`` and ``curves.parquet`` are Parquet datasets (folders) with
one schema across parts, so ``pandas.read_parquet(folder / "runs.parquet")``
and other Parquet readers work on them directly; :func:`load` adds the
checks and the categorical / nullable dtypes.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ._errors import ResultsError

SCHEMA_VERSION = 2
RUNS = "runs.parquet"
CURVES = "curves.parquet"
CHUNKS = "chunks"
MANIFEST = "manifest.json"
REPORT_FILES = ("report.html", "summary.md", "plots")


def spec_digest(raw: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]


def part_name(chunk: int) -> str:
    return f"part-{chunk:06d}.parquet"


def record_name(chunk: int) -> str:
    return f"{chunk:06d}.json"


@dataclass
class ChunkData:
    """One finished chunk as plain data: what a worker sends back."""

    chunk: int
    first_run: int
    n_runs: int
    runs: bytes  # a Parquet file
    curves: bytes  # a Parquet file
    n_curve_rows: int
    wall_s: float
    threads: int = 1  # threads the chunk ran on (a fact about the machine, not the numbers)


# ------------------------------------------------------------ atomic writes


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - not every platform opens folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that no reader (or crash) ever sees a
    partial file: a hidden temporary sibling, fsync, rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def crc32_file(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            crc = zlib.crc32(block, crc)
    return crc


def table_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


# ------------------------------------------------------------ the folder


def read_manifest(folder: Path) -> dict:
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ResultsError(f"results folder {str(folder)!r} does not exist")
    if not path.is_file():
        raise ResultsError(f"{path}: missing; not an optbench results folder (expected {MANIFEST}, {RUNS}, {CURVES})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable or corrupt manifest ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(manifest, dict) or "schema_version" not in manifest:
        raise ResultsError(f"{path}: not an optbench manifest (no schema_version)")
    if manifest["schema_version"] != SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: schema version {manifest['schema_version']!r}; this optbench reads version {SCHEMA_VERSION} "
            f"(re-run the spec into a new folder, or with --overwrite)"
        )
    chunks = manifest.get("chunks")
    if not isinstance(chunks, list) or not all(isinstance(c, list) and len(c) == 2 for c in chunks):
        raise ResultsError(f"{path}: no valid chunk plan ('chunks' must list [first_run_id, n_runs] pairs)")
    return manifest


def write_manifest(folder: Path, manifest: dict) -> None:
    write_atomic(Path(folder) / MANIFEST, json.dumps(manifest, indent=2, default=str).encode())


class SweepFolder:
    """A results folder being written: chunk parts and records, the manifest."""

    def __init__(self, folder: Path, manifest: dict):
        self.folder = Path(folder)
        self.manifest = manifest

    @classmethod
    def create(cls, folder: Path, manifest: dict) -> SweepFolder:
        """Make the folder whole or not at all: built under a hidden sibling
        name (sub-folders and manifest) and renamed into place, so a process
        killed here never leaves a folder without its manifest."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.parent / f".{folder.name}.new-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        for sub in (RUNS, CURVES, CHUNKS):
            (tmp / sub).mkdir(parents=True)
        write_manifest(tmp, manifest)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # an empty folder the user made: take its place
        os.replace(tmp, folder)
        _fsync_dir(folder.parent)
        return cls(folder, manifest)

    def finished(self, verify: bool = True) -> tuple[dict[int, dict], list[str]]:
        """Records of finished chunks that check out, and one line per chunk
        that will be re-run (with why).  Records that fail are removed."""
        done: dict[int, dict] = {}
        problems = []
        for chunk in range(len(self.manifest["chunks"])):
            path = self.folder / CHUNKS / record_name(chunk)
            if not path.exists():
                continue
            record, problem = check_chunk(self.folder, self.manifest, chunk, verify=verify)
            if problem is None:
                done[chunk] = record
            else:
                problems.append(problem)
                path.unlink(missing_ok=True)
        self._clean_temporaries()
        return done, problems

    def _clean_temporaries(self) -> None:
        for sub in (RUNS, CURVES, CHUNKS, "."):
            d = self.folder / sub
            if d.is_dir():
                for p in d.glob(".*.tmp-*"):
                    p.unlink(missing_ok=True)

    def write_chunk(self, data: ChunkData) -> dict:
        """Parts first, then the record: a chunk whose record exists is whole."""
        name = part_name(data.chunk)
        files = {}
        for sub, payload in ((RUNS, data.runs), (CURVES, data.curves)):
            write_atomic(self.folder / sub / name, payload)
            files[f"{sub}/{name}"] = {"bytes": len(payload), "crc32": zlib.crc32(payload)}
        record = {
            "chunk": data.chunk,
            "first_run": data.first_run,
            "n_runs": data.n_runs,
            "n_curve_rows": data.n_curve_rows,
            "wall_s": data.wall_s,
            "threads": data.threads,
            "files": files,
        }
        write_atomic(self.folder / CHUNKS / record_name(data.chunk), json.dumps(record, indent=1).encode())
        return record

    def complete(self, extra: dict) -> None:
        self.manifest = {**self.manifest, **extra, "state": "complete"}
        write_manifest(self.folder, self.manifest)


def check_chunk(folder: Path, manifest: dict, chunk: int, verify: bool = True) -> tuple[dict | None, str | None]:
    """(record, None) if the chunk's record and parts check out, else
    (None, a line naming the file and what is wrong)."""
    path = Path(folder) / CHUNKS / record_name(chunk)
    if not path.is_file():
        return None, f"{path}: missing (chunk {chunk} has not finished)"
    try:
        record = json.loads(path.read_text())
        files = record["files"]
        first, n = manifest["chunks"][chunk]
        if record["chunk"] != chunk or record["first_run"] != first or record["n_runs"] != n:
            return None, f"{path}: record does not match the manifest's chunk plan"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"{path}: unreadable or corrupt chunk record ({exc.__class__.__name__})"
    for sub in (RUNS, CURVES):
        rel = f"{sub}/{part_name(chunk)}"
        info = files.get(rel)
        part = Path(folder) / rel
        if info is None:
            return None, f"{path}: record lists no {rel}"
        if not part.is_file():
            return None, f"{part}: missing (chunk {chunk})"
        size = part.stat().st_size
        if size != info["bytes"]:
            return None, f"{part}: truncated or changed ({size} bytes, the record says {info['bytes']})"
        if verify and crc32_file(part) != info["crc32"]:
            return None, f"{part}: corrupt (CRC-32 does not match the record)"
    return record, None


# ------------------------------------------------------------ reading


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
        import numpy as np

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
        if col.startswith("obj_") and (pd.api.types.is_string_dtype(runs[col]) or runs[col].dtype == object):
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


def read_table(folder: Path, name: str, columns=None, filters=None) -> pd.DataFrame:
    """A whole table of a finished results folder (with checks)."""
    results = load(folder, verify=False)
    if name == RUNS:
        return results.runs if columns is None else results.runs[columns]
    return _read_parts(results._parts(CURVES), columns=columns, filters=filters)


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "hostname": platform.node(),
    }


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
