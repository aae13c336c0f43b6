"""Building the report: figure jobs, drawing them (here and in helpers), writing the page."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from matplotlib import style

from .._errors import ResultsError, SpecError
from . import data as data_mod
from . import export, figures, rankings, render, transforms
from .pool import DrawingPool, auto_workers


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


CASE_FIGURES = ("convergence", "lr_sensitivity", "heatmaps", "trajectories", "basins", "runtime", "tuning")
# relative drawing times (measured on quick.toml): jobs are dealt heaviest first,
# so that no process is left drawing a big figure while the others wait
JOB_COST = {"trajectories": 3.0, "basins": 3.0, "family": 3.0, "summary": 2.0, "lr_sensitivity": 1.6,
            "runtime": 1.4, "heatmaps": 1.2, "convergence": 1.0, "tuning": 0.8}


def families(data: data_mod.ReportData) -> dict[str, tuple[list, list[str]]]:
    """{objective: (its cases, the case parameters that vary)} for every
    objective with more than one case."""
    by_obj: dict[str, list] = {}
    for case in data.cases:
        by_obj.setdefault(case.objective, []).append(case)
    out = {}
    for obj, cases in by_obj.items():
        if len(cases) < 2:
            continue
        varying = []
        for key in ["dim", *sorted({k for c in cases for k in c.params}), "batch_size", "grad_noise", "init"]:
            vals = {repr(data_mod.case_value(c, key)) for c in cases}
            if len(vals) > 1:
                varying.append(key)
        out[obj] = (cases, varying)
    return out


def figure_jobs(data: data_mod.ReportData) -> list[tuple]:
    """Every figure job of the report, in page order: ``("summary",)``,
    ``("family", objective)``, ``("case", case_id, figure)``.  A job is the
    unit dealt to a drawing process and draws zero or more figures."""
    return ([("summary",)] + [("family", obj) for obj in families(data)]
            + [("case", c.id, name) for c in data.cases for name in CASE_FIGURES])


def ordered_jobs(data: data_mod.ReportData) -> list[tuple]:
    """:func:`figure_jobs`, heaviest first (:data:`JOB_COST`; a stable sort
    keeps page order among equals): the order they are dealt to drawing
    processes in."""
    return sorted(figure_jobs(data), key=lambda j: -JOB_COST[j[2] if j[0] == "case" else j[0]])


def draw_job(data: data_mod.ReportData, job: tuple) -> list:
    """The figures of one job of :func:`figure_jobs`."""
    if job[0] == "summary":
        plots = [figures.runtime_profile(data), figures.tuning_summary(data)]
    elif job[0] == "family":
        cases, varying = families(data)[job[1]]
        plots = []
        if len(varying) == 1:
            plots.append(figures.parameter_effect(data, job[1], cases, varying[0]))
        plots += [figures.family_comparison(data, job[1], cases, params)
                  for params in data_mod.compared_together(cases, varying)]
    else:
        _, case_id, name = job
        case = next(c for c in data.cases if c.id == case_id)
        drawn = getattr(figures, name)(data, case)
        plots = drawn if isinstance(drawn, list) else [drawn]
    return [p for p in plots if p is not None]


def collect(data: data_mod.ReportData, quiet: bool = True, workers: int | None = None,
            pool: DrawingPool | None = None, plugins=(), figure_format: str = "png", x_axis: str | None = None):
    """Every figure: summary plots, objective-family plots and tables, per-case plots.

    Jobs are drawn by ``workers`` processes (default: :func:`auto_workers`):
    this one and the helpers of ``pool``, grown to that number, or of a pool
    started here.  Matplotlib drawing is CPU-bound and holds the GIL, so
    threads would not help.  Every figure is drawn in matplotlib's default
    style whatever the caller's rcParams, so it is the same whichever
    process draws it.  ``figure_format``: each figure is saved as a PNG
    and, unless "png", in that format too (:attr:`Plot.other_formats`).
    ``x_axis``: what ``data`` was prepared with (default: its resolved
    x axis), for the helpers to prepare the folder alike."""
    jobs = figure_jobs(data)
    t = time.perf_counter()
    workers = min(auto_workers(len(jobs)) if workers is None else max(1, int(workers)), len(jobs))
    with contextlib.ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(DrawingPool())
        pool.grow(workers)
        pool.start(data.folder, list(plugins), figure_format, data.x_axis if x_axis is None else x_axis)
        stack.enter_context(style.context("default"))
        previous_format = figures.base.set_figure_format(figure_format)  # for drawing here
        stack.callback(figures.base.set_figure_format, previous_format)
        drawn = pool.draw(data, ordered_jobs(data), draw_job)
    n = sum(len(p) for p in drawn.values())
    _say(quiet, f"  report: {n} figures drawn by {pool.drew} process{'es' if pool.drew > 1 else ''} "
                f"({time.perf_counter() - t:.1f} s)")
    summary = drawn[("summary",)]
    family = {obj: {"slug": data_mod.slug(obj), "params": varying or ["cases"],
                    "table": render.family_table(data, obj, cases), "plots": drawn[("family", obj)]}
              for obj, (cases, varying) in families(data).items()}
    per_case = {c.id: [p for name in CASE_FIGURES for p in drawn[("case", c.id, name)]] for c in data.cases}
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
    """``plots/``, replaced as a whole: each figure's PNG and its other formats."""
    files = {}
    for p in plots:
        files[f"{p.name}.png"] = p.png
        files.update({f"{p.name}.{suffix}": content for suffix, content in p.other_formats.items()})
    export.replace_folder(folder, "plots", files)


def build_report(results_dir, quiet: bool = True, workers: int | None = None,
                 pool: DrawingPool | None = None, plugins=(), tables=(), figure_format: str = "png",
                 x_axis: str = "auto") -> Path:
    """Write ``report.html``, ``plots/*.png`` and ``summary.md`` into the
    results folder ``results_dir``; returns the path of ``report.html``.

    ``tables``: formats ("csv", "latex", "markdown" or "all"; a list or a
    comma-separated string) to write every ranking table in, under
    ``tables/`` (replaced as a whole; left alone when none is asked for).
    ``figure_format``: "png", or "svg" / "pdf" to have ``plots/`` hold
    each figure in that format too (the page embeds the PNGs).
    ``x_axis``: what convergence curves and runtime distributions count on
    their x axis, and so which ERT ranks: "steps", "evals" (objective
    evaluations) or "auto" (evaluations where any run's differ from its
    steps: a line-search method, a minibatch run; else steps).

    ``workers``: processes drawing figures (default: by the number of
    figures and cores; 1 draws everything in this process).  ``pool``: a
    :class:`DrawingPool` started earlier, used instead of starting one.
    ``plugins``: plugins to load (see :func:`optbench.plugins.for_results`:
    those the folder records are loaded only when named here or run by
    this user on this machine; figures that need others are left out, and
    the page says so)."""
    from .. import plugins as plugins_mod

    t0 = time.perf_counter()
    tables = export.table_formats(tables)  # a mistake is told before anything is read or drawn
    if figure_format not in figures.base.FIGURE_FORMATS:
        raise SpecError(f"unknown figure format {figure_format!r}; known: {', '.join(figures.base.FIGURE_FORMATS)}")
    data_mod.check_x_axis(x_axis)
    results, folder = data_mod.load(results_dir)
    loaded, notes = plugins_mod.for_results(results.manifest, plugins)
    for note in notes:
        print(f"optbench report: {note}", file=sys.stderr, flush=True)
    data = data_mod.prepare(results, folder, x_axis)
    data.plugin_notes = notes
    if pool is not None:
        pool.start(folder, [p.entry for p in loaded], figure_format, x_axis)
    _say(quiet, f"report: {len(data.runs):,} runs, {len(data.cases)} objective cases")
    summary, family, per_case = collect(data, quiet, workers, pool, [p.entry for p in loaded], figure_format, x_axis)
    overall = rankings.attach(data)
    transforms.attach(data)
    all_plots = summary + [p for f in family.values() for p in f["plots"]] + [p for ps in per_case.values()
                                                                              for p in ps]
    html = render.page(data, overall, summary, family, per_case, build_s=time.perf_counter() - t0)
    md = render.markdown(data, overall)
    if tables:
        from .tables import frames

        table_frames = frames(data, overall)
    try:
        _write_plots(folder, all_plots)
        if tables:
            export.write_tables(folder, table_frames, tables)
        _write_text(folder / "summary.md", md)
        _write_text(folder / "report.html", html)
    except OSError as exc:
        raise ResultsError(f"{folder}: cannot write the report ({exc.__class__.__name__}: {exc})") from None
    _say(quiet, f"report: {len(all_plots)} figures, {len(html) / 1e6:.1f} MB, {time.perf_counter() - t0:.1f} s")
    return folder / "report.html"
