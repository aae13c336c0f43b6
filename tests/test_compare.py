"""``optbench compare A B``: a smaller learning-rate grid is flagged where it
loses, and only there; identical folders flag nothing; overlapping folders
compare their overlap and list the rest; bad input is one line and exit 2."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import copy_results

import optbench
from optbench.cli import main
from optbench.report.compare import BETTER, SAME, WORSE, compare

# sgd's larger lr solves Himmelblau in a third of the steps, and blows up on the
# ill-conditioned ellipsoid: B, without it, is worse on Himmelblau alone.  Adam's
# grid is the same in both folders.  (Objectives and optimizers of test_report:
# no new compile.)
SPEC_A = {
    "name": "cmp",
    "steps": 100,
    "log_every": 10,
    "seed": 0,
    "targets": [1e-1, 1e-3],
    "objectives": [{"name": "himmelblau"}, {"name": "ellipsoid", "dim": 2, "cond": 100.0}],
    "init": {"scheme": "uniform", "count": 12},
    "optimizers": [{"name": "sgd", "lr": [3e-3, 1e-2]}, {"name": "adam", "lr": [1e-2, 1e-1]}],
}
REGRESSED = ("himmelblau", "sgd")


def _spec(**changes) -> dict:
    spec = copy.deepcopy(SPEC_A)
    spec.update(changes)
    return spec


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    out = {
        "A": optbench.run(SPEC_A, out=root / "A", report=False).path,
        "B": optbench.run(_spec(optimizers=[{"name": "sgd", "lr": [3e-3]}, SPEC_A["optimizers"][1]]),
                          out=root / "B", report=False).path,
        # Himmelblau only, sgd only, 8 of A's 12 initial points, one more lr
        "C": optbench.run(_spec(objectives=[{"name": "himmelblau"}], init={"scheme": "uniform", "count": 8},
                                optimizers=[{"name": "sgd", "lr": [3e-3, 1e-2, 3e-2]}]),
                          out=root / "C", report=False).path,
        # nothing in common with C
        "D": optbench.run(_spec(objectives=[SPEC_A["objectives"][1]], steps=20, init={"scheme": "uniform", "count": 4},
                                optimizers=[{"name": "sgd", "lr": [3e-3]}]), out=root / "D", report=False).path,
    }
    out["A_copy"] = copy_results(out["A"], root / "A_copy")
    return out


def _verdicts(comp, view="first_hit") -> dict[tuple[str, str], str]:
    return {(r.case, r.optimizer): getattr(r, view).verdict for r in comp.rows}


def test_smaller_grid_flags_exactly_the_case_it_loses(folders):
    comp = compare(folders["A"], folders["B"])
    verdicts = _verdicts(comp)
    assert set(verdicts) == {(c, o) for c in ("himmelblau", "ellipsoid") for o in ("sgd", "adam")}
    assert [(r.case, r.optimizer) for r in comp.regressions] == [REGRESSED]
    assert all(v == SAME for k, v in verdicts.items() if k != REGRESSED)
    row = next(r for r in comp.rows if r.regression)
    assert (row.first_hit.setting_a, row.first_hit.setting_b) == ("lr=0.01", "lr=0.003")
    assert row.first_hit.paired and row.first_hit.n == 12
    assert row.first_hit.test.direction == 1 and row.first_hit.p_adjusted < 0.05
    assert row.ert[1] > row.ert[0]
    assert comp.left_out == ["setting only in A's grid: sgd lr=0.01"]


def test_fail_on_regression_exits_1_and_names_it(folders, tmp_path, capsys):
    out = tmp_path / "cmp-out"
    assert main(["compare", str(folders["A"]), str(folders["B"]), "--out", str(out)]) == 0
    assert main(["compare", str(folders["A"]), str(folders["B"]), "--out", str(out), "--fail-on-regression"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "optbench: 1 regression (B significantly worse, first-hitting view): himmelblau · sgd."]
    assert "| himmelblau | sgd | lr=0.01 → lr=0.003 |" in captured.out
    assert "**worse" in captured.out
    md = (out / "compare.md").read_text(encoding="utf-8")
    html = (out / "compare.html").read_text(encoding="utf-8")
    assert "| himmelblau | sgd |" in md and "setting only in A's grid: sgd lr=0.01" in md
    assert "Content-Security-Policy" in html and "<script" not in html and '<span class="worse">worse' in html
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_identical_folders_flag_nothing(folders, capsys):
    a, b = folders["A"], folders["A_copy"]
    comp = compare(a, b)
    assert set(_verdicts(comp).values()) == {SAME} and set(_verdicts(comp, "final").values()) == {SAME}
    assert all(r.first_hit.p_adjusted == 1.0 and r.final.p_adjusted == 1.0 for r in comp.rows)
    assert comp.left_out == [] and comp.notes == []
    assert main(["compare", str(a), str(b), "--fail-on-regression"]) == 0
    assert capsys.readouterr().err == ""
    assert (b / "compare-cmp" / "compare.md").exists() and (b / "compare-cmp" / "compare.html").exists()


def test_overlapping_folders_compare_the_overlap_and_list_the_rest(folders):
    comp = compare(folders["A"], folders["C"])
    assert [(r.case, r.optimizer) for r in comp.rows] == [REGRESSED]
    row = comp.rows[0]
    assert row.first_hit.n == 8 and row.first_hit.paired and row.only_a == 4 and row.only_b == 0
    assert comp.left_out == [
        "case only in A: ellipsoid (dim=2, cond=100, init=uniform)",
        "optimizer only in A: adam",
        "setting only in B's grid: sgd lr=0.03",
        "himmelblau: runs without a partner (same init_index, repeat), per optimizer: 4 only in A, 0 only in B",
    ]


@pytest.mark.parametrize("which", ["not_results", "missing", "no_common_case"])
def test_bad_input_is_one_line_and_exit_2(folders, tmp_path, capsys, which):
    out = tmp_path / "never"
    a, b = {"not_results": (tmp_path, folders["A"]), "missing": (folders["A"], tmp_path / "nope"),
            "no_common_case": (folders["C"], folders["D"])}[which]
    assert main(["compare", str(a), str(b), "--out", str(out), "--fail-on-regression"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and captured.err.startswith("optbench: error: ")
    if which == "no_common_case":
        assert "no objective case in common" in captured.err
    assert not out.exists()


def _asv_quality(runs: pd.DataFrame, target: float) -> tuple[float, float]:
    """(failure rate, median steps to target) as benchmarks/bench_convergence.py
    computes them over an optimizer's grid: steps + 1 where no run reaches it."""
    steps = runs[f"steps_to_{target:g}"].astype("Float64").to_numpy(float, na_value=np.nan)
    ok = ~np.isnan(steps)
    budget = float(runs["steps_run"].max())
    return 1.0 - ok.mean(), float(np.median(steps[ok])) if ok.any() else budget + 1


def test_worse_means_what_the_asv_quality_benchmarks_track(folders):
    """Where compare says B is worse, B's failure rate or median steps to the
    target (pooled over the grid, as the asv suite does) is higher; where it
    finds no change and the grid is the same, they are equal."""
    comp = compare(folders["A"], folders["B"])
    target = min(SPEC_A["targets"])
    quality = {}
    for key in ("A", "B"):
        runs = optbench.load(folders[key]).runs
        for (obj, opt), grp in runs.groupby(["objective", "optimizer"], observed=True):
            quality[key, str(obj), str(opt)] = _asv_quality(grp, target)
    for r in comp.rows:
        qa, qb = quality["A", r.case, r.optimizer], quality["B", r.case, r.optimizer]
        if r.first_hit.verdict == WORSE:
            assert qb[0] > qa[0] or (qb[0] == qa[0] and qb[1] > qa[1]), (r, qa, qb)
        elif r.optimizer == "adam":
            assert qa == qb
        assert r.first_hit.verdict != BETTER
