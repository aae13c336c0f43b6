"""The report counts objective evaluations as well as steps: the x axis
(steps, evaluations, or auto), ERT in both, which one ranks, and folders
written before evaluations were recorded (one evaluation per step)."""
from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import copy_results, rewrite_runs

import optbench
from optbench import SpecError, storage
from optbench.report import build_report, rankings, render
from optbench.report import data as data_mod

# the modules (the package exports functions of the same names)
convergence_mod = importlib.import_module("optbench.report.figures.convergence")
runtime_mod = importlib.import_module("optbench.report.figures.runtime")

SPEC = {
    "name": "evals-test",
    "steps": 40,
    "log_every": 2,
    "targets": [1e-1, 1e-3],
    "objectives": [{"name": "ellipsoid", "dim": 2, "cond": [10.0, 100.0]}],
    "init": {"scheme": "grid", "count": 3},
    "optimizers": [
        {"name": "sgd", "lr": [1e-3, 1e-2], "momentum": [0.0, 0.9]},
        {"name": "adam", "lr": [1e-2, 1e-1]},
    ],
}
EVALS_PER_STEP = {"sgd": 1.0, "adam": 3.0}  # adam as if a line search spent three evaluations a step


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return optbench.run(SPEC, out=tmp_path_factory.mktemp("evals"), report=False).path


def _tables(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(folder / storage.RUNS), pd.read_parquet(folder / storage.CURVES)


def old_folder(src: Path, dst: Path) -> Path:
    """A copy of ``src`` as written before evaluations were recorded: no evals columns anywhere."""
    copy_results(src, dst)
    runs, curves = _tables(dst)
    runs = runs.drop(columns=[c for c in runs.columns if c == "evals_final" or c.startswith("evals_to_")])
    rewrite_runs(dst, runs, curves.drop(columns=[c for c in curves.columns if c == "evals"]))
    return dst


def evals_folder(src: Path, dst: Path, per_step: dict = EVALS_PER_STEP) -> Path:
    """A copy of ``src`` whose runs spent ``per_step[optimizer]`` evaluations a step."""
    copy_results(src, dst)
    runs, curves = _tables(dst)
    factor = runs["optimizer"].astype(str).map(per_step).to_numpy(float)
    runs["evals_final"] = runs["steps_run"].to_numpy(float) * factor
    for c in [c for c in runs.columns if c.startswith("steps_to_")]:
        runs["evals_to_" + c[len("steps_to_"):]] = runs[c].astype("Float64").to_numpy(float, na_value=np.nan) * factor
    by_run = dict(zip(runs["run_id"], factor))
    curves["evals"] = curves["step"].to_numpy(float) * curves["run_id"].map(by_run).to_numpy(float)
    rewrite_runs(dst, runs, curves)
    return dst


def prepared(folder: Path, x_axis: str = "auto") -> data_mod.ReportData:
    data = data_mod.prepare(*data_mod.load(folder), x_axis=x_axis)
    rankings.attach(data)
    return data


@pytest.fixture(scope="module")
def old(folder, tmp_path_factory) -> Path:
    return old_folder(folder, tmp_path_factory.mktemp("old") / "f")


@pytest.fixture(scope="module")
def evals(folder, tmp_path_factory) -> Path:
    return evals_folder(folder, tmp_path_factory.mktemp("ev") / "f")


# ----------------------------------------------------------------- the x axis


def test_an_old_folder_counts_one_evaluation_per_step(old):
    runs, curves = _tables(old)
    assert "evals_final" not in runs.columns and "evals" not in curves.columns
    data = prepared(old)
    assert data.x_axis == "steps" and data.rank_by == "steps" and not data.evals_differ and not data.curve_evals
    r = data.runs
    np.testing.assert_array_equal(r["evals_final"].to_numpy(float), r["steps_run"].to_numpy(float))
    for t in data.targets:
        np.testing.assert_array_equal(r[f"evals_to_{t:g}"].to_numpy(float), r[f"steps_to_{t:g}"].to_numpy(float))
    for case in data.cases:
        stats = data.stats[case.id]
        for k in range(len(case.criteria)):
            np.testing.assert_array_equal(stats[f"ert_evals_{k}"].to_numpy(), stats[f"ert_{k}"].to_numpy())
    # counted in evaluations, an old folder ranks as it always did
    by_evals = prepared(old, "evals")
    assert by_evals.x_axis == "evals"
    for case in data.cases:
        assert list(by_evals.stats[case.id].index) == list(data.stats[case.id].index)


def test_auto_counts_evaluations_where_they_differ_from_steps(evals):
    data = prepared(evals)
    assert data.evals_differ and data.curve_evals
    assert data.x_axis == "evals" and data.rank_by == "evals" and data.x_label == "objective evaluations"
    steps = prepared(evals, "steps")
    assert steps.x_axis == "steps" and steps.rank_by == "steps" and steps.x_label == "steps"
    adam = data.runs["optimizer"] == "adam"
    np.testing.assert_array_equal(data.runs.loc[adam, "evals_final"], 3.0 * data.runs.loc[adam, "steps_run"])


def test_an_unknown_x_axis_is_one_line_naming_the_choices(evals):
    before = sorted(p.name for p in evals.iterdir())
    with pytest.raises(SpecError) as err:
        build_report(evals, workers=1, x_axis="time")
    msg = str(err.value)
    assert "'time'" in msg and "auto, steps, evals" in msg and "\n" not in msg
    assert sorted(p.name for p in evals.iterdir()) == before  # nothing written


def _drawn(monkeypatch, module, draw, data, case):
    """The figure ``draw`` makes, kept before it becomes a PNG."""
    figs = []
    real = module.to_png

    def keep(fig):
        figs.append(fig)
        return real(fig)

    monkeypatch.setattr(module, "to_png", keep)
    plot = draw(data, case)
    return plot, figs[-1]


@pytest.mark.parametrize("x_axis, label", [("steps", "steps"), ("evals", "objective evaluations")])
def test_axis_labels_say_what_they_count(evals, monkeypatch, x_axis, label):
    data = prepared(evals, x_axis)
    case = data.cases[0]
    plot, fig = _drawn(monkeypatch, convergence_mod, convergence_mod.convergence, data, case)
    assert {ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()} == {label}
    assert ("against objective evaluations" in plot.caption) == (x_axis == "evals")
    plot, fig = _drawn(monkeypatch, runtime_mod, runtime_mod.runtime, data, case)
    assert {ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()} == {label}
    assert f"within the number of {label} on the x axis" in plot.caption
    if x_axis == "evals":
        # adam spends three evaluations a step: its convergence line reaches three times as far
        ax = fig.axes[0]
        assert ax.get_xlim()[1] >= 3 * SPEC["steps"]
        assert "× marks where a line's runs stopped" in plot.caption  # sgd's runs stop at a third of that


def test_convergence_on_evaluations_follows_each_runs_count(evals):
    """Aligned on evaluations, adam's median at 3·s evaluations is its median at step s."""
    from optbench.report import curves as curves_mod

    data = prepared(evals, "evals")
    case = data.cases[0]
    runs = data.runs[(data.runs["case_id"] == case.id) & (data.runs["optimizer"] == "adam")]
    ids = runs["run_id"].to_numpy()
    cur = curves_mod.read_x(data, ids, ["run_id", "step", "gap"])
    div = runs["diverged_"].to_numpy(bool)
    steps, by_step = curves_mod.aligned(cur, ids, "gap", div)
    x, by_evals = curves_mod.aligned_on(cur, ids, "gap", "evals", div, 3.0 * steps)
    np.testing.assert_array_equal(by_evals, by_step)
    # between logged points: the last logged value
    _, between = curves_mod.aligned_on(cur, ids, "gap", "evals", div, 3.0 * steps[:-1] + 1.0)
    np.testing.assert_array_equal(between, by_step[:, :-1])


# ----------------------------------------------------------------- ERT in evaluations


def _hand_made(src: Path, dst: Path) -> Path:
    """Every run of case 0 (cond 10) made by hand: adam reaches both targets
    at step 10 having spent 100 evaluations, sgd at step 20 having spent 20;
    and for adam at lr 0.1, three runs reach 1e-3 (at 10, 20, 30 evaluations,
    steps 5, 10, 15) and six do not (all of 50 steps, 100 evaluations)."""
    copy_results(src, dst)
    runs, curves = _tables(dst)
    case0 = (runs["obj_cond"] == 10.0).to_numpy()
    adam = (runs["optimizer"].astype(str) == "adam").to_numpy()
    runs["evals_final"] = runs["steps_run"].to_numpy(float)
    for t in ("0.1", "0.001"):
        runs[f"steps_to_{t}"] = runs[f"steps_to_{t}"].astype("Float64")
        runs[f"evals_to_{t}"] = runs[f"steps_to_{t}"].to_numpy(float, na_value=np.nan)
        runs.loc[case0, f"steps_to_{t}"] = np.where(adam[case0], 10.0, 20.0)
        runs.loc[case0, f"evals_to_{t}"] = np.where(adam[case0], 100.0, 20.0)
    status = runs["status"].astype(str).to_numpy(object)
    status[case0] = "converged"
    runs["status"] = status
    runs.loc[case0, "diverged"] = False
    runs.loc[case0, "gap_final"] = 1e-4
    runs.loc[case0, "steps_run"] = 40
    runs.loc[case0, "evals_final"] = np.where(adam[case0], 400.0, 40.0)
    # one setting's nine runs (its initial points): a success rate of 1/3
    mine = case0 & adam & (runs["lr"] == 0.1).to_numpy()
    rows = np.flatnonzero(mine)
    assert len(rows) == 9
    reached = rows[:3]
    missed = rows[3:]
    runs.loc[reached, "steps_to_0.001"] = [5.0, 10.0, 15.0]
    runs.loc[reached, "evals_to_0.001"] = [10.0, 20.0, 30.0]
    runs.loc[missed, "steps_to_0.001"] = pd.NA
    runs.loc[missed, "evals_to_0.001"] = np.nan
    runs.loc[mine, "steps_run"] = 50
    runs.loc[mine, "evals_final"] = 100.0
    runs.loc[mine, "gap_final"] = 1e-2
    runs["steps_to_0.1"] = runs["steps_to_0.1"].astype("Int64")
    runs["steps_to_0.001"] = runs["steps_to_0.001"].astype("Int64")
    rewrite_runs(dst, runs, curves.drop(columns=[c for c in curves.columns if c == "evals"]))
    return dst


@pytest.fixture(scope="module")
def hand_made(folder, tmp_path_factory) -> Path:
    return _hand_made(folder, tmp_path_factory.mktemp("hand") / "f")


def test_ert_in_evaluations_on_a_hand_made_table(hand_made):
    data = prepared(hand_made, "steps")
    case = data.cases[0]
    assert case.params == {"cond": 10.0}
    stats = data.stats[case.id]
    sid = data.runs.loc[(data.runs["case_id"] == case.id) & (data.runs["optimizer"] == "adam")
                        & (data.runs["lr"] == 0.1), "setting_id"].iloc[0]
    row = stats.loc[sid]
    assert row["succ_1"] == pytest.approx(1 / 3)
    # ERT = (spent to the target by the runs that reached it + all spent by the others) / successes
    assert row["ert_evals_1"] == pytest.approx((10 + 20 + 30 + 6 * 100) / 3)  # 220 evaluations
    assert row["ert_1"] == pytest.approx((5 + 10 + 15 + 6 * 50) / 3)  # 110 steps
    assert row["med_evals_1"] == pytest.approx(20.0)
    # the other settings: every run reached both targets, adam in 10 steps (100 evals), sgd in 20 (20)
    others = stats.drop(index=sid)
    assert set(others.loc[others["optimizer"] == "adam", "ert_evals_1"]) == {100.0}
    assert set(others.loc[others["optimizer"] == "sgd", "ert_1"]) == {20.0}
    view = data.views[case.id]["first_hit"]
    assert view["ert_evals_lo"].le(view["ert_evals_1"]).all() and view["ert_evals_hi"].ge(view["ert_evals_1"]).all()


def test_which_ert_ranks_follows_the_x_axis(hand_made):
    by_steps, by_evals = prepared(hand_made, "steps"), prepared(hand_made, "evals")
    case = by_steps.cases[0]
    # both reach every target with every run: ERT decides, adam in fewer steps, sgd in fewer evaluations
    assert list(by_steps.views[case.id]["first_hit"]["optimizer"]) == ["adam", "sgd"]
    assert list(by_evals.views[case.id]["first_hit"]["optimizer"]) == ["sgd", "adam"]
    for data, unit in ((by_steps, "steps"), (by_evals, "objective evaluations")):
        text = render.method_text(data)
        assert f"the lowest ERT in {unit} at the tightest target" in text
        assert f"ERT in {unit} ranks" in text
        html = render.winners_table(data)
        assert f"ERT in {unit} (ranks) [95% CI]" in html
        other = "objective evaluations" if unit == "steps" else "steps"
        assert f"ERT in {other} [95% CI]" in html


def test_the_page_shows_both_erts_and_says_which_ranks(hand_made, tmp_path):
    folder = copy_results(hand_made, tmp_path / "f")
    build_report(folder, workers=1, tables="csv", x_axis="evals")
    html = (folder / "report.html").read_text(encoding="utf-8")
    md = (folder / "summary.md").read_text(encoding="utf-8")
    assert "ERT in objective evaluations ranks" in html and "ERT in objective evaluations ranks" in md
    assert "ERT to 0.001 in objective evaluations (ranks) [95% CI]" in html
    assert "ERT to 0.001 in steps [95% CI]" in html
    assert "| ERT in steps [95% CI] · ERT in objective evaluations (ranks) [95% CI] |" in md
    winners = pd.read_csv(folder / "tables" / "winners.csv")
    assert set(winners["ranked_by"]) == {"evals"}
    first = pd.read_csv(folder / "tables" / "case-00-ellipsoid-first-hit.csv")
    assert first.loc[first["optimizer"] == "sgd", "ert_evals"].iloc[0] == 20.0
    assert first.loc[first["optimizer"] == "adam", "ert_evals"].iloc[0] == 100.0
    # the curves hold no evals column here: drawn against step, one evaluation per step
    assert "against objective evaluations" in html


def test_a_folder_without_evaluations_reads_as_before(old, tmp_path):
    folder = copy_results(old, tmp_path / "f")
    build_report(folder, workers=1, tables="csv")
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "ERT in steps ranks: every run here spent one objective evaluation per step" in html
    assert "ERT in objective evaluations" not in html
    assert "against step on" in html and "against objective evaluations" not in html
    first = pd.read_csv(folder / "tables" / "case-00-ellipsoid-first-hit.csv")
    np.testing.assert_array_equal(first["ert_evals"].to_numpy(), first["ert"].to_numpy())


def test_helpers_draw_on_the_axis_asked_for(evals, tmp_path):
    """Figures drawn by a helper process count what this process counts."""
    folder = copy_results(evals, tmp_path / "f")
    build_report(folder, workers=2, x_axis="steps")
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.count("-convergence") and "against objective evaluations" not in html
    assert html.count("against step on") == len(prepared(folder).cases)
    assert "within the number of objective evaluations" not in html



def test_one_rate_per_objective_ranks_as_steps_do(folder, evals, tmp_path):
    """Minibatch runs spend batch_size / n_samples evaluations a step, every
    optimizer alike: counted in evaluations, the rankings, ties and p-values
    are those in steps, to the last bit (they are computed in steps)."""
    scaled = prepared(evals_folder(folder, tmp_path / "f", {"sgd": 0.125, "adam": 0.125}))
    steps = prepared(tmp_path / "f", "steps")
    assert scaled.x_axis == "evals" and scaled.evals_differ
    for case in scaled.cases:
        assert case.evals_rate == 0.125
        assert data_mod.rank_unit(scaled, case) == "steps"
        for view in ("first_hit", "final"):
            a, b = scaled.views[case.id][view], steps.views[case.id][view]
            assert list(a.index) == list(b.index)
            np.testing.assert_array_equal(a["p_holm"].to_numpy(), b["p_holm"].to_numpy())
        np.testing.assert_allclose(scaled.stats[case.id]["ert_evals_1"], 0.125 * scaled.stats[case.id]["ert_1"])
    # three evaluations a step for adam, one for sgd: no common rate, ranked in evaluations
    mixed = prepared(evals)
    assert all(math.isnan(c.evals_rate) for c in mixed.cases)
    assert all(data_mod.rank_unit(mixed, c) == "evals" for c in mixed.cases)
    assert all(c.evals_budget == 3.0 * SPEC["steps"] for c in mixed.cases)
