"""Per-call kernels: value and gradient of each objective, one optimizer step.

Timed inside a jitted loop (see ``_common``), so the numbers are the kernels'
own cost without the ~µs of calling a Numba dispatcher from Python; every
``time_`` here is the time of ``N_CALLS`` = 1000 calls (divide by 1000 for
one call).  ``TimeCallFromPython`` times single calls from Python,
dispatcher overhead included.
"""
from __future__ import annotations

import numpy as np

from optbench import engine, objectives, optimizers

from ._common import (
    _FG_LOOP,
    _STEP_LOOP,
    N_CALLS,
    hp_row,
    load_loop,
    make_problem,
    objective_cases,
    optimizer_names,
    points_in_box,
)

# settings that exercise an optimizer's whole step (the rest: torch's defaults)
STEP_SETTINGS = {"sgd": {"momentum": 0.9}, "rmsprop": {"momentum": 0.9}}


class TimeValueAndGrad:
    """Value and gradient: 1000 calls at 1000 points of the domain box (jitted
    loop); data objectives on their default data, full batch."""

    params = [objective_cases()]
    param_names = ["objective"]

    def setup(self, case):
        problem = make_problem(case)
        self.points = points_in_box(problem, N_CALLS)
        self.g = np.empty(problem.dim)
        self.rows = problem.all_rows() if problem.batched else np.zeros(0, np.int64)
        self.args = problem.args
        call = "fg(x, g, rows, *args)" if problem.batched else "fg(x, g, *args)"
        self.loop = load_loop(_FG_LOOP, problem.objective.fg, "fg", call=call).fg_loop
        self.loop(self.points, self.g, self.rows, self.args)  # compile or load from cache

    def time_value_and_grad(self, case):
        self.loop(self.points, self.g, self.rows, self.args)


class TimeOptimizerStep:
    """One optimizer step on an n-vector: 1000 steps from a fixed gradient
    (jitted loop, schedule row per step as in the sweep driver); line
    searches, whose step evaluates the objective, in :class:`TimeLineSearchRuns`."""

    params = [optimizer_names(closure=False), [2, 1000]]
    param_names = ["optimizer", "n"]

    def setup(self, name, n):
        opt = optimizers.get(name)
        rng = np.random.default_rng(0)
        self.hp = hp_row(opt, **STEP_SETTINGS.get(name, {}))
        self.sched = np.ascontiguousarray(opt.schedule(self.hp, N_CALLS), dtype=np.float64)
        self.x = rng.uniform(-1.0, 1.0, n)
        self.g0 = 0.1 * rng.standard_normal(n)
        self.state = np.zeros((opt.n_state, n))
        self.loop = load_loop(_STEP_LOOP, opt.step, "step").step_loop
        self.loop(self.x, self.g0, self.state, self.hp, self.sched)

    def time_step(self, name, n):
        self.loop(self.x, self.g0, self.state, self.hp, self.sched)


class TimeLineSearchRuns:
    """A closure optimizer's runs, line searches and all: 64 runs x 50 steps
    on rosenbrock 10-D from points in its box, one thread (L-BFGS with
    history 10, without and with its strong-Wolfe search; CG; Armijo descent)."""

    params = [["lbfgs", "lbfgs-strong_wolfe", "cg", "gd_armijo"]]
    param_names = ["optimizer"]

    def setup(self, case):
        name, _, search = case.partition("-")
        opt = optimizers.get(name)
        values = {"history_size": 10, **({"line_search_fn": search} if search else {})} if name == "lbfgs" else {}
        self.problem = objectives.make("rosenbrock", dim=10)
        x0 = points_in_box(self.problem, 64)
        self.kw = dict(problem=self.problem, optimizer=opt, x0=x0, hp=np.tile(hp_row(opt, **values), (64, 1)),
                       steps=50, log_every=50, threads=1, record_grad=False)
        engine.run_group(**self.kw)  # compile or load from cache

    def time_runs(self, case):
        engine.run_group(**self.kw)


class TimeCallFromPython:
    """One value-and-gradient call from Python, dispatcher overhead included:
    the compiled function itself (``fg``) and the checked wrapper
    ``Problem.value_and_grad``."""

    params = [["sphere-n2", "rosenbrock-n2", "rosenbrock-n1000"]]
    param_names = ["objective"]

    def setup(self, case):
        self.problem = make_problem(case)
        self.fg = self.problem.objective.fg
        self.x = points_in_box(self.problem, 1)[0]
        self.g = np.empty_like(self.x)
        self.fg(self.x, self.g)
        self.problem.value_and_grad(self.x)

    def time_fg(self, case):
        self.fg(self.x, self.g)

    def time_value_and_grad(self, case):
        self.problem.value_and_grad(self.x)


class TimeOptimizerSchedule:
    """An optimizer's per-step scalars for 5000 steps (``schedule``, Python
    floats as torch computes them), once per distinct hyperparameter row of
    a sweep."""

    params = [optimizer_names()]
    param_names = ["optimizer"]

    def setup(self, name):
        self.opt = optimizers.get(name)
        self.hp = hp_row(self.opt, **STEP_SETTINGS.get(name, {}))

    def time_schedule(self, name):
        self.opt.schedule(self.hp, 5000)


class TimeObjectiveBuild:
    """Building a data objective from cold caches: loading or generating its
    data and solving for its optimum (Newton, SVM dual, least squares)."""

    params = [["logistic-breast_cancer", "logistic-breast_cancer-l2", "softmax-iris", "least_squares-diabetes",
               "logistic-synthetic", "softmax-synthetic", "least_squares-synthetic"]]
    param_names = ["case"]
    CASES = {
        "logistic-breast_cancer": ("logistic", dict(data="breast_cancer")),
        "logistic-breast_cancer-l2": ("logistic", dict(data="breast_cancer", l2=0.01)),
        "softmax-iris": ("softmax", dict(data="iris")),
        "least_squares-diabetes": ("least_squares", dict(data="diabetes")),
        "logistic-synthetic": ("logistic", dict(n_samples=2000, n_features=10)),
        "softmax-synthetic": ("softmax", dict(n_samples=2000, n_features=10)),
        "least_squares-synthetic": ("least_squares", dict(n_samples=2000, n_features=10)),
    }

    def setup(self, case):
        from optbench import objectives

        name, kw = self.CASES[case]
        self.make = lambda: objectives.make(name, **kw)
        self.make()  # compiled functions loaded, outside the timing

    def _clear(self):
        from optbench.objectives import data

        try:
            from optbench.objectives.ml import optimum
            optimum.SOLVED.clear()
        except ImportError:  # commits before objectives/ml/
            from optbench.objectives import ml
            ml._SOLVED.clear()
        for fn in (data.binary, data.multiclass, data.regression, data.real):
            fn.cache_clear()

    def time_cold_build(self, case):
        self._clear()
        self.make()
