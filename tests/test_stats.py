"""optbench.report.stats against scipy.stats and against brute force."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from optbench.report import stats as st

scipy_stats = pytest.importorskip("scipy.stats")


def _scipy_wilcoxon(x, y):
    d = np.asarray(x, float) - np.asarray(y, float)
    d = d[d != 0]
    _, counts = np.unique(np.abs(d), return_counts=True)
    method = "exact" if len(d) <= st.EXACT_MAX_N and (counts == 1).all() else "approx"
    return scipy_stats.wilcoxon(x, y, zero_method="wilcox", method=method, correction=False), method


@pytest.mark.parametrize("seed", range(40))
def test_wilcoxon_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 80))
    if seed % 3 == 0:  # ties and zeros: integer outcomes, as steps to a target are
        x, y = rng.integers(0, 8, n).astype(float), rng.integers(0, 8, n).astype(float)
    else:
        x = rng.normal(size=n)
        y = x + rng.normal(0.3 * (seed % 2), 1.0, size=n)
    ours = st.wilcoxon(x, y)
    if ours.n == 0:
        assert ours.p == 1.0
        return
    ref, method = _scipy_wilcoxon(x, y)
    assert ours.method == ("exact" if method == "exact" else "normal")
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)


def test_wilcoxon_infinities_and_identical_samples():
    x = np.array([1.0, 2.0, np.inf, np.inf, 5.0])
    assert st.wilcoxon(x, x).p == 1.0 and st.wilcoxon(x, x).n == 0
    y = np.array([1.0, 3.0, np.inf, 2.0, 5.0])  # both diverged (inf, inf) is a tie, dropped
    r = st.wilcoxon(x, y)
    assert r.n == 2 and r.direction == 0
    worse = st.wilcoxon(np.full(12, np.inf), np.arange(12.0))
    assert worse.direction == 1 and worse.p < 0.001


@pytest.mark.parametrize("seed", range(20))
def test_mannwhitney_matches_scipy(seed):
    rng = np.random.default_rng(100 + seed)
    x = rng.integers(0, 6, int(rng.integers(2, 30))).astype(float)
    y = rng.integers(0, 6, int(rng.integers(2, 30))).astype(float) + seed % 2
    ref = scipy_stats.mannwhitneyu(x, y, method="asymptotic", use_continuity=True)
    assert st.mannwhitney(x, y).p == pytest.approx(ref.pvalue, rel=1e-9)


def test_holm_is_the_step_down_procedure():
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = rng.uniform(0, 0.2, size=int(rng.integers(1, 9)))
        m = len(p)
        for alpha in (0.01, 0.05, 0.1):
            # textbook: reject H_(1..k) while p_(i) <= alpha / (m - i + 1)
            order = np.argsort(p)
            reject = np.zeros(m, bool)
            for i, j in enumerate(order):
                if p[j] > alpha / (m - i):
                    break
                reject[j] = True
            assert ((st.holm(p) <= alpha) == reject).all()
    assert (st.holm([0.5, 0.9]) <= 1).all() and st.holm([]).size == 0


def test_first_hit_outcome_orders_runs():
    budget = 100
    steps = np.array([[3.0, 10.0], [3.0, np.nan], [np.nan, np.nan], [50.0, 90.0]])
    out = st.first_hit_outcome(steps, budget)
    assert out.tolist() == [13.0, 104.0, 202.0, 140.0]
    assert list(np.argsort(out)) == [0, 1, 3, 2]  # meets both soon < both late < one < none


def test_bootstrap_is_seeded_and_covers_the_estimate():
    rng = np.random.default_rng(0)
    reached = rng.uniform(size=40) < 0.6
    spent = np.where(reached, rng.integers(10, 90, 40), 100).astype(float)
    final = rng.lognormal(size=40)
    a = st.bootstrap(reached, spent, final, (1, 2))
    assert a == st.bootstrap(reached, spent, final, (1, 2))
    assert a != st.bootstrap(reached, spent, final, (1, 3))
    assert a.success[0] <= reached.mean() <= a.success[1]
    assert a.median_final[0] <= np.median(final) <= a.median_final[1]
    ert = spent.sum() / reached.sum()
    assert a.ert[0] <= ert <= a.ert[1]
    # percentile intervals agree with scipy's to within one run's share
    ref = scipy_stats.bootstrap((reached.astype(float),), np.mean, n_resamples=20000, method="percentile",
                                rng=np.random.default_rng(1)).confidence_interval
    assert abs(a.success[0] - ref.low) <= 1 / 40 + 1e-12 and abs(a.success[1] - ref.high) <= 1 / 40 + 1e-12


def test_bootstrap_never_succeeding_gives_infinite_ert():
    ci = st.bootstrap(np.zeros(8, bool), np.full(8, 100.0), np.ones(8), (0,))
    assert ci.success == (0.0, 0.0) and ci.ert == (np.inf, np.inf)


def test_exact_null_distribution_counts_subsets():
    for n in range(1, 9):
        counts = st._signed_rank_exact_counts(n)
        brute = np.zeros_like(counts)
        for r in range(n + 1):
            for sub in itertools.combinations(range(1, n + 1), r):
                brute[sum(sub)] += 1
        assert (counts == brute).all()
