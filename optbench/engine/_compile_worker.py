"""Compile kernels into Numba's disk cache in a separate process.

``python -m optbench.engine._compile_worker`` reads its job from stdin: a
pickled list of ``(recipe, signature)``, where ``recipe`` names a driver as
:func:`optbench.engine.drivers.recipe_of` gives it and ``signature`` is a
tuple of Numba types.  The parent
(:func:`optbench.engine.compiling.compile_missing`) loads the results from
the cache; nothing else passes between the processes.
"""
from __future__ import annotations

import pickle
import sys


def main() -> int:
    from optbench.engine import drivers

    for recipe, sig in pickle.loads(sys.stdin.buffer.read()):
        drivers.from_recipe(recipe).compile(sig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
