"""The generic tier: one compiled driver for every pair of a kind.

A specialized driver (:mod:`optbench.engine.drivers`) inlines one pair's
``fg`` and ``step`` and takes seconds to compile, per pair, dimension and
variant.  The generic driver is the same scalar template calling ``fg``,
``fg_step`` and ``step`` through first-class function values (its
``kernels`` argument), so one compile serves every objective whose extra
arguments have the same types, with every optimizer; each function compiles
once on its own (:func:`optbench.engine.drivers.kernel_function`), in a
fraction of a second.  A call through a function pointer costs a few
nanoseconds, which matters only on small analytic objectives, and the
arithmetic is the same operations in the same order, so both tiers give the
same numbers bit for bit (``tests/test_tiers.py``).

:func:`optbench.engine.run.choose_tier` decides which one a group runs: a
specialized driver that is compiled already (loaded, or in Numba's disk
cache), else the generic one unless the time a specialized driver would
save (:func:`worth_specializing`) outweighs compiling it.
"""
from __future__ import annotations

import hashlib
import warnings

from numba import typeof, types
from numba.core.errors import NumbaExperimentalFeatureWarning, TypingError
from numba.core.types.function_type import WrapperAddressProtocol
from numba.core.typing import signature

from ..objectives import Problem
from ..optimizers import Optimizer
from . import drivers

# Numba marks first-class function types experimental; optbench tests every pair through them
warnings.filterwarnings("ignore", message="First-class function type feature is experimental",
                        category=NumbaExperimentalFeatureWarning)

F64 = types.float64
VEC = types.Array(F64, 1, "C")
ROWS = types.Array(types.int64, 1, "C")
STEP_SIG = signature(types.none, VEC, VEC, types.Array(F64, 2, "C"), VEC, VEC, types.int64)
STEP_PARAMS = "x, g, state, hp, sched, t"

# When a specialized driver pays for its compile (seconds of one core, see
# docs/performance.md, "Two tiers"): the generic driver's extra time per run
# and step, and how much of it justifies compiling.
GENERIC_EXTRA_S = {"lanes": 80e-9, "scalar": 55e-9, "data": 0.0}
SPECIALIZE_AFTER_S = 3.0


class FirstClass(WrapperAddressProtocol):
    """A compiled function as a first-class function value of signature
    ``sig`` (Numba's wrapper address protocol): compiled, or loaded from
    the disk cache, when a driver call first takes its address."""

    __slots__ = ("kernel", "sig")

    def __init__(self, kernel, sig):
        self.kernel = kernel
        self.sig = sig

    def __wrapper_address__(self) -> int:
        try:  # Numba refuses a return type other than the signature's (the call would use the wrong ABI)
            cres = self.kernel.get_compile_result(self.sig)
        except TypingError as exc:
            raise TypeError(f"{self.kernel.__module__}.kernel for the generic driver: {exc}") from None
        return cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name)

    def signature(self):
        return self.sig


def _fg_params(batched: bool, n_args: int) -> str:
    return ", ".join(["x", "g", *(["rows"] if batched else []), *(f"a{i}" for i in range(n_args))])


def kernels(problem: Problem, optimizer: Optimizer) -> tuple:
    """The ``kernels`` argument of the generic driver for this pair: the
    optimizer's state rows, then fg, fg_step and step as first-class
    functions (the count first: Numba warns, at every call, of a tuple that
    starts with a function)."""
    objective = problem.objective
    fg = objective_function(problem)
    if objective.batched and objective.fg_step is not None:
        fg_step = FirstClass(_registered(objective.fg_step), fg.sig)
    else:
        fg_step = fg
    step = FirstClass(drivers.kernel_function(optimizer.step, STEP_PARAMS), STEP_SIG)
    return int(optimizer.n_state), fg, fg_step, step


def objective_function(problem: Problem) -> FirstClass:
    """The problem's ``fg`` as a first-class function, called as the
    specialized drivers call it (a data objective's on a whole batch of
    rows): for the generic driver, and for a closure step to evaluate."""
    objective = problem.objective
    n_args = drivers.n_extra_args(objective)
    fsig = signature(F64, VEC, VEC, *((ROWS,) if objective.batched else ()), *(typeof(a) for a in problem.args))
    if objective.batched:
        return FirstClass(_registered(objective.fg), fsig)
    return FirstClass(drivers.kernel_function(objective.fg, _fg_params(False, n_args)), fsig)


def _registered(fn):
    """A data objective's registered ``fg`` itself, compiled once for the
    problem, the generic driver and the specialized one alike (inlining its
    tree of helpers into a module of its own cost seconds; see
    :func:`drivers._fill`), compiled ahead in other processes where they can
    import it by name."""
    py = getattr(fn, "py_func", fn)
    if drivers.recipe_of(fn) is None and py.__module__.startswith("optbench."):
        drivers.add_recipe(fn, py.__module__, py.__name__)
    return fn


def driver(problem: Problem, per_step: bool = False, clip: bool = False):
    """The generic driver for this problem's kind (its objective's extra
    argument types; ``per_step``, ``clip``: see :func:`drivers.driver_source`)."""
    objective = problem.objective
    arg_types = ",".join(str(typeof(a)) for a in problem.args)
    key = hashlib.sha256(arg_types.encode()).hexdigest()[:8]
    return drivers.generic_driver(objective.batched, drivers.n_extra_args(objective), objective.value_only,
                                  per_step, clip, key, transform=problem.transform is not None)


def functions(kernels_arg: tuple) -> list[tuple]:
    """The (dispatcher, argument types) each first-class function of a
    ``kernels`` argument compiles for: what compiling ahead must include."""
    seen, out = set(), []
    for k in kernels_arg[1:]:
        if isinstance(k, FirstClass) and id(k.kernel) not in seen:
            seen.add(id(k.kernel))
            out.append((k.kernel, tuple(k.sig.args)))
    return out


def worth_specializing(kind: str, run_steps: float) -> bool:
    """Whether a specialized driver of ``kind`` (``"lanes"``, ``"scalar"``
    on an analytic objective, ``"data"``) saves more time over ``run_steps``
    runs x steps than :data:`SPECIALIZE_AFTER_S`."""
    return run_steps * GENERIC_EXTRA_S[kind] > SPECIALIZE_AFTER_S
