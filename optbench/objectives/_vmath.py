"""exp and log1p(exp(-a)) without branches, so that loops over them vectorise;
and the eight partial sums of a row's dot product as one vector (``dot_chains8``).

Why: Numba compiles ``math.exp`` / ``math.log1p`` to calls into the C
library, one element at a time.  Inside a loop over the rows of a data set
such a call also keeps LLVM from vectorising the loop.  The full-data
logistic loss spends most of its time there.
The functions below are straight-line arithmetic, integer ops on the bits
of a double and selects, which LLVM vectorises across rows (8 doubles per
AVX-512 instruction), and they are deterministic: the same bits on every
machine with IEEE doubles (no libm version in the result).

They follow fdlibm (Sun Microsystems, 1993; the C library of FreeBSD, musl
and Java's StrictMath): ``__ieee754_exp`` (e_exp.c) and the logarithm
kernel of ``__ieee754_log`` (e_log.c), with its coefficients.  fdlibm's
branches on the argument's range became selects; its scaling by 2^k is two
multiplications by powers of two, which keeps subnormal results correctly
rounded without a branch.  Measured against long double references
(tests/test_vmath.py): exp within 1 ulp, log1p(exp(-a)) within 2 ulp.
"""
from __future__ import annotations

import math

from numba import types
from numba.extending import intrinsic

from .._jit import jit


@intrinsic
def _bits_to_f64(typingctx, i):
    """Reinterpret an int64 as the double with the same bits."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        from llvmlite import ir

        v = context.cast(builder, args[0], sig.args[0], types.int64)
        return builder.bitcast(v, ir.DoubleType())

    return types.float64(i), codegen


_LN2_HI = 6.93147180369123816490e-01  # ln 2 with its last 32 bits zero: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
_X_MAX = 709.9  # exp(x) overflows beyond 709.78; clamped so that k stays small
_X_MIN = -746.0  # exp(x) rounds to 0 below -745.13

_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT2 = 1.4142135623730951


@jit(inline="always")
def vexp(x):
    """exp(x) for any double (NaN -> NaN, -inf -> 0, +inf -> inf).

    fdlibm's e_exp.c: x = k ln2 + r with |r| <= ln2/2 (ln2 in two parts, so
    r is exact to ~2^-60), exp(r) = 1 + 2r / (R(r^2) - r) as the Remez
    rational form ``1 - ((lo - r c / (2 - c)) - hi)``, then times 2^k as
    2^(k - k//2) * 2^(k//2): each factor a normal double, one rounding."""
    xc = min(max(x, _X_MIN), _X_MAX)
    kf = math.floor(xc * _INV_LN2 + 0.5)
    hi = xc - kf * _LN2_HI
    lo = kf * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    k = int(kf)
    k2 = k >> 1
    k1 = k - k2
    s1 = _bits_to_f64((k1 + 1023) << 52)
    s2 = _bits_to_f64((k2 + 1023) << 52)
    out = (y * s1) * s2
    return x if x != x else out


@jit(inline="always")
def log1p_exp_neg(a):
    """log(1 + exp(-a)) for a >= 0 (also NaN -> NaN, inf -> 0): the part of
    softplus(z) = max(z, 0) + log1p(exp(-|z|)) after the max."""
    return log1p_unit(vexp(-a))


@jit(inline="always")
def log1p_unit(u):
    """log(1 + u) for u in [0, 1] (NaN -> NaN).

    w = fl(1 + u) lies in [1, 2] and its rounding error du = u - (w - 1) is
    exact, so log1p(u) = log(w) + du / w to within 2^-106.  log(w) is
    fdlibm's e_log.c for w = 2^k (1 + f), k in {0, 1}, 1 + f in
    [sqrt(2)/2, sqrt(2)): s = f / (2 + f),
    log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))); du / w joins the low part
    k ln2_lo."""
    w = 1.0 + u
    du = u - (w - 1.0)
    big = w > _SQRT2
    dk = 1.0 if big else 0.0
    m = w * 0.5 if big else w
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w2 = z * z
    t1 = w2 * (_LG2 + w2 * (_LG4 + w2 * _LG6))
    t2 = z * (_LG1 + w2 * (_LG3 + w2 * (_LG5 + w2 * _LG7)))
    R = t2 + t1
    hfsq = 0.5 * f * f
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + R) + (dk * _LN2_LO + du / w))) - f)


@intrinsic
def dot_chains8(typingctx, X, i, x, nf):
    """``((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7))`` with
    ``s_k = sum over blocks b < nf // 8 of X[i, 8b + k] * x[8b + k]``, each
    chain summed in block order from 0.0: the first ``nf - nf % 8`` terms
    of :func:`optbench.objectives.ml.row_dot`, bit for bit.

    Why: written as eight scalar accumulators the chains stay scalar code
    (Numba runs without LLVM's SLP vectorizer, and a loop over a stack
    array of eight is unrolled and scalarised).  Here they are one
    ``<8 x double>`` accumulator (two AVX2 or one AVX-512 register) with
    ``fmul`` then ``fadd``, no fast-math flags, so no contraction into FMA:
    each lane rounds exactly as the scalar chain.  X's rows and x must be
    contiguous (C layout) for that; other layouts get the eight scalar
    chains (:func:`_chains8_scalar`)."""
    if not (isinstance(X, types.Array) and X.ndim == 2 and isinstance(x, types.Array) and x.ndim == 1
            and isinstance(i, types.Integer) and isinstance(nf, types.Integer)):
        return None
    sig = types.float64(X, i, x, nf)
    if not (X.layout == "C" and x.layout == "C" and X.dtype == types.float64 and x.dtype == types.float64):
        return sig, lambda context, builder, sig, args: context.compile_internal(builder, _chains8_scalar, sig,
                                                                                 args)

    def codegen(context, builder, sig, args):
        from llvmlite import ir
        from numba.core import cgutils
        from numba.np.arrayobj import make_array

        xa = make_array(sig.args[0])(context, builder, args[0])
        wa = make_array(sig.args[2])(context, builder, args[2])
        intp = context.get_value_type(types.intp)
        ii = context.cast(builder, args[1], sig.args[1], types.intp)
        n = context.cast(builder, args[3], sig.args[3], types.intp)
        st0 = cgutils.unpack_tuple(builder, xa.strides, 2)[0]
        i8p = ir.IntType(8).as_pointer()
        dbl = ir.DoubleType()
        row = builder.bitcast(builder.gep(builder.bitcast(xa.data, i8p), [builder.mul(ii, st0)]), dbl.as_pointer())
        vty = ir.VectorType(dbl, 8)
        acc = cgutils.alloca_once_value(builder, ir.Constant(vty, [0.0] * 8))
        nblk = builder.sdiv(n, ir.Constant(intp, 8))
        with cgutils.for_range(builder, nblk) as loop:
            off = builder.mul(loop.index, ir.Constant(intp, 8))
            a = builder.load(builder.bitcast(builder.gep(row, [off]), vty.as_pointer()), align=8)
            b = builder.load(builder.bitcast(builder.gep(wa.data, [off]), vty.as_pointer()), align=8)
            builder.store(builder.fadd(builder.load(acc), builder.fmul(a, b)), acc)
        v = builder.load(acc)
        s = [builder.extract_element(v, ir.Constant(ir.IntType(32), k)) for k in range(8)]
        add = builder.fadd
        return add(add(add(s[0], s[4]), add(s[1], s[5])), add(add(s[2], s[6]), add(s[3], s[7])))

    return sig, codegen


def _chains8_scalar(X, i, x, nf):
    """:func:`dot_chains8` as eight scalar accumulators (any layout)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    j = 0
    while j + 8 <= nf:
        s0 += X[i, j] * x[j]
        s1 += X[i, j + 1] * x[j + 1]
        s2 += X[i, j + 2] * x[j + 2]
        s3 += X[i, j + 3] * x[j + 3]
        s4 += X[i, j + 4] * x[j + 4]
        s5 += X[i, j + 5] * x[j + 5]
        s6 += X[i, j + 6] * x[j + 6]
        s7 += X[i, j + 7] * x[j + 7]
        j += 8
    return ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7))
