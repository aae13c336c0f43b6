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


def compile_missing(calls, processes: int) -> int:
    """Compile, before the calls are made, the kernels among ``calls`` (pairs
    ``(dispatcher, args)``) that are neither loaded nor in the disk cache,
    ``processes`` at a time: this process compiles one share and child
    processes (``python -m optbench._compile_worker``) the others, each
    writing Numba's disk cache, from which this process then loads them.

    Numba compiles one function at a time per process (a global lock), and
    a lane driver takes seconds to compile.  Drivers live in separate
    modules, so the processes never write the same cache index.
    A child that fails costs nothing but time: its kernels compile here, at
    their first call.  Returns the number compiled in other processes."""
    todo, seen = [], set()
    for fn, args in calls:
        recipe = drivers.recipe_of(fn)
        if recipe is None or fn.overloads or not getattr(fn, "_cache", None):
            continue  # not ours, or compiled already (this or another signature: that one compiles lazily)
        sig = signature(fn, args)
        if (id(fn), sig) in seen or on_disk(fn, sig) is not False:
            continue
        seen.add((id(fn), sig))
        todo.append((fn, sig, recipe))
    processes = max(1, min(int(processes), len(todo), 8))
    if processes < 2:
        return 0
    shares = [todo[k::processes] for k in range(processes)]
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
