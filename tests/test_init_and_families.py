"""Initialization schemes as a sweep axis, the shipped specs, and the report's
comparison of an objective's cases by any of its parameters."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import optbench
from optbench import SpecError
from optbench.objectives import nn
from optbench.report.data import Case, compared_together
from optbench.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "problems").glob("*.toml"))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_shipped_spec_validates(path):
    spec = load_spec(path)
    assert spec.name == path.stem and spec.n_runs >= 1


INIT_SPEC = {
    "name": "inits",
    "steps": 30,
    "log_every": 10,
    "repeats": 2,
    "objectives": [
        {"name": "perceptron", "data": "breast_cancer", "batch_size": 16},
        {"name": "mlp", "data": "xor", "n_samples": 64, "width": 4, "layers": [1, 2], "batch_size": 16},
    ],
    "init": {"scheme": ["zeros", "normal", "xavier_uniform", "he_normal"], "std": [0.1, 1.0], "count": 3},
    "optimizers": [{"name": "sgd", "lr": 0.1, "momentum": 0.9}],
}


@pytest.fixture(scope="module")
def init_results(tmp_path_factory):
    return optbench.run(INIT_SPEC, out=tmp_path_factory.mktemp("inits"), report=False)


def test_init_schemes_are_an_axis_of_the_grid(init_results):
    spec = load_spec(INIT_SPEC)
    # 3 problems x (zeros, normal 0.1, normal 1, xavier, he)
    assert len(spec.objective_cases) == 15
    runs = init_results.runs
    per_case = {"zeros": 1, "normal": 3, "xavier_uniform": 3, "he_normal": 3}
    assert len(runs) == 3 * sum(per_case[i.scheme] for i in spec.inits) * 2
    assert set(runs["init_scheme"].cat.categories) == set(per_case)
    std = runs.groupby("init_scheme", observed=True)["init_std"]
    assert set(std.unique()["normal"]) == {0.1, 1.0}
    assert all(np.isnan(std.unique()[s]).all() for s in ("zeros", "xavier_uniform", "he_normal"))
    assert runs["run_id"].tolist() == list(range(len(runs)))


def test_each_scheme_draws_its_own_points_from_one_stream_per_problem(init_results):
    runs = init_results.runs
    p = runs[runs["objective"] == "perceptron"]
    x0 = {k: np.stack(g.sort_values(["init_index", "repeat"])["x0"].to_numpy())
          for k, g in p.groupby(["init_scheme", "init_std"], observed=True, dropna=False)}
    zeros = x0[("zeros", np.nan)] if ("zeros", np.nan) in x0 else next(v for k, v in x0.items() if k[0] == "zeros")
    assert np.all(zeros == 0.0) and len(zeros) == 2  # one point, never perturbed, two repeats
    small = next(v for k, v in x0.items() if k[0] == "normal" and k[1] == 0.1)
    big = next(v for k, v in x0.items() if k[0] == "normal" and k[1] == 1.0)
    # common random numbers: the same draws, scaled; biases 0 (per-layer scheme of the network)
    np.testing.assert_allclose(big, 10.0 * small, rtol=1e-12)
    assert np.all(big[:, -1] == 0.0)
    xavier = next(v for k, v in x0.items() if k[0] == "xavier_uniform")
    assert np.abs(xavier[:, :-1]).max() <= math.sqrt(6.0 / (30 + 1))
    # repeats share the initial point and differ in their minibatch streams
    assert np.array_equal(xavier[0], xavier[1]) and not np.array_equal(xavier[0], xavier[2])


def test_zero_initialized_mlp_runs_keep_the_symmetry_in_a_sweep(init_results):
    runs = init_results.runs
    zero = runs[(runs["objective"] == "mlp") & (runs["init_scheme"] == "zeros") & (runs["obj_layers"] == 1)]
    assert len(zero) == 2
    problem = optbench.objectives.make("mlp", data="xor", n_samples=64, width=4, layers=1)
    (fan_out, fan_in), _ = nn.layer_shapes(problem)[:2]
    for x in zero["x_final"]:
        W1 = np.asarray(x)[: fan_out * fan_in].reshape(fan_out, fan_in)
        b1 = np.asarray(x)[fan_out * fan_in: fan_out * fan_in + fan_out]
        assert np.all(W1 == W1[0]) and np.all(b1 == b1[0])


def test_an_init_scheme_of_networks_is_refused_for_surfaces():
    spec = {**INIT_SPEC, "objectives": [{"name": "sphere", "dim": 3}]}
    with pytest.raises(SpecError, match="init.scheme 'xavier_uniform' is not defined for objective 'sphere'"):
        load_spec({**spec, "init": {"scheme": ["xavier_uniform"]}})
    # the generic schemes apply to every objective
    both = load_spec({**spec, "init": {"scheme": ["zeros", "normal"], "std": [0.5, 2.0], "count": 4}})
    assert both.n_runs == (1 + 2 * 4) * 2  # zeros is one point; two repeats


def _case(cid, **params):
    init = params.pop("init", "uniform")
    return Case(id=cid, objective="perceptron", dim=31, params=params, batch_size=0, noise=0.0, init=init,
                label="", detail="", slug="", metric="gap", f_star=0.0, criteria=[], n_runs=1)


def test_parameters_that_are_not_crossed_in_full_are_compared_together():
    cases = []
    for init in ("zeros", "xavier_uniform"):
        for act, loss in (("sigmoid", "mse"), ("sigmoid", "cross_entropy"), ("tanh", "mse"), ("identity", "hinge")):
            cases.append(_case(len(cases), activation=act, loss=loss, init=init))
    assert compared_together(cases, ["activation", "loss", "init"]) == [["activation", "loss"], ["init"]]
    crossed = [_case(i, activation=a, loss=lo) for i, (a, lo) in
               enumerate((a, lo) for a in ("sigmoid", "tanh") for lo in ("mse", "hinge"))]
    assert compared_together(crossed, ["activation", "loss"]) == [["activation"], ["loss"]]


@pytest.mark.slow
def test_the_activations_spec_runs_and_its_report_compares_activation_loss_and_init(tmp_path):
    text = (ROOT / "problems" / "activations.toml").read_text()
    text = text.replace("steps = 1000", "steps = 40").replace("count = 8 ", "count = 2 ")
    res = optbench.run(text, out=tmp_path, report=True)
    runs = res.runs
    assert {"sigmoid", "tanh", "relu", "identity"} <= set(runs["obj_activation"].cat.categories)
    assert {"mse", "cross_entropy", "hinge"} <= set(runs["obj_loss"].cat.categories)
    assert {"zeros", "normal", "xavier_uniform", "he_normal"} == set(runs["init_scheme"].cat.categories)
    html = (res.path / "report.html").read_text(encoding="utf-8")
    names = {p.name for p in (res.path / "plots").glob("*.png")}
    for name in ("family-perceptron-by-activation-loss.png", "family-perceptron-by-init.png",
                 "family-mlp-by-activation.png", "family-mlp-by-init.png"):
        assert name in names
    assert "perceptron: by activation, loss" in html or "perceptron by activation, loss" in html
    assert re.search(r"perceptron \(activation=sigmoid, loss=cross_entropy, init=normal\(std=1\)\)", html)
    assert "gradient norm" in html
