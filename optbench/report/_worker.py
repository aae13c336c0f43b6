"""Draw some objective cases' figures in a separate process.

``python -m optbench.report._worker RESULTS_DIR OUT.pickle CASE_ID ...``
reads the results folder itself, draws the figures of the given cases and
pickles ``{"plots": {case_id: [Plot, ...]}}`` (or ``{"error": exc}`` for
an :class:`~optbench.OptbenchError`) to ``OUT.pickle``.

A plain subprocess rather than ``multiprocessing``: spawn re-imports the
caller's ``__main__``, which in a script that calls ``optbench.run`` at top
level would start the sweep again in every worker; fork copies pyarrow's
and numba's threads mid-state.
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    folder, out, *ids = argv
    from .._errors import OptbenchError

    try:
        from . import case_plots
        from . import data as data_mod

        results, path = data_mod.load(folder)
        data = data_mod.prepare(results, path)
        wanted = {int(i) for i in ids}
        payload = {"plots": {c.id: case_plots(data, c) for c in data.cases if c.id in wanted}}
    except OptbenchError as exc:
        payload = {"error": exc}
    tmp = Path(out).with_suffix(".partial")
    tmp.write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
