"""A results folder being written: atomic files, chunk records, the manifest, one writer.

Every file is written to a hidden temporary name, flushed to disk and
renamed into place, so a process killed at any moment leaves either a whole
file or none.  A chunk counts as finished only when its record exists and
its parts match the record; anything else is re-run on resume.  A lock file
keeps a second writer out.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .._errors import ResultsError, SpecError
from .._process import format_bytes
from .schema import CHUNKS, CURVES, MANIFEST, READABLE_SCHEMA_VERSIONS, RUNS, SCHEMA_VERSION, part_name, record_name


def spec_digest(raw: dict) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
    if manifest["schema_version"] not in READABLE_SCHEMA_VERSIONS:
        raise ResultsError(
            f"{path}: schema version {manifest['schema_version']!r}; this optbench reads versions "
            f"{READABLE_SCHEMA_VERSIONS[0]} to {SCHEMA_VERSION} "
            f"(re-run the spec into a new folder, or with --overwrite)"
        )
    _check_fields(path, manifest)
    _check_plan(path, manifest)
    return manifest


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_fields(path: Path, manifest: dict) -> None:
    """The fields every reader relies on, with their types: a manifest
    edited by hand fails here, with one line, not deep inside a reader."""
    checks = [
        ("name", lambda v: isinstance(v, str) and v != "", "a non-empty string"),
        ("spec", lambda v: isinstance(v, dict), "a table (the spec)"),
        ("n_runs", lambda v: _is_int(v) and v >= 1, "a positive integer"),
        ("steps", lambda v: _is_int(v) and v >= 1, "a positive integer"),
        ("log_every", lambda v: _is_int(v) and v >= 1, "a positive integer"),
        ("chunk_runs", lambda v: _is_int(v) and v >= 1, "a positive integer"),
        ("targets", lambda v: isinstance(v, list) and all(isinstance(t, (int, float)) and not isinstance(t, bool)
                                                          and t > 0 for t in v), "a list of positive numbers"),
        ("state", lambda v: v in ("running", "complete"), "\"running\" or \"complete\""),
    ]
    for key, ok, what in checks:
        if key not in manifest or not ok(manifest[key]):
            got = repr(manifest[key])[:60] if key in manifest else "missing"
            raise ResultsError(f"{path}: field {key!r} must be {what}, got {got}; {EDITED_HINT}")


def _check_plan(path: Path, manifest: dict) -> None:
    """The chunk plan covers run ids 0 .. n_runs - 1 in order, and no chunk
    record on disk lies outside it (a shortened plan would silently drop
    finished chunks)."""
    chunks = manifest["chunks"] if "chunks" in manifest else None
    if not isinstance(chunks, list) or not all(isinstance(c, list) and len(c) == 2 and _is_int(c[0])
                                               and _is_int(c[1]) and c[1] >= 1 for c in chunks):
        raise ResultsError(f"{path}: no valid chunk plan ('chunks' must list [first_run_id, n_runs] pairs); "
                           f"{EDITED_HINT}")
    expected = 0
    for first, n in chunks:
        if first != expected:
            raise ResultsError(f"{path}: the chunk plan skips or repeats runs (a chunk starts at run {first}, "
                               f"expected {expected}); {EDITED_HINT}")
        expected += n
    if expected != manifest["n_runs"]:
        raise ResultsError(f"{path}: the chunk plan covers {expected:,} runs, the manifest says "
                           f"{manifest['n_runs']:,}; {EDITED_HINT}")
    outside = sorted(p.name for p in (path.parent / CHUNKS).glob("[0-9]*.json")
                     if p.stem.isdigit() and int(p.stem) >= len(chunks))
    if outside:
        raise ResultsError(f"{path}: chunk record {outside[0]} lies outside the plan of {len(chunks)} chunks; "
                           f"{EDITED_HINT}")


EDITED_HINT = "the manifest was edited or damaged: restore it, or re-run the spec into a new folder"


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
        if not isinstance(files, dict) or not all(
                isinstance(info, dict) and _is_int(info.get("bytes")) and _is_int(info.get("crc32"))
                for info in files.values()):
            return None, f"{path}: corrupt chunk record (its 'files' must map each part to its bytes and crc32)"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
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


@contextlib.contextmanager
def folder_lock(folder: Path):
    """Refuse a second writer of the same results folder.

    The lock is ``flock`` on a hidden file beside the folder, which the
    operating system releases when its holder dies, however it dies: no pid
    to trust (an empty file or a reused pid decide nothing).  The file holds
    the writer's pid for the message only, and is removed on release."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f".{folder.name}.lock"
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise SpecError(f"{str(folder)!r} is being written by another optbench run (pid {holder}, lock "
                            f"{str(lock)!r}); wait for it or choose another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file as we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        lock.unlink(missing_ok=True)  # before unlocking: a waiter then sees the file is gone
        os.close(fd)


CURVE_ROW_BYTES = 48  # on disk, zstd: run_id and step compress, five floats mostly do not
RUN_ROW_BYTES = 400  # on disk per runs-table row, beyond x0 / x_final


def _tree_bytes(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def check_disk(folder: Path, n_runs: int, n_log: int, mean_dim: float) -> None:
    """Refuse a sweep of ``n_runs`` runs of ``n_log`` logged steps whose
    tables would not fit on the disk of ``folder`` (what a folder being
    resumed or replaced already holds counts as free)."""
    need = n_runs * (RUN_ROW_BYTES + 16 * mean_dim + n_log * CURVE_ROW_BYTES)
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free + _tree_bytes(folder)
    if need > 0.95 * free:
        raise SpecError(
            f"the sweep needs about {format_bytes(need)} on disk ({n_runs:,} runs x {n_log:,} logged steps) "
            f"but {format_bytes(free)} are free under {str(probe)!r}; raise log_every, reduce the grid "
            f"or choose another --out"
        )
