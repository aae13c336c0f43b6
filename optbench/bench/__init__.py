"""``optbench bench``: optbench beside the peers a user would otherwise use.

- :mod:`.workloads`: the four workloads (rosenbrock-adam, grid-sgd-momentum
  and logreg-minibatch as the shared peer harness defines them;
  mlp-minibatch, optbench's own) and their inputs;
- :mod:`.peers`: vectorized NumPy, torch and JAX implementations of them;
- :mod:`.adapter`: optbench as an implementation (also the peer harness's
  adapter, ``optbench.peers_adapter:run``);
- :mod:`.compare`: timing them side by side, the agreement check, the command.
"""
from __future__ import annotations

from .compare import add_arguments, bench, cmd_bench, failed, format_table, main

__all__ = ["add_arguments", "bench", "cmd_bench", "failed", "format_table", "main"]
