"""The branch-free exp and log1p(exp(-a)) of optbench.objectives._vmath:
accuracy in ulps against long double references, special values, and that
a loop over them vectorises (the reason they exist)."""
from __future__ import annotations

import re

import numba
import numpy as np
import pytest

from optbench.objectives._vmath import log1p_exp_neg, log1p_unit, vexp

pytestmark = pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63,
                                reason="needs an 80-bit (or wider) long double for the reference")


def _over(fn):
    """A compiled loop applying ``fn`` to every element (as the objectives do)."""
    @numba.njit(error_model="numpy")
    def loop(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = fn(x[i])
        return out

    return loop


_exp_all = _over(vexp)
_l1e_all = _over(log1p_exp_neg)
_l1u_all = _over(log1p_unit)


def _ulps(got, ref):
    """|got - ref| in units of the last place of ref rounded to double
    (subnormals included: np.spacing of the rounded value)."""
    spacing = np.spacing(np.abs(ref.astype(np.float64))).astype(np.longdouble)
    return np.abs((got.astype(np.longdouble) - ref) / spacing)


def test_exp_within_one_ulp():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-745.1, 709.7, 400_000), rng.uniform(-1.0, 1.0, 100_000),
                        rng.uniform(-1e-9, 1e-9, 10_000), rng.uniform(-745.1, -708.0, 50_000),  # subnormal results
                        rng.uniform(700.0, 709.78, 10_000)])
    err = _ulps(_exp_all(x), np.exp(x.astype(np.longdouble)))
    assert err.max() < 1.0


def test_exp_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 709.79, 1e3, -745.14, -1e3, 5e-324])
    got = _exp_all(x)
    assert np.isnan(got[0])
    np.testing.assert_array_equal(got[1:], [np.inf, 0.0, 1.0, 1.0, np.inf, np.inf, 0.0, 0.0, 1.0])
    assert _exp_all(np.array([-745.13]))[0] == 5e-324  # the smallest subnormal, as the C library's


def test_log1p_exp_neg_within_two_ulp():
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.uniform(0.0, 40.0, 300_000), rng.uniform(0.0, 1e-3, 50_000),
                        rng.exponential(1.0, 200_000), rng.uniform(40.0, 745.0, 50_000)])
    err = _ulps(_l1e_all(a), np.log1p(np.exp(-a.astype(np.longdouble))))
    assert err.max() < 2.0
    u = rng.uniform(0.0, 1.0, 200_000)
    assert _ulps(_l1u_all(u), np.log1p(u.astype(np.longdouble))).max() < 2.0


def test_log1p_exp_neg_special_values():
    got = _l1e_all(np.array([np.nan, np.inf, 0.0, 800.0]))
    assert np.isnan(got[0])
    np.testing.assert_array_equal(got[1:], [0.0, np.log(2.0), 0.0])


def test_a_loop_over_them_vectorises():
    """No call into the C library and no branch: LLVM turns the loop into
    vector instructions (some vector width on every x86-64 / ARM target)."""
    a = np.linspace(0.0, 5.0, 64)
    _l1e_all(a)
    ir = _l1e_all.inspect_llvm(_l1e_all.signatures[0])
    assert re.search(r"fdiv <\d+ x double>", ir), "the loop over log1p_exp_neg did not vectorise"
