"""Whole sweeps, compile time, start-up and peak memory.

* ``Sweep``: the bench workloads (optbench/bench/workloads.py: rosenbrock-adam,
  grid-sgd-momentum (sphere/Rosenbrock/Himmelblau x an SGD-momentum grid),
  logreg-minibatch, mlp-minibatch) at a fixed reduced size, through
  ``engine.run_group`` (optbench/bench/adapter.py), all cores.  ``track_ns_per_run_step`` is the
  sweep's throughput as its reciprocal: asv counts every number as lower-is-
  better, so run-steps per second would make ``asv continuous`` report a
  speed-up as a regression.  run-steps/s = 1e9 / ns per run-step.
* ``Compile``: first result from an empty kernel cache (JIT compilation of a
  fresh driver, objective and step included) and from a warm one, each in a
  new interpreter (``timeraw_``).
* ``PeakMemory``: a large sweep with curves logged at every step, through
  the engine and through ``optbench.run`` to disk.
"""
from __future__ import annotations

import shutil
import tempfile
import time

import numpy as np

import optbench
from optbench import engine, objectives, optimizers

# (runs, steps) of each workload here: ~0.05-0.5 s per call on 2 cores
SWEEP_SIZES = {"rosenbrock-adam": (1024, 2000), "grid-sgd-momentum": (3072, 1000), "logreg-minibatch": (16, 1000),
               "mlp-minibatch": (16, 1000)}


class Sweep:
    """A whole sweep on a fixed workload, compiled in setup."""

    params = [list(SWEEP_SIZES)]
    param_names = ["workload"]
    timeout = 300

    def setup(self, workload):
        # imported here, so that the rest of this module still runs on
        # commits from before the peer workloads existed
        from optbench import peers_adapter  # the harness's adapter at every commit

        try:
            from optbench.bench import workloads
        except ImportError:  # commits before the package layout of December 2026
            from optbench import _bench_workloads as workloads
        if workload not in workloads.WORKLOADS:
            raise NotImplementedError(f"{workload} is not defined at this commit")  # asv: skipped

        self.run = peers_adapter.run
        self.inputs = workloads.make_inputs(workload, *SWEEP_SIZES[workload])
        self.run_steps = SWEEP_SIZES[workload][0] * SWEEP_SIZES[workload][1]
        self.run.prepare(workload, self.inputs)
        self.run(workload, self.inputs)  # warm: thread pool, allocator

    def time_run_group(self, workload):
        self.run(workload, self.inputs)

    def track_ns_per_run_step(self, workload):
        """Best of 5 calls, in ns per run-step (1e9 / throughput).  A track_
        value carries no statistics, so the least disturbed call is kept."""
        best = np.inf
        for _ in range(5):
            t0 = time.perf_counter()
            self.run(workload, self.inputs)
            best = min(best, time.perf_counter() - t0)
        return best / self.run_steps * 1e9

    track_ns_per_run_step.unit = "ns/run-step"


_PAIRS = {
    "rosenbrock-adam": ('objectives.make("rosenbrock", 2)', "adam", 0),
    "logistic-sgd": ('objectives.make("logistic")', "sgd", 32),
}

_FIRST_RESULT = """
problem = {problem}
opt = optimizers.get("{optimizer}")
hp = np.tile(opt.hp_row(opt.resolve({{"lr": 1e-2}})), (4, 1))
x0 = np.zeros((4, problem.dim))
batch = np.full(4, {batch}) if problem.batched else None
engine.run_group(problem, opt, x0, hp, steps=10, batch=batch, threads=1)
"""

_IMPORTS = """
import numpy as np
from optbench import engine, objectives, optimizers
"""

_FRESH_CACHES = """
import atexit, os, shutil, tempfile
_d = tempfile.mkdtemp(prefix="optbench-asv-")
atexit.register(shutil.rmtree, _d, True)
os.environ["OPTBENCH_CACHE_DIR"] = _d
os.environ["NUMBA_CACHE_DIR"] = os.path.join(_d, "numba")
"""


class Compile:
    """Time to a first result in a new interpreter: build the problem, get
    the (objective, optimizer) driver and run 4 runs x 10 steps."""

    params = [list(_PAIRS)]
    param_names = ["pair"]
    timeout = 300
    warmup_time = 0
    repeat = (1, 5, 30.0)

    def setup(self, pair):
        # fill the default kernel cache for the warm start-up benchmark
        exec(_IMPORTS + self._first_result(pair), {})

    @staticmethod
    def _first_result(pair):
        problem, optimizer, batch = _PAIRS[pair]
        return _FIRST_RESULT.format(problem=problem, optimizer=optimizer, batch=batch)

    def timeraw_compile_fresh_kernel(self, pair):
        """Empty kernel and Numba caches (imports untimed): JIT compilation of
        the objective, the step and the driver."""
        return self._first_result(pair), _FRESH_CACHES + _IMPORTS

    def timeraw_start_up_warm_cache(self, pair):
        """Warm kernel cache: imports, loading the cached driver, first result."""
        return _IMPORTS + self._first_result(pair)


class PeakMemory:
    """Peak memory of a large sweep with curve logging at every step."""

    timeout = 300

    def setup(self):
        self.problem = objectives.make("rosenbrock", 2)
        self.adam = optimizers.get("adam")
        rng = np.random.default_rng(0)
        self.runs, self.steps = 10_000, 500
        self.x0 = rng.uniform(self.problem.lower, self.problem.upper, size=(self.runs, 2))
        self.hp = np.tile(self.adam.hp_row(self.adam.resolve({"lr": 1e-2})), (self.runs, 1))
        engine.run_group(self.problem, self.adam, self.x0[:4], self.hp[:4], steps=2)  # compile
        self.spec = {
            "name": "asv-peakmem",
            "steps": 500,
            "log_every": 1,
            "seed": 0,
            "targets": [1e-3, 1e-6],
            "objectives": [{"name": "rosenbrock", "dim": 2}],
            "init": {"scheme": "uniform", "count": 1000},
            "optimizers": [{"name": "adam", "lr": [1e-3, 1e-2]}],
        }
        self.out = tempfile.mkdtemp(prefix="optbench-asv-")
        small = dict(self.spec, name="asv-peakmem-warm", steps=2)
        optbench.run(small, out=self.out, report=False)  # compile the spec's kernels

    def teardown(self):
        shutil.rmtree(self.out, ignore_errors=True)

    def peakmem_run_group_curves(self):
        """10,000 runs x 500 steps, f, |g| and x logged at every step (engine arrays)."""
        engine.run_group(self.problem, self.adam, self.x0, self.hp, steps=self.steps, log_every=1,
                         targets=(1e-3, 1e-6), record_grad=True, record_x=True)

    def peakmem_sweep_to_disk(self):
        """optbench.run: 2,000 runs x 500 steps logged at every step, tables
        to Parquet (1,002,000 curve rows), no report."""
        optbench.run(self.spec, out=self.out, overwrite=True, report=False)
