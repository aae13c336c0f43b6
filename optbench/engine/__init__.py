"""The engine: runs groups of runs (one problem, one optimizer each) in compiled code.

It knows neither formulas nor file formats.  It takes arrays (initial
points, hyperparameter rows, random-stream keys ...) and returns arrays.
Runs are independent: a run's numbers depend on its own inputs only, never
on which chunk or thread ran it, so results are identical for any thread
count or chunk size.

- :mod:`.run`: :func:`run_group` / :func:`run_groups`, the checks, the
  result arrays, the thread pool;
- :mod:`.blocks`: how runs are cut into blocks and chunks of work;
- :mod:`.drivers`: the compiled drivers, generated per (objective,
  optimizer) pair from ``_scalar_template.py`` (one run at a time) and
  ``_lane_template.py`` (blocks of runs in lock-step), cached on disk;
- :mod:`.generic`: the generic tier, one driver for every pair of a kind
  (which tier a group runs on: :func:`choose_tier`);
- :mod:`.compiling`: missing drivers compiled in several processes;
- :mod:`.sources`: the sources a run's numbers depend on (digests).
"""
from __future__ import annotations

from .._codes import STATUS_NAMES as STATUS
from .blocks import LANES, MAX_LANE_DIM, guided_chunks, make_blocks, region_chunks, row_groups
from .run import (
    DIVERGENCE_FACTOR,
    GroupResult,
    PreparedGroup,
    choose_tier,
    compile_kernels,
    default_threads,
    escape_value,
    lane_eligible,
    log_steps,
    prepare_group,
    run_group,
    run_groups,
    schedules,
)

__all__ = [
    "DIVERGENCE_FACTOR", "LANES", "MAX_LANE_DIM", "STATUS", "GroupResult", "PreparedGroup", "choose_tier",
    "compile_kernels",
    "default_threads", "escape_value", "guided_chunks", "lane_eligible", "log_steps", "make_blocks",
    "prepare_group", "region_chunks", "row_groups", "run_group", "run_groups", "schedules",
]
