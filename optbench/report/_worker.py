"""A drawing helper of :class:`~optbench.report.pool.DrawingPool`.

``python -m optbench.report._worker`` imports what drawing needs, then
answers pickled messages on stdin, one pickled ``(status, value)`` each on
stdout, until its stdin ends:

- ``("folder", (RESULTS_DIR, PLUGINS, FIGURE_FORMAT, X_AXIS))``: load the
  plugins the parent loaded (:func:`optbench.plugins.load` entries), then
  load and prepare the results folder, its x axes counting X_AXIS
  (:func:`optbench.report.data.prepare`; "auto" when left out); figures are saved as PNG and,
  unless "png", as FIGURE_FORMAT too
  (:func:`optbench.report.figures.base.set_figure_format`);
  ``("ok", its figure jobs)`` (:func:`optbench.report.build.ordered_jobs`);
- ``("job", JOB)``: draw one figure job (:func:`optbench.report.build.draw_job`);
  ``("ok", [Plot, ...])``.

Any error answers ``("error", one line)``; the pool then draws the job
itself.  Anything printed goes to stderr, so stdout carries answers only.
"""
from __future__ import annotations

import os
import pickle
import sys


def main() -> int:
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print from a library must not corrupt the answers
    sys.stdout = sys.stderr
    questions = sys.stdin.buffer

    # everything a job needs is imported (and warmed) now, while the
    # process that started this one is still busy with the sweep
    import numpy as np
    from matplotlib import style

    from .. import objectives  # noqa: F401 - the registry, for contours and known minima
    from . import data as data_mod
    from . import figures
    from .build import draw_job, ordered_jobs

    style.use("default")  # as the pool's own process draws (see optbench.report.build.collect)
    figures.warm_up()
    # numba's typing and target contexts initialise on a process's first
    # compiled call: make it now, not in the first contour grid
    problem = objectives.get("quadratic").make(2)
    problem.objective.fg(np.zeros(2), np.zeros(2), *problem.args)
    data = None
    while True:
        try:
            kind, value = pickle.load(questions)
        except EOFError:
            return 0
        try:
            if kind == "folder":
                from .. import plugins

                folder, entries, figure_format, *rest = value  # X_AXIS may be left out: "auto"
                x_axis = rest[0] if rest else "auto"
                figures.base.set_figure_format(figure_format)
                plugins.load_all(entries, record_trust=False)
                results, path = data_mod.load(folder)
                data = data_mod.prepare(results, path, x_axis)
                answer = ordered_jobs(data)
            elif kind == "job" and data is not None:
                answer = draw_job(data, value)
            else:
                raise ValueError(f"unexpected message {kind!r}")
            reply = ("ok", answer)
        except Exception as exc:  # noqa: BLE001 - reported; the pool draws the job itself
            reply = ("error", f"{type(exc).__name__}: {exc}".splitlines()[0])
        pickle.dump(reply, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()


if __name__ == "__main__":
    try:
        code = main()
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports it
        code = 130
    sys.stderr.flush()
    # its answers are flushed and it holds nothing else: skip the shutdown's
    # garbage collections, which the pool would wait for
    os._exit(code)
