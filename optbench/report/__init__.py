"""The report: ``report.html``, ``plots/*.png`` and ``summary.md`` from a results folder.

>>> from optbench.report import build_report
>>> build_report("results/quick")          # doctest: +SKIP
PosixPath('results/quick/report.html')

It reads only the stored tables (``runs.parquet``, the few rows of
``curves.parquet`` each figure needs, ``manifest.json``) and, for contour
backgrounds and minima of 2-D objectives, the objective registry, so a
report can be rebuilt from a results folder copied from another machine.
A missing or corrupt table raises :class:`~optbench.ResultsError` naming the
file, before anything is written; the page is written to a temporary file
and moved into place, so a failed build never leaves a half report.
"""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from .._errors import ResultsError
from .._process import child_env
from . import data as data_mod
from . import figures, render

__all__ = ["build_report", "escape"]

escape = render.esc


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def case_plots(data: data_mod.ReportData, case: data_mod.Case) -> list:
    """Every figure of one objective case, in page order."""
    plots = []
    for fn in (figures.convergence, figures.lr_sensitivity):
        p = fn(data, case)
        if p is not None:
            plots.append(p)
    plots += figures.heatmaps(data, case)
    for fn in (figures.trajectories, figures.basins, figures.runtime):
        p = fn(data, case)
        if p is not None:
            plots.append(p)
    return plots


def auto_workers(n_cases: int) -> int:
    """Processes for drawing: one per ~3 cases, up to the cores (at most 8).
    A process pays ~2 s to start and load the tables, so small reports and
    small machines draw in this process."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    if n_cases < 8 or cores < 4:  # on 2 cores the start-up eats the gain (measured)
        return 1
    return max(1, min(cores, 8, n_cases // 3))


def draw_in_processes(data: data_mod.ReportData, workers: int) -> dict:
    """{case id: plots}, drawn by ``workers`` ``python -m optbench.report._worker``
    processes (cases dealt round-robin), each reading the same results folder."""
    ids = [c.id for c in data.cases]
    chunks = [ids[k::workers] for k in range(workers) if ids[k::workers]]
    env = child_env()
    per_case: dict = {}
    with tempfile.TemporaryDirectory(prefix="optbench-report-") as tmp:
        procs = []
        for k, chunk in enumerate(chunks):
            out = Path(tmp) / f"{k}.pickle"
            cmd = [sys.executable, "-m", "optbench.report._worker", str(data.folder.resolve()), str(out),
                   *map(str, chunk)]
            procs.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env), out))
        failures = []
        for proc, out in procs:
            _, err = proc.communicate()
            if proc.returncode != 0 or not out.is_file():
                failures.append(err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"])
                continue
            payload = pickle.loads(out.read_bytes())
            if "error" in payload:
                raise payload["error"]
            per_case.update(payload["plots"])
    if failures:
        raise RuntimeError(f"drawing processes failed: {failures}")
    return per_case


def collect(data: data_mod.ReportData, quiet: bool = True, workers: int | None = None):
    """Every figure: summary plots, objective-family plots and tables, per-case plots.

    Cases are drawn in ``workers`` processes (default: :func:`auto_workers`),
    each of which reads the same tables; matplotlib drawing is CPU-bound and
    holds the GIL, so threads would not help."""
    summary = [p for p in [figures.runtime_profile(data)] if p is not None]
    family = {}
    by_obj: dict[str, list] = {}
    for case in data.cases:
        by_obj.setdefault(case.objective, []).append(case)
    for obj, cases in by_obj.items():
        if len(cases) < 2:
            continue
        varying = []
        for key in ["dim", *sorted({k for c in cases for k in c.params}), "batch_size", "grad_noise", "init"]:
            vals = {repr(data_mod.case_value(c, key)) for c in cases}
            if len(vals) > 1:
                varying.append(key)
        plots = []
        if len(varying) == 1:
            p = figures.parameter_effect(data, obj, cases, varying[0])
            if p is not None:
                plots.append(p)
        for params in data_mod.compared_together(cases, varying):
            p = figures.family_comparison(data, obj, cases, params)
            if p is not None:
                plots.append(p)
        family[obj] = {"slug": data_mod.slug(obj), "params": varying or ["cases"],
                       "table": render.family_table(data, obj, cases), "plots": plots}
    workers = auto_workers(len(data.cases)) if workers is None else max(1, int(workers))
    t = time.perf_counter()
    per_case = None
    if workers > 1 and len(data.cases) > 1:
        try:
            per_case = draw_in_processes(data, min(workers, len(data.cases)))
            _say(quiet, f"  report: {len(data.cases)} cases drawn by {workers} processes "
                        f"({time.perf_counter() - t:.1f} s)")
        except RuntimeError as exc:  # e.g. this optbench cannot be imported by a child: draw here
            warnings.warn(f"optbench report: {exc}; drawing in this process instead", RuntimeWarning, stacklevel=2)
    if per_case is None:
        per_case = {}
        for i, case in enumerate(data.cases, 1):
            per_case[case.id] = case_plots(data, case)
            _say(quiet, f"  report: {case.label}: {len(per_case[case.id])} figures "
                        f"({time.perf_counter() - t:.1f} s) [{i}/{len(data.cases)}]")
    return summary, family, per_case


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_plots(folder: Path, plots) -> None:
    final = folder / "plots"
    tmp = folder / f".plots.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        for p in plots:
            (tmp / f"{p.name}.png").write_bytes(p.png)
        old = None
        if final.exists():
            old = folder / f".plots.old-{os.getpid()}"
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def build_report(results_dir, quiet: bool = True, workers: int | None = None) -> Path:
    """Write ``report.html``, ``plots/*.png`` and ``summary.md`` into the
    results folder ``results_dir``; returns the path of ``report.html``.

    ``workers``: processes drawing figures (default: by the number of
    objective cases and cores; 1 draws everything in this process)."""
    t0 = time.perf_counter()
    results, folder = data_mod.load(results_dir)
    data = data_mod.prepare(results, folder)
    _say(quiet, f"report: {len(data.runs):,} runs, {len(data.cases)} objective cases")
    summary, family, per_case = collect(data, quiet, workers)
    overall = data_mod.overall_ranking(data)
    all_plots = summary + [p for f in family.values() for p in f["plots"]] + [p for ps in per_case.values()
                                                                              for p in ps]
    html = render.page(data, overall, summary, family, per_case, build_s=time.perf_counter() - t0)
    md = render.markdown(data, overall)
    try:
        _write_plots(folder, all_plots)
        _write_text(folder / "summary.md", md)
        _write_text(folder / "report.html", html)
    except OSError as exc:
        raise ResultsError(f"{folder}: cannot write the report ({exc.__class__.__name__}: {exc})") from None
    _say(quiet, f"report: {len(all_plots)} figures, {len(html) / 1e6:.1f} MB, {time.perf_counter() - t0:.1f} s")
    return folder / "report.html"
