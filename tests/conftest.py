"""Helpers shared by the test modules (results folders on disk)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa

from optbench import storage


def copy_results(src: Path, dst: Path) -> Path:
    """A copy of a results folder's tables (no report), as if made elsewhere."""
    dst.mkdir(parents=True)
    for name in (storage.RUNS, storage.CURVES, storage.CHUNKS):
        shutil.copytree(src / name, dst / name)
    shutil.copy2(src / storage.MANIFEST, dst / storage.MANIFEST)
    return dst


def rewrite_runs(folder: Path, runs: pd.DataFrame) -> None:
    """Replace the runs table of a finished folder (an edited or foreign one)
    through the writer's own path: each chunk's part and its record."""
    manifest = storage.read_manifest(folder)
    store = storage.SweepFolder(folder, manifest)
    done, problems = store.finished()
    assert not problems, problems
    for chunk, record in sorted(done.items()):
        first, n = manifest["chunks"][chunk]
        part = runs[(runs["run_id"] >= first) & (runs["run_id"] < first + n)]
        curves = (folder / storage.CURVES / storage.part_name(chunk)).read_bytes()
        table = pa.Table.from_pandas(part, preserve_index=False)
        store.write_chunk(storage.ChunkData(chunk, first, n, storage.table_bytes(table), curves,
                                            record["n_curve_rows"], record["wall_s"]))


def one_part(folder: Path, sub: str) -> Path:
    """The first part file of ``runs.parquet`` or ``curves.parquet``."""
    return sorted((folder / sub).glob("part-*.parquet"))[0]
