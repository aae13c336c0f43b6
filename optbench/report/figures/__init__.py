"""The report's figures, drawn with matplotlib's object API (no pyplot).

Figures are built as ``matplotlib.figure.Figure`` objects and saved through
the Agg canvas directly: nothing touches pyplot's global state or the
user's interactive backend (a notebook that calls ``optbench.run`` keeps
its backend), and figures are freed as soon as they are saved.

Every function returns a :class:`Plot` (PNG bytes plus a caption that says
what it shows and how many runs stand behind it) or ``None`` with no
figure to draw.  Captions are plain text; the HTML writer escapes them.

Modules: :mod:`.base` (what every figure shares), :mod:`.convergence`,
:mod:`.heatmaps`, :mod:`.landscape` (trajectories and basins on 2-D
surfaces), :mod:`.runtime` (runtime distributions), :mod:`.families`
(an objective's cases compared by their parameters), :mod:`.tuning`
(expected best of k settings: tuning budgets).
"""
from __future__ import annotations

from .base import Plot, PowerFormatter, to_png, warm_up
from .convergence import convergence, lr_sensitivity
from .families import family_comparison, parameter_effect
from .heatmaps import heatmaps
from .landscape import basins, trajectories
from .runtime import runtime, runtime_profile
from .tuning import tuning, tuning_summary

__all__ = [
    "Plot", "PowerFormatter", "basins", "convergence", "family_comparison", "heatmaps", "lr_sensitivity",
    "parameter_effect", "runtime", "runtime_profile", "to_png", "trajectories", "tuning", "tuning_summary", "warm_up",
]
