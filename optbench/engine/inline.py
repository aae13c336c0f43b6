"""Functions defined in ``__main__`` (a script, a notebook cell), written to a module file.

A generated driver imports its objective's ``fg`` and its optimizer's
``step`` from their modules; Numba caches only functions that live in a real
file; and other processes compile drivers.  A function defined in
``__main__`` offers none of that, so its source (decorators dropped) and the
globals it reads are written to a module in the kernel cache folder, which
the drivers then import by path.  Numba freezes the globals of a compiled
function as constants, so copying their values changes nothing.
"""
from __future__ import annotations

import ast
import dis
import hashlib
import importlib.util
import inspect
import math
import os
import sys
import textwrap
import threading
import types
from pathlib import Path

import numpy as np

from .._errors import SpecError

PREFIX = "optbench_inline_"
MAX_ARRAY_BYTES = 1 << 20  # a global array copied into the module as bytes


def needs_copy(fn) -> bool:
    """Whether ``fn`` lives where another process cannot import it from a
    file: ``__main__`` (a script, a notebook), or a module made on the fly."""
    py = getattr(fn, "py_func", fn)
    module = getattr(py, "__module__", None)
    if module is None or module == "__main__" or module.startswith("<"):
        return True
    file = getattr(sys.modules.get(module), "__file__", None)
    return file is None or not Path(file).is_file()


def import_expr(fn, folder: Path) -> tuple[str, str]:
    """A Python expression that gives the module holding ``fn`` in any
    process, and that module's source (for the kernel digest): optbench's
    own by name, a plugin file by its path, another module by name with the
    folder it was found in added to ``sys.path`` where needed, and a
    ``__main__`` function as a copy (:func:`materialize`)."""
    py = getattr(fn, "py_func", fn)
    module = getattr(py, "__module__", None)
    if needs_copy(fn):
        path, name, text = materialize(fn, folder)
        return f"__import__('optbench.engine.inline').engine.inline.ensure({path!r}, {name!r})", text
    file = Path(sys.modules[module].__file__).resolve()
    text = file.read_text()
    if module == "optbench" or module.startswith("optbench."):
        return f"__import__({module!r}, fromlist=['_'])", text
    if module.startswith("optbench_plugin_"):
        return f"__import__('optbench.plugins').plugins.ensure_file({str(file)!r}, {module!r})", text
    root = file.parent if file.name != "__init__.py" else file.parent.parent
    for _ in range(module.count(".")):
        root = root.parent
    return f"__import__('optbench.engine.inline').engine.inline.ensure_module({module!r}, {str(root)!r})", text


def ensure_module(name: str, root: str):
    """The module ``name``, imported with ``root`` added to ``sys.path`` if
    it is not importable without (a module beside a user's script)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        if root in sys.path:
            raise
        sys.path.append(root)
        return importlib.import_module(name)


def _name(py) -> str:
    return getattr(py, "__name__", "?")


def _source(py) -> str:
    try:
        text = textwrap.dedent(inspect.getsource(py))
    except (OSError, TypeError):
        raise SpecError(f"{_name(py)} (defined in {py.__module__!r}): its source cannot be read, so optbench cannot "
                        f"compile it into a driver; define it in a .py file and load that as a plugin") from None
    node = ast.parse(text).body[0]
    if not isinstance(node, ast.FunctionDef):
        raise SpecError(f"{_name(py)}: not a plain function (def ...); define it with def at top level")
    node.decorator_list = []
    return ast.unparse(node)


def _global_names(code: types.CodeType) -> list[str]:
    names = []
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and ins.argval not in names:
            names.append(ins.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += [n for n in _global_names(const) if n not in names]
    return names


def _literal(v) -> str | None:
    """Python source that rebuilds ``v`` exactly, or None."""
    if v is None or isinstance(v, (bool, int, str)):
        return repr(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else f"float({str(v)!r})"
    if isinstance(v, complex):
        return f"complex({_literal(v.real)}, {_literal(v.imag)})"
    if isinstance(v, tuple):
        items = [_literal(x) for x in v]
        return None if None in items else f"({', '.join(items)}{',' if len(items) == 1 else ''})"
    if isinstance(v, np.generic) and v.dtype.kind in "biuf":
        return f"_np.{v.dtype.name}({_literal(v.item())})"
    if isinstance(v, np.ndarray) and v.dtype.kind in "biuf" and v.nbytes <= MAX_ARRAY_BYTES:
        return (f"_np.frombuffer(bytes.fromhex({np.ascontiguousarray(v).tobytes().hex()!r}), "
                f"dtype=_np.{v.dtype.name}).reshape({v.shape!r})")
    return None


def module_text(fn, folder: Path) -> tuple[str, list[str]]:
    """The source of a module that defines ``fn`` (under its own name) and
    every global it reads: modules imported, importable functions imported,
    ``__main__`` functions copied the same way, numbers, strings, tuples and
    small numeric arrays as literals; and the sources of the modules it
    imports functions from (for the kernel digest)."""
    top = getattr(fn, "py_func", fn)
    lines = ["# generated by optbench from a function defined in __main__; edit the original, not this",
             "import numpy as _np", "from optbench._jit import jit as _jit", ""]
    done: set[str] = set()
    sources: list[str] = []

    def emit(py, alias: str, jitted: bool) -> None:
        if py.__code__.co_freevars:
            raise SpecError(f"{_name(py)} uses variables of an enclosing function "
                            f"({', '.join(py.__code__.co_freevars)}); define it at top level")
        done.add(alias)
        for name in _global_names(py.__code__):
            if name in done or name not in py.__globals__:
                continue  # a builtin, or not defined (Numba says so when it compiles)
            done.add(name)
            value = py.__globals__[name]
            inner = getattr(value, "py_func", value)
            if isinstance(value, types.ModuleType):
                lines.append(f"import {value.__name__} as {name}" if value.__name__ != name
                             else f"import {name}")
            elif isinstance(inner, types.FunctionType) and not needs_copy(inner):
                expr, source = import_expr(value, folder)
                lines.append(f"{name} = {expr}.{inner.__name__}")
                sources.append(source)
            elif isinstance(inner, types.FunctionType):
                emit(inner, name, inner is not value)
            elif (text := _literal(value)) is not None:
                lines.append(f"{name} = {text}")
            elif getattr(type(value), "__module__", "").split(".")[0] == "numba":
                lines.append(f"from {_home(value, name)} import {name}")
            else:
                raise SpecError(
                    f"{_name(top)}: the global {name!r} is a {type(value).__name__}; a function defined in __main__ "
                    f"may read numbers, strings, tuples, small numeric arrays, modules and functions (or move it "
                    f"into a plugin file)")
        lines.append(_source(py))
        if py.__name__ != alias or jitted:
            lines.append(f"{alias} = _jit({py.__name__}, cache=False)" if jitted else f"{alias} = {py.__name__}")
        lines.append("")

    emit(top, top.__name__, True)
    return "\n".join(lines) + "\n", sources


def _home(value, name: str) -> str:
    """The numba module to import a numba object (a type, prange) from."""
    import numba

    if getattr(numba, name, None) is value:
        return "numba"
    raise SpecError(f"the global {name!r} ({type(value).__name__}) is not importable as numba.{name}; "
                    f"use numba.{type(value).__name__} through the numba module")


def materialize(fn, folder: Path) -> tuple[str, str, str]:
    """Write :func:`module_text` of ``fn`` into ``folder`` (once: the name
    carries its digest); returns (path, module name, the text and the
    sources of what it imports, for the kernel digest)."""
    text, sources = module_text(fn, folder)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    py = getattr(fn, "py_func", fn)
    stem = "".join(c if c.isalnum() else "_" for c in py.__name__)
    name = f"{PREFIX}{stem}_{digest}"
    path = folder / f"{name}.py"
    write_once(path, text)
    return str(path), name, "\0".join([text, *sources])


def write_once(path: Path, text: str) -> bool:
    """Write a generated module whose name carries the digest of ``text``,
    unless it exists; atomic, so a concurrent writer writes the same bytes.
    Returns whether it was written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def ensure(path: str, name: str):
    """The module ``name`` from the file ``path``, imported once per process
    (generated drivers, and the modules they import copied functions from)."""
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # Numba's cache re-imports a module by name when it loads compiled code
        spec.loader.exec_module(module)
    return module
