"""The peer-comparison workloads: optbench (through the peer adapter) against
the plain NumPy reference, ``optbench bench --quick``, and the inputs
against the peer harness's own definitions when ``../shared/peers`` exists."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from optbench.bench import adapter, compare, peers
from optbench.bench import workloads as WL

# small sizes: every grid-sgd-momentum objective, lr and momentum; diverging
# runs included (the minibatch workloads: every lr once, seeds 0..7)
SMALL = {WL.ROSENBROCK_ADAM: (64, 300), WL.GRID_SGD_MOMENTUM: (384, 300), WL.LOGREG_MINIBATCH: (8, 200),
         WL.MLP_MINIBATCH: (8, 200)}
PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"


QUICK_WORKLOADS = (WL.ROSENBROCK_ADAM, WL.MLP_MINIBATCH)  # the others with the whole suite


@pytest.fixture(scope="module", params=[w if w in QUICK_WORKLOADS else pytest.param(w, marks=pytest.mark.slow)
                                        for w in WL.WORKLOADS])
def case(request):
    workload = request.param
    inputs = WL.make_inputs(workload, *SMALL[workload])
    return workload, inputs, peers.run_numpy(workload, inputs)


def test_adapter_matches_numpy_reference(case):
    workload, inputs, ref = case
    adapter.prepare(workload, inputs)
    final, hist = WL.check_output(inputs, adapter.run(workload, inputs))
    if workload == WL.LOGREG_MINIBATCH:  # summation order inside the dot products differs
        np.testing.assert_allclose(hist, ref["history"], rtol=1e-12)
        np.testing.assert_allclose(final, ref["final"], rtol=1e-12, atol=1e-15)
    elif workload == WL.MLP_MINIBATCH:  # batched matmul against mlp_fg's row loop: summation order differs
        np.testing.assert_allclose(hist, ref["history"], rtol=1e-12)
        np.testing.assert_allclose(final, ref["final"], rtol=1e-11, atol=1e-14)
    else:  # canonical operation order, no FMA: bit for bit, NaN after divergence included
        assert np.array_equal(hist, ref["history"], equal_nan=True)
        assert np.array_equal(final, ref["final"], equal_nan=True)


def test_w4_is_optbench_mlp_on_its_moons():
    """mlp-minibatch's data, θ0 and first loss are those of optbench's own ``mlp`` objective."""
    from optbench import objectives
    from optbench.objectives import nn

    inputs = WL.make_inputs(WL.MLP_MINIBATCH)
    p = WL.MLP_MINIBATCH_PARAMS
    R, T = WL.work_size(inputs)
    assert (R, T) == (64, 2000) and WL.expected_shapes(inputs) == ((64, 82), (64, 21))
    problem = objectives.make("mlp", data="moons", n_samples=p["N"], noise=p["noise"], data_seed=p["data_seed"],
                              layers=1, width=p["width"], activation="tanh", loss="cross_entropy", l2=0.0)
    assert problem.dim == 82 and problem.args[2:5] == (2, 16, 0)
    assert np.array_equal(inputs["X"], problem.args[0]) and np.array_equal(inputs["y"], problem.args[1])
    theta0 = nn.init_points(problem, "xavier_uniform", np.random.default_rng(p["init_seed"]), 1, 0.0)[0]
    assert np.array_equal(inputs["theta0"], np.broadcast_to(theta0, (R, 82)))
    f = problem.objective.fg(theta0.copy(), np.empty(82), problem.all_rows(), *problem.args)
    loss0 = peers.mlp_loss(inputs["X"], inputs["y"].astype(np.int64), inputs["theta0"][:1], inputs)
    np.testing.assert_allclose(loss0, f, rtol=1e-14)


def test_small_w2_includes_diverging_runs():
    """So that the NaN-after-divergence mapping above is exercised."""
    ref = peers.run_numpy(WL.GRID_SGD_MOMENTUM, WL.make_inputs(WL.GRID_SGD_MOMENTUM, *SMALL[WL.GRID_SGD_MOMENTUM]))
    assert np.isnan(ref["final"]).any() and np.isfinite(ref["final"]).any()


def test_adapter_refuses_unknown_workload():
    with pytest.raises(NotImplementedError):
        adapter.run("no-such-workload", {})
    assert adapter.run.prepare is adapter.prepare
    assert "numba" in adapter.run.info()


def test_adapter_checks_every_new_hyperparameter_row():
    """Rows that passed are remembered (the check is per distinct row); a
    row torch rejects is refused on every call, before any run."""
    from optbench import SpecError

    inputs = WL.make_inputs(WL.GRID_SGD_MOMENTUM, *SMALL[WL.GRID_SGD_MOMENTUM])
    adapter.run(WL.GRID_SGD_MOMENTUM, inputs)
    bad = dict(inputs, lr=inputs["lr"].copy())
    bad["lr"][5] = -1e-3
    for _ in range(2):
        with pytest.raises(SpecError, match="lr must be >= 0"):
            adapter.run(WL.GRID_SGD_MOMENTUM, bad)


def test_agreement_flags_robust_mismatch_only():
    ref_f, ref_h = np.zeros((3, 2)), np.ones((3, 4))
    out_f, out_h = ref_f.copy(), ref_h.copy()
    out_h[1, 2] *= 1 + 1e-6  # run 1 off
    out_h[2, 0] = np.inf  # run 2: non-finite against finite
    ref_h_nan = ref_h.copy()
    ref_h_nan[0, 3], out_h[0, 3] = np.nan, -np.inf  # run 0: non-finite on both sides matches
    sens = np.array([False, True, False])
    a = compare.agreement(out_f, out_h, ref_f, ref_h_nan, sens)
    assert a["runs_agreeing"] == 1 and a["runs_mismatch_rounding_sensitive"] == 1
    assert a["runs_mismatch_robust"] == 1 and a["verdict"] == "FAIL"
    a = compare.agreement(out_f, out_h, ref_f, ref_h_nan, np.array([False, True, True]))
    assert a["verdict"] == "pass"
    # the exit status follows optbench's verdict only, not a peer's
    doc = {"checks": {WL.GRID_SGD_MOMENTUM: {"impls": {"jax": {"verdict": "FAIL"}, "optbench": {"verdict": "exact"}}}}}
    assert not compare.failed(doc)
    doc["checks"][WL.GRID_SGD_MOMENTUM]["impls"]["optbench"]["verdict"] = "FAIL"
    assert compare.failed(doc)


def test_bench_quick_runs_and_agrees(capsys):
    impls = ["optbench", "numpy"] + (["torch"] if importlib.util.find_spec("torch") else [])
    rc = compare.main(["--quick", "--repeats", "1", "--quiet", "--impl", *impls])
    out = capsys.readouterr().out
    assert rc == 0, out
    for wl in WL.WORKLOADS:
        assert wl in out
    assert "FAIL" not in out and "optbench/x" in out


def test_bench_doc_has_ratios_and_checks():
    doc = compare.bench([WL.ROSENBROCK_ADAM], ["optbench"], runs=32, steps=50, repeats=1)
    names = {r["impl"] for r in doc["results"]}
    assert names == {"optbench", "numpy"}  # numpy joins as the reference
    assert doc["ratios"][WL.ROSENBROCK_ADAM]["optbench/numpy"] > 0
    assert doc["checks"][WL.ROSENBROCK_ADAM]["impls"]["optbench"]["verdict"] == "exact"


def test_bench_user_errors_are_one_line(capsys):
    assert compare.main(["--workload", WL.LOGREG_MINIBATCH, "--steps", "150", "--quiet"]) == 2
    assert "multiple of 100" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.main(["--impl", "matlab"])


@pytest.mark.skipif(not (PEERS / "peerbench" / "workloads.py").exists(), reason="peer harness not present")
def test_inputs_are_the_peer_harness_inputs():
    sys.path.insert(0, str(PEERS))
    try:
        from peerbench import workloads as peer_wl
    finally:
        sys.path.remove(str(PEERS))
    for workload in WL.PEER_HARNESS_WORKLOADS:  # mlp-minibatch is optbench's own
        for size in ((None, None), SMALL[workload]):
            ours, theirs = WL.make_inputs(workload, *size), peer_wl.make_inputs(workload, *size)
            assert peer_wl.input_digest(ours) == peer_wl.input_digest(theirs)
