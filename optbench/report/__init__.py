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

- :mod:`.data`: what the report shows, computed from the stored tables
  (cases, settings, rankings);
- :mod:`.curves`: reading and aligning the curves a figure needs;
- :mod:`.figures`: the figures, one module per kind;
- :mod:`.render`: the HTML page and ``summary.md``;
- :mod:`.build`: figure jobs, who draws them, writing the files;
- :mod:`.pool`: the helper processes that draw beside this one (light to
  import: the ``optbench`` command starts them before anything else).
"""
from __future__ import annotations

_BUILD = ("build_report", "collect", "draw_job", "families", "figure_jobs", "ordered_jobs")

__all__ = ["build_report", "escape"]


def __getattr__(name):
    # loaded on first use: importing optbench.report.pool must not pull in matplotlib
    if name in _BUILD:
        from . import build

        return getattr(build, name)
    if name == "escape":
        from .render import esc

        return esc
    raise AttributeError(f"module 'optbench.report' has no attribute {name!r}")
