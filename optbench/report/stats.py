"""The statistics behind the report's rankings: bootstrap confidence
intervals, paired and unpaired rank tests, Holm's correction.

Written on NumPy alone (SciPy is not a run-time dependency); the tests check
every function against ``scipy.stats``.  Everything is deterministic: the
bootstrap draws from a generator seeded by the caller's key, so a report
built twice from the same folder shows the same intervals.

Per-run outcomes (:func:`first_hit_outcome`, :func:`final_outcome`) are
what the tests compare, lower is better in both:

* first-hitting (COCO's anytime view): the run's steps to each target,
  summed over the targets, a target never reached counting as budget + 1
  steps.  A run that meets more targets, or meets them sooner, scores lower;
  two runs that both miss every target tie.
* final state (what a training run ends with): the final gap (or f without a
  finite optimum), a diverged run counting as worse than any finite value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05  # family-wise error rate of the tie tests (Holm, per case)
N_BOOT = 2000  # bootstrap resamples per interval
LEVEL = 0.95  # confidence level of the intervals
EXACT_MAX_N = 50  # Wilcoxon: exact null distribution up to this many non-zero pairs without ties (as SciPy)
BOOT_SEED = 29  # mixed into every bootstrap key


# ----------------------------------------------------------------- per-run outcomes


def first_hit_outcome(steps_to: np.ndarray, budget: float) -> np.ndarray:
    """Per run (rows of ``steps_to``, one column per target, NaN: never
    reached): steps to each target summed over targets, an unmet target
    counting ``budget + 1``."""
    s = np.asarray(steps_to, dtype=float)
    if s.ndim == 1:
        s = s[:, None]
    return np.where(np.isnan(s), float(budget) + 1.0, s).sum(axis=1)


def final_outcome(final: np.ndarray, diverged: np.ndarray) -> np.ndarray:
    """Per run: the final value, +inf where the run diverged (or is NaN)."""
    f = np.asarray(final, dtype=float).copy()
    f[np.asarray(diverged, bool) | np.isnan(f)] = np.inf
    return f


# ----------------------------------------------------------------- normal tail


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _rankdata(a: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties sharing their mean rank (as scipy.stats.rankdata)."""
    a = np.asarray(a, dtype=float)
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    new = np.r_[True, s[1:] != s[:-1]]
    idx = np.cumsum(new) - 1  # group of each sorted element
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(s)]
    mean_rank = (starts + ends + 1) / 2.0  # mean of starts+1 .. ends
    ranks = np.empty(len(a))
    ranks[order] = mean_rank[idx]
    return ranks


def _tie_sizes(a: np.ndarray) -> np.ndarray:
    _, counts = np.unique(a, return_counts=True)
    return counts


# ----------------------------------------------------------------- Wilcoxon signed-rank


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p: float
    n: int  # pairs (or runs) the test used
    method: str  # "exact", "normal", "none" (nothing to compare: p = 1)
    direction: int  # sign of the median difference x - y: -1 (x lower/better), 0, +1


def _signed_rank_exact_counts(n: int) -> np.ndarray:
    """Number of subsets of {1..n} with each sum 0 .. n(n+1)/2."""
    top = n * (n + 1) // 2
    c = np.zeros(top + 1, dtype=np.float64)
    c[0] = 1.0
    for k in range(1, n + 1):
        c[k:] = c[k:] + c[:-k].copy()
    return c


def wilcoxon(x, y) -> TestResult:
    """Two-sided Wilcoxon signed-rank test of the pairs (x_i, y_i).

    Pairs with equal values (both runs diverged, both missed every target)
    are dropped (``zero_method="wilcox"``); infinities compare as values
    (inf - finite is +inf, inf - inf a tie).  The statistic is the rank sum
    of positive differences.  Exact null distribution for up to
    :data:`EXACT_MAX_N` pairs without tied magnitudes, otherwise the normal
    approximation with the tie correction and no continuity correction:
    scipy.stats.wilcoxon's choices."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    both_inf = np.isinf(x) & np.isinf(y) & (np.sign(x) == np.sign(y))
    with np.errstate(invalid="ignore"):
        diff = np.where(both_inf, 0.0, x - y)
    direction = int(np.sign(np.median(diff))) if len(diff) else 0
    d = diff[diff != 0]
    n = len(d)
    if n == 0:
        return TestResult(0.0, 1.0, 0, "none", direction)
    mag = np.abs(d)
    ranks = _rankdata(mag)
    r_plus = float(ranks[d > 0].sum())
    ties = _tie_sizes(mag)
    if n <= EXACT_MAX_N and (ties == 1).all():
        counts = _signed_rank_exact_counts(n)
        total = 2.0 ** n
        t = int(round(r_plus))
        cdf = counts[: t + 1].sum() / total
        sf = counts[t:].sum() / total
        return TestResult(r_plus, float(min(1.0, 2.0 * min(cdf, sf))), n, "exact", direction)
    mean = n * (n + 1) / 4.0
    var = n * (n + 1) * (2 * n + 1) / 24.0 - float((ties ** 3 - ties).sum()) / 48.0
    if var <= 0:
        return TestResult(r_plus, 1.0, n, "normal", direction)
    z = (r_plus - mean) / math.sqrt(var)
    return TestResult(r_plus, float(min(1.0, 2.0 * _norm_sf(abs(z)))), n, "normal", direction)


def mannwhitney(x, y) -> TestResult:
    """Two-sided Mann-Whitney U (rank-sum) test of two independent samples:
    for runs that cannot be paired (different initial points).  Normal
    approximation with the tie correction and a continuity correction
    (scipy.stats.mannwhitneyu's ``method="asymptotic"``)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n1, n2 = len(x), len(y)
    direction = int(np.sign(np.median(x) - np.median(y))) if n1 and n2 and not (
        np.isinf(np.median(x)) and np.median(x) == np.median(y)) else 0
    if n1 == 0 or n2 == 0:
        return TestResult(0.0, 1.0, 0, "none", direction)
    both = np.concatenate([x, y])
    ranks = _rankdata(both)
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    ties = _tie_sizes(both)
    var = n1 * n2 / 12.0 * ((n + 1) - float((ties ** 3 - ties).sum()) / (n * (n - 1)))
    if var <= 0:
        return TestResult(u1, 1.0, n, "none", 0)
    mu = n1 * n2 / 2.0
    z = (abs(u1 - mu) - 0.5) / math.sqrt(var)
    return TestResult(u1, float(min(1.0, 2.0 * _norm_sf(max(z, 0.0)))), n, "normal", direction)


def holm(p) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="mergesort")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


# ----------------------------------------------------------------- bootstrap


def _rng(key) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([BOOT_SEED, *(int(k) & 0xFFFFFFFF for k in key)]))


def _interval(samples: np.ndarray) -> tuple[float, float]:
    # order statistics, not interpolation: ERT resamples can be inf (inf - inf is nan)
    lo = np.quantile(samples, (1 - LEVEL) / 2, method="inverted_cdf")
    hi = np.quantile(samples, 1 - (1 - LEVEL) / 2, method="inverted_cdf")
    return float(lo), float(hi)


@dataclass(frozen=True)
class Intervals:
    success: tuple[float, float]
    ert: tuple[float, float]
    median_final: tuple[float, float]


def bootstrap(reached: np.ndarray, spent: np.ndarray, final: np.ndarray, key) -> Intervals:
    """Percentile bootstrap intervals (:data:`LEVEL`) over a setting's runs
    for its success rate, ERT and median final value.

    ``reached``: per run, whether it met the criterion; ``spent``: steps it
    spent (to the target if reached, else all it ran); ``final``: final
    value (diverged runs as a huge value).  Runs are resampled whole, so the
    three statistics of one resample come from the same runs; ``key``
    (integers: case, setting) seeds the resampling."""
    reached = np.asarray(reached, bool)
    spent = np.asarray(spent, dtype=float)
    final = np.asarray(final, dtype=float)
    n = len(reached)
    if n == 0:
        nan = (math.nan, math.nan)
        return Intervals(nan, nan, nan)
    idx = _rng(key).integers(0, n, size=(N_BOOT, n))
    r = reached[idx]
    k = r.sum(axis=1)
    succ = k / n
    tot = spent[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ert = np.where(k > 0, tot / np.maximum(k, 1), np.inf)
    med = np.median(final[idx], axis=1)
    return Intervals(_interval(succ), _interval(ert), _interval(med))
