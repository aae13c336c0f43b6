"""Plugins: a user's own objectives and optimizers, loaded from a file or a module.

A plugin is a Python file (``my_optimizers.py``, given by path) or an
importable module (``mypkg.objectives``) that defines objectives and
optimizers with the same API as the built-in ones
(:func:`optbench.optimizers.optimizer`, :func:`optbench.objectives.surface`,
see ``docs/extending.md``).  A spec names its plugins (``plugins = [...]``,
paths relative to the spec), ``optbench run --plugin`` adds more, and
:func:`load` imports each once per process.

A file plugin is imported under a name made from its path
(:func:`module_name`), not from ``sys.path``: the generated drivers, the
compiling processes and Dask workers import the same file that way, so no
``PYTHONPATH`` is needed.  Its source digest goes into the kernel digest
(an edit recompiles) and into the results folder's code digest (a folder is
not resumed by changed code).

A results folder is data: :func:`for_results` imports a plugin recorded in
its manifest only when the user names it, or when it is a file that this
user's own ``optbench run`` loaded on this machine with the same digest
(recorded in the kernel cache folder, see :func:`trust`).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import _registry
from ._errors import OptbenchError, SpecError

MODULE_PREFIX = "optbench_plugin_"


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin: ``kind`` "file" (``ref`` an absolute path) or
    "module" (``ref`` a module name), the digest of its source, and the
    names it registered."""

    kind: str
    ref: str
    digest: str
    module: str
    objectives: tuple[str, ...]
    optimizers: tuple[str, ...]

    @property
    def entry(self):
        """What :func:`load` takes to load it again (a path is a file)."""
        return Path(self.ref) if self.kind == "file" else self.ref

    def record(self) -> dict:
        """What a manifest keeps of it."""
        return {"kind": self.kind, "ref": self.ref, "digest": self.digest,
                "objectives": list(self.objectives), "optimizers": list(self.optimizers)}


_loaded: dict[tuple[str, str], Plugin] = {}


def loaded() -> list[Plugin]:
    return list(_loaded.values())


def module_name(path: Path) -> str:
    """The module name a plugin file is imported under: its stem and a
    digest of its absolute path (two files of the same name do not clash)."""
    path = Path(path).resolve()
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"{MODULE_PREFIX}{stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:10]}"


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def resolve(entry, base: Path | None = None) -> tuple[str, str]:
    """``("file", absolute path)`` or ``("module", name)`` for a plugin
    entry: a path (it ends in ``.py`` or holds a ``/``), relative to
    ``base`` (default: the current folder), else a module name."""
    if not isinstance(entry, (str, os.PathLike)) or str(entry).strip() == "":
        raise SpecError(f"plugins: each entry must be a .py file path or a module name, got {entry!r}")
    text = str(entry)
    if isinstance(entry, os.PathLike) or text.endswith(".py") or "/" in text or os.sep in text:
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path(base or Path.cwd()) / path
        return "file", str(path.resolve())
    if not all(part.isidentifier() for part in text.split(".")):
        raise SpecError(f"plugin {text!r}: not a .py file path nor a module name (like mypkg.objectives)")
    return "module", text


def load(entry, base: Path | None = None, *, record_trust: bool = True) -> Plugin:
    """Import the plugin ``entry`` (see :func:`resolve`) once per process
    and return what it registered.  A file whose source changed since it
    was loaded is loaded again, its old definitions replaced.  Every
    mistake is one :class:`SpecError` line that names the file."""
    kind, ref = resolve(entry, base)
    if kind == "file":
        plugin = _load_file(ref, str(entry))
    else:
        plugin = _load_module(ref)
    if record_trust:
        trust(plugin)
    return plugin


def load_all(entries, base: Path | None = None, *, record_trust: bool = True) -> list[Plugin]:
    out = []
    for e in entries:
        p = load(e, base, record_trust=record_trust)
        if p not in out:
            out.append(p)
    return out


def _read(path: Path, shown: str) -> bytes:
    if not path.exists():
        raise SpecError(f"plugin {shown!r}: no such file ({path})")
    if not path.is_file():
        raise SpecError(f"plugin {shown!r}: {path} is not a file; give a .py file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SpecError(f"plugin {shown!r}: cannot read {path}: {exc.strerror or exc}") from None


def _load_file(ref: str, shown: str) -> Plugin:
    path = Path(ref)
    source = _read(path, shown)
    digest = digest_bytes(source)
    old = _loaded.get(("file", ref))
    if old is not None and old.digest == digest:
        return old
    try:
        code = compile(source, ref, "exec")
    except SyntaxError as exc:
        raise SpecError(f"plugin {ref}, line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:  # null bytes
        raise SpecError(f"plugin {ref}: not Python source ({exc})") from None
    name = module_name(path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path))
    before = sys.modules.get(name)
    sys.modules[name] = module  # Numba's cache and the drivers find it by this name
    _forget(("file", ref))
    _registry._loading.append(ref)
    try:
        exec(code, module.__dict__)
    except BaseException as exc:
        if before is not None:
            sys.modules[name] = before
        else:
            sys.modules.pop(name, None)
        _unregister(ref)
        if isinstance(exc, OptbenchError):
            raise SpecError(f"plugin {ref}: {exc}") from None
        if not isinstance(exc, Exception):
            raise
        raise SpecError(f"plugin {ref} failed to import: {_where(exc, ref)}{type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")) from None
    finally:
        _registry._loading.pop()
    return _finish("file", ref, digest, name, shown)


def _load_module(name: str) -> Plugin:
    old = _loaded.get(("module", name))
    if old is not None:
        return old
    _registry._loading.append(name)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise SpecError(f"plugin {name!r}: no module named {exc.name!r} here; give the plugin's file path "
                        f"(my_plugin.py) or install its package") from None
    except SyntaxError as exc:
        raise SpecError(f"plugin {name!r}: {exc.filename}, line {exc.lineno}: {exc.msg}") from None
    except OptbenchError as exc:
        raise SpecError(f"plugin {name!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's module: one line
        raise SpecError(f"plugin {name!r} failed to import: {_where(exc, None)}{type(exc).__name__}: {exc}") from None
    finally:
        _registry._loading.pop()
    file = getattr(module, "__file__", None)
    digest = digest_bytes(Path(file).read_bytes()) if file and Path(file).is_file() else "no-source"
    return _finish("module", name, digest, name, name)


def _finish(kind: str, ref: str, digest: str, module: str, shown: str) -> Plugin:
    from . import objectives, optimizers

    objs = tuple(objectives.OBJECTIVES.from_origin(ref))
    opts = tuple(optimizers.OPTIMIZERS.from_origin(ref))
    if kind == "module" and not objs and not opts:
        # imported before (by the user's own code): its definitions carry the module as origin
        objs = tuple(objectives.OBJECTIVES.from_origin(module))
        opts = tuple(optimizers.OPTIMIZERS.from_origin(module))
    if not objs and not opts:
        raise SpecError(f"plugin {shown!r} registers no objective or optimizer; define them with "
                        f"optbench.objectives.surface(...) or optbench.optimizers.optimizer(...)")
    plugin = Plugin(kind, ref, digest, module, objs, opts)
    _loaded[(kind, ref)] = plugin
    return plugin


def _forget(key: tuple[str, str]) -> None:
    """Drop what an earlier load of this plugin registered (it is loaded again)."""
    old = _loaded.pop(key, None)
    if old is not None:
        _unregister(old.ref)


def _unregister(origin: str) -> None:
    from . import objectives, optimizers

    for reg in (objectives.OBJECTIVES, optimizers.OPTIMIZERS):
        for n in reg.from_origin(origin):
            reg.unregister(n)


def _where(exc: BaseException, path: str | None) -> str:
    """``line N: `` of the innermost frame in the plugin's file (or any file)."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if path is None or f.filename == path]
    if not mine:
        return ""
    f = mine[-1]
    return f"line {f.lineno}: " if path else f"{f.filename}, line {f.lineno}: "


def ensure_file(path: str, name: str):
    """The module of the plugin file ``path``, loaded under ``name`` if this
    process has not loaded it yet (a generated driver's import line: it runs
    in compiling processes and Dask workers too)."""
    module = sys.modules.get(name)
    if module is None:
        load(path, record_trust=False)
        module = sys.modules[name]
    return module


# ------------------------------------------------------------ trust

def _trust_dir() -> Path:
    from .engine.drivers import cache_dir

    return cache_dir().parent / "trusted-plugins"


def _trust_key(kind: str, ref: str, digest: str) -> str:
    return hashlib.sha256(f"{kind}\0{ref}\0{digest}".encode()).hexdigest()[:32]


def trust(plugin: Plugin) -> None:
    """Remember that this user loaded ``plugin`` (this source) on this
    machine, so that a report of its results may load it again unasked."""
    try:
        folder = _trust_dir()
        folder.mkdir(parents=True, exist_ok=True)
        mark = folder / _trust_key(plugin.kind, plugin.ref, plugin.digest)
        if not mark.exists():
            tmp = mark.with_name(f".{mark.name}.{os.getpid()}")
            tmp.write_text(json.dumps(plugin.record()))
            os.replace(tmp, mark)
    except OSError:  # a cache that cannot be written: the report then asks for --plugin
        pass


def current_digest(kind: str, ref: str) -> str | None:
    """The digest of the plugin's source as it is now here (None: not found)."""
    if kind == "file":
        try:
            return digest_bytes(Path(ref).read_bytes())
        except OSError:
            return None
    try:
        spec = importlib.util.find_spec(ref)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        return None
    return digest_bytes(Path(spec.origin).read_bytes())


def trusted(record: dict) -> bool:
    """Whether ``record`` (a manifest's) is a plugin this user loaded here
    with the digest it has now."""
    kind, ref, digest = record.get("kind"), record.get("ref"), record.get("digest")
    if kind not in ("file", "module") or not isinstance(ref, str) or not isinstance(digest, str):
        return False
    return (_trust_dir() / _trust_key(kind, ref, digest)).exists() and current_digest(kind, ref) == digest


def for_results(manifest: dict, named=(), base: Path | None = None) -> tuple[list[Plugin], list[str]]:
    """Load the plugins a results folder needs: those the user names, and
    those of the manifest that :func:`trusted` allows.  Returns the plugins
    loaded and one line per plugin of the manifest left out (why, and what
    would load it)."""
    out = load_all(named, base)
    notes = []
    records = manifest.get("plugins") or []
    for rec in records if isinstance(records, list) else []:
        if not isinstance(rec, dict):
            continue
        kind, ref = rec.get("kind"), rec.get("ref")
        what = ", ".join([*rec.get("objectives", []), *rec.get("optimizers", [])]) or "its definitions"
        have = _loaded.get((kind, ref))
        if have is not None:
            if have.digest != rec.get("digest"):
                notes.append(f"plugin {ref} has changed since these results were computed; "
                             f"its figures are drawn with the current source")
            if have not in out:
                out.append(have)
            continue
        if kind == "inline":
            notes.append(f"{what} were defined in the script or notebook that ran the sweep; figures that need "
                         f"them (surfaces, minima) are left out")
            continue
        if trusted(rec):
            out.append(load(ref if kind == "module" else Path(ref), record_trust=False))
            continue
        now = current_digest(kind, ref) if kind in ("file", "module") else None
        why = ("is not found here" if now is None
               else "has changed since the run" if now != rec.get("digest")
               else "was not loaded by you on this machine")
        notes.append(f"plugin {ref} ({what}) {why} and a results folder never runs code by itself; "
                     f"figures that need it are left out (pass --plugin {ref} to load it)")
    return out, notes


def records(plugins, inline: dict | None = None) -> list[dict]:
    """The manifest's ``plugins``: one record per plugin, and one for what
    was defined in ``__main__`` (``inline``: {"objectives": [...], "optimizers": [...]})."""
    out = [p.record() for p in plugins]
    if inline and (inline.get("objectives") or inline.get("optimizers")):
        out.append({"kind": "inline", "ref": "__main__", "digest": inline.get("digest", ""),
                    "objectives": inline.get("objectives", []), "optimizers": inline.get("optimizers", [])})
    return out


# ------------------------------------------------------------ a sweep's own code

def used(spec) -> tuple[list[Plugin], dict]:
    """The plugins whose definitions ``spec`` uses, and what it uses that
    was defined elsewhere outside optbench (``__main__``, a module the user
    imported): ``{"objectives": [...], "optimizers": [...], "digest": ...}``."""
    from . import objectives, optimizers

    out: list[Plugin] = []
    inline: dict = {"objectives": [], "optimizers": []}
    parts = []
    by_ref = {p.ref: p for p in _loaded.values()}
    names = [("objectives", c.problem.name) for c in spec.objective_cases]
    names += [("optimizers", c.name) for c in spec.optimizer_cases]
    for kind, name in dict.fromkeys(names):
        reg = objectives.OBJECTIVES if kind == "objectives" else optimizers.OPTIMIZERS
        origin = reg.origin(name)
        if origin == _registry.BUILT_IN:
            continue
        if origin in by_ref:
            if by_ref[origin] not in out:
                out.append(by_ref[origin])
            continue
        inline[kind].append(name)
        fn = reg[name].fg if kind == "objectives" else reg[name].step
        parts.append(f"{name}\0{source_of(fn)}")
    inline["digest"] = digest_bytes("\0".join(parts).encode()) if parts else ""
    return out, inline


def source_of(fn) -> str:
    """The source a compiled definition comes from (see
    :func:`optbench.engine.inline.import_expr`)."""
    from .engine import inline
    from .engine.drivers import cache_dir

    return inline.import_expr(fn, cache_dir())[1]


def run_digest(plugins: list[Plugin], inline: dict) -> str:
    """What decides a sweep's numbers beyond optbench's own code: the
    digests of the plugins and other outside definitions it uses (as
    :func:`used` gives them); '' when there are none."""
    return ",".join([*(f"{p.ref}={p.digest}" for p in plugins), inline["digest"]])


def check_used(spec) -> None:
    """Compile (and run once) every outside definition ``spec`` uses, so
    that a function Numba cannot compile is one line naming it, before any
    driver compiles; find out whether optimizers that did not say are
    elementwise (see :func:`optbench.optimizers.optimizer`)."""
    import numpy as np

    from . import objectives, optimizers
    from .optimizers._registry import _PROBE_ELEMENTWISE

    seen = set()
    for case in spec.objective_cases:
        name = case.problem.name
        if name in seen or objectives.OBJECTIVES.origin(name) == _registry.BUILT_IN:
            continue
        seen.add(name)
        problem = case.problem
        x = 0.5 * (problem.lower + problem.upper)
        rows = (problem.all_rows()[: min(4, problem.n_samples)],) if problem.batched else ()
        _compiled(f"objective {name!r}", problem.objective.fg, _cached(problem.objective.fg), x, np.empty_like(x),
                  *rows, *problem.args)
    seen = set()
    for oc in spec.optimizer_cases:
        name = oc.name
        if name in seen or optimizers.OPTIMIZERS.origin(name) == _registry.BUILT_IN:
            continue
        seen.add(name)
        opt = optimizers.get(name)
        hp = opt.hp_row(opt.resolve(dict(oc.values)))
        together, apart = _probe(opt, hp, np)
        if name in _PROBE_ELEMENTWISE:
            _PROBE_ELEMENTWISE.discard(name)
            same = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(together, apart))
            if not same:
                import dataclasses

                optimizers.OPTIMIZERS.register(dataclasses.replace(opt, elementwise=False),
                                               optimizers.OPTIMIZERS.origin(name))


_copies: dict = {}


def _cached(fn):
    """``fn`` compiled with optbench's flags into Numba's disk cache (the
    user's own dispatcher may not cache): a warm run does not compile it."""
    if fn not in _copies:
        import warnings

        from ._jit import jit

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a function Numba cannot cache: compiled each run, nothing more
            try:
                _copies[fn] = jit(getattr(fn, "py_func", fn))
            except (RuntimeError, ImportError):  # no file for Numba's cache (python -c, an exec'd string)
                _copies[fn] = jit(getattr(fn, "py_func", fn), cache=False)
    return _copies[fn]


def _probe(opt, hp, np):
    """Three steps of ``opt`` on 6 coordinates at once and as 3 + 3 apart:
    the same numbers bit for bit when the step is elementwise."""
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(6)
    grads = rng.standard_normal((3, 6))
    sched = np.ascontiguousarray(opt.schedule(hp, 3), dtype=np.float64)
    if sched.shape != (3, opt.n_sched):
        raise SpecError(f"optimizer {opt.name!r}: schedule(hp, 3) gave shape {sched.shape}; "
                        f"expected (3, {opt.n_sched})")

    step = _cached(opt.step)

    def run(lo, hi):
        x = x0[lo:hi].copy()
        state = np.zeros((opt.n_state, hi - lo))
        for t in range(1, 4):
            step(x, grads[t - 1, lo:hi].copy(), state, hp, sched[t - 1], t)
        return np.concatenate([x, state.ravel()])

    try:
        whole = run(0, 6)
        x_all, s_all = whole[:6], whole[6:].reshape(opt.n_state, 6)
        a, b = run(0, 3), run(3, 6)
        x_parts = np.concatenate([a[:3], b[:3]])
        s_parts = np.concatenate([a[3:].reshape(opt.n_state, 3), b[3:].reshape(opt.n_state, 3)], axis=1)
    except Exception as exc:  # noqa: BLE001 - reported by _compiled, one line
        _raise_compile(f"optimizer {opt.name!r}", opt.step, exc)
    return (x_all, s_all), (x_parts, s_parts)


def _compiled(what: str, fn, call, *args) -> None:
    try:
        call(*args)
    except OptbenchError:
        raise
    except Exception as exc:  # noqa: BLE001
        _raise_compile(what, fn, exc)


def _raise_compile(what: str, fn, exc: Exception):
    """One line for a definition that Numba cannot compile or that fails
    when run: its function, file and line, and the first line of the error."""
    import re

    py = getattr(fn, "py_func", fn)
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    message = next((ln for ln in lines if not ln.startswith(("Failed in", "During:", "File "))), type(exc).__name__)
    where = re.search(r'File "([^"]+)", line (\d+)', text)
    file = getattr(py.__code__, "co_filename", "?")
    place = f"{where.group(1)}, line {where.group(2)}" if where else f"{file}, line {py.__code__.co_firstlineno}"
    from numba.core.errors import NumbaError

    verb = "does not compile with Numba" if isinstance(exc, NumbaError) else f"fails ({type(exc).__name__})"
    raise SpecError(f"{what}: {py.__name__} ({place}) {verb}: {message}") from None
