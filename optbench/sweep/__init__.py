"""Running a sweep's chunks: here (threads of this process) or on a Dask cluster.

Each finished chunk is handed to storage at once, so memory holds one
chunk and an interrupted sweep keeps every chunk it finished.
"""
from __future__ import annotations

import datetime as _dt
import sys
import threading
import time

from .._errors import ResultsError
from ..grid import chunk_plan, plan
from ..spec import Spec
from ..storage import MANIFEST, SweepFolder
from .chunk import compute_chunk, warm


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: finished chunks are kept; the message says how to resume."""


class Progress:
    """A one-line progress bar on stderr (runs done of the sweep's total)."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.total, self.done, self.enabled = total, done, enabled
        self.t0 = time.perf_counter()
        self.shown_at = 0.0
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.done += n
            now = time.perf_counter()
            if now - self.shown_at < 0.2 and self.done < self.total:
                return
            self.shown_at = now
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            print(f"\r  [{'#' * filled}{'.' * (width - filled)}] {self.done:,}/{self.total:,} runs  "
                  f"{now - self.t0:.1f} s", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def run_sweep(spec: Spec, store: SweepFolder, done: dict, *, quiet: bool, threads: int | None, client,
              plugins=()) -> None:
    """Compute the chunks of ``spec`` that ``done`` (chunk -> record) lacks,
    here or on the Dask cluster of ``client`` (whose workers load
    ``plugins``: paths or module names), write each into ``store`` as it
    finishes, and mark the folder complete."""
    manifest = store.manifest
    groups = plan(spec)
    chunks = chunk_plan(groups, manifest["chunk_runs"])
    if [[c.first_run, c.n_runs] for c in chunks] != manifest["chunks"]:
        raise ResultsError(f"{store.folder / MANIFEST}: its chunk plan does not match the spec; "
                           f"pass --overwrite to start again")
    todo = [c for c in chunks if c.id not in done]
    if not todo and manifest.get("state") == "complete":
        return  # nothing to do; keep the record of the run that computed it
    progress = Progress(spec.n_runs, sum(r["n_runs"] for r in done.values()), enabled=not quiet)
    t0 = time.perf_counter()
    records = dict(done)

    def write(data) -> None:
        try:
            records[data.chunk] = store.write_chunk(data)
        except OSError as exc:
            raise _WriteFailed(exc) from None

    compile_s = 0.0
    try:
        if todo and client is not None:
            from .dask import run_chunks

            run_chunks(client, spec, todo, manifest["chunk_runs"], write, threads=threads,
                       on_chunk=lambda data: progress.add(data.n_runs), plugins=plugins)
        elif todo:
            compile_s = warm(spec, [groups[i] for i in sorted({c.group for c in todo})], threads=threads,
                             notify=None if quiet else _compiling)
            for chunk in todo:
                write(compute_chunk(spec, chunk, groups, threads=threads, on_runs=progress.add))
    except KeyboardInterrupt:
        progress.close()
        n = len(records)
        raise SweepInterrupted(
            f"interrupted: {n} of {len(chunks)} chunks are finished and kept in {store.folder}; "
            f"run the same command again to resume"
        ) from None
    except _WriteFailed as failed:
        progress.close()
        exc = failed.error
        raise ResultsError(
            f"cannot write {exc.filename or store.folder}: {exc.strerror or exc}; {len(records)} of {len(chunks)} "
            f"chunks are finished and kept in {store.folder}; make room and run the same command again to resume"
        ) from None
    progress.close()
    summary = {
        "n_curve_rows": int(sum(r["n_curve_rows"] for r in records.values())),
        "finished_utc": _dt.datetime.now(_dt.UTC).isoformat(),
        "timing": {
            "wall_s": time.perf_counter() - t0,
            "load_or_compile_s": compile_s,
            "compute_s": float(sum(r["wall_s"] for r in records.values())),
            "chunks_run": len(todo),
            "chunks_resumed": len(done),
            "backend": "dask" if client is not None else "local",
        },
    }
    try:
        store.complete(summary)
    except OSError as exc:
        raise ResultsError(f"cannot write {exc.filename or store.folder}: {exc.strerror or exc}; every chunk is "
                           f"finished and kept in {store.folder}; run the same command again to finish it") from None


def _compiling(n: int, processes: int) -> None:
    """Say on stderr that a cold start is compiling, and how."""
    print(f"compiling {n} kernel{'s' * (n != 1)} ({processes} process{'es' * (processes != 1)})…",
          file=sys.stderr, flush=True)


class _WriteFailed(Exception):
    """A chunk could not be written (disk full, file too large, ...)."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error
