"""Shared helpers of the asv suite: benchmark cases and jitted call loops.

A Numba function called from Python costs ~0.3-1 µs of dispatch (type
checks, unboxing), more than a 2-D objective's whole evaluation.  So the
per-call kernels are timed inside a jitted loop over ``N_CALLS`` calls.  The
loop must have the objective (or step) as a plain global to be inlined and
cached on disk -- the reason optbench's drivers are generated modules
(optbench/engine/drivers.py) -- so the loops are generated the same way: a small
module per function, named by a digest of everything its compiled code
depends on, in ``<kernel cache>/asv_loops/``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path

import numba
import numpy as np

import optbench
import optbench._jit
from optbench import objectives, optimizers

N_CALLS = 1000  # calls per timed loop: time_* of the per-call kernels is for 1000 calls
ND_DIMS = (2, 10, 100, 1000)  # n of the n-D objectives

_FG_LOOP = '''
import numpy as np
from optbench._jit import jit
from {module} import {name} as fg


@jit
def fg_loop(points, g, rows, args):
    """Sum of fg over the rows of ``points`` (one call per point)."""
    n = points.shape[1]
    x = np.empty(n)
    total = 0.0
    for k in range(points.shape[0]):
        for i in range(n):
            x[i] = points[k, i]
        total += {call}
    return total
'''

_STEP_LOOP = '''
import numpy as np
from optbench._jit import jit
from {module} import {name} as step


@jit
def step_loop(x, g0, state, hp, sched):
    """len(sched) steps from the fixed gradient ``g0`` (the step may overwrite g)."""
    n = x.shape[0]
    g = np.empty(n)
    for t in range(sched.shape[0]):
        for i in range(n):
            g[i] = g0[i]
        step(x, g, state, hp, sched[t], t + 1)
'''


def load_loop(template: str, func, kind: str, **fmt):
    """Import (writing it first if needed) the generated loop module of ``func``."""
    py = getattr(func, "py_func", func)
    source = template.format(module=py.__module__, name=py.__name__, **fmt)
    h = hashlib.sha256()
    for part in (source, inspect.getsource(sys.modules[py.__module__]), Path(optbench._jit.__file__).read_text(),
                 optbench.__version__, numba.__version__, sys.version):
        h.update(part.encode())
    stem = f"{kind}_{py.__name__}_{h.hexdigest()[:16]}"
    root = os.environ.get("OPTBENCH_CACHE_DIR")
    folder = (Path(root) if root else Path.home() / ".cache" / "optbench") / "asv_loops"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.py"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)
    name = f"optbench_asv_{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # Numba's cache re-imports the module by name
        spec.loader.exec_module(module)
    return sys.modules[name]


def _warm_numba() -> None:
    """Initialize Numba's typing and target contexts once, in the process
    that asv forks the benchmarks from (``"launch_method": "forkserver"`` in
    asv.conf.json): the first call of any compiled function in a process
    costs ~0.4 s, so without this every benchmark's setup would pay it."""
    objectives.get("sphere").fg(np.zeros(2), np.zeros(2))


_warm_numba()


# ------------------------------------------------------------------- cases
def objective_cases() -> list[str]:
    """``name`` for fixed-dimension objectives, ``name-n<n>`` for n-D ones at
    each n of ND_DIMS they accept, ``name`` on its default data for data
    objectives.  Every registered objective is covered."""
    cases = []
    for name in objectives.names():
        obj = objectives.get(name)
        lo, hi = obj.dims
        if obj.dim_from_data or lo == hi:
            cases.append(name)
        else:
            cases += [f"{name}-n{n}" for n in ND_DIMS if n >= lo and (hi is None or n <= hi)]
    return cases


def make_problem(case: str):
    name, _, n = case.partition("-n")
    obj = objectives.get(name)
    if obj.dim_from_data:
        return obj.make()
    return obj.make(int(n) if n else None)


def points_in_box(problem, count: int, seed: int = 0) -> np.ndarray:
    """``count`` points uniform in the problem's domain box (fixed seed)."""
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(rng.uniform(problem.lower, problem.upper, size=(count, problem.dim)))


def hp_row(optimizer, **values) -> np.ndarray:
    return optimizer.hp_row(optimizer.resolve(values))


def optimizer_names(closure: bool | None = None) -> list[str]:
    """Every optimizer, or only those whose step evaluates the objective
    itself (``closure=True``: line searches) or not (``False``)."""
    return [n for n in optimizers.names() if closure is None or optimizers.get(n).closure == closure]
