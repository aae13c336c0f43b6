"""Specs and the CLI: every user mistake is one line, exit status 2, nothing written."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import one_part

import optbench
from optbench import SpecError
from optbench.cli import main
from optbench.grid import check_memory
from optbench.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]

BASE = """
name = "t"
steps = 20
[[objectives]]
name = "himmelblau"
[init]
count = 2
[[optimizers]]
name = "sgd"
lr = [1e-3, 1e-2]
momentum = [0.0, 0.9]
"""


def spec_text(**replace):
    text = BASE
    for old, new in replace.items():
        text = text.replace(old.replace("__", " "), new)
    return text


def test_grid_is_the_product_of_axes():
    spec = load_spec(BASE)
    assert len(spec.optimizer_cases) == 4
    assert spec.n_runs == 4 * 2
    spec = load_spec(BASE.replace('lr = [1e-3, 1e-2]', 'lr = { logspace = [-4, -1, 7] }'))
    assert len(spec.optimizer_cases) == 14
    assert spec.optimizer_cases[0].values["lr"] == pytest.approx(1e-4)


BAD = [
    ("name = \"t\"\nsteps = [", "malformed TOML"),
    (BASE.replace('name = "himmelblau"', 'name = "himelblau"'),
     "unknown objective 'himelblau'; did you mean 'himmelblau'"),
    (BASE.replace('name = "sgd"', 'name = "adm"'), "unknown optimizer 'adm'; did you mean 'adam'"),
    (BASE.replace("momentum = [0.0, 0.9]", "momentm = 0.9"),
     "unknown hyperparameter of 'sgd' 'momentm'; did you mean 'momentum'"),
    (BASE.replace("momentum = [0.0, 0.9]", 'momentum = "high"'), "momentum must be a number"),
    (BASE.replace("lr = [1e-3, 1e-2]", "lr = []"), "empty list gives an empty grid"),
    (BASE.replace("lr = [1e-3, 1e-2]", "lr = [1e-3, nan]"), "lr must be finite"),
    (BASE.replace("lr = [1e-3, 1e-2]", "lr = [inf]"), "lr must be finite"),
    (BASE.replace("lr = [1e-3, 1e-2]", "lr = -0.1"), "lr must be >= 0"),
    (BASE.replace("momentum = [0.0, 0.9]", "nesterov = true"), "nesterov=true requires momentum > 0"),
    (BASE.replace("steps = 20", "steps = 0"), "steps must be in 1..10000000"),
    (BASE.replace("steps = 20", "stpes = 20"), "unknown spec field 'stpes'; did you mean 'steps'"),
    (BASE.replace('name = "t"', 'name = "../escape"'), "name must be"),
    (BASE.replace('name = "himmelblau"', 'name = "himmelblau"\ndim = 3'), "dim 3 not supported; accepted: 2"),
    (BASE.replace("count = 2", 'scheme = "spiral"'),
     "init.scheme is 'spiral' (allowed: uniform, normal, grid, points, zeros, he_normal, xavier_uniform)"),
    (BASE.replace("count = 2", 'scheme = ["uniform", "xavier_unifrm"]'),
     "init.scheme is 'xavier_unifrm'; did you mean 'xavier_uniform'? (allowed: "),
    (BASE.replace("count = 2", 'scheme = "he_normal"'),
     "init.scheme 'he_normal' is not defined for objective 'himmelblau' (it is for: mlp, perceptron)"),
    (BASE.replace("count = 2", 'scheme = ["uniform", "zeros"]\nstd = [0.1, 1.0]'),
     "init.std is only used with scheme = \"normal\""),
    (BASE.replace("count = 2", 'scheme = ["normal", "normal"]'), "init.scheme lists 'normal' twice"),
    (BASE.replace("count = 2", 'scheme = "points"\npoints = [[1.0, 2.0, 3.0]]'), "init.points[0] has 3 coordinates"),
    (BASE.replace("steps = 20", "steps = 100\nrepeats = 10").replace("count = 2", "count = 1000000"),
     "of memory ("),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_spec_is_one_clear_line(text, message, tmp_path, capsys):
    with pytest.raises(SpecError) as info:
        check_memory(load_spec(text))  # what optbench.run checks before it writes anything
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    # the CLI: exit status 2, one line on stderr, nothing written
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("optbench: error: ") and message in err[0]
    assert not out.exists()


def test_skip_invalid_counts_what_it_skipped():
    grid = BASE.replace("momentum = [0.0, 0.9]", "momentum = [0.0, 0.9]\nnesterov = [false, true]")
    text = "skip_invalid = true\n" + grid
    spec = load_spec(text)
    assert len(spec.optimizer_cases) == 6  # nesterov with momentum 0 skipped for both lrs
    assert len(spec.skipped) == 2 and "nesterov" in spec.skipped[0]


def test_run_writes_tables_and_refuses_a_different_spec(tmp_path):
    res = optbench.run(BASE, out=tmp_path, report=False)
    folder = tmp_path / "t"
    assert {p.name for p in folder.iterdir()} == {"runs.parquet", "curves.parquet", "chunks", "manifest.json"}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["schema_version"] == 3 and manifest["n_runs"] == 8 and manifest["state"] == "complete"
    loaded = optbench.load(folder)
    pd.testing.assert_frame_equal(loaded.runs, res.runs)
    assert loaded.runs["optimizer"].dtype == "category" and loaded.runs["status"].dtype == "category"
    # any Parquet reader sees the same tables, names as categoricals
    plain = pd.read_parquet(folder / "runs.parquet")
    assert plain["optimizer"].dtype == "category" and len(plain) == 8
    assert set(loaded.curves["run_id"]) == set(range(8))
    before = {p.name: p.read_bytes() for p in (folder / "runs.parquet").iterdir()}
    with pytest.raises(SpecError, match="different spec"):
        optbench.run(BASE.replace("steps = 20", "steps = 21"), out=tmp_path, report=False)
    assert {p.name: p.read_bytes() for p in (folder / "runs.parquet").iterdir()} == before
    optbench.run(BASE.replace("steps = 20", "steps = 21"), out=tmp_path, report=False, overwrite=True)
    assert optbench.load(folder).runs["steps_run"].max() == 21
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no lock or old folder left


@pytest.mark.slow
def test_tables_identical_across_numba_thread_counts(tmp_path):
    spec = ROOT / "problems" / "quick.toml"
    tables = []
    for threads in ("1", "2"):
        out = tmp_path / threads
        env = {**os.environ, "NUMBA_NUM_THREADS": threads}
        subprocess.run([sys.executable, "-m", "optbench.cli", "run", str(spec), "--out", str(out), "--no-report"],
                       check=True, env=env, capture_output=True)
        folder = out / "quick"
        tables.append((pd.read_parquet(folder / "runs.parquet"), pd.read_parquet(folder / "curves.parquet")))
    pd.testing.assert_frame_equal(tables[0][0], tables[1][0])
    pd.testing.assert_frame_equal(tables[0][1], tables[1][1])


def test_list_and_check_commands(capsys):
    assert main(["list", "objectives", "--json"]) == 0
    names = {row["name"] for row in json.loads(capsys.readouterr().out)}
    assert {"sphere", "quadratic", "ellipsoid", "booth", "matyas", "saddle", "monkey_saddle", "rosenbrock",
            "beale", "three_hump_camel", "himmelblau", "six_hump_camel", "rastrigin", "ackley",
            "styblinski_tang", "goldstein_price", "levi13", "griewank"} <= names
    assert main(["list", "objectives", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    # the instance parameters are listed for analytic objectives, which alone take them
    assert rows["rosenbrock"]["instance_params"] == {"rotate": False, "shift": False, "instance": 1}
    assert rows["logistic"]["instance_params"] == {}
    assert main(["list", "objectives"]) == 0
    assert "also takes rotate = true, shift = true and instance = N" in capsys.readouterr().out
    assert main(["list", "optimizers"]) == 0
    out = capsys.readouterr().out
    for name in ("sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax", "nadam", "radam"):
        assert name in out
    assert main(["check", "himmelblau", "sphere"]) == 0
    assert "0 failed" in capsys.readouterr().out


def test_load_of_a_missing_or_corrupt_folder_names_the_file(tmp_path):
    with pytest.raises(optbench.ResultsError, match="does not exist"):
        optbench.load(tmp_path / "nope")
    optbench.run(BASE, out=tmp_path, report=False)
    folder = tmp_path / "t"
    part = one_part(folder, "curves.parquet")
    part.write_bytes(b"not parquet")
    with pytest.raises(optbench.ResultsError, match=re.escape(f"{part}: truncated or changed")):
        optbench.load(folder)
    runs_part = one_part(folder, "runs.parquet")
    runs_part.unlink()
    with pytest.raises(optbench.ResultsError, match=re.escape(f"{runs_part}: missing")):
        optbench.load(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 1}))
    with pytest.raises(optbench.ResultsError, match="schema version 1; this optbench reads versions 2 to 3"):
        optbench.load(folder)


def test_a_second_writer_of_the_same_folder_is_refused(tmp_path):
    import fcntl

    lock = tmp_path / ".t.lock"
    with open(lock, "w") as held:  # a writer holds the lock (flock: per open file, so also within a process)
        held.write(str(os.getpid()))
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(SpecError, match=rf"being written by another optbench run \(pid {os.getpid()}, lock "):
            optbench.run(BASE, out=tmp_path, report=False)
    assert not (tmp_path / "t").exists()
    # a lock file that nobody holds decides nothing, whatever it says: empty
    # (its writer died before writing), or the pid of a live, unrelated process
    for content in ("", str(os.getppid())):
        lock.write_text(content)
        optbench.run(BASE, out=tmp_path, report=False, overwrite=True)
        assert (tmp_path / "t" / "runs.parquet").is_dir() and not lock.exists()


def test_a_sweep_larger_than_the_free_disk_is_refused_before_anything_is_written(tmp_path, capsys):
    # 4e6 runs x 1e6 logged steps: petabytes of curves, though each chunk fits in memory
    text = BASE.replace("steps = 20", "steps = 1000000").replace("count = 2", "count = 1000000")
    load_spec(text)  # valid as a spec
    path = tmp_path / "big.toml"
    path.write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "B on disk" in err[0] and "are free" in err[0]
    assert not out.exists()


def _readme_toml_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```toml\n(.*?)```", text, re.S)


def test_every_toml_block_of_the_readme_is_a_valid_spec():
    blocks = _readme_toml_blocks()
    assert blocks
    for block in blocks:
        if block.lstrip().startswith("[[optimizers]]"):  # an entry shown alone: in a spec of its own
            block = f'name = "readme"\n[[objectives]]\nname = "rosenbrock"\n{block}'
        load_spec(block)


def test_a_combination_torch_rejects_in_a_crossed_entry_points_to_skip_invalid():
    text = BASE.replace("momentum = [0.0, 0.9]", "momentum = [0.0, 0.9]\nnesterov = [false, true]")
    with pytest.raises(SpecError, match="nesterov=true requires momentum > 0.*skip_invalid = true"):
        load_spec(text)
    assert load_spec(text.replace('name = "t"', 'name = "t"\nskip_invalid = true')).skipped


@pytest.mark.parametrize("shape", ["list", "table"])
def test_deeply_nested_toml_is_one_line(shape, tmp_path, capsys):
    value = "[" * 5000 + "]" * 5000 if shape == "list" else "{a = " * 3000 + "1" + "}" * 3000
    path = tmp_path / "deep.toml"
    path.write_text(BASE.replace("lr = [1e-3, 1e-2]", f"lr = {value}"))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nested" in err[0]
    deep = 0.1  # and a dict from Python, parsed already
    for _ in range(40):
        deep = [deep]
    raw = {"name": "t", "objectives": [{"name": "sphere"}], "optimizers": [{"name": "sgd", "lr": deep}]}
    with pytest.raises(SpecError, match="nested more than"):
        load_spec(raw)


def test_a_spec_path_is_read_as_a_file_whatever_its_name(tmp_path, capsys):
    """A folder, a device, a missing file, an empty one, a .txt name, a BOM:
    each named for what it is, never parsed as TOML text."""
    (tmp_path / "spec.txt").write_text(BASE)
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    (tmp_path / "empty.toml").write_text("\n")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00name")
    assert load_spec(tmp_path / "spec.txt").name == "t"
    assert load_spec(str(tmp_path / "bom.toml")).name == "t"
    cases = [(tmp_path, "is a folder"), ("/dev/null", "is not a regular file"),
             (tmp_path / "nope.toml", "not found"), (tmp_path / "empty.toml", "is empty"),
             (tmp_path / "binary.toml", "is not UTF-8 text")]
    for path, message in cases:
        with pytest.raises(SpecError, match=message):
            load_spec(str(path))
        assert main(["run", str(path), "--out", str(tmp_path / "out"), "--no-report"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert main(["run", str(tmp_path / "spec.txt"), "--out", str(tmp_path / "out"), "--no-report", "--quiet"]) == 0


@pytest.mark.parametrize("args,message", [
    (["--threads", "0"], "--threads must be a positive number"),
    (["--threads", "-1"], "--threads must be a positive number"),
    (["--workers", "1000"], "cores here; give at most"),
    (["--workers", "0"], "--workers must be a positive number"),
])
def test_thread_and_worker_counts_out_of_range_are_refused(args, message, tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(BASE)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-report", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("args,message", [
    (["--points", "0"], "points must be a positive number"),
    (["--tol", "nan"], "tol must be a positive finite"),
    (["--tol", "-1"], "tol must be a positive finite"),
    (["--seed", "-3"], "seed must be an integer >= 0"),
])
def test_check_arguments_out_of_range_are_refused(args, message, capsys):
    assert main(["check", "sphere", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.parametrize("where", ["missing-folder", "folder"])
def test_bench_json_path_is_checked_before_the_bench_runs(where, tmp_path, capsys, monkeypatch):
    from optbench.bench import compare

    monkeypatch.setattr(compare, "bench", lambda *a, **k: pytest.fail("the bench ran before the path was checked"))
    path = tmp_path / "no" / "x.json" if where == "missing-folder" else tmp_path
    assert main(["bench", "--quick", "--json", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--json" in err[0], err


def test_a_reader_that_goes_away_ends_the_command_without_a_traceback():
    proc = subprocess.Popen([sys.executable, "-m", "optbench.cli", "list", "objectives", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `| head -0` would: every write from now on is a broken pipe
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_sizes_in_messages_have_units_people_read():
    from optbench._process import format_bytes

    assert [format_bytes(n) for n in (0, 512, 2048, 1.5 * 2**30, 3 * 2**50, 5 * 2**60)] == [
        "0 B", "512 B", "2 KiB", "1.5 GiB", "3 PiB", "5.12e+03 PiB"]


def test_an_overflowing_logspace_is_one_line_without_a_numpy_warning(recwarn):
    with pytest.raises(SpecError, match="too large for a float64"):
        load_spec(BASE.replace("lr = [1e-3, 1e-2]", "lr = { logspace = [-4, 400, 5] }"))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("axes", [
    'lr = { logspace = [-4, -1, 100000] }\nmomentum = { linspace = [0, 0.9, 100000] }',
    'lr = { logspace = [-4, -1, 1000] }\nmomentum = { linspace = [0, 0.9, 1000] }',
    'lr = { logspace = [-4, -1, 100000] }\nmomentum = { linspace = [0, 0.9, 10] }\ndampening = [0.0, 0.1]',
])
def test_a_huge_grid_is_refused_before_any_combination_is_built(axes, tmp_path, capsys, monkeypatch):
    from optbench.optimizers import Optimizer

    monkeypatch.setattr(Optimizer, "resolve", lambda *a: pytest.fail("a combination was built"))
    text = BASE.replace("lr = [1e-3, 1e-2]\nmomentum = [0.0, 0.9]", axes)
    with pytest.raises(SpecError, match="hyperparameter settings; at most 100,000|runs.*the limit is"):
        load_spec(text)
    path = tmp_path / "huge.toml"
    path.write_text(text)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--no-report"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("change,message", [
    (("momentum = [0.0, 0.9]", "momentum = [0.0, 0.9, 0.9]"), "momentum lists 0.9 twice"),
    (("lr = [1e-3, 1e-2]", "lr = [0.1, 0.1]"), "lr lists 0.1 twice"),
    (('name = "sgd"', 'name = "sgd"\nlr = 1e-3\n[[optimizers]]\nname = "sgd"'),
     "is already in the grid (from [[optimizers]] #1)"),
    (('name = "sgd"\nlr = [1e-3, 1e-2]\nmomentum = [0.0, 0.9]',
      'name = "adam"\nbetas = [0.9, 0.99]\nbeta1 = 0.8'), "give betas or beta1, not both"),
])
def test_duplicated_or_contradictory_values_are_refused(change, message):
    with pytest.raises(SpecError) as info:
        load_spec(BASE.replace(*change))
    assert message in str(info.value)


@pytest.mark.parametrize("targets,message", [("[]", "targets must be a non-empty list"),
                                              ("[1e-3, 1e-3]", "targets lists a value twice")])
def test_empty_or_duplicated_targets_are_refused(targets, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(BASE.replace("steps = 20", f"steps = 20\ntargets = {targets}"))
