"""The Python API: ``run(spec) -> Results`` and ``load(path) -> Results``.

The CLI calls these same functions.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import os
from pathlib import Path

from . import __version__
from ._errors import SpecError
from .spec import Spec, load_spec
from .storage import MANIFEST, SCHEMA_VERSION, Results, ResultsWriter, load, machine_info, read_manifest, spec_digest
from .sweep import run_groups

__all__ = ["Results", "load", "run"]


def _versions() -> dict:
    out = {"optbench": __version__}
    for pkg in ("numba", "llvmlite", "numpy", "pandas", "pyarrow", "matplotlib"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def output_folder(spec: Spec, out) -> Path:
    base = Path(out)
    folder = base / spec.name
    # the name is validated, but make escaping the output folder impossible
    if folder.resolve().parent != base.resolve():
        raise SpecError(f"name {spec.name!r} would write outside {str(base)!r}")
    return folder


def _check_target(folder: Path, digest: str, overwrite: bool) -> None:
    if not folder.exists():
        return
    if not folder.is_dir():
        raise SpecError(f"output {str(folder)!r} exists and is not a folder")
    if not (folder / MANIFEST).exists():
        if any(folder.iterdir()) and not overwrite:
            raise SpecError(f"output {str(folder)!r} exists and is not an optbench results folder; "
                            f"choose another --out or pass --overwrite")
        return
    if overwrite:
        return
    try:
        previous = read_manifest(folder).get("spec_digest")
    except Exception:  # noqa: BLE001 - an unreadable folder is "different"
        previous = None
    if previous != digest:
        raise SpecError(f"{str(folder)!r} holds results of a different spec; pass --overwrite to replace them "
                        f"or choose another --out")


@contextlib.contextmanager
def folder_lock(folder: Path):
    """Refuse a second writer of the same results folder (a lock file holding
    the writer's pid; a lock left by a dead process is taken over)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f".{folder.name}.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise SpecError(f"{str(folder)!r} is being written by another optbench run (pid {pid}); "
                                f"wait for it or choose another --out") from None
            lock.unlink(missing_ok=True)  # stale: its writer is gone
    else:
        raise SpecError(f"cannot lock {str(folder)!r} ({lock} keeps reappearing)")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run(spec, out="results", *, overwrite: bool = False, report: bool = True, quiet: bool = True,
        threads: int | None = None, chunk: int | None = None) -> Results:
    """Run a sweep and write ``out/<spec name>/``; returns its tables.

    ``spec`` is a path to a TOML file, TOML text, a dict, or a :class:`Spec`.
    Re-running the same spec into the same folder replaces it (the numbers
    are identical); a different spec is refused unless ``overwrite``.
    """
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    folder = output_folder(spec, out)
    digest = spec_digest(spec.raw)
    with folder_lock(folder):
        return _run_locked(spec, folder, digest, overwrite, report, quiet, threads, chunk)


def _run_locked(spec, folder, digest, overwrite, report, quiet, threads, chunk) -> Results:
    _check_target(folder, digest, overwrite)
    writer = ResultsWriter(folder)
    counts = {"curve_rows": 0}

    def on_curves(df):
        counts["curve_rows"] += len(df)
        writer.add_curves(df)

    try:
        started = _dt.datetime.now(_dt.UTC)
        runs, timing = run_groups(spec, on_curves=on_curves, threads=threads, chunk=chunk, progress=not quiet)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "name": spec.name,
            "spec": spec.raw,
            "spec_digest": digest,
            "n_runs": len(runs),
            "n_curve_rows": counts["curve_rows"],
            "skipped_combinations": spec.skipped,
            "targets": list(spec.targets),
            "steps": spec.steps,
            "log_every": spec.log_every,
            "started_utc": started.isoformat(),
            "timing": timing,
            "versions": _versions(),
            "machine": machine_info(),
        }
        path = writer.finish(runs, manifest)
    except BaseException:
        writer.abort()
        raise
    results = Results(path, runs, manifest)
    if report:
        from .report import build_report

        build_report(path, quiet=quiet)
    return results
