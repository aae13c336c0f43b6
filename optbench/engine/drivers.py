"""One compiled, disk-cached sweep driver per (objective, optimizer) pair.

Why generated source: Numba inlines and specializes best when the objective
and the optimizer are plain globals of the driver's module, and it caches a
compiled function on disk only when that function lives in a real file.
Passing ``fg`` and ``step`` as dispatcher arguments compiles per pair but
never hits the disk cache; first-class function types cache but cost about
twice as much per step (the generic tier, :mod:`optbench.engine.generic`,
uses them where compiling would cost more than it saves); one kernel with
a switch over optimizers is slower still.  So for each pair we write a
small module (``_scalar_template.py`` with its import lines filled in) into
the kernel cache folder and import it.

Two templates: ``_scalar_template.py`` runs one run at a time (any
objective, any optimizer); ``_lane_template.py`` steps blocks of K runs that
share a hyperparameter row in lock-step, with the dimension and K as
compile-time constants, so LLVM vectorises across runs (analytic objectives
of small dimension, elementwise optimizers: see :mod:`optbench.engine`).

The file name carries a digest of everything the compiled code depends on
(:func:`optbench.engine.sources.kernel_digest`), because Numba's cache only
checks the timestamp of the file that holds the driver, not of the functions
it calls.  A change anywhere in those sources gives a new file and a fresh
compile.

The cache folder is ``$OPTBENCH_CACHE_DIR`` or ``~/.cache/optbench``.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from ..objectives import Objective
from ..optimizers import Optimizer
from . import inline as copied
from .sources import kernel_digest

TEMPLATE_PATH = Path(__file__).with_name("_scalar_template.py")
LANE_TEMPLATE_PATH = Path(__file__).with_name("_lane_template.py")


@functools.cache
def parameters(fn) -> tuple[str, ...]:
    """The parameter names of a compiled driver (of its Python function)."""
    return tuple(inspect.signature(getattr(fn, "py_func", fn)).parameters)


def call_args(fn, values: dict) -> tuple:
    """``fn``'s arguments in the order of its parameters, taken from
    ``values`` by name: the order lives in the driver's ``def`` alone, so no
    caller can pass two arrays in each other's place."""
    names = parameters(fn)
    missing = [n for n in names if n not in values]
    unused = sorted(set(values) - set(names))
    if missing or unused:
        raise TypeError(f"{getattr(fn, '__name__', fn)}: missing arguments {missing}, unknown ones {unused}")
    return tuple(values[n] for n in names)


def n_extra_args(objective: Objective) -> int:
    """How many arguments ``fg`` takes after ``x, g`` (and ``rows``): :attr:`Problem.args`."""
    params = inspect.signature(getattr(objective.fg, "py_func", objective.fg)).parameters
    return len(params) - (3 if objective.batched else 2)


def _adapters(batched: bool, n_args: int, generic: bool = False, closure: bool = False) -> str:
    """The scalar driver's calls of fg, fg_step and step, with the
    objective's ``n_args`` extra arguments spelled out (Numba inlines a call
    at the IR level only without ``*args``): the pair's functions (imported
    into the driver), or with ``generic`` the first-class functions of the
    ``kernels`` argument (:mod:`optbench.engine.generic`).  A ``closure``
    step gets the objective as the first-class function ``kernels[1]``
    with its arguments, the instance's transform and scratch
    (:func:`optbench.optimizers.linesearch.evaluate`); ``kernels[0]`` is
    its state rows."""
    extra = "".join(f", args[{i}]" for i in range(n_args))
    fg, fg_step, step, rows = ("kernels[1]", "kernels[2]", "kernels[3]", "kernels[0]") if generic else \
        ("fg", "fg_step", "step", "kernels[0]" if closure else "STATE_SIZE")
    if batched:
        full, part = f"{fg}(x, g, all_rows{extra})", f"{fg_step}(x, g, rows{extra})"
    else:
        full = part = f"{fg}(x, g{extra})"
    if closure:
        items = (["all_rows"] if batched else []) + [f"args[{i}]" for i in range(n_args)]
        fargs = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        call = (f"    return {step}(x, g, f, state, hp, sched, t, "
                f"(kernels[1], {fargs}, xform[0], xform[1], xform[2], y, gy))\n\n\n")
    else:
        call = f"    {step}(x, g, state, hp, sched, t)\n    return 0\n\n\n"
    return (
        '@jit(inline="always")\n'
        "def full_fg(x, g, all_rows, args, kernels):\n"
        f"    return {full}\n\n\n"
        '@jit(inline="always")\n'
        "def rows_fg(x, g, rows, args, kernels):\n"
        f"    return {part}\n\n\n"
        '@jit(inline="always")\n'
        "def opt_step(x, g, f, state, hp, sched, t, all_rows, args, xform, y, gy, kernels):\n"
        + call +
        '@jit(inline="always")\n'
        "def state_rows(kernels):\n"
        f"    return {rows}\n\n\n"
    )


_lock = threading.Lock()
_loaded: dict[tuple[str, str], object] = {}
# (driver key, cache folder) -> the module file that was not there (create=False): a later
# look costs a stat, not the source and digest again (choose_tier asks per group and chunk)
_absent: dict[tuple, Path] = {}
# id(dispatcher) -> how another process gets the same dispatcher (see compile_missing)
_recipes: dict[int, tuple] = {}


_fallback_cache: Path | None = None  # set by ensure_cache_dir where the configured folder is not writable


def cache_dir() -> Path:
    """``$OPTBENCH_CACHE_DIR/kernels``, else ``~/.cache/optbench/kernels`` (the
    home folder from the password database when ``$HOME`` is empty)."""
    if _fallback_cache is not None:
        return _fallback_cache
    root = os.environ.get("OPTBENCH_CACHE_DIR")
    if root:
        return Path(root) / "kernels"
    home = os.environ.get("HOME") or _passwd_home()
    return Path(home) / ".cache" / "optbench" / "kernels"


def _passwd_home() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError):  # pragma: no cover - no password entry
        return tempfile.gettempdir()


def ensure_cache_dir() -> Path:
    """The kernel cache folder, created and checked writable.  Where it
    cannot be written, a private temporary folder serves this process (and
    its compiling children), with a warning: a sweep still runs, it only
    compiles its kernels again next time."""
    global _fallback_cache
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}-{threading.get_ident()}"
        probe.write_bytes(b"")
        probe.unlink()
        return folder
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / f"optbench-{os.getuid()}" / "kernels"
        fallback.mkdir(parents=True, exist_ok=True)
        _fallback_cache = fallback
        warnings.warn(f"optbench: the kernel cache {str(folder)!r} cannot be written ({exc.strerror or exc}); "
                      f"kernels compile into {str(fallback)!r} instead (set OPTBENCH_CACHE_DIR to keep them)",
                      RuntimeWarning, stacklevel=2)
        return fallback


def _import_line(func, alias: str, marker: str, inline: bool = True) -> str:
    """Import the registered function and make an inline-always copy of it:
    without IR inlining every step is a real call that passes each array as
    ~7 exploded fields, a large share of a 2-D step.  With
    ``inline=False`` the driver calls the registered function itself (see
    :func:`_fill`).  optbench's own functions are imported by name; a
    plugin's or a script's through :func:`optbench.engine.inline.import_expr`,
    which works in every process without ``PYTHONPATH``."""
    py = getattr(func, "py_func", func)
    module = py.__module__
    if module == "optbench" or module.startswith("optbench."):
        if not inline:
            return f"from {module} import {py.__name__} as {alias}  # {marker}"
        source = f"from {module} import {py.__name__} as _{alias}_registered"
    else:
        expr, _ = copied.import_expr(func, cache_dir())
        source = f"_{alias}_registered = {expr}.{py.__name__}"
    if not inline:
        return f"{source}; {alias} = _{alias}_registered  # {marker}"
    return f"{source}; {alias} = jit(_{alias}_registered.py_func, inline=\"always\", cache=False)  # {marker}"


def _module_source(func) -> str:
    """The source the compiled ``func`` comes from, for the kernel digest."""
    py = getattr(func, "py_func", func)
    if py.__module__ == "optbench" or py.__module__.startswith("optbench."):
        return inspect.getsource(sys.modules[py.__module__])
    return copied.import_expr(func, cache_dir())[1]


def _fill(template: Path, objective: Objective | None, optimizer: Optimizer | None, constants: dict,
          adapters: str) -> str:
    """``template`` with its marked lines filled in: the import lines of the
    pair's fg and step, ``NAME = value  # @@MARK@@`` for each of
    ``constants`` ({mark: (name, value)}), and the adapter block.

    A data objective's fg (and fg_step) is called, not inlined at the IR
    level: one call does a whole (mini)batch of rows, so the call costs
    nothing measurable, while inlining its tree of helpers into every
    driver multiplied the compile time of each pair."""
    lines = []
    for line in template.read_text().splitlines():
        if line.endswith("# @@FG@@"):
            line = "fg = None  # @@FG@@" if objective is None else \
                _import_line(objective.fg, "fg", "@@FG@@", inline=not objective.batched)
        elif line.endswith("# @@STEP@@"):
            line = "step = None  # @@STEP@@" if optimizer is None else _import_line(optimizer.step, "step", "@@STEP@@")
        elif line.endswith("# @@FGSTEP@@"):
            if objective is not None and objective.fg_step is not None:
                line = _import_line(objective.fg_step, "fg_step", "@@FGSTEP@@", inline=False)
        else:
            for mark, (name, value) in constants.items():
                if line.endswith(f"# @@{mark}@@"):
                    line = f"{name} = {value!r}  # @@{mark}@@"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    head, rest = text.split("# @@ADAPTERS-BEGIN@@\n")
    _, tail = rest.split("# @@ADAPTERS-END@@\n")
    return head + "# @@ADAPTERS-BEGIN@@\n" + adapters + "# @@ADAPTERS-END@@\n" + tail


def driver_source(objective: Objective, optimizer: Optimizer, per_step: bool = False, clip: bool = False,
                  transform: bool = False) -> str:
    """The Python source of the driver for this pair; ``per_step``: the
    hyperparameters change per step (a scheduler), ``clip``: gradients are
    clipped, ``transform``: a rotated or shifted instance (each a variant
    of its own, so that runs without them run the code they always ran)."""
    constants = {"BATCHED": ("BATCHED", bool(objective.batched)),
                 "VALUE_ONLY": ("VALUE_ONLY", bool(objective.value_only)),
                 "STATE": ("STATE_SIZE", int(optimizer.n_state)),
                 "PER_STEP": ("PER_STEP", bool(per_step)), "CLIP": ("CLIP", bool(clip)),
                 "CLOSURE": ("CLOSURE", bool(optimizer.closure)), "TRANSFORM": ("TRANSFORM", bool(transform))}
    return _fill(TEMPLATE_PATH, objective, optimizer, constants,
                 _adapters(objective.batched, n_extra_args(objective), closure=optimizer.closure))


def vector_register_bytes() -> int:
    """Bytes in the vector registers that LLVM vectorises with for the CPU
    Numba compiles for (its host, or ``NUMBA_CPU_NAME`` and
    ``NUMBA_CPU_FEATURES``): 32 x 64 with AVX-512 on AMD (znver4, znver5);
    32 x 32 with AVX-512 on Intel, whose LLVM tuning prefers 256-bit
    vectors; 16 x 32 with AVX; 16 x 16 otherwise (SSE2)."""
    from numba.core import config

    return _register_bytes(config.CPU_NAME, config.CPU_FEATURES)


@functools.cache
def _register_bytes(cpu_name: str | None, cpu_features: str | None) -> int:
    """:func:`vector_register_bytes` for Numba's CPU settings, once per setting: asking LLVM
    for the host's features takes ~0.2 ms, and every lane group asks (:func:`lane_width`)."""
    from llvmlite import binding
    from numba.core.codegen import get_host_cpu_features

    name = cpu_name if cpu_name not in (None, "host") else binding.get_host_cpu_name()
    features = cpu_features if cpu_features is not None else get_host_cpu_features()
    enabled = {f[1:] for f in features.split(",") if f.startswith("+")}
    if "avx512f" in enabled:
        return 32 * (64 if name.startswith("znver") else 32)
    if "avx" in enabled:
        return 16 * 32
    return 16 * 16


def lane_state_in_registers(optimizer: Optimizer, dim: int, lanes: int) -> bool:
    """Whether the lane driver keeps a block's state (x, g, the optimizer's
    state, f: ``(2 + n_state) * dim * lanes + lanes`` doubles) in a stack
    array that LLVM promotes to registers, or in memory.  In registers only
    where it fits in the vector registers (:func:`vector_register_bytes`):
    where it does not, the register allocator spills the whole state around
    every branch of the step loop, slower than memory."""
    size = ((2 + optimizer.n_state) * dim + 1) * lanes * 8
    return size <= vector_register_bytes()


def lane_width(optimizer: Optimizer, dim: int) -> int:
    """Runs per block of the lane driver for the CPU Numba compiles for: ``LANES``, or twice
    that with AVX2 or narrower vectors where the block's state is in memory at ``LANES``
    anyway (:func:`lane_state_in_registers`): there 32 lanes ran rosenbrock-adam and
    grid-sgd-momentum 2-10 % faster (Zen 1, and Zen 5 compiling for znver3; docs/performance.md)."""
    from .blocks import LANES

    if vector_register_bytes() <= 16 * 32 and not lane_state_in_registers(optimizer, dim, LANES):
        return 2 * LANES
    return LANES


def lane_source(objective: Objective, optimizer: Optimizer, dim: int, lanes: int, escape: bool = True,
                registers: bool | None = None, per_step: bool = False, clip: bool = False) -> str:
    """The Python source of the lane driver for this pair, dimension and block
    width; ``escape``: whether runs can stop as escaped (objectives unbounded
    below), else the driver drops the tests against the escape value;
    ``registers``: the block state in registers, and curve lines prefetched
    (None: :func:`lane_state_in_registers`); ``per_step``, ``clip``: see
    :func:`driver_source`."""
    if registers is None:
        registers = lane_state_in_registers(optimizer, dim, lanes)
    if objective.batched:
        raise ValueError("the lane driver runs analytic objectives only (data objectives use the scalar driver)")
    params = inspect.signature(getattr(objective.fg, "py_func", objective.fg)).parameters
    extra = "".join(f", args[{i}]" for i in range(len(params) - 2))
    adapter = (
        '@jit(inline="always")\n'
        "def lane_fg(S, k, args):\n"
        f"    return fg(strided1(S, X_OFF + k, (DIM,), (K,)), strided1(S, G_OFF + k, (DIM,), (K,)){extra})\n\n\n"
    )
    constants = {"DIM": ("DIM", int(dim)), "K": ("K", int(lanes)), "STATE": ("STATE_SIZE", int(optimizer.n_state)),
                 "ESCAPE": ("ESCAPE", bool(escape)), "REGISTERS": ("REGISTERS", bool(registers)),
                 "PREFETCH": ("PREFETCH", bool(registers)), "PER_STEP": ("PER_STEP", bool(per_step)),
                 "CLIP": ("CLIP", bool(clip))}
    return _fill(LANE_TEMPLATE_PATH, objective, optimizer, constants, adapter)


def generic_source(batched: bool, n_args: int, value_only: bool, per_step: bool = False, clip: bool = False,
                   transform: bool = False) -> str:
    """The Python source of the generic driver for objectives of this kind:
    the scalar template calling the first-class functions of its ``kernels``
    argument instead of a pair's own."""
    constants = {"BATCHED": ("BATCHED", bool(batched)), "VALUE_ONLY": ("VALUE_ONLY", bool(value_only)),
                 "STATE": ("STATE_SIZE", -1), "PER_STEP": ("PER_STEP", bool(per_step)), "CLIP": ("CLIP", bool(clip)),
                 "TRANSFORM": ("TRANSFORM", bool(transform))}
    return _fill(TEMPLATE_PATH, None, None, constants, _adapters(batched, n_args, generic=True))


def generic_driver(batched: bool, n_args: int, value_only: bool, per_step: bool, clip: bool, types_key: str,
                   transform: bool = False):
    """The compiled-on-first-call ``run_chunk`` of the generic tier for
    objectives of this kind (cached on disk); ``types_key`` names the
    argument types it compiles for, one module each, so that no two
    compiling processes write one cache index."""
    key = ("generic", bool(batched), int(n_args), bool(value_only), bool(per_step), bool(clip), types_key,
           bool(transform))
    with _lock:
        if key not in _loaded:
            source = generic_source(batched, n_args, value_only, per_step, clip, transform)
            stem = (f"gen_{'data' if batched else 'surf'}{'_vo' if value_only else ''}_a{int(n_args)}_{types_key}"
                    f"_{_variant(per_step, clip, transform)}")
            module = _load(stem, source)
            _loaded[key] = module.run_chunk
            _recipes[id(_loaded[key])] = ("file", module.__file__, module.__name__, "run_chunk")
        return _loaded[key]


def kernel_function(func, params: str):
    """``func`` (a registered fg, fg_step or step) compiled as the function
    ``kernel(<params>)`` of a generated module of its own, cached on disk
    under a digest of its sources like a driver (Numba's own cache would
    miss a change to a helper in another file), for the generic tier."""
    key = ("kernel", func, params)
    with _lock:
        if key not in _loaded:
            py = getattr(func, "py_func", func)
            source = (f'"""{py.__name__} for optbench\'s generic tier (see optbench.engine.generic)."""\n'
                      "from optbench._jit import jit\n"
                      f"{_import_line(func, 'inner', '@@FN@@')}\n\n\n"
                      f"@jit\ndef kernel({params}):\n    return inner({params})\n")
            stem = f"fn_{_safe(py.__module__.rsplit('.', 1)[-1])}__{_safe(py.__name__)}_p{params.count(',') + 1}"
            module = _load(stem, source, func)
            _loaded[key] = module.kernel
            _recipes[id(_loaded[key])] = ("file", module.__file__, module.__name__, "kernel")
        return _loaded[key]


def driver(objective: Objective, optimizer: Optimizer, per_step: bool = False, clip: bool = False,
           create: bool = True, transform: bool = False):
    """The compiled-on-first-call ``run_chunk`` of this pair (cached on disk);
    ``per_step``, ``clip``, ``transform``: see :func:`driver_source`; ``create=False``:
    None unless its module was written before (by any process)."""
    key = (objective.name, optimizer.name, bool(per_step), bool(clip), bool(transform),
           *_identity(objective, optimizer))
    with _lock:
        if key not in _loaded:
            if not create and _still_absent(key):
                return None
            source = driver_source(objective, optimizer, per_step, clip, transform)
            stem = f"drv_{_safe(objective.name)}__{_safe(optimizer.name)}_{_variant(per_step, clip, transform)}"
            module = _load(stem, source, objective.fg, optimizer.step, create=create, key=key)
            if module is None:
                return None
            _loaded[key] = module.run_chunk
            _recipes[id(_loaded[key])] = ("file", module.__file__, module.__name__, "run_chunk")
        return _loaded[key]


def lane_driver(objective: Objective, optimizer: Optimizer, dim: int, lanes: int, escape: bool = True,
                per_step: bool = False, clip: bool = False, create: bool = True):
    """The compiled-on-first-call ``run_blocks`` of the lane driver for this
    pair at dimension ``dim`` with blocks of ``lanes`` runs (cached on disk);
    ``escape``, ``per_step``, ``clip``: see :func:`lane_source`; ``create``:
    see :func:`driver`."""
    key = (objective.name, optimizer.name, int(dim), int(lanes), bool(escape), bool(per_step), bool(clip),
           *_identity(objective, optimizer))
    with _lock:
        if key not in _loaded:
            if not create and _still_absent(key):
                return None
            source = lane_source(objective, optimizer, dim, lanes, escape, per_step=per_step, clip=clip)
            # no variant's stem is a prefix of another's (_remove_stale)
            stem = (f"lane_{_safe(objective.name)}__{_safe(optimizer.name)}_d{int(dim)}_k{int(lanes)}"
                    f"_{'esc' if escape else 'bnd'}_{_variant(per_step, clip)}")
            module = _load(stem, source, objective.fg, optimizer.step, create=create, key=key)
            if module is None:
                return None
            _loaded[key] = module.run_blocks
            _recipes[id(_loaded[key])] = ("file", module.__file__, module.__name__, "run_blocks")
        return _loaded[key]


def _variant(per_step: bool, clip: bool, transform: bool = False) -> str:
    """``v00`` (the usual driver), ``v10`` (per-step hyperparameters), ``v01`` (clipping), ``v11``;
    ``t`` appended for a transformed instance (no stem a prefix of another's: :func:`_remove_stale`)."""
    return f"v{int(bool(per_step))}{int(bool(clip))}{'t' if transform else ''}"


def _identity(objective: Objective, optimizer: Optimizer) -> tuple:
    """The compiled functions themselves (held, so never confused with
    later ones at the same address): a plugin loaded again, or a notebook
    cell run again, defines new ones under the same names."""
    return objective.fg, objective.fg_step, optimizer.step, optimizer.n_state


def _still_absent(key: tuple) -> bool:
    """Whether the module file of driver ``key`` was found missing before and still is."""
    path = _absent.get((key, cache_dir()))
    return path is not None and not path.exists()


def _load(stem: str, source: str, *functions, create: bool = True, key: tuple | None = None):
    """Write ``source`` as ``<stem>_<digest>.py`` in the cache folder (once)
    and import it; Numba then compiles or loads its functions from the
    folder's ``__pycache__``.  The digest covers ``source``, the modules of
    ``functions`` (those it imports) and :data:`KERNEL_SOURCES`.  With
    ``create=False``: None where the file is not there yet."""
    stem = f"{stem}_{kernel_digest(source, *(_module_source(f) for f in functions))}"
    folder = cache_dir()
    path = folder / f"{stem}.py"
    if not path.exists():
        if not create:
            if key is not None:
                _absent[(key, folder)] = path
            return None
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale(folder, stem.rsplit("_", 1)[0])
    copied.write_once(path, source)
    return copied.ensure(str(path), f"optbench_kernel_{stem}")


def _remove_stale(folder: Path, prefix: str) -> None:
    """Drop drivers of this pair built from older sources (and their Numba cache)."""
    for old in folder.glob(f"{prefix}_*.py"):
        for f in [old, *folder.joinpath("__pycache__").glob(f"{old.stem}.*")]:
            try:
                f.unlink()
            except OSError:
                pass


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


# ------------------------------------------------ compiling in parallel

def recipe_of(fn) -> tuple | None:
    """How another process builds the dispatcher ``fn`` (None: not one of ours)."""
    return _recipes.get(id(fn))


def add_recipe(fn, module: str, name: str) -> None:
    """Let :func:`~optbench.engine.compiling.compile_missing` compile the cached dispatcher ``fn``,
    found as ``name`` in the importable module ``module``, in other processes."""
    _recipes[id(fn)] = ("function", module, name)


def from_recipe(recipe: tuple):
    """The dispatcher that ``recipe`` (:func:`recipe_of`) describes, built in
    this process: a generated driver is imported from its file (which
    imports its objective and optimizer, plugins included, by path)."""
    if recipe[0] == "function":
        return getattr(importlib.import_module(recipe[1]), recipe[2])
    _, path, name, function = recipe
    return getattr(copied.ensure(path, name), function)
