"""Compiling drivers before their first call, several processes at a time.

Numba compiles one function at a time per process (a global lock), so the
drivers a sweep needs and that are neither loaded nor in Numba's disk cache
compile side by side: one share in this process, the others in ``python -m
optbench.engine._compile_worker`` children, which write the disk cache this
process then loads from.
"""
from __future__ import annotations

import sys

from . import drivers


def signature(fn, args: tuple) -> tuple:
    """The Numba types ``fn(*args)`` compiles for (as the dispatcher types a call)."""
    return tuple(fn.typeof_pyval(a) for a in args)


def on_disk(fn, sig: tuple) -> bool | None:
    """Whether Numba's disk cache holds ``fn`` compiled for ``sig`` for this
    CPU (its first call then loads it); None where Numba's cache internals
    are not as expected (the caller then compiles nothing ahead)."""
    try:
        cache = fn._cache
        key = cache._index_key(sig, fn.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 -- a Numba without these internals: treat as unknown
        return None


def cached_any(fn) -> bool:
    """Whether Numba's disk cache holds ``fn`` compiled for any signature
    (False where its internals are not as expected)."""
    try:
        return bool(fn._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001 -- a Numba without these internals: treat as not cached
        return False


def missing(items) -> list[tuple]:
    """Those of ``items`` (pairs ``(dispatcher, signature)``) that are ours
    (:func:`drivers.recipe_of`), not loaded, and not in the disk cache, each once."""
    todo, seen = [], set()
    for fn, sig in items:
        recipe = drivers.recipe_of(fn)
        if recipe is None or fn.overloads or not getattr(fn, "_cache", None):
            continue  # not ours, or compiled already (this or another signature: that one compiles lazily)
        if (id(fn), sig) in seen or on_disk(fn, sig) is not False:
            continue
        seen.add((id(fn), sig))
        todo.append((fn, sig, recipe))
    return todo


# rough seconds of one core to compile a kernel, by the prefix of its module's
# file (drivers.py names them): enough to deal them out evenly
COST = {"lane_": 3.5, "drv_": 3.5, "gen_": 1.5, "fn_": 0.3}


def balanced(todo: list[tuple], processes: int) -> list[list[tuple]]:
    """``todo`` (as :func:`missing` gives it) dealt into ``processes``
    shares of about equal compile time: the costliest first, each to the
    share with the least so far."""
    def cost(item) -> float:
        recipe = item[2]
        stem = recipe[1].rsplit("/", 1)[-1] if recipe[0] == "file" else ""
        return next((c for prefix, c in COST.items() if stem.startswith(prefix)), 1.0)

    shares, loads = [[] for _ in range(processes)], [0.0] * processes
    for item in sorted(todo, key=cost, reverse=True):
        k = loads.index(min(loads))
        shares[k].append(item)
        loads[k] += cost(item)
    return shares


def compile_missing(items, processes: int, notify=None) -> int:
    """Compile, before they are called, the kernels among ``items`` (pairs
    ``(dispatcher, signature)``, see :func:`signature`) that are neither
    loaded nor in the disk cache, ``processes`` at a time: this process
    compiles one share and child processes (``python -m
    optbench.engine._compile_worker``) the others, each writing Numba's disk
    cache, from which this process then loads them.  ``notify(n,
    processes)`` is called first when there are ``n`` > 0 to compile.

    Numba compiles one function at a time per process (a global lock), and
    a specialized driver takes seconds to compile.  Kernels live in separate
    modules, so the processes never write the same cache index.
    A child that fails costs nothing but time: its kernels compile here, at
    their first call.  Returns the number compiled in other processes."""
    todo = missing(items)
    processes = max(1, min(int(processes), len(todo), 8))
    if todo and notify is not None:
        notify(len(todo), processes)
    if processes < 2:
        for fn, sig, _ in todo:
            fn.compile(sig)
        return 0
    shares = balanced(todo, processes)
    import pickle
    import subprocess
    import warnings

    from .._process import child_env

    env = child_env()
    env["OPTBENCH_CACHE_DIR"] = str(drivers.cache_dir().parent)  # the same folder, a fallback one included
    procs = []
    try:
        # each child's job goes through its stdin: no file to leave behind if this process is killed
        for share in shares[1:]:
            proc = subprocess.Popen([sys.executable, "-m", "optbench.engine._compile_worker"],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    env=env)
            procs.append(proc)
            try:
                proc.stdin.write(pickle.dumps([(recipe, sig) for _, sig, recipe in share]))
                proc.stdin.close()
            except BrokenPipeError:  # it died first: communicate() reports why
                pass
            proc.stdin = None
        for fn, sig, _ in shares[0]:
            fn.compile(sig)
    except BaseException:
        for proc in procs:  # Ctrl-C or an error here: the children's work is not wanted
            proc.kill()
        raise
    finally:
        failed = []
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode != 0:
                failed.append((err.decode(errors="replace").strip().splitlines() or ["no output"])[-1])
    if failed:
        warnings.warn(f"optbench: compiling kernels in another process failed ({failed[0]}); "
                      f"they compile here instead", RuntimeWarning, stacklevel=2)
    return sum(len(s) for s in shares[1:])
