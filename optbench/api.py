"""The Python API: ``run(spec) -> Results`` and ``load(path) -> Results``.

The CLI calls these same functions.  ``run`` computes a sweep chunk by
chunk and writes each finished chunk at once (see :mod:`optbench.storage`),
so memory is bounded by the chunk size, an interrupted sweep resumes where
it stopped, and a folder never mixes two specs or two builds of optbench.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.metadata
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from . import plugins as plugins_mod
from ._errors import ResultsError, SpecError
from ._process import usable_cores
from .engine import log_steps
from .engine.drivers import ensure_cache_dir
from .engine.run import driver_override
from .engine.sources import code_digest
from .grid import check_memory, chunk_plan, default_chunk_runs, plan
from .objectives.instances import manifest_records
from .report.pool import DrawingPool, auto_workers
from .spec import Spec, load_spec
from .storage import (
    MANIFEST,
    SCHEMA_VERSION,
    Results,
    SweepFolder,
    check_disk,
    folder_lock,
    machine_info,
    read_manifest,
    spec_digest,
)
from .storage import load as storage_load
from .sweep import SweepInterrupted, run_sweep

__all__ = ["Results", "SweepInterrupted", "load", "run", "warm"]


def load(path, *, partial: bool = False, verify: bool = True, plugins=()) -> Results:
    """Read a results folder, checking every part against its record (see
    :func:`optbench.storage.load`).  ``plugins``: files or modules to load
    (as in :func:`run`).  A folder never runs code by itself: a plugin it
    records is loaded only when named here, or when it is a file your own
    ``run`` loaded on this machine, unchanged; a warning names the others."""
    import warnings

    results = storage_load(path, partial=partial, verify=verify)
    if isinstance(plugins, (str, os.PathLike)):
        plugins = [plugins]
    _, notes = plugins_mod.for_results(results.manifest, plugins)
    for note in notes:
        warnings.warn(f"optbench.load: {note}", RuntimeWarning, stacklevel=2)
    return results


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
    for above in (base, *base.parents):  # the first part of --out that exists must be a folder
        if above.exists():
            if not above.is_dir():
                raise SpecError(f"--out {str(base)!r}: {str(above)!r} is a file, not a folder; "
                                f"give a folder for the results")
            break
    folder = base / spec.name
    # the name is validated, but make escaping the output folder impossible
    if folder.resolve().parent != base.resolve():
        raise SpecError(f"name {spec.name!r} would write outside {str(base)!r}")
    return folder


def run(spec, out="results", *, overwrite: bool = False, report: bool = True, quiet: bool = True,
        threads: int | None = None, chunk_runs: int | None = None, scheduler: str | None = None,
        workers: int | None = None, drawing: DrawingPool | None = None, plugins=()) -> Results:
    """Run a sweep into ``out/<spec name>/`` and return its results.

    ``spec`` is a path to a TOML file, TOML text, a dict, or a :class:`Spec`.
    Chunks of ``chunk_runs`` runs (default: about 2·10⁶ logged points) are
    written as they finish.  Running into a folder that holds part (or all)
    of the same sweep resumes it: finished chunks are kept, the rest run.  A
    folder of a different spec, or computed by a different build of
    optbench, is refused unless ``overwrite``.

    ``scheduler`` (a Dask scheduler address) or ``workers`` (start a local
    Dask cluster of that many processes) send chunks to Dask workers; the
    tables are identical to the local backend's.

    ``drawing``: processes to draw the report's figures, started earlier
    (the ``optbench`` command starts one before it imports the rest of
    optbench); otherwise they start here, before the sweep, so that their
    start-up overlaps it.  Either way they are ended before this returns.

    ``plugins``: files (paths relative to the current folder) or modules
    that define more objectives and optimizers, loaded before the spec (which
    may name more in its own ``plugins``); see ``docs/extending.md``.
    """
    if isinstance(plugins, (str, os.PathLike)):
        plugins = [plugins]
    driver_override()  # a bad $OPTBENCH_DRIVER is refused before anything is written
    extra = plugins_mod.load_all(plugins)
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    plugins_mod.check_used(spec)
    used, inline = plugins_mod.used(spec)
    loaded = list(dict.fromkeys([*extra, *spec.plugins, *used]))
    if inline["objectives"] or inline["optimizers"]:
        if scheduler is not None or workers is not None:
            names = ", ".join(inline["objectives"] + inline["optimizers"])
            raise SpecError(f"{names}: defined outside a plugin file, so Dask workers cannot load them; put them in "
                            f"a .py file and name it in the spec's plugins (or --plugin)")
    if chunk_runs is not None and (isinstance(chunk_runs, bool) or not isinstance(chunk_runs, int)
                                   or chunk_runs < 1):
        raise SpecError(f"chunk size must be a positive number of runs, got {chunk_runs!r}")
    if workers is not None and scheduler is not None:
        raise SpecError("give either --scheduler (an existing Dask cluster) or --workers (a local one), not both")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SpecError(f"--workers must be a positive number of worker processes, got {workers!r}")
    cores = usable_cores()
    if workers is not None and workers > cores:
        raise SpecError(f"--workers {workers} is more than the {cores} cores here; give at most {cores} "
                        f"(each worker runs its chunks on cores / workers threads)")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise SpecError(f"--threads must be a positive number of threads, got {threads!r}")
    folder = output_folder(spec, out)
    digest = spec_digest(spec.raw)
    check_memory(spec, chunk_runs)  # before anything is created or replaced
    ensure_cache_dir()  # a kernel cache that cannot be written: a temporary one, not a half-made folder
    n_inits = [spec.n_inits(c) for c in spec.objective_cases]
    check_disk(folder, spec.n_runs, len(log_steps(spec.steps, spec.log_every)),
               sum(c.problem.dim * n for c, n in zip(spec.objective_cases, n_inits)) / max(1, sum(n_inits)))
    with contextlib.ExitStack() as outer:
        processes = 1
        if report:  # the drawing helpers start now, so that their start-up overlaps the sweep
            processes = auto_workers(1 + 6 * len(spec.objective_cases))  # jobs: a summary, 6 per case
            processes = min(processes, threads or processes)
            if drawing is None:
                drawing = DrawingPool()
            drawing.grow(processes)
        if drawing is not None:
            outer.enter_context(drawing)
        code = _ExtraCode(plugins_mod.run_digest(used, inline), plugins_mod.records(loaded, inline))
        results = _compute(spec, folder, digest, overwrite, chunk_runs, quiet, threads, scheduler, workers, code)
        if report:
            entries = [p.entry for p in loaded]
            drawing.start(folder, entries)  # the helpers draw while this process imports the report
            from .report import build_report

            build_report(folder, quiet=quiet, workers=processes, pool=drawing, plugins=entries)
    return results


def warm(spec, *, threads: int | None = None, generic: bool = False, plugins=(), notify=None) -> int:
    """Compile, without running it, every kernel ``spec`` needs into the
    kernel cache, ``threads`` processes at a time: the specialized drivers
    (the fastest; a later ``run`` uses what is compiled), or with
    ``generic`` what a first ``run`` would compile.  ``notify(n,
    processes)`` is called before compiling; returns ``n``."""
    if isinstance(plugins, (str, os.PathLike)):
        plugins = [plugins]
    plugins_mod.load_all(plugins)
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    plugins_mod.check_used(spec)
    ensure_cache_dir()
    from .sweep.chunk import warm as warm_groups

    counted = []

    def count(n: int, processes: int) -> None:
        counted.append(n)
        if notify is not None:
            notify(n, processes)

    warm_groups(spec, plan(spec), threads=threads, notify=count, driver="auto" if generic else "specialized")
    return sum(counted)


@dataclass(frozen=True)
class _ExtraCode:
    """The outside code a sweep runs: its digest (part of the folder's code
    digest) and the manifest's ``plugins`` records."""

    digest: str
    records: list


def _compute(spec, folder, digest, overwrite, chunk_runs, quiet, threads, scheduler, workers,
             code: _ExtraCode) -> Results:
    """The sweep of :func:`run`, into ``folder``: its tables, loaded."""
    with contextlib.ExitStack() as stack:
        client = None
        if scheduler is not None or workers is not None:
            from .sweep.dask import connect

            # the cluster first: an unreachable scheduler (or no dask) writes nothing
            client = stack.enter_context(connect(scheduler, workers))
        try:
            stack.enter_context(folder_lock(folder))
            store, done, notes = _open(spec, folder, digest, overwrite, chunk_runs, code)
        except OSError as exc:  # nothing of this sweep is written yet
            raise SpecError(f"cannot write the results folder {str(folder)!r}: "
                            f"{exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''}") from None
        for line in notes:
            print(f"optbench: {line}", file=sys.stderr)
        run_sweep(spec, store, done, quiet=quiet, threads=threads, client=client,
                  plugins=[r["ref"] for r in code.records if r["kind"] in ("file", "module")])
    return storage_load(folder)


def _open(spec: Spec, folder: Path, digest: str, overwrite: bool, chunk_runs: int | None, extra: _ExtraCode):
    """The folder to write, its finished chunks, and lines to tell the user."""
    notes: list[str] = []
    code = code_digest()
    if extra.digest:  # plugins: their sources decide the numbers too
        code = f"{code}+{hashlib.sha256(extra.digest.encode()).hexdigest()[:16]}"
    # leftovers of a writer killed while creating or replacing this folder
    # (we hold the lock: nobody else is writing them)
    for pattern in (f".{folder.name}.new-*", f".{folder.name}.replaced-*"):
        for stale in folder.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
    if folder.exists() and not folder.is_dir():
        raise SpecError(f"output {str(folder)!r} exists and is not a folder")
    if folder.exists() and any(folder.iterdir()):
        reason = None
        if not (folder / MANIFEST).exists():
            reason = "is not an optbench results folder"
        else:
            try:
                manifest = read_manifest(folder)
            except ResultsError as exc:
                reason = f"holds results this optbench cannot resume ({exc})"
            else:
                if manifest.get("spec_digest") != digest:
                    reason = "holds results of a different spec"
                elif manifest.get("code_digest") != code:
                    changed = _changed_plugins(manifest.get("plugins"), extra.records)
                    reason = (f"holds results computed with {changed} as it was then, which are not mixed with "
                              f"new ones" if changed else
                              f"holds results computed by a different build of optbench "
                              f"(code {manifest.get('code_digest')}, now {code}), which are not mixed with new ones")
        if reason is None:
            if chunk_runs is not None and chunk_runs != manifest["chunk_runs"]:
                notes.append(f"resuming with the folder's chunk size of {manifest['chunk_runs']} runs "
                             f"(not {chunk_runs}); chunks already written are kept")
            store = SweepFolder(folder, manifest)
            done, problems = store.finished(verify=True)
            notes += [f"re-running: {p}" for p in problems]
            if done and len(done) < len(manifest["chunks"]):
                notes.append(f"resuming {folder}: {len(done)} of {len(manifest['chunks'])} chunks already done")
            return store, done, notes
        if not overwrite:
            raise SpecError(f"{str(folder)!r} {reason}; pass --overwrite to replace it or choose another --out")
        # explicit --overwrite: move the old folder aside first, so a crash
        # never leaves a mixture
        trash = folder.parent / f".{folder.name}.replaced-{os.getpid()}"
        os.replace(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)
        notes.append(f"replaced {folder} (--overwrite)")
    groups = plan(spec)
    size = chunk_runs or default_chunk_runs(spec)
    chunks = chunk_plan(groups, size)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": spec.name,
        "state": "running",
        "spec": spec.raw,
        "spec_digest": digest,
        "code_digest": code,
        "n_runs": spec.n_runs,
        "chunk_runs": size,
        "chunks": [[c.first_run, c.n_runs] for c in chunks],
        "skipped_combinations": spec.skipped,
        "targets": list(spec.targets),
        "steps": spec.steps,
        "log_every": spec.log_every,
        "started_utc": _dt.datetime.now(_dt.UTC).isoformat(),
        "plugins": extra.records,
        "versions": _versions(),
        "machine": machine_info(),
    }
    instances = manifest_records(c.problem for c in spec.objective_cases)
    if instances:  # rotated / shifted objectives: R, s and c of each, as run
        manifest["objective_instances"] = instances
    return SweepFolder.create(folder, manifest), {}, notes


def _changed_plugins(before, now: list) -> str:
    """``plugin /x/lion.py`` when a plugin the folder recorded has another
    source digest now ('' when none did)."""
    if not isinstance(before, list):
        return ""
    then = {(r.get("kind"), r.get("ref")): r.get("digest") for r in before if isinstance(r, dict)}
    for r in now:
        old = then.get((r["kind"], r["ref"]))
        if old is not None and old != r["digest"]:
            return f"plugin {r['ref']}" if r["kind"] != "inline" else "the definitions in __main__"
    return ""
