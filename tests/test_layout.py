"""The package's shape: no import cycle, small modules, the stages at the top,
one list of the sources a run's numbers depend on, named hyperparameter slots."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import optbench
from optbench import optimizers
from optbench.engine import sources

PACKAGE = Path(optbench.__file__).resolve().parent
MAX_LINES = 800
STAGES = {"objectives", "optimizers", "engine", "sweep", "storage", "report", "bench"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, path: Path, known: dict) -> set[str]:
    """Every optbench module that ``module`` imports, at the top or inside a
    function (a lazy import is a dependency too); not those under ``if
    TYPE_CHECKING``."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()

    def visit(node):
        if _type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "optbench":
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "optbench":
                for alias in node.names:  # ``from pkg import submodule`` imports the submodule
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in known else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in known and m != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_module_imports_itself_back():
    known = _modules()
    graph = {m: _imports(m, p, known) for m, p in known.items()}
    assert graph["optbench.grid"] >= {"optbench.spec"}  # the walk sees imports at all
    assert "optbench.engine.drivers" in graph["optbench.engine.compiling"]  # and lazy ones
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_api_and_cli_import_in_a_fresh_interpreter():
    done = subprocess.run([sys.executable, "-c", "import optbench.api, optbench.cli"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_no_module_is_over_800_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_top_level_shows_the_stages():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert STAGES <= packages
    assert len(modules) <= 12, modules


def test_the_peer_harness_adapter_is_the_bench_adapter():
    from optbench import peers_adapter
    from optbench.bench import adapter

    assert peers_adapter.run is adapter.run
    assert peers_adapter.run.prepare is adapter.prepare and peers_adapter.run.info is adapter.info


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """A copy of the package's sources (no caches), to edit."""
    root = tmp_path_factory.mktemp("pkg") / "optbench"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"))
    return root


def test_every_engine_objective_and_optimizer_source_is_in_the_run_digest():
    listed = set(sources.files(sources.RUN_SOURCES))
    for folder in ("engine", "objectives", "optimizers", "objectives/ml"):
        for path in (PACKAGE / folder).glob("*.py"):
            assert path in listed, path
    for name in ("spec.py", "grid.py", "_jit.py", "_codes.py", "sweep/chunk.py", "storage/schema.py",
                 "storage/tables.py"):
        assert PACKAGE / name in listed, name
    assert set(sources.files(sources.KERNEL_SOURCES)) <= listed


def test_editing_any_listed_source_changes_the_digests(package_copy):
    """The code digest (resuming a folder) and the kernel digest (a driver's
    file name) both change when any file they list changes, one file at a time."""
    run_files = sources.files(sources.RUN_SOURCES, package_copy)
    kernel_files = set(sources.kernel_files(package_copy))
    not_kernel = set(sources.files(sources.NOT_KERNEL_SOURCES, package_copy))
    assert len(run_files) > 40 and len(not_kernel) == len(sources.NOT_KERNEL_SOURCES)
    code0, kernel0 = sources.code_digest(package_copy), sources.kernel_digest("driver", package=package_copy)
    for path in run_files:
        before = path.read_bytes()
        path.write_bytes(before + b"\n# edited\n")
        try:
            assert sources.code_digest(package_copy) != code0, path
            if path in kernel_files:
                assert sources.kernel_digest("driver", package=package_copy) != kernel0, path
            elif path in not_kernel:  # Python-side only: no driver recompiles
                assert sources.kernel_digest("driver", package=package_copy) == kernel0, path
        finally:
            path.write_bytes(before)
    assert sources.code_digest(package_copy) == code0


@pytest.mark.parametrize("name", optimizers.names())
def test_every_optimizer_reads_its_hyperparameters_by_named_slot(name):
    """``hp[LR]``, never ``hp[0]``: the slots come from the declaration
    (``hyper_slots``), so a step cannot read one hyperparameter for another."""
    opt = optimizers.get(name)
    module = sys.modules[getattr(opt.step, "py_func", opt.step).__module__]
    tree = ast.parse(Path(module.__file__).read_text())
    literal = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Subscript)
               and isinstance(n.value, ast.Name) and n.value.id == "hp" and isinstance(n.slice, ast.Constant)]
    assert literal == []


def test_hyper_slots_are_looked_up_by_name():
    from optbench.optimizers import Hyper
    from optbench.optimizers._registry import hyper_slots

    hypers = (Hyper("lr", 1e-3), Hyper("momentum", 0.0), Hyper("nesterov", False))
    assert hyper_slots(hypers, "nesterov", "lr") == (2, 0)
    with pytest.raises(ValueError, match="'momentun' not among"):
        hyper_slots(hypers, "lr", "momentun")
