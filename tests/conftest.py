"""Helpers shared by the test modules (results folders on disk), and the
markers of tests that need an extra: each such test skips alone, with the
command that installs what it needs, never its neighbours."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from optbench import storage

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None)
# marker -> (is it here?, what to do about it)
NEEDS = {
    "torch": (lambda: importlib.util.find_spec("torch") is not None,
              "torch is not installed: pip install -e '.[torch]'"),
    "dask": (lambda: importlib.util.find_spec("distributed") is not None,
             "Dask distributed is not installed: pip install -e '.[dask]'"),
    "browser": (lambda: CHROMIUM is not None,
                "headless Chromium is not installed: apt-get install -y chromium (.ci/run installs it)"),
}


def pytest_collection_modifyitems(config, items):
    found = {}
    for item in items:
        for marker, (present, why) in NEEDS.items():
            if item.get_closest_marker(marker) is not None:
                if marker not in found:
                    found[marker] = present()
                if not found[marker]:
                    item.add_marker(pytest.mark.skip(reason=why))


def copy_results(src: Path, dst: Path) -> Path:
    """A copy of a results folder's tables (no report), as if made elsewhere."""
    dst.mkdir(parents=True)
    for name in (storage.RUNS, storage.CURVES, storage.CHUNKS):
        shutil.copytree(src / name, dst / name)
    shutil.copy2(src / storage.MANIFEST, dst / storage.MANIFEST)
    return dst


def rewrite_runs(folder: Path, runs: pd.DataFrame, curves: pd.DataFrame | None = None) -> None:
    """Replace the runs table (and ``curves``, if given) of a finished folder
    (an edited or foreign one) through the writer's own path: each chunk's
    parts and its record."""
    manifest = storage.read_manifest(folder)
    store = storage.SweepFolder(folder, manifest)
    done, problems = store.finished()
    assert not problems, problems
    for chunk, record in sorted(done.items()):
        first, n = manifest["chunks"][chunk]
        part = runs[(runs["run_id"] >= first) & (runs["run_id"] < first + n)]
        n_rows = record["n_curve_rows"]
        if curves is None:
            curve_bytes = (folder / storage.CURVES / storage.part_name(chunk)).read_bytes()
        else:
            c = curves[(curves["run_id"] >= first) & (curves["run_id"] < first + n)]
            curve_bytes, n_rows = storage.table_bytes(pa.Table.from_pandas(c, preserve_index=False)), len(c)
        table = pa.Table.from_pandas(part, preserve_index=False)
        store.write_chunk(storage.ChunkData(chunk, first, n, storage.table_bytes(table), curve_bytes,
                                            n_rows, record["wall_s"]))


def one_part(folder: Path, sub: str) -> Path:
    """The first part file of ``runs.parquet`` or ``curves.parquet``."""
    return sorted((folder / sub).glob("part-*.parquet"))[0]
