"""Plugins: a user's own optimizers and objectives, from a file, a module or ``__main__``.

Each test that loads a plugin restores the registries after it (the
``registries`` fixture), so no other test sees a plugin's definitions.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import optbench
from optbench import SpecError, engine, objectives, optimizers, plugins
from optbench.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "my_plugin.py"
EXAMPLE_SPEC = ROOT / "examples" / "own_optimizer.toml"


@pytest.fixture(autouse=True)
def registries():
    """Whatever a test registers is gone after it."""
    before = (set(objectives.names()), set(optimizers.names()), dict(plugins._loaded))
    yield
    for reg, names in ((objectives.OBJECTIVES, before[0]), (optimizers.OPTIMIZERS, before[1])):
        for n in set(reg) - names:
            reg.unregister(n)
    plugins._loaded.clear()
    plugins._loaded.update(before[2])


def _spec(name: str, objective: str, optimizer: str, steps: int = 40, **extra) -> dict:
    return {"name": name, "steps": steps, "init": {"count": 4}, "objectives": [{"name": objective}],
            "optimizers": [{"name": optimizer, "lr": [1e-3, 1e-2]}], **extra}


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


SIGN_SGD = """
    import numba
    import numpy as np
    from optbench.optimizers import optimizer

    @numba.njit
    def sign_step(x, g, state, hp, sched, t):
        for i in range(x.shape[0]):
            x[i] = x[i] - hp[0] * {factor} * np.sign(g[i])

    optimizer("{name}", sign_step, hypers={{"lr": 1e-3}})
"""


# ------------------------------------------------------------- the example


def test_lion_steps_as_a_numpy_reference_of_its_docstring_rule():
    plugins.load(EXAMPLE)
    lion = optimizers.get("lion")
    problem = objectives.make("rosenbrock", 2)
    rng = np.random.default_rng(1)
    x0 = rng.uniform(problem.lower, problem.upper, size=(5, 2))
    hp = np.tile(lion.hp_row(lion.resolve({"lr": 1e-2, "weight_decay": 0.1})), (5, 1))
    res = engine.run_group(problem, lion, x0, hp, steps=60, threads=1, driver="lanes", record_x=True)
    for r in range(5):
        x, m = x0[r].copy(), np.zeros(2)
        for _ in range(60):
            _, g = problem.value_and_grad(x)
            x = x * (1.0 - 1e-2 * 0.1)
            c = m * 0.9 + (1.0 - 0.9) * g
            x = x + (-1e-2) * np.sign(c)
            m = m * 0.99 + (1.0 - 0.99) * g
        np.testing.assert_array_equal(res.x_final[r], x)


def test_the_example_objective_has_a_correct_gradient_and_minimum():
    plugins.load(EXAMPLE)
    results = optbench.check_gradients(["bohachevsky"])  # as defined, and rotated and shifted
    assert [r.variant for r in results] == ["dim=2", "rotate+shift instance 1"]
    assert all(r.passed for r in results), results
    problem = objectives.make("bohachevsky")
    f, g = problem.value_and_grad(problem.minima[0].x)
    assert f == pytest.approx(0.0, abs=1e-15) and np.abs(g).max() < 1e-12


def test_a_plugin_optimizer_steps_lanes_as_it_steps_one_run():
    plugins.load(EXAMPLE)
    lion = optimizers.get("lion")
    assert lion.elementwise
    problem = objectives.make("bohachevsky")
    rng = np.random.default_rng(0)
    x0 = rng.uniform(problem.lower, problem.upper, size=(37, 2))
    hp = np.tile(lion.hp_row(lion.resolve({})), (37, 1))
    hp[:, 0] = np.array([1e-3, 1e-2, 0.3])[rng.integers(0, 3, 37)]
    for kw in ({}, {"log_every": 7, "targets": (1e-1, 1e-3)}, {"divergence_factor": 10.0, "record_x": True}):
        a = engine.run_group(problem, lion, x0, hp, steps=120, threads=1, driver="scalar", **kw)
        b = engine.run_group(problem, lion, x0, hp, steps=120, threads=2, driver="lanes", **kw)
        for field in ("curve_f", "curve_x", "x_final", "f_final", "f_best", "steps_run", "status", "target_steps"):
            assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=True), (kw, field)


def test_the_example_spec_runs_and_its_report_draws_the_plugin_surface(tmp_path):
    results = optbench.run(EXAMPLE_SPEC, out=tmp_path, quiet=True)
    runs = results.runs
    assert set(runs["optimizer"].astype(str)) == {"lion", "adam", "sgd"}
    assert set(runs["objective"].astype(str)) == {"bohachevsky", "rosenbrock"}
    [record] = results.manifest["plugins"]
    assert record["ref"] == str(EXAMPLE) and record["objectives"] == ["bohachevsky"]
    html = (results.path / "report.html").read_text()
    assert "Not drawn" not in html and "not registered here" not in html
    assert f"{EXAMPLE} (source digest {record['digest']}): bohachevsky, lion" in html  # the settings table
    assert (results.path / "plots" / "00-bohachevsky-trajectories.png").exists()


# ------------------------------------------------- __main__, edits, resuming


def test_an_optimizer_defined_in_a_scripts_main_runs_a_sweep(tmp_path):
    script = _write(tmp_path / "script.py", """
        import numba
        import numpy as np
        import optbench
        from optbench.optimizers import optimizer

        SCALE = 0.5  # a global the step reads: copied into optbench's kernel module

        @numba.njit
        def _sign(v):
            return np.sign(v)

        @numba.njit
        def half_sign_step(x, g, state, hp, sched, t):
            for i in range(x.shape[0]):
                x[i] = x[i] - hp[0] * SCALE * _sign(g[i])

        optimizer("half_sign", half_sign_step, hypers={"lr": 1e-2})

        if __name__ == "__main__":
            spec = {"name": "main", "steps": 200, "init": {"count": 3},
                    "objectives": [{"name": "sphere", "dim": [2, 3]}],  # two kernels: one compiles in a child
                    "optimizers": [{"name": "half_sign", "lr": 0.1}]}
            r = optbench.run(spec, out="out", report=False)
            print(len(r.runs), float(r.runs["f_final"].max()))
    """)
    env = {**os.environ, "OPTBENCH_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    n, f_max = out.stdout.split()
    # steps of 0.05 per coordinate from at most 5 away: every coordinate ends within 0.05 of 0
    assert int(n) == 6 and float(f_max) <= 3 * 0.05**2 + 1e-12
    copied = list((tmp_path / "cache" / "kernels").glob("optbench_inline_half_sign_step_*.py"))
    assert len(copied) == 1 and "SCALE = 0.5" in copied[0].read_text()


def test_editing_a_plugin_recompiles_and_refuses_to_resume_its_old_folder(tmp_path):
    plugin = _write(tmp_path / "signs.py", SIGN_SGD.format(name="signs", factor="1.0"))
    spec = _spec("edit", "sphere", "signs", plugins=["signs.py"])
    spec_path = tmp_path / "edit.toml"
    spec_path.write_text(_toml(spec))
    first = optbench.run(spec_path, out=tmp_path / "a", report=False)
    kernels = {p.name for p in engine.drivers.cache_dir().glob("*signs*.py")}
    _write(plugin, SIGN_SGD.format(name="signs", factor="0.5"))
    with pytest.raises(SpecError, match=r"holds results computed with plugin .*signs.py as it was then"):
        optbench.run(spec_path, out=tmp_path / "a", report=False)
    second = optbench.run(spec_path, out=tmp_path / "b", report=False)
    assert {p.name for p in engine.drivers.cache_dir().glob("*signs*.py")} - kernels  # a new driver
    a, b = first.runs.sort_values("run_id"), second.runs.sort_values("run_id")
    assert not np.array_equal(a["f_final"], b["f_final"])  # the edit took effect
    third = optbench.run(spec_path, out=tmp_path / "b", report=False)  # unchanged: resumed (all done)
    assert third.manifest["code_digest"] == second.manifest["code_digest"]


def _toml(spec: dict) -> str:
    lines = []
    for k, v in spec.items():
        if not isinstance(v, (dict, list)) or (isinstance(v, list) and all(isinstance(s, str) for s in v)):
            lines.append(f"{k} = {json.dumps(v)}")
    lines.append("[init]\ncount = 4")
    for section in ("objectives", "optimizers"):
        for entry in spec[section]:
            lines.append(f"[[{section}]]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------- a results folder is data


EVIL = """
    import numba
    import numpy as np
    from pathlib import Path
    from optbench.objectives import Minimum, surface

    Path({marker!r}).open("a").write("imported\\n")

    @numba.njit
    def bowl_fg(x, g):
        g[0] = 2.0 * x[0]
        g[1] = 2.0 * x[1]
        return x[0] * x[0] + x[1] * x[1]

    surface("evil_bowl", bowl_fg, domain=(-1.0, 1.0), minima=[Minimum(np.zeros(2), 0.0)])
"""


def test_report_never_imports_a_plugin_a_folder_names_unless_trusted_or_named(tmp_path):
    marker = tmp_path / "imported.txt"
    plugin = _write(tmp_path / "evil.py", EVIL.format(marker=str(marker)))
    spec = {**_spec("data", "evil_bowl", "sgd", steps=10), "plugins": [str(plugin)]}
    results = optbench.run(spec, out=tmp_path / "out", report=False)
    assert marker.read_text() == "imported\n"
    marker.unlink()
    folder = results.path

    def report(cache: Path, *extra):
        env = {**os.environ, "OPTBENCH_CACHE_DIR": str(cache)}
        return subprocess.run([sys.executable, "-m", "optbench.cli", "report", str(folder), *extra],
                              env=env, capture_output=True, text=True, timeout=600)

    # another user (another cache: no record of running it): never imported, the page says what is missing
    out = report(tmp_path / "stranger")
    assert out.returncode == 0, out.stderr[-2000:]
    assert not marker.exists()
    assert "was not loaded by you on this machine" in out.stderr
    html = (folder / "report.html").read_text()
    assert "Not drawn" in html and "--plugin" in html
    # named by the user: loaded
    out = report(tmp_path / "stranger", "--plugin", str(plugin))
    assert out.returncode == 0 and marker.exists()
    marker.unlink()
    # the user who ran it, same file, same digest: loaded without asking
    out = report(engine.drivers.cache_dir().parent)
    assert out.returncode == 0 and marker.exists() and "Not drawn" not in (folder / "report.html").read_text()
    marker.unlink()
    # ... but not once the file changed
    plugin.write_text(plugin.read_text() + "\n# edited\n")
    out = report(engine.drivers.cache_dir().parent)
    assert out.returncode == 0 and not marker.exists() and "has changed since the run" in out.stderr


def test_load_warns_about_plugins_it_does_not_import(tmp_path, monkeypatch):
    marker = tmp_path / "imported.txt"
    plugin = _write(tmp_path / "evil2.py", EVIL.format(marker=str(marker)).replace("evil_bowl", "evil_bowl2"))
    results = optbench.run({**_spec("data2", "evil_bowl2", "sgd", steps=10), "plugins": [str(plugin)]},
                           out=tmp_path / "out", report=False)
    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(tmp_path / "stranger"))
    plugins._loaded.clear()
    objectives.OBJECTIVES.unregister("evil_bowl2")
    marker.unlink()
    with pytest.warns(RuntimeWarning, match="never runs code by itself"):
        optbench.load(results.path)
    assert not marker.exists()
    optbench.load(results.path, plugins=[plugin])
    assert marker.exists() and "evil_bowl2" in objectives.names()


# ------------------------------------------------------ the CLI and bad plugins


def _cli(argv, capsys) -> tuple[int, str, str]:
    rc = cli_main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_list_and_check_see_a_plugin(capsys):
    rc, out, _ = _cli(["list", "optimizers", "--plugin", str(EXAMPLE)], capsys)
    assert rc == 0 and "lion" in out and str(EXAMPLE) in out
    rc, out, _ = _cli(["check", "bohachevsky", "--plugin", str(EXAMPLE)], capsys)
    assert rc == 0 and "bohachevsky" in out and "2 passed" in out  # also its rotated and shifted instance


BAD = {
    "missing": (None, r"plugin '.*nothere.py': no such file"),
    "syntax": ("def broken(:\n    pass\n", r"plugin .*bad.py, line 1: "),
    "nothing": ("X = 1\n", r"registers no objective or optimizer"),
    "collision": (SIGN_SGD.format(name="adam", factor="1.0"),
                  r"optimizer 'adam' is already registered by optbench \(built in\)"),
    "step_signature": ("""
        import numba
        from optbench.optimizers import optimizer

        @numba.njit
        def step(x, g, state, hp, t):
            pass

        optimizer("five", step, hypers={"lr": 0.1})
    """, r"step takes \(x, g, state, hp, sched, t\): 6 parameters; step has 5 \(x, g, state, hp, t\)"),
    "fg_signature": ("""
        import numba
        from optbench.objectives import surface

        @numba.njit
        def fg(x):
            return 0.0

        surface("one_arg", fg, domain=(-1.0, 1.0), minima=[])
    """, r"objective 'one_arg': fg takes \(x, g, ...\): at least 2 parameters; fg has 1 \(x\)"),
    "hyper_type": ("""
        import numba
        from optbench.optimizers import optimizer

        @numba.njit
        def step(x, g, state, hp, sched, t):
            pass

        optimizer("typed", step, hypers={"lr": "1e-3"})
    """, r"optimizer 'typed': hyperparameter 'lr' has default '1e-3' \(str\); give a finite number"),
    "numba": ("""
        import numba
        from optbench.optimizers import optimizer

        @numba.njit
        def untyped_step(x, g, state, hp, sched, t):
            x[0] = x[0] - hp[0] * undefined_helper(g[0])

        optimizer("untyped", untyped_step, hypers={"lr": 0.1})
    """, r"optimizer 'untyped': untyped_step \(.*bad.py, line \d+\) does not compile with Numba: .*'undefined_helper'"),
    "import_error": ("import numpy\nraise RuntimeError('boom')\n",
                     r"bad.py failed to import: line 2: RuntimeError: boom"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_plugin_is_one_line_and_exit_2(case, tmp_path, capsys):
    source, pattern = BAD[case]
    name = "nothere.py" if source is None else "bad.py"
    if source is not None:
        _write(tmp_path / name, source)
    optimizer = {"numba": "untyped"}.get(case, "sgd")
    spec = tmp_path / "spec.toml"
    spec.write_text(_toml(_spec("bad", "sphere", optimizer)))
    rc, _, err = _cli(["run", str(spec), "--plugin", str(tmp_path / name), "--out", str(tmp_path / "out"),
                       "--no-report"], capsys)
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(pattern, err), err
    assert not (tmp_path / "out").exists()


def test_a_step_that_makes_nan_marks_its_runs_diverged(tmp_path):
    plugin = _write(tmp_path / "nan_step.py", """
        import numba
        import numpy as np
        from optbench.optimizers import optimizer

        @numba.njit
        def nan_step(x, g, state, hp, sched, t):
            for i in range(x.shape[0]):
                x[i] = x[i] - hp[0] * g[i] if t < 5 else np.nan

        optimizer("nan_after_4", nan_step, hypers={"lr": 0.01})
    """)
    results = optbench.run(_spec("nan", "sphere", "nan_after_4", steps=20), out=tmp_path, report=False,
                           plugins=[plugin])
    runs = results.runs
    assert (runs["status"] == "diverged").all() and (runs["steps_run"] <= 6).all()


def test_elementwise_is_found_out_when_not_said(tmp_path):
    plugin = _write(tmp_path / "coupled.py", """
        import numba
        import numpy as np
        from optbench.optimizers import optimizer

        @numba.njit
        def normalized_step(x, g, state, hp, sched, t):
            n = np.sqrt(np.sum(g * g)) + 1e-12
            for i in range(x.shape[0]):
                x[i] = x[i] - hp[0] * g[i] / n

        optimizer("normalized_gd", normalized_step, hypers={"lr": 0.1})
    """)
    plugins.load(plugin)
    plugins.load(EXAMPLE)
    spec = optbench.spec.load_spec({**_spec("probe", "sphere", "normalized_gd"),
                                    "optimizers": [{"name": "normalized_gd"}, {"name": "lion"}]})
    plugins.check_used(spec)
    assert not optimizers.get("normalized_gd").elementwise
    assert optimizers.get("lion").elementwise


def test_a_plugin_in_a_spec_is_relative_to_the_spec(tmp_path, monkeypatch):
    sub = tmp_path / "specs"
    sub.mkdir()
    _write(sub / "rel.py", SIGN_SGD.format(name="rel_sign", factor="1.0"))
    (sub / "s.toml").write_text(_toml({**_spec("rel", "sphere", "rel_sign"), "plugins": ["rel.py"]}))
    monkeypatch.chdir(tmp_path)
    spec = optbench.spec.load_spec(sub / "s.toml")
    assert [p.ref for p in spec.plugins] == [str((sub / "rel.py").resolve())]


def test_a_module_plugin_compiles_in_child_processes_without_pythonpath(tmp_path, monkeypatch):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    _write(pkg / "opts.py", SIGN_SGD.format(name="pkg_sign", factor="1.0"))
    monkeypatch.syspath_prepend(str(tmp_path))  # importable here; the compiling children do not get it
    monkeypatch.delenv("PYTHONPATH", raising=False)
    spec = {**_spec("module", "sphere", "pkg_sign"), "plugins": ["mypkg.opts"],
            "objectives": [{"name": "sphere", "dim": [2, 3]}]}  # two kernels: one compiles in a child
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a failing child would warn
        results = optbench.run(spec, out=tmp_path / "out", report=False, threads=2)
    [record] = results.manifest["plugins"]
    assert record["kind"] == "module" and record["ref"] == "mypkg.opts" and record["optimizers"] == ["pkg_sign"]


@pytest.mark.dask
def test_dask_workers_load_a_plugin_file_by_its_path(tmp_path):
    _write(tmp_path / "dsign.py", SIGN_SGD.format(name="dask_sign", factor="1.0"))
    spec = {**_spec("dask", "sphere", "dask_sign"), "plugins": [str(tmp_path / "dsign.py")]}
    local = optbench.run(spec, out=tmp_path / "local", report=False)
    remote = optbench.run(spec, out=tmp_path / "dask", report=False, workers=1)
    assert remote.manifest["timing"]["backend"] == "dask"
    import pandas as pd

    pd.testing.assert_frame_equal(local.runs, remote.runs, check_exact=True)


def test_a_step_defined_in_a_notebook_cell_runs_a_sweep(tmp_path):
    """A cell as IPython runs it: source in linecache under a pseudo file
    name, executed in ``__main__``'s namespace, no file on disk."""
    import linecache

    cell = textwrap.dedent("""
        import numba
        from optbench.optimizers import optimizer

        @numba.njit
        def cell_step(x, g, state, hp, sched, t):
            for i in range(x.shape[0]):
                x[i] = x[i] - hp[0] * g[i]

        optimizer("cell_gd", cell_step, hypers={"lr": 0.1})
    """)
    name = "<ipython-input-7-0123456789ab>"
    linecache.cache[name] = (len(cell), None, cell.splitlines(keepends=True), name)
    try:
        exec(compile(cell, name, "exec"), {"__name__": "__main__"})
        with pytest.raises(SpecError, match="cell_gd: defined outside a plugin file, so Dask workers cannot"):
            optbench.run(_spec("cell", "sphere", "cell_gd"), out=tmp_path, report=False, workers=1)
        results = optbench.run(_spec("cell", "sphere", "cell_gd"), out=tmp_path, report=False)
    finally:
        linecache.cache.pop(name, None)
    assert results.manifest["plugins"][0]["kind"] == "inline"
    assert results.manifest["plugins"][0]["optimizers"] == ["cell_gd"]
    # plain gradient descent on the sphere: x_t = (1 - 2 lr)^t x_0, exactly as the NumPy loop computes it
    runs = results.runs.sort_values("run_id")
    for x0, xf, lr in zip(runs["x0"], runs["x_final"], runs["lr"]):
        x = np.array(x0, dtype=np.float64)
        for _ in range(40):
            x = x - lr * (2.0 * x)
        np.testing.assert_array_equal(np.asarray(xf), x)
