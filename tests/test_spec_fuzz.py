"""Random and mutated specs: each one gets a one-line SpecError, or validates and runs to completion."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import signal
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optbench
from optbench import SpecError
from optbench.cli import main
from optbench.spec import load_spec

VALID = {
    "name": "fuzz",
    "steps": 10,
    "log_every": 2,
    "seed": 0,
    "targets": [1e-1, 1e-3],
    "objectives": [{"name": "himmelblau"}, {"name": "rosenbrock", "dim": 3},
                   {"name": "logistic", "data": "synthetic", "n_samples": 50, "batch_size": 8}],
    "init": {"scheme": "uniform", "count": 2},
    "optimizers": [{"name": "sgd", "lr": [1e-3, 1e-2], "momentum": 0.9},
                   {"name": "adam", "lr": {"logspace": [-3, -1, 3]}, "betas": [0.9, 0.99]}],
}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)
def _nest(depth: int):
    node = 0.1
    for _ in range(depth):
        node = [node]
    return node


# what a hostile user writes besides plain values: nesting past any spec's
# depth, axes of up to 100,000 values each, the same value twice
hostile = st.one_of(
    st.integers(17, 400).map(_nest),
    st.builds(lambda kind, a, b, n: {kind: [a, b, n]}, st.sampled_from(["logspace", "linspace"]),
              st.floats(-5, 5), st.floats(-5, 5), st.integers(1, 100_000)),
    st.floats(0, 1).map(lambda v: [v, v]),
)
values = st.recursive(
    st.one_of(scalars, hostile),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10,
)
keys = st.sampled_from(["name", "steps", "log_every", "seed", "targets", "objectives", "optimizers", "init",
                        "dim", "lr", "momentum", "nesterov", "betas", "beta1", "scheme", "count", "points",
                        "batch_size",
                        "grad_noise", "data", "loss", "cond", "logspace", "repeats", "grad_tol", "x"])


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _set(root, path, value):
    node = root
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


RUN_BUDGET = 200_000  # run-steps: valid specs up to this size are also run


HANG = 5  # seconds: a spec is refused or accepted by then, never enumerated at length


def _check(raw):
    def hang(signum, frame):
        raise AssertionError(f"validating the spec took over {HANG} s: {raw!r:.300}")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(HANG)
    try:
        spec = load_spec(raw)
    except SpecError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and len(msg) < 2000, msg
        return
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert spec.n_runs >= 1
    assert all(math.isfinite(oc.values["lr"]) and oc.values["lr"] >= 0 for oc in spec.optimizer_cases)
    if spec.n_runs * spec.steps > RUN_BUDGET:
        return
    # a spec that validates also runs: through the CLI, to completion, and
    # reads back (any failure here is a traceback, never a one-line error)
    with tempfile.TemporaryDirectory() as tmp:
        err = io.StringIO()
        try:
            text = _toml(raw)
        except TypeError:  # None (the API reads it as absent) has no TOML form: run the dict
            optbench.run(raw, out=Path(tmp) / "out", report=False)
        else:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                path = Path(tmp) / "spec.toml"
                path.write_text(text)
                rc = main(["run", str(path), "--out", str(Path(tmp) / "out"), "--no-report", "--quiet"])
            assert rc == 0, err.getvalue()
        res = optbench.load(Path(tmp) / "out" / spec.name)
        assert len(res.runs) == spec.n_runs and res.runs["run_id"].tolist() == list(range(spec.n_runs))


def _toml(node, table=""):
    """The spec dict as TOML text (enough for what validates: tables, arrays
    of tables, scalars, lists)."""
    lines, subtables = [], []
    for k, v in node.items():
        key = json.dumps(k)
        if isinstance(v, dict) and table != "__inline__":
            subtables.append((k, v, False))
        elif isinstance(v, list) and v and all(isinstance(e, dict) for e in v):
            subtables.append((k, v, True))
        else:
            lines.append(f"{key} = {_value(v)}")
    out = "\n".join(lines) + "\n"
    for k, v, many in subtables:
        name = f"{table}.{json.dumps(k)}" if table else json.dumps(k)
        for entry in (v if many else [v]):
            out += f"\n[[{name}]]\n" if many else f"\n[{name}]\n"
            out += _toml(entry, name)
    return out


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, int | str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(e) for e in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(e)}" for k, e in v.items()) + "}"
    raise TypeError(v)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_specs(data):
    raw = copy.deepcopy(VALID)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(raw) if p]
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        parent = raw
        for p in path[:-1]:
            parent = parent[p]
        if action == "replace":
            _set(raw, path, data.draw(values))
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(keys)] = data.draw(values)
        if not isinstance(raw, dict):
            break
    _check(raw)


@settings(max_examples=100, deadline=None)
@given(raw=st.dictionaries(keys, values, max_size=6))
def test_random_specs(raw):
    _check(raw)
