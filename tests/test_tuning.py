"""Tuning budgets: the exact expected best of k settings against brute-force
enumeration of every k-subset, on random grids and on a real results folder."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optbench
from optbench.report import data as data_mod
from optbench.report import figures
from optbench.report import tuning as tuning_mod
from optbench.report.data import BIG

SPEC = {
    "name": "tuning-test",
    "steps": 40,
    "log_every": 4,
    "targets": [1e-1, 1e-3],
    "objectives": [{"name": "himmelblau"}, {"name": "ellipsoid", "dim": 2, "cond": 100.0}],
    "init": {"scheme": "grid", "count": 3},
    "optimizers": [  # lr=0.3 diverges: the final view's ceiling is exercised
        {"name": "sgd", "lr": [1e-3, 1e-2, 0.3], "momentum": [0.0, 0.9]},
        {"name": "adam", "lr": [1e-2, 1e-1]},
    ],
}
PNG = b"\x89PNG\r\n\x1a\n"


def brute_force(values_best_first) -> np.ndarray:
    """Mean value of the best (lowest position) of every k-subset, k = 1 … N."""
    v = list(values_best_first)
    out = []
    for k in range(1, len(v) + 1):
        subsets = list(itertools.combinations(range(len(v)), k))
        out.append(np.mean([v[min(s)] for s in subsets]))
    return np.array(out)


@pytest.mark.parametrize("n", [1, 2, 5, 30, 100, 2000])
def test_each_budget_picks_exactly_one_best(n):
    p = tuning_mod.best_of_k_probs(n)
    assert p.shape == (n, n) and np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p[0], 1.0 / n, rtol=1e-12)  # one draw: uniform
    assert p[-1, 0] == pytest.approx(1.0) and np.all(p[-1, 1:] == 0)  # everything drawn: the best
    # the best of k is never below the (N - k + 1)-th: k - 1 worse ones must exist
    for k in range(1, n + 1, max(1, n // 7)):
        assert np.all(p[k - 1, n - k + 1:] == 0)


def test_probabilities_match_counting_subsets():
    n = 9
    p = tuning_mod.best_of_k_probs(n)
    for k in range(1, n + 1):
        counts = np.bincount([min(s) for s in itertools.combinations(range(n), k)], minlength=n)
        np.testing.assert_allclose(p[k - 1], counts / counts.sum(), rtol=1e-12, atol=1e-15)


@settings(deadline=None, max_examples=60)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=8))
def test_expected_best_of_k_is_the_mean_over_every_subset(values):
    """Small integer values: ties in the values are common, and the grid's
    order (not the values) decides which setting is best."""
    got = tuning_mod.expected_best_of_k(values)
    np.testing.assert_allclose(got, brute_force(values), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_expected_best_of_k_on_random_sorted_grids(seed):
    rng = np.random.default_rng(seed)
    v = np.sort(rng.random(rng.integers(1, 9)))[::-1]  # best first, higher is better
    got = tuning_mod.expected_best_of_k(v)
    np.testing.assert_allclose(got, brute_force(v), rtol=1e-12)
    assert got[0] == pytest.approx(v.mean()) and got[-1] == pytest.approx(v[0])
    assert np.all(np.diff(got) >= -1e-12)  # values sorted like the order: more tries never hurt


def test_final_scores_put_diverged_settings_above_the_worst_finite_one():
    gap = tuning_mod.final_scores(np.array([1e-3, 0.0, 10.0, BIG]), "gap", floor=1e-10)
    np.testing.assert_allclose(gap, [-3.0, -10.0, 1.0, 2.0])
    f = tuning_mod.final_scores(np.array([-2.0, 3.0, BIG]), "f", floor=1e-10)
    np.testing.assert_allclose(f, [-2.0, 3.0, 8.0])
    assert np.all(tuning_mod.final_scores(np.array([BIG, BIG]), "gap", floor=1e-10) == -9.0)


def test_expected_best_of_k_refuses_an_empty_grid():
    with pytest.raises(ValueError, match="non-empty"):
        tuning_mod.expected_best_of_k([])
    with pytest.raises(ValueError, match="n=0"):
        tuning_mod.best_of_k_probs(0)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> data_mod.ReportData:
    out = tmp_path_factory.mktemp("tuning")
    res = optbench.run(SPEC, out=out, report=False)
    results, folder = data_mod.load(Path(res.path))
    return data_mod.prepare(results, folder)


def test_case_curves_match_brute_force_on_a_results_folder(data):
    floor = 1e-10
    table = tuning_mod.curves(data, floor)
    assert set(table.columns) == {"case_id", "optimizer", "view", "k", "n_settings", "expected"}
    for case in data.cases:
        stats = data.stats[case.id]
        success = dict(zip(stats.index, stats["success"]))
        final = dict(zip(stats.index, tuning_mod.final_scores(stats["med_final"].to_numpy(float), case.metric,
                                                              floor)))
        for view, ordered, value in (("success", stats, success), ("final", data_mod.rank_final(stats), final)):
            for opt in ("sgd", "adam"):
                sids = ordered.index[ordered["optimizer"] == opt]
                got = table[(table["case_id"] == case.id) & (table["optimizer"] == opt) & (table["view"] == view)]
                assert list(got["k"]) == list(range(1, len(sids) + 1))
                assert (got["n_settings"] == len(sids)).all()
                np.testing.assert_allclose(got["expected"], brute_force([value[s] for s in sids]), rtol=1e-12)
    # sgd's grid: 3 learning rates × 2 momenta; adam's: 2 learning rates
    assert table.groupby("optimizer")["n_settings"].max().to_dict() == {"sgd": 6, "adam": 2}


def test_summary_averages_over_cases_at_a_shared_budget(data):
    table = tuning_mod.summary(data)
    assert list(table["k"].unique()) == list(range(1, 7))
    curves = tuning_mod.curves(data)
    adam = table[table["optimizer"] == "adam"].set_index("k")
    full = curves[(curves["optimizer"] == "adam") & (curves["view"] == "success") & (curves["k"] == 2)]
    # past its 2 settings adam keeps its full-grid value
    assert adam.loc[6, "mean_success"] == pytest.approx(full["expected"].mean())
    assert adam.loc[2, "mean_success"] == adam.loc[6, "mean_success"]
    both = table.pivot(index="k", columns="optimizer", values="mean_rank")
    np.testing.assert_allclose(both.sum(axis=1), 3.0)  # two optimizers: ranks 1 + 2 on every case


def test_tuning_figures_draw(data):
    for case in data.cases:
        plot = figures.tuning(data, case)
        assert plot is not None and plot.png.startswith(PNG)
        assert "Sivaprasad" in plot.caption and plot.name == f"{case.slug}-tuning"
    plot = figures.tuning_summary(data)
    assert plot is not None and plot.png.startswith(PNG) and plot.name == "all-tuning"
