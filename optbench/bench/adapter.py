"""optbench as an implementation of the peer workloads.

The adapter of the peer harness (``../shared/peers/run_peers.py``)::

    python3 run_peers.py --path /work/main --impl numpy c_omp numba optbench=optbench.peers_adapter:run

and the ``optbench`` row of ``optbench bench``.  The contract is the
harness's: ``run(workload, inputs) -> {"final", "history"}`` with the inputs
of :func:`optbench.bench.workloads.make_inputs` (or the harness's identical
``make_inputs``), ``run.prepare(workload, inputs)`` compiles (or loads from
the kernel cache) on tiny inputs, ``run.info()`` says what ran.

Every workload goes through the public engine calls,
:func:`optbench.engine.run_group` and ``run_groups``, with the registered objectives
(``rosenbrock``, ``sphere``, ``himmelblau``, ``logistic`` on ``data="w3"``,
``mlp`` on ``data="moons"``) and optimizers (``adam``, ``sgd``); nothing
here is workload-specific code:

* rosenbrock-adam: one group, Adam, curve logged every step;
* grid-sgd-momentum: one group per objective (one compiled kernel each), SGD with the
  run's (lr, momentum) as its hyperparameter row, the three in one
  :func:`optbench.engine.run_groups` dispatch;
* logreg-minibatch: one group, SGD momentum 0.9, minibatch 128 drawn from the run's
  stream ``keys[r] = seed`` (the same SplitMix64 draws as the peers), full-
  data loss logged every 100 steps.
* mlp-minibatch: one group, ``mlp`` (1 hidden layer of the inputs' width and
  activation, softmax cross-entropy, no L2) with the inputs' data passed in
  as for logreg-minibatch, SGD momentum 0.9, minibatch 32 from the run's stream, full-data
  loss logged every 100 steps.

Mapping of conventions: the peers' ``history[:, t]`` (f before update t) is
optbench's ``curve_f[:, t]`` without its last column (f after the last
update).  ``divergence_factor=inf`` makes optbench stop a run only when f is
NaN, as the peers' runs never stop; after the stop optbench's curve holds
NaN, and so do the peers' (NaN propagates through every later step).  The
peers keep iterating a stopped run, and on these objectives one more step
from a NaN loss makes every coordinate NaN (both gradient components depend
on the NaN term), so ``final`` of a run stopped before the last step is
reported as NaN.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import engine, objectives, optimizers
from .._codes import DIVERGED
from .workloads import GRID_SGD_MOMENTUM, LOGREG_MINIBATCH, MLP_MINIBATCH, ROSENBROCK_ADAM

_GRID_OBJECTIVES = ("sphere", "rosenbrock", "himmelblau")  # ids 0, 1, 2 of grid-sgd-momentum
_problems: dict = {}
_checked: set = set()  # (optimizer, hp row bytes) that passed the optimizer's checks


def _problem(name, **params):
    """Problems are built once per process (the logistic one solves for f*)."""
    key = (name, *sorted(params.items()))
    if key not in _problems:
        if name == "logistic_w3":
            _problems[key] = objectives.make("logistic", data="w3", intercept=False, l2=0.0, loss="cross_entropy")
        elif name == "mlp":
            _problems[key] = objectives.make("mlp", **params)
        else:
            _problems[key] = objectives.make(name, 2)
    return _problems[key]


def _hp(optimizer, n_runs: int, **columns) -> np.ndarray:
    """(n_runs, n_hypers) rows; ``columns`` are scalars or per-run arrays by
    torch's hyperparameter names, the rest are torch's defaults.  Every
    distinct row goes through the optimizer's own checks."""
    names = optimizer.hyper_names
    hp = np.tile(optimizer.hp_row(optimizer.resolve({})), (n_runs, 1))
    for name, value in columns.items():
        hp[:, names.index(name)] = value
    for row in engine.row_groups(hp)[0]:  # O(R); np.unique over rows sorts them
        key = (optimizer.name, row.tobytes())
        if key not in _checked:  # a row's check is a pure function of it: once per process
            values = {h.name: (bool(v) if h.is_bool else float(v)) for h, v in zip(optimizer.hypers, row)}
            optimizer.resolve(values)
            _checked.add(key)
    return hp


def _final(res: engine.GroupResult, steps: int) -> np.ndarray:
    stopped = (res.status == DIVERGED) & (res.steps_run < steps)
    final = res.x_final
    if stopped.any():
        final[stopped] = np.nan
    return final


# the specialized drivers: the peer comparison measures the steady state, not the generic tier's first run
_COMMON = dict(record_grad=False, record_x=False, divergence_factor=np.inf, driver="specialized")


def _run_group(problem, optimizer, x0, hp, steps, **kw):
    return engine.run_group(problem, optimizer, x0, hp, steps=steps, **_COMMON, **kw)


def _rosenbrock_adam(inp: dict) -> dict:
    adam = optimizers.get("adam")
    T = int(inp["T"])
    hp = _hp(adam, len(inp["x0"]), lr=inp["lr"], beta1=inp["beta1"], beta2=inp["beta2"], eps=inp["eps"])
    res = _run_group(_problem("rosenbrock"), adam, inp["x0"], hp, T)
    return {"final": _final(res, T), "history": res.curve_f[:, :T]}


def _grid_sgd_momentum(inp: dict) -> dict:
    sgd = optimizers.get("sgd")
    x0, T, obj = inp["x0"], int(inp["T"]), np.asarray(inp["obj"])
    R = x0.shape[0]
    final = np.empty((R, 2))
    # one (R, T + 1) array: each objective's group writes its rows in place
    # (a contiguous block in the canonical run order), no 98 MB copy
    hist = np.empty((R, T + 1))
    hp_all = _hp(sgd, R, lr=inp["lr"], momentum=inp["momentum"])  # the 64 distinct rows checked once, not per group
    groups, sels = [], []
    for k in np.unique(obj):
        sel = np.flatnonzero(obj == k)
        contiguous = sel[-1] - sel[0] + 1 == sel.size
        if contiguous:
            sel = slice(int(sel[0]), int(sel[-1]) + 1)
        out = dict(out_curve_f=hist[sel], out_x_final=final[sel]) if contiguous else {}
        groups.append(dict(problem=_problem(_GRID_OBJECTIVES[int(k)]), optimizer=sgd, x0=x0[sel], hp=hp_all[sel],
                           steps=T, **_COMMON, **out))
        sels.append((sel, contiguous))
    # one dispatch: a thread done with one objective's runs goes on to the next
    for res, (sel, contiguous) in zip(engine.run_groups(groups), sels):
        f = _final(res, T)
        if not contiguous:
            final[sel] = f
            hist[sel] = res.curve_f
    return {"final": final, "history": hist[:, :T]}


def _logreg_minibatch(inp: dict) -> dict:
    sgd = optimizers.get("sgd")
    problem = _problem("logistic_w3")
    X = np.ascontiguousarray(inp["X"], dtype=np.float64)
    y = np.ascontiguousarray(inp["y"], dtype=np.float64)
    if X.shape[1] != problem.dim or y.shape != (X.shape[0],):
        raise ValueError(f"logreg-minibatch data of shape {X.shape} / {y.shape}; expected (N, {problem.dim}) / (N,)")
    problem = _with_data(problem, X, y)  # the inputs' data, the same as data="w3"
    w0 = inp["w0"]
    R, T = w0.shape[0], int(inp["T"])
    hp = _hp(sgd, R, lr=inp["lr"], momentum=inp["momentum"])
    res = _run_group(problem, sgd, w0, hp, T, log_every=int(inp["record_every"]),
                     keys=np.asarray(inp["seed"]).astype(np.uint64), batch=np.full(R, int(inp["B"]), np.int64))
    return {"final": _final(res, T), "history": res.curve_f}


def _with_data(problem, X, y):
    """``problem`` with the inputs' data (the same as its own generator's),
    passed through: the adapter never relies on two copies of a generator
    agreeing."""
    X, y = _readonly(X), _readonly(y)  # as the registry's own data: one compiled fg for both
    return dataclasses.replace(problem, args=(X, y, *problem.args[2:]), n_samples=X.shape[0])


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view (the caller's array keeps its flags).  A data
    objective's fg is a called function (kernels._fill): writable data would
    type, and compile, a second version of it."""
    v = a.view()
    v.setflags(write=False)
    return v


def _mlp_minibatch(inp: dict) -> dict:
    sgd = optimizers.get("sgd")
    X = np.ascontiguousarray(inp["X"], dtype=np.float64)
    y = np.ascontiguousarray(inp["y"], dtype=np.float64)  # class indices as floats, as mlp_fg reads them
    if int(inp["n_classes"]) != 2:
        raise ValueError(f"mlp-minibatch runs on the binary moons data (2 classes); got n_classes={inp['n_classes']}")
    problem = _problem("mlp", data="moons", n_samples=X.shape[0], noise=float(inp["noise"]),
                       data_seed=int(inp["data_seed"]), layers=1, width=int(inp["width"]),
                       activation=str(inp["activation"]), loss="cross_entropy", l2=0.0)
    theta0 = inp["theta0"]
    if X.shape[1] != 2 or y.shape != (X.shape[0],) or theta0.shape[1] != problem.dim:
        raise ValueError(f"mlp-minibatch data of shape {X.shape} / {y.shape}, θ0 {theta0.shape}; expected "
                         f"(N, 2) / (N,) / (R, {problem.dim})")
    problem = _with_data(problem, X, y)
    R, T = theta0.shape[0], int(inp["T"])
    hp = _hp(sgd, R, lr=inp["lr"], momentum=inp["momentum"])
    res = _run_group(problem, sgd, theta0, hp, T, log_every=int(inp["record_every"]),
                     keys=np.asarray(inp["seed"]).astype(np.uint64), batch=np.full(R, int(inp["B"]), np.int64))
    return {"final": _final(res, T), "history": res.curve_f}


_DISPATCH = {ROSENBROCK_ADAM: _rosenbrock_adam, GRID_SGD_MOMENTUM: _grid_sgd_momentum,
             LOGREG_MINIBATCH: _logreg_minibatch, MLP_MINIBATCH: _mlp_minibatch}


def run(workload: str, inputs: dict) -> dict:
    """The workload's ``{"final", "history"}`` computed by optbench's engine."""
    try:
        fn = _DISPATCH[workload]
    except KeyError:
        raise NotImplementedError(workload) from None
    return fn(inputs)


def prepare(workload: str, inputs: dict) -> None:
    """Build the problems and compile (or load from the kernel cache) the
    drivers, on the first two runs and a few steps."""
    small = dict(inputs)
    if workload == LOGREG_MINIBATCH:
        small.update(T=inputs["record_every"], lr=inputs["lr"][:2], seed=inputs["seed"][:2], w0=inputs["w0"][:2])
    elif workload == MLP_MINIBATCH:
        small.update(T=inputs["record_every"], lr=inputs["lr"][:2], seed=inputs["seed"][:2],
                     theta0=inputs["theta0"][:2])
    elif workload == GRID_SGD_MOMENTUM:
        # one run of each objective
        first = [int(np.flatnonzero(inputs["obj"] == k)[0]) for k in np.unique(inputs["obj"])]
        small.update(T=2, x0=inputs["x0"][first], obj=inputs["obj"][first], lr=inputs["lr"][first],
                     momentum=inputs["momentum"][first])
    elif workload == ROSENBROCK_ADAM:
        small.update(T=2, x0=inputs["x0"][:2])
    run(workload, small)


def info() -> dict:
    import numba

    from .. import __version__
    from ..engine import drivers

    return {"optbench": __version__, "numba": numba.__version__, "threads": engine.default_threads(),
            "parallelism": "nogil driver chunks on a Python thread pool", "kernel_cache": str(drivers.cache_dir())}


run.prepare = prepare
run.info = info
