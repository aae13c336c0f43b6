"""Processes that draw report figures beside this one.

A :class:`DrawingPool` starts its helpers (``python -m
optbench.report._worker``) as soon as it is made.  Each imports and warms
what drawing needs (seconds of CPU) while this
process is busy with its own imports and the sweep, then waits on its stdin.
:meth:`DrawingPool.start` gives them the results folder as soon as the sweep
has written it: each loads it, lists the report's figure jobs and starts
drawing, while this process is still importing matplotlib and loading the
tables.  :meth:`DrawingPool.draw` then draws from the same queue here, so a
helper that is late or slow only takes fewer jobs; a job a helper cannot
draw is drawn here.  Jobs are dealt heaviest first, so that nobody is left
drawing a big figure while the others wait.

Plain subprocesses rather than
``multiprocessing``: spawn re-imports the caller's ``__main__`` (a script
that calls ``optbench.run`` at top level would start the sweep again in
every helper), and fork copies pyarrow's and numba's threads mid-state.
"""
from __future__ import annotations

import collections
import pickle
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from .._process import child_env, usable_cores

WORKER = "optbench.report._worker"
PROTOCOL = pickle.HIGHEST_PROTOCOL


def auto_workers(n_jobs: int) -> int:
    """Processes for drawing ``n_jobs`` figure jobs: one per six jobs (two
    objective cases), up to the cores and at most 8."""
    return max(1, min(usable_cores(), 8, n_jobs // 6))


def early_helpers(threads: int | None = None) -> int:
    """Helpers to start before the report's size is known: one, where there
    is a second core (and ``threads``, if given, allows it)."""
    return 1 if min(usable_cores(), threads or 2) > 1 else 0


class _Helper:
    """One helper process and its pipes; messages are pickles both ways."""

    def __init__(self, env: dict):
        self.err = tempfile.TemporaryFile(prefix="optbench-draw-")  # never a pipe: it could fill and block
        self.proc = subprocess.Popen([sys.executable, "-m", WORKER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, env=env)
        self.failure: str | None = None
        self.asked = False
        self.drew = 0  # jobs drawn

    def ask(self, message):
        """Send ``message`` and return the helper's answer; ``None``, with
        :attr:`failure` set, when the helper failed or is gone."""
        self.asked = True
        try:
            pickle.dump(message, self.proc.stdin, protocol=PROTOCOL)
            self.proc.stdin.flush()
            status, value = pickle.load(self.proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError):
            self.failure = self._last_words()
            return None
        if status != "ok":
            self.failure = str(value)
            return None
        return value

    def _last_words(self) -> str:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.err.seek(0)
        lines = self.err.read().decode(errors="replace").strip().splitlines()
        code = self.proc.returncode
        return lines[-1] if lines else f"it exited with status {code}" if code is not None else "no answer"

    def finish(self) -> None:
        """End of input: a waiting helper exits."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def close(self) -> None:
        self.finish()
        try:  # one never asked may still be importing: nothing of it is wanted
            self.proc.wait(timeout=10 if self.asked else 0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.err.close()


class DrawingPool:
    """``helpers`` drawing processes, started now, for one report; use as a
    context manager (leaving it ends them, drawn or not)."""

    def __init__(self, helpers: int = 0):
        self.helpers: list[_Helper] = []
        self._folder: str | None = None
        self._plugins: list = []  # the plugins the helpers load (optbench.plugins.load entries)
        self._figure_format: str | None = None  # besides PNG (see figures.base.set_figure_format)
        self._x_axis: str = "auto"  # what the figures' x axes count (see report.data.prepare)
        self._fed: set[int] = set()  # helpers (by index) with a feeding thread
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._jobs: list | None = None  # the job list, from whoever knew it first
        self._queue: collections.deque = collections.deque()
        self._done: dict = {}
        self.drew = 0  # processes that drew at least one job (after draw)
        self.grow(1 + helpers)

    def grow(self, processes: int) -> None:
        """Start helpers until ``processes`` processes draw (this one included)."""
        if len(self.helpers) + 1 < processes:
            env = child_env()
            self.helpers += [_Helper(env) for _ in range(processes - 1 - len(self.helpers))]
        if self._folder is not None:
            self._feed()

    def start(self, folder, plugins=None, figure_format: str = "png", x_axis: str = "auto") -> None:
        """Have the helpers load ``plugins`` (when given: the ones this
        process decided to load) and the results folder ``folder``, and start
        drawing its jobs (in the order of :func:`optbench.report.build.ordered_jobs`)
        now, while this process is still importing and loading what it needs
        to draw; each figure is saved as a PNG and, unless "png", in
        ``figure_format`` too, its x axis counting ``x_axis`` (see
        :func:`optbench.report.data.prepare`).  The first call fixes folder,
        format and x axis."""
        folder = str(Path(folder).resolve())
        if plugins is not None and self._folder is None:
            self._plugins = list(plugins)
        if self._folder is None:
            self._folder, self._figure_format, self._x_axis = folder, figure_format, x_axis
        elif folder != self._folder:
            raise ValueError(f"this DrawingPool draws {self._folder}, not {folder}")
        elif figure_format != self._figure_format:
            raise ValueError(f"this DrawingPool saves figures as {self._figure_format}, not {figure_format}")
        elif x_axis != self._x_axis:
            raise ValueError(f"this DrawingPool draws x axes of {self._x_axis}, not {x_axis}")
        self._feed()

    def _feed(self) -> None:
        for k, helper in enumerate(self.helpers):
            if k not in self._fed:
                self._fed.add(k)
                t = threading.Thread(target=self._serve, args=(helper,), daemon=True, name="optbench-draw")
                t.start()
                self._threads.append(t)

    def _offer(self, jobs: list) -> bool:
        """Queue ``jobs`` if nobody has yet; False if another list was queued."""
        with self._lock:
            if self._jobs is None:
                self._jobs = list(jobs)
                self._queue.extend(jobs)
            return self._jobs == list(jobs)

    def _take(self):
        with self._lock:
            return self._queue.popleft() if self._queue and not self._stop.is_set() else None

    def _serve(self, helper: _Helper) -> None:
        """Feed one helper jobs until none is left (runs in its own thread)."""
        if self._jobs is not None and not self._queue:
            helper.finish()  # a late helper: nothing left to draw
            return
        jobs = helper.ask(("folder", (self._folder, self._plugins, self._figure_format, self._x_axis)))
        if jobs is not None and self._offer(jobs):
            while (job := self._take()) is not None:
                plots = helper.ask(("job", job))
                if plots is None:
                    return  # it failed (or is gone): draw() draws what it had taken
                self._done[job] = plots
                helper.drew += 1
        helper.finish()  # nothing left: it exits while this process finishes

    def draw(self, data, jobs: list, draw_here) -> dict:
        """``{job: draw_here(data, job)}`` for every job, drawn here and by
        the helpers (each loads ``data.folder`` itself and lists the same
        jobs).  Jobs are dealt in the order given: put the heaviest first.
        An error drawing a job here propagates once the helpers have finished
        the jobs they hold."""
        self.start(data.folder, figure_format=self._figure_format or "png",
                   x_axis=self._x_axis if self._folder is not None else getattr(data, "x_axis", "auto"))
        same = self._offer(jobs)
        try:
            while same and (job := self._take()) is not None:
                self._done[job] = draw_here(data, job)
        finally:
            self._stop.set()  # on an error here: the helpers take no new job
            for t in self._threads:
                t.join()
        problems = [h.failure for h in self.helpers if h.failure is not None]
        if not same:  # the folder changed under the helpers: their figures are not wanted
            problems.append("it listed other figures than this process")
            self._done.clear()
        done = {job: self._done[job] if job in self._done else draw_here(data, job) for job in jobs}
        self.drew = 1 + sum(h.drew > 0 for h in self.helpers)
        if problems:
            warnings.warn(f"optbench report: a drawing process failed ({problems[0]}); "
                          f"its figures were drawn in this process", RuntimeWarning, stacklevel=3)
        return done

    def close(self) -> None:
        self._stop.set()
        for h in self.helpers:
            h.close()
        for t in self._threads:
            t.join()
        self.helpers = []

    def __enter__(self) -> DrawingPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
