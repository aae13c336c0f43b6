"""Convergence quality per optimizer, on a small fixed suite.

As scipy's ``benchmarks/optimize.py`` tracks solver quality with ``track_``:
a change that alters an optimizer's behaviour (an update rule, a schedule, a
default) moves these numbers in asv's history beside any speed change.

Suite: Rosenbrock 2-D, Himmelblau and logistic regression (synthetic data,
256 rows x 4 features, full batch), 16 initial points each (uniform in the domain box, fixed
seed), learning rates {1e-3, 1e-2, 1e-1} and the optimizer's default, other
hyperparameters torch's defaults; 2,000 steps; target f - f* <= 1e-5.
Numbers are deterministic (no timing): any change is a behaviour change.

asv counts lower as better, so quality is tracked as the *failure* rate
(1 - success rate: a drop in success shows as a regression) and the median
steps to target over the runs that reach it (steps + 1 if none does).
"""
from __future__ import annotations

import numpy as np

from optbench import engine, objectives, optimizers

SUITE = (("rosenbrock", {"dim": 2}), ("himmelblau", {}), ("logistic", {"n_samples": 256, "n_features": 4}))
N_INIT = 16
LRS = (1e-3, 1e-2, 1e-1)
STEPS = 2000
TARGET = 1e-5


def run_suite(name: str) -> dict:
    """Success rate and steps to target of optimizer ``name`` on the suite."""
    opt = optimizers.get(name)
    lrs = sorted(set(LRS) | {float(opt.defaults()["lr"])})
    hp = np.stack([opt.hp_row(opt.resolve({"lr": lr})) for lr in lrs])
    reached = []
    for obj_name, params in SUITE:
        problem = objectives.make(obj_name, **params)
        rng = np.random.default_rng(0)
        x0 = rng.uniform(problem.lower, problem.upper, size=(N_INIT, problem.dim))
        res = engine.run_group(problem, opt, np.repeat(x0, len(lrs), axis=0), np.tile(hp, (N_INIT, 1)),
                               steps=STEPS, log_every=STEPS, targets=(TARGET,), record_grad=False,
                               record_x=False)
        reached.append(res.target_steps[:, 0])
    steps = np.concatenate(reached)
    ok = steps >= 0
    return {"success_rate": float(ok.mean()),
            "median_steps_to_target": float(np.median(steps[ok])) if ok.any() else float(STEPS + 1)}


class ConvergenceQuality:
    """Per optimizer: how often and how fast it reaches the target on the suite."""

    params = [optimizers.names()]
    param_names = ["optimizer"]
    timeout = 900

    def setup_cache(self):
        return {name: run_suite(name) for name in optimizers.names()}

    def track_failure_rate(self, results, name):
        """1 - success rate: fraction of runs that never reach f - f* <= 1e-5."""
        return 1.0 - results[name]["success_rate"]

    track_failure_rate.unit = "fraction of runs"

    def track_median_steps_to_target(self, results, name):
        """Median steps to f - f* <= 1e-5 over the runs that reach it."""
        return results[name]["median_steps_to_target"]

    track_median_steps_to_target.unit = "steps"
