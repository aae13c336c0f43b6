"""Analytic test surfaces: convex bowls, saddles, valleys, several minima.

Each surface is one compiled ``f = fg(x, g, *args)`` that returns the value
and writes the gradient, and one :func:`surface` registration beside it with
its domain box (for initialization and plotting), every known minimum and
its tags.  Formulas follow the standard references (Jamil & Yang 2013, "A
literature survey of benchmark functions for global optimization problems";
the SFU virtual library of simulation experiments).  Location digits of the
local minima were refined by Newton's method on the analytic gradient to a
gradient norm below 1e-13; tests check each recorded minimum.
"""
from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ._registry import Minimum, Param, surface

TWO_PI = 2.0 * math.pi

# ----------------------------------------------------------------- convex


@jit
def sphere_fg(x, g):
    """f(x) = sum x_i^2;  grad = 2x."""
    f = 0.0
    for i in range(x.shape[0]):
        f += x[i] * x[i]
        g[i] = 2.0 * x[i]
    return f


surface(
    "sphere",
    sphere_fg,
    summary="convex bowl sum x_i^2",
    formula="f(x) = Σ x_i²",
    tags={"convex"},
    domain=(-5.0, 5.0),
    dims=(1, None),
    minima=lambda n, p: [Minimum(np.zeros(n), 0.0)],
)


@jit
def quadratic_fg(x, g):
    """L(w) = w1^2 + w2^2 - w1 w2;  grad = (2 w1 - w2, 2 w2 - w1)."""
    w1 = x[0]
    w2 = x[1]
    g[0] = 2.0 * w1 - w2
    g[1] = 2.0 * w2 - w1
    return w1 * w1 + w2 * w2 - w1 * w2


surface(
    "quadratic",
    quadratic_fg,
    summary="the lecture's bowl w1^2 + w2^2 - w1 w2",
    formula="L(w) = w₁² + w₂² − w₁w₂",
    tags={"convex"},
    domain=(-10.0, 10.0),
    minima=[Minimum(np.zeros(2), 0.0)],
)


@jit
def ellipsoid_fg(x, g, coef):
    """f(x) = sum c_i x_i^2 with c_i = cond^(i/(n-1));  grad_i = 2 c_i x_i."""
    f = 0.0
    for i in range(x.shape[0]):
        cx = coef[i] * x[i]
        f += cx * x[i]
        g[i] = 2.0 * cx
    return f


def _ellipsoid_coef(n: int, params: dict) -> tuple:
    exponents = np.arange(n) / (n - 1) if n > 1 else np.zeros(1)
    return (np.ascontiguousarray(params["cond"] ** exponents, dtype=np.float64),)


surface(
    "ellipsoid",
    ellipsoid_fg,
    summary="ill-conditioned bowl, Hessian condition number 'cond'",
    formula="f(x) = Σ cond^((i−1)/(n−1)) x_i²",
    tags={"convex", "valley"},
    domain=(-5.0, 5.0),
    dims=(1, None),
    params={"cond": Param(1e3, "condition number of the Hessian", low=1.0, high=1e12)},
    args=_ellipsoid_coef,
    minima=lambda n, p: [Minimum(np.zeros(n), 0.0)],
)


@jit
def booth_fg(x, g):
    """f = (x + 2y - 7)^2 + (2x + y - 5)^2."""
    a = x[0] + 2.0 * x[1] - 7.0
    b = 2.0 * x[0] + x[1] - 5.0
    g[0] = 2.0 * a + 4.0 * b
    g[1] = 4.0 * a + 2.0 * b
    return a * a + b * b


surface(
    "booth",
    booth_fg,
    summary="convex quadratic, minimum at (1, 3)",
    formula="f = (x + 2y − 7)² + (2x + y − 5)²",
    tags={"convex"},
    domain=(-10.0, 10.0),
    minima=[Minimum(np.array([1.0, 3.0]), 0.0)],
)


@jit
def matyas_fg(x, g):
    """f = 0.26 (x^2 + y^2) - 0.48 x y: a flat, nearly degenerate bowl."""
    g[0] = 0.52 * x[0] - 0.48 * x[1]
    g[1] = 0.52 * x[1] - 0.48 * x[0]
    return 0.26 * (x[0] * x[0] + x[1] * x[1]) - 0.48 * x[0] * x[1]


surface(
    "matyas",
    matyas_fg,
    summary="flat convex bowl (condition number 25)",
    formula="f = 0.26(x² + y²) − 0.48xy",
    tags={"convex"},
    domain=(-10.0, 10.0),
    minima=[Minimum(np.zeros(2), 0.0)],
)

# ----------------------------------------------------------------- saddles


@jit
def saddle_fg(x, g):
    """z = y^2 - x^2;  grad = (-2x, 2y).  Saddle point at 0; unbounded below."""
    g[0] = -2.0 * x[0]
    g[1] = 2.0 * x[1]
    return x[1] * x[1] - x[0] * x[0]


surface(
    "saddle",
    saddle_fg,
    summary="z = y^2 - x^2: saddle at the origin, unbounded below",
    formula="z = y² − x²",
    tags={"saddle", "unbounded"},
    domain=(-2.0, 2.0),
    minima=[],
    f_star=-np.inf,
)


@jit
def monkey_saddle_fg(x, g):
    """z = x^3 - 3 x y^2;  grad = (3x^2 - 3y^2, -6xy).  Degenerate saddle at 0."""
    g[0] = 3.0 * x[0] * x[0] - 3.0 * x[1] * x[1]
    g[1] = -6.0 * x[0] * x[1]
    return x[0] * x[0] * x[0] - 3.0 * x[0] * x[1] * x[1]


surface(
    "monkey_saddle",
    monkey_saddle_fg,
    summary="z = x^3 - 3xy^2: monkey saddle at the origin, unbounded below",
    formula="z = x³ − 3xy²",
    tags={"saddle", "unbounded"},
    domain=(-2.0, 2.0),
    minima=[],
    f_star=-np.inf,
)

# ----------------------------------------------------------------- valleys


@jit
def rosenbrock_fg(x, g):
    """f = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2.

    Evaluated in the peers' canonical order (a = 1 - x, b = y - x*x,
    f = a*a + 100*(b*b), gx = -2a - 400 x b, gy = 200 b), so that the 2-D
    case is bit-identical to the reference implementations.
    """
    n = x.shape[0]
    f = 0.0
    g[0] = 0.0
    for i in range(n - 1):
        a = 1.0 - x[i]
        b = x[i + 1] - x[i] * x[i]
        f += a * a + 100.0 * (b * b)
        g[i] += -2.0 * a - 400.0 * x[i] * b
        g[i + 1] = 200.0 * b
    return f


surface(
    "rosenbrock",
    rosenbrock_fg,
    summary="curved narrow valley, minimum at (1, ..., 1)",
    formula="f = Σ 100(x_{i+1} − x_i²)² + (1 − x_i)²",
    tags={"valley"},
    domain=(-2.0, 2.0),
    dims=(2, None),
    minima=lambda n, p: [Minimum(np.ones(n), 0.0)],
)


@jit
def beale_fg(x, g):
    """f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2."""
    X = x[0]
    y = x[1]
    y2 = y * y
    y3 = y2 * y
    a = 1.5 - X + X * y
    b = 2.25 - X + X * y2
    c = 2.625 - X + X * y3
    g[0] = 2.0 * a * (y - 1.0) + 2.0 * b * (y2 - 1.0) + 2.0 * c * (y3 - 1.0)
    g[1] = 2.0 * a * X + 4.0 * b * X * y + 6.0 * c * X * y2
    return a * a + b * b + c * c


surface(
    "beale",
    beale_fg,
    summary="flat plateaus and sharp ridges, minimum at (3, 0.5)",
    formula="f = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
    tags={"valley"},
    domain=(-4.5, 4.5),
    minima=[Minimum(np.array([3.0, 0.5]), 0.0)],
)


@jit
def three_hump_camel_fg(x, g):
    """f = 2x^2 - 1.05x^4 + x^6/6 + xy + y^2."""
    X = x[0]
    y = x[1]
    X2 = X * X
    X4 = X2 * X2
    g[0] = 4.0 * X - 4.2 * X2 * X + X4 * X + y
    g[1] = X + 2.0 * y
    return 2.0 * X2 - 1.05 * X4 + X4 * X2 / 6.0 + X * y + y * y


surface(
    "three_hump_camel",
    three_hump_camel_fg,
    summary="valley with a global and two local minima",
    formula="f = 2x² − 1.05x⁴ + x⁶/6 + xy + y²",
    tags={"valley", "multimodal"},
    domain=(-2.0, 2.0),
    minima=[
        Minimum(np.zeros(2), 0.0),
        Minimum(np.array([1.7475523458302890, -0.8737761729151445]), 0.29863844223686, "local"),
        Minimum(np.array([-1.7475523458302890, 0.8737761729151445]), 0.29863844223686, "local"),
    ],
)

# ----------------------------------------------------------------- multiple minima


@jit
def himmelblau_fg(x, g):
    """f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2, in the peers' canonical order."""
    X = x[0]
    y = x[1]
    p = X * X + y - 11.0
    q = X + y * y - 7.0
    g[0] = 4.0 * X * p + 2.0 * q
    g[1] = 2.0 * p + 4.0 * y * q
    return p * p + q * q


surface(
    "himmelblau",
    himmelblau_fg,
    summary="four global minima of value 0",
    formula="f = (x² + y − 11)² + (x + y² − 7)²",
    tags={"multimodal"},
    domain=(-5.0, 5.0),
    minima=[
        Minimum(np.array([3.0, 2.0]), 0.0),
        Minimum(np.array([-2.805118086952745, 3.131312518250573]), 0.0),
        Minimum(np.array([-3.779310253377747, -3.283185991286169]), 0.0),
        Minimum(np.array([3.5844283403304917, -1.8481265269644036]), 0.0),
    ],
)


@jit
def six_hump_camel_fg(x, g):
    """f = (4 - 2.1x^2 + x^4/3) x^2 + xy + (-4 + 4y^2) y^2."""
    X = x[0]
    y = x[1]
    X2 = X * X
    y2 = y * y
    g[0] = 8.0 * X - 8.4 * X2 * X + 2.0 * X2 * X2 * X + y
    g[1] = X - 8.0 * y + 16.0 * y2 * y
    return (4.0 - 2.1 * X2 + X2 * X2 / 3.0) * X2 + X * y + (-4.0 + 4.0 * y2) * y2


surface(
    "six_hump_camel",
    six_hump_camel_fg,
    summary="two global and four local minima",
    formula="f = (4 − 2.1x² + x⁴/3)x² + xy + (−4 + 4y²)y²",
    tags={"multimodal"},
    domain=lambda n, p: (np.array([-3.0, -2.0]), np.array([3.0, 2.0])),
    minima=[
        Minimum(np.array([0.08984201310031807, -0.7126564030207396]), -1.0316284534898774),
        Minimum(np.array([-0.08984201310031807, 0.7126564030207396]), -1.0316284534898774),
        Minimum(np.array([1.7036067149699814, -0.7960835686726251]), -0.2154638243837, "local"),
        Minimum(np.array([-1.7036067149699814, 0.7960835686726251]), -0.2154638243837, "local"),
        Minimum(np.array([1.6071047529201978, 0.5686514548841313]), 2.1042503103113, "local"),
        Minimum(np.array([-1.6071047529201978, -0.5686514548841313]), 2.1042503103113, "local"),
    ],
)


@jit
def rastrigin_fg(x, g):
    """f = 10 n + sum (x_i^2 - 10 cos(2 pi x_i))."""
    n = x.shape[0]
    f = 10.0 * n
    for i in range(n):
        f += x[i] * x[i] - 10.0 * math.cos(TWO_PI * x[i])
        g[i] = 2.0 * x[i] + 10.0 * TWO_PI * math.sin(TWO_PI * x[i])
    return f


surface(
    "rastrigin",
    rastrigin_fg,
    summary="regular grid of local minima around a global one at 0",
    formula="f = 10n + Σ (x_i² − 10 cos 2πx_i)",
    tags={"multimodal"},
    domain=(-5.12, 5.12),
    dims=(1, None),
    minima=lambda n, p: [Minimum(np.zeros(n), 0.0)],
)


@jit
def ackley_fg(x, g):
    """f = -20 exp(-0.2 sqrt(mean x^2)) - exp(mean cos 2 pi x) + 20 + e.

    Not differentiable at 0 (the square root); there the gradient is set to
    the subgradient 0, which is what makes 0 a stationary point.
    """
    n = x.shape[0]
    s2 = 0.0
    sc = 0.0
    for i in range(n):
        s2 += x[i] * x[i]
        sc += math.cos(TWO_PI * x[i])
    r = math.sqrt(s2 / n)
    e1 = math.exp(-0.2 * r)
    e2 = math.exp(sc / n)
    c1 = 4.0 * e1 / (n * r) if r > 0.0 else 0.0
    c2 = e2 * TWO_PI / n
    for i in range(n):
        g[i] = c1 * x[i] + c2 * math.sin(TWO_PI * x[i])
    return -20.0 * e1 - e2 + 20.0 + math.e


surface(
    "ackley",
    ackley_fg,
    summary="nearly flat outer region, many local minima, sharp global minimum at 0",
    formula="f = −20 exp(−0.2 √(Σx_i²/n)) − exp(Σ cos(2πx_i)/n) + 20 + e",
    tags={"multimodal"},
    domain=(-5.0, 5.0),
    dims=(1, None),
    minima=lambda n, p: [Minimum(np.zeros(n), 0.0)],
)

ST_LOW = -2.903534027771177  # 1-D minimizer roots of 4t^3 - 32t + 5
ST_HIGH = 2.7468027709908367
ST_F_LOW = -39.16616570377141  # per coordinate (f = -39.166 n at the global minimum)
ST_F_HIGH = -25.029446655283945


@jit
def styblinski_tang_fg(x, g):
    """f = sum (x_i^4 - 16 x_i^2 + 5 x_i) / 2."""
    f = 0.0
    for i in range(x.shape[0]):
        t = x[i]
        t2 = t * t
        f += 0.5 * (t2 * t2 - 16.0 * t2 + 5.0 * t)
        g[i] = 2.0 * t2 * t - 16.0 * t + 2.5
    return f


def _styblinski_minima(n: int, params: dict) -> list[Minimum]:
    """All 2^n local minima for n <= 6 (each coordinate at either 1-D root), else the global one."""
    if n > 6:
        return [Minimum(np.full(n, ST_LOW), n * ST_F_LOW)]
    out = []
    for mask in range(2**n):
        highs = [(mask >> i) & 1 for i in range(n)]
        x = np.array([ST_HIGH if h else ST_LOW for h in highs])
        k = sum(highs)
        out.append(Minimum(x, (n - k) * ST_F_LOW + k * ST_F_HIGH, "global" if k == 0 else "local"))
    return out


surface(
    "styblinski_tang",
    styblinski_tang_fg,
    summary="2^n local minima; global at x_i = -2.9035",
    formula="f = Σ (x_i⁴ − 16x_i² + 5x_i) / 2",
    tags={"multimodal"},
    domain=(-5.0, 5.0),
    dims=(1, None),
    minima=_styblinski_minima,
)


@jit
def goldstein_price_fg(x, g):
    """f = [1 + (x+y+1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]
         * [30 + (2x-3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]."""
    X = x[0]
    y = x[1]
    a = X + y + 1.0
    b = 19.0 - 14.0 * X + 3.0 * X * X - 14.0 * y + 6.0 * X * y + 3.0 * y * y
    c = 2.0 * X - 3.0 * y
    d = 18.0 - 32.0 * X + 12.0 * X * X + 48.0 * y - 36.0 * X * y + 27.0 * y * y
    A = 1.0 + a * a * b
    B = 30.0 + c * c * d
    dA = 2.0 * a * b + a * a * (-14.0 + 6.0 * X + 6.0 * y)  # same for x and y
    dBx = 4.0 * c * d + c * c * (-32.0 + 24.0 * X - 36.0 * y)
    dBy = -6.0 * c * d + c * c * (48.0 - 36.0 * X + 54.0 * y)
    g[0] = dA * B + A * dBx
    g[1] = dA * B + A * dBy
    return A * B


surface(
    "goldstein_price",
    goldstein_price_fg,
    summary="global minimum 3 at (0, -1), three local minima, values over 10^5",
    formula="f = [1 + (x+y+1)²(19−14x+3x²−14y+6xy+3y²)]·[30 + (2x−3y)²(18−32x+12x²+48y−36xy+27y²)]",
    tags={"multimodal"},
    domain=(-2.0, 2.0),
    minima=[
        Minimum(np.array([0.0, -1.0]), 3.0),
        Minimum(np.array([-0.6, -0.4]), 30.0, "local"),
        Minimum(np.array([1.8, 0.2]), 84.0, "local"),
        Minimum(np.array([1.2, 0.8]), 840.0, "local"),
    ],
)


@jit
def levi13_fg(x, g):
    """f = sin^2(3 pi x) + (x-1)^2 (1 + sin^2(3 pi y)) + (y-1)^2 (1 + sin^2(2 pi y))."""
    X = x[0]
    y = x[1]
    s3x = math.sin(3.0 * math.pi * X)
    s3y = math.sin(3.0 * math.pi * y)
    s2y = math.sin(2.0 * math.pi * y)
    c3x = math.cos(3.0 * math.pi * X)
    c3y = math.cos(3.0 * math.pi * y)
    c2y = math.cos(2.0 * math.pi * y)
    u = X - 1.0
    v = y - 1.0
    g[0] = 6.0 * math.pi * s3x * c3x + 2.0 * u * (1.0 + s3y * s3y)
    g[1] = u * u * 6.0 * math.pi * s3y * c3y + 2.0 * v * (1.0 + s2y * s2y) + v * v * 4.0 * math.pi * s2y * c2y
    return s3x * s3x + u * u * (1.0 + s3y * s3y) + v * v * (1.0 + s2y * s2y)


surface(
    "levi13",
    levi13_fg,
    summary="Lévi N.13: rippled surface, global minimum at (1, 1)",
    formula="f = sin²(3πx) + (x−1)²(1 + sin²(3πy)) + (y−1)²(1 + sin²(2πy))",
    tags={"multimodal"},
    domain=(-10.0, 10.0),
    minima=[Minimum(np.array([1.0, 1.0]), 0.0)],
)


@jit
def griewank_fg(x, g):
    """f = 1 + sum x_i^2 / 4000 - prod cos(x_i / sqrt(i)), i = 1..n.

    The product rule's prod_{j != i} is formed from prefix and suffix
    products (no division by a cosine that may be 0).
    """
    n = x.shape[0]
    prefix = 1.0
    s = 0.0
    for i in range(n):
        g[i] = prefix  # prod_{j < i} cos
        prefix *= math.cos(x[i] / math.sqrt(i + 1.0))
        s += x[i] * x[i]
    suffix = 1.0
    for i in range(n - 1, -1, -1):
        r = math.sqrt(i + 1.0)
        g[i] = x[i] / 2000.0 + math.sin(x[i] / r) / r * g[i] * suffix
        suffix *= math.cos(x[i] / r)
    return 1.0 + s / 4000.0 - prefix


surface(
    "griewank",
    griewank_fg,
    summary="many shallow local minima on a wide bowl, global minimum at 0",
    formula="f = 1 + Σ x_i²/4000 − Π cos(x_i/√i)",
    tags={"multimodal"},
    domain=(-10.0, 10.0),
    dims=(1, None),
    minima=lambda n, p: [Minimum(np.zeros(n), 0.0)],
)
