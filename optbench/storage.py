"""Results on disk: ``runs.parquet``, ``curves.parquet``, ``manifest.json``.

Storage owns the schema (``SCHEMA_VERSION`` in the manifest) and atomic
writes: a sweep writes into a hidden sibling folder and only a complete
folder is moved into place, so an interrupted write never leaves a
half-written results folder where a complete one was.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ._errors import ResultsError

SCHEMA_VERSION = 1
RUNS = "runs.parquet"
CURVES = "curves.parquet"
MANIFEST = "manifest.json"


def spec_digest(raw: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ResultsWriter:
    """Write one sweep's folder: curves streamed group by group, then runs and manifest."""

    def __init__(self, final_dir: Path):
        self.final_dir = Path(final_dir)
        self.final_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = self.final_dir.parent / f".{self.final_dir.name}.partial-{os.getpid()}"
        if self.tmp_dir.exists():
            shutil.rmtree(self.tmp_dir)
        self.tmp_dir.mkdir()
        self._curves_writer: pq.ParquetWriter | None = None

    def add_curves(self, df: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(df, preserve_index=False)
        if self._curves_writer is None:
            self._curves_writer = pq.ParquetWriter(self.tmp_dir / CURVES, table.schema, compression="zstd")
        self._curves_writer.write_table(table)

    def finish(self, runs: pd.DataFrame, manifest: dict) -> Path:
        if self._curves_writer is not None:
            self._curves_writer.close()
        runs.to_parquet(self.tmp_dir / RUNS, index=False, compression="zstd")
        (self.tmp_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        old = None
        if self.final_dir.exists():
            old = self.final_dir.parent / f".{self.final_dir.name}.old-{os.getpid()}"
            os.replace(self.final_dir, old)
        os.replace(self.tmp_dir, self.final_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final_dir

    def abort(self) -> None:
        if self._curves_writer is not None:
            try:
                self._curves_writer.close()
            except Exception:  # noqa: BLE001 - best effort while cleaning up
                pass
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    if not Path(folder).is_dir():
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
            f"{path}: schema version {manifest['schema_version']!r}; this optbench reads version {SCHEMA_VERSION}"
        )
    return manifest


def read_table(folder: Path, name: str, columns=None, filters=None) -> pd.DataFrame:
    path = Path(folder) / name
    if not path.is_file():
        raise ResultsError(f"{path}: missing from the results folder")
    try:
        return pq.read_table(path, columns=columns, filters=filters).to_pandas()
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable or corrupt parquet ({exc.__class__.__name__}: {exc})") from None


@dataclass
class Results:
    """A sweep's tables.  ``curves`` is read from disk on first use."""

    path: Path | None
    runs: pd.DataFrame
    manifest: dict
    _curves: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def curves(self) -> pd.DataFrame:
        if self._curves is None:
            if self.path is None:
                raise ResultsError("these results have no folder on disk and no curves")
            self._curves = read_table(self.path, CURVES)
        return self._curves

    def curves_for(self, run_ids, columns=None) -> pd.DataFrame:
        """Curves of some runs only (reads just those row groups' matches)."""
        ids = [int(i) for i in run_ids]
        if self._curves is not None:
            out = self._curves[self._curves["run_id"].isin(ids)]
            return out if columns is None else out[columns]
        return read_table(self.path, CURVES, columns=columns, filters=[("run_id", "in", ids)])

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r}, runs={len(self.runs)})"


def load(path) -> Results:
    """Read a results folder, checking manifest schema and tables."""
    folder = Path(path)
    manifest = read_manifest(folder)
    runs = read_table(folder, RUNS)
    curves_path = folder / CURVES
    if not curves_path.is_file():
        raise ResultsError(f"{curves_path}: missing from the results folder")
    try:
        meta = pq.ParquetFile(curves_path).metadata
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"{curves_path}: unreadable or corrupt parquet ({exc.__class__.__name__}: {exc})") from None
    if manifest.get("n_runs") is not None and len(runs) != manifest["n_runs"]:
        raise ResultsError(f"{folder / RUNS}: {len(runs)} rows but the manifest records {manifest['n_runs']} runs")
    if manifest.get("n_curve_rows") is not None and meta.num_rows != manifest["n_curve_rows"]:
        raise ResultsError(f"{curves_path}: {meta.num_rows} rows but the manifest records {manifest['n_curve_rows']}")
    return Results(folder, runs, manifest)


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
