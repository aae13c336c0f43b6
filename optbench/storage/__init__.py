"""Results on disk: a folder of Parquet parts, one per finished chunk.

- :mod:`.schema`: the layout, the columns and their types, defined once;
- :mod:`.tables`: the engine's arrays for a chunk as the two tables;
- :mod:`.folder`: writing a folder (atomic files, chunk records, the
  manifest, the writer's lock, the disk check);
- :mod:`.results`: reading one back (:func:`load`, :class:`Results`), every
  part checked against its record.
"""
from __future__ import annotations

from .folder import (
    ChunkData,
    SweepFolder,
    check_chunk,
    check_disk,
    folder_lock,
    machine_info,
    read_manifest,
    spec_digest,
    table_bytes,
    write_atomic,
    write_manifest,
)
from .results import RESUME_HINT, Results, load
from .schema import (
    CHUNKS,
    CURVES,
    CURVES_SCHEMA,
    MANIFEST,
    RUNS,
    SCHEMA_VERSION,
    STATUSES,
    part_name,
    record_name,
    runs_columns,
    runs_schema,
    target_column,
)

__all__ = [
    "CHUNKS", "CURVES", "CURVES_SCHEMA", "MANIFEST", "RESUME_HINT", "RUNS", "SCHEMA_VERSION", "STATUSES",
    "ChunkData", "Results", "SweepFolder", "check_chunk", "check_disk", "folder_lock", "load", "machine_info",
    "part_name", "read_manifest", "record_name", "runs_columns", "runs_schema", "spec_digest", "table_bytes",
    "target_column", "write_atomic", "write_manifest",
]
