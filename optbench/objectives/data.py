"""Data for the ML objectives: seeded synthetic generators and small real sets.

Every loader returns a :class:`Dataset` whose arrays are C-contiguous and
read-only: features ``X`` float64 (n, d); targets ``y`` float64 0/1 (binary),
int64 class indices 0..K-1 (multi-class) or float64 (regression).  Results
are cached in memory (``functools.lru_cache`` keyed by the parameters), so
building the same problem twice neither regenerates nor re-reads anything.

Synthetic generators (``rng = numpy.random.default_rng(data_seed)``, draws in
this order):

* :func:`binary` - ``u`` = ``rng.standard_normal(d)`` normalized to unit
  length; labels ``y = rng.permutation(arange(n) % 2)`` (balanced);
  ``X = rng.standard_normal((n, d)) + class_sep * (2y - 1) u``: two unit
  Gaussians with means at ``±class_sep·u`` (Bayes error Φ(-class_sep)).
* :func:`multiclass` - centers ``rng.standard_normal((K, d))``, each row
  normalized to length ``class_sep``; ``y = rng.permutation(arange(n) % K)``;
  ``X = rng.standard_normal((n, d)) + centers[y]``.
* :func:`regression` - ``w = rng.standard_normal(d)``, ``b =
  rng.standard_normal()``, ``X = rng.standard_normal((n, d))``, ``y = X w +
  b + noise * rng.standard_normal(n)``.
* :func:`moons` - scikit-learn's ``make_moons`` layout: the first ``n // 2``
  points evenly spaced (``linspace(0, π)``) on the upper half circle
  ``(cos t, sin t)`` (label 0), the other ``n - n // 2`` on the lower one
  ``(1 - cos t, 1/2 - sin t)`` (label 1); ``order = rng.permutation(n)``
  shuffles the rows, then ``X += noise * rng.standard_normal((n, 2))``.
  Not linearly separable (the best linear classifier errs on ~10% of the
  noise-free points; a small MLP separates them).
* :func:`xor` - four Gaussian clusters (identity covariance times
  ``noise²``) at the corners ``(±1, ±1)``; label 1 where the two signs
  differ (exclusive or).  ``corner = rng.permutation(arange(n) % 4)``
  (balanced: corners in the order (1, 1), (-1, -1), (1, -1), (-1, 1), labels
  0, 0, 1, 1), then ``X = corners[corner] + noise * rng.standard_normal((n,
  2))``.  No linear classifier does better than chance on it.
* :func:`w3` - the peers' workload W3 "logreg-minibatch" data, exactly as
  its ``make_inputs``: N = 20000, d = 32, ``default_rng(2)``, no
  standardization.

The toy sets (moons, xor) are binary (``y`` float64 0/1), two features, not
standardized (their textbook coordinates).

Real data sets (:func:`real`) ship inside the package (``datasets/``, see its
README.txt for sources and licenses): ``breast_cancer`` (binary, 569 x 30),
``iris`` (3 classes, 150 x 4), ``wine`` (3 classes, 178 x 13), ``diabetes``
(regression, 442 x 10).  Their features are standardized (zero mean, unit
variance, ddof=0, over the full data set); targets are kept as stored.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import io
from dataclasses import dataclass
from importlib import resources

import numpy as np

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"

#: real data set name -> (file, task)
REAL = {
    "breast_cancer": ("breast_cancer.csv.gz", BINARY),
    "iris": ("iris.csv.gz", MULTICLASS),
    "wine": ("wine.csv.gz", MULTICLASS),
    "diabetes": ("diabetes.csv.gz", REGRESSION),
}

W3_N, W3_D, W3_SEED = 20000, 32, 2


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features, targets and what identifies them."""

    name: str  # "synthetic", "moons", "xor", "w3" or a real data set's name
    task: str  # BINARY | MULTICLASS | REGRESSION
    X: np.ndarray
    y: np.ndarray
    n_classes: int  # 2 for binary, K for multi-class, 0 for regression
    key: tuple  # the parameters that define the data (for caches)
    digest: str  # short sha256 of key, X and y

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]


def _finish(name: str, task: str, X, y, n_classes: int, key: tuple) -> Dataset:
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.int64 if task == MULTICLASS else np.float64)
    X.setflags(write=False)
    y.setflags(write=False)
    h = hashlib.sha256()
    h.update(repr(key).encode())
    h.update(repr((X.shape, y.dtype.str)).encode())
    h.update(X.tobytes())
    h.update(y.tobytes())
    return Dataset(name, task, X, y, n_classes, key, h.hexdigest()[:16])


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0.0, n, 1.0)


@functools.lru_cache(maxsize=32)
def binary(n_samples: int, n_features: int, class_sep: float, data_seed: int) -> Dataset:
    """Two Gaussian classes (identity covariance) at ±class_sep·u; balanced."""
    rng = np.random.default_rng(data_seed)
    u = _unit(rng.standard_normal(n_features))
    y = rng.permutation(np.arange(n_samples) % 2).astype(np.float64)
    X = rng.standard_normal((n_samples, n_features)) + np.outer(2.0 * y - 1.0, class_sep * u)
    key = ("binary", n_samples, n_features, float(class_sep), data_seed)
    return _finish("synthetic", BINARY, X, y, 2, key)


@functools.lru_cache(maxsize=32)
def multiclass(n_samples: int, n_features: int, n_classes: int, class_sep: float, data_seed: int) -> Dataset:
    """``n_classes`` unit Gaussians whose centers lie at distance class_sep from 0."""
    rng = np.random.default_rng(data_seed)
    centers = class_sep * _unit(rng.standard_normal((n_classes, n_features)))
    y = rng.permutation(np.arange(n_samples) % n_classes).astype(np.int64)
    X = rng.standard_normal((n_samples, n_features)) + centers[y]
    key = ("multiclass", n_samples, n_features, n_classes, float(class_sep), data_seed)
    return _finish("synthetic", MULTICLASS, X, y, n_classes, key)


@functools.lru_cache(maxsize=32)
def regression(n_samples: int, n_features: int, noise: float, data_seed: int) -> Dataset:
    """Linear model ``y = X w + b + noise·ε`` with standard normal w, b, X, ε."""
    rng = np.random.default_rng(data_seed)
    w = rng.standard_normal(n_features)
    b = rng.standard_normal()
    X = rng.standard_normal((n_samples, n_features))
    y = X @ w + b + noise * rng.standard_normal(n_samples)
    key = ("regression", n_samples, n_features, float(noise), data_seed)
    return _finish("synthetic", REGRESSION, X, y, 0, key)


@functools.lru_cache(maxsize=32)
def moons(n_samples: int, noise: float, data_seed: int) -> Dataset:
    """Two interleaving half circles (two features, labels 0/1), Gaussian noise ``noise``."""
    rng = np.random.default_rng(data_seed)
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    t_upper = np.linspace(0.0, np.pi, n_upper)
    t_lower = np.linspace(0.0, np.pi, n_lower)
    X = np.vstack([
        np.column_stack([np.cos(t_upper), np.sin(t_upper)]),
        np.column_stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)]),
    ])
    y = np.concatenate([np.zeros(n_upper), np.ones(n_lower)])
    order = rng.permutation(n_samples)
    X = X[order] + noise * rng.standard_normal((n_samples, 2))
    key = ("moons", n_samples, float(noise), data_seed)
    return _finish("moons", BINARY, X, y[order], 2, key)


XOR_CORNERS = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
XOR_LABELS = np.array([0.0, 0.0, 1.0, 1.0])
XOR_CORNERS.setflags(write=False)
XOR_LABELS.setflags(write=False)


@functools.lru_cache(maxsize=32)
def xor(n_samples: int, noise: float, data_seed: int) -> Dataset:
    """Gaussian clusters (std ``noise``) at (±1, ±1); label 1 where the signs differ."""
    rng = np.random.default_rng(data_seed)
    corner = rng.permutation(np.arange(n_samples) % 4)
    X = XOR_CORNERS[corner] + noise * rng.standard_normal((n_samples, 2))
    key = ("xor", n_samples, float(noise), data_seed)
    return _finish("xor", BINARY, X, XOR_LABELS[corner], 2, key)


@functools.lru_cache(maxsize=1)
def w3() -> Dataset:
    """The peers' W3 data (peerbench/workloads.py ``make_inputs("logreg-minibatch")``)."""
    rng = np.random.default_rng(W3_SEED)
    X = rng.standard_normal((W3_N, W3_D))
    w_true = rng.standard_normal(W3_D)
    prob = 1.0 / (1.0 + np.exp(-(X @ w_true)))
    y = (rng.random(W3_N) < prob).astype(np.float64)
    return _finish("w3", BINARY, X, y, 2, ("w3", W3_N, W3_D, W3_SEED))


@functools.cache
def _read(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    file, _ = REAL[name]
    raw = resources.files(__package__).joinpath("datasets", file).read_bytes()
    text = gzip.decompress(raw).decode("ascii")
    head, _, body = text.partition("\n")
    fields = head.strip().split(",")
    n, d = int(fields[0]), int(fields[1])
    table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2)
    if table.shape != (n, d + 1):
        raise RuntimeError(f"optbench data file {file} is corrupt: shape {table.shape}, header says ({n}, {d + 1})")
    return table[:, :d], table[:, d], fields[2:]


def standardize(X: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per column (ddof=0); constant columns stay 0."""
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    return (X - mean) / np.where(std > 0.0, std, 1.0)


@functools.cache
def real(name: str) -> Dataset:
    """A shipped real data set by name (see :data:`REAL`), features standardized."""
    if name not in REAL:
        raise KeyError(f"unknown data set {name!r}; known: {', '.join(REAL)}")
    X, y, _ = _read(name)
    task = REAL[name][1]
    if task == MULTICLASS:
        y = y.astype(np.int64)
        n_classes = int(y.max()) + 1
    else:
        n_classes = 2 if task == BINARY else 0
    return _finish(name, task, standardize(X), y, n_classes, ("real", name))


def names(task: str) -> tuple[str, ...]:
    """Real data set names for one task."""
    return tuple(k for k, (_, t) in REAL.items() if t == task)
