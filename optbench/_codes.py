"""Codes shared by the compiled kernels and the tables made from their output.

Run status: a kernel stores the code, the runs table the name
(``STATUS_NAMES[code]``).  SplitMix64: the counter-based generator of the
minibatch rows and the gradient noise (the scalar driver) and of the bench's
NumPy reference (the peer harness's minibatch scheme).
"""
from __future__ import annotations

STATUS_NAMES = ("unconverged", "converged", "diverged", "escaped")
UNCONVERGED, CONVERGED, DIVERGED, ESCAPED = range(len(STATUS_NAMES))
STOPPED = (DIVERGED, ESCAPED)  # runs that stopped before their last step

# SplitMix64 (Steele, Lea & Flood 2014): z = key + k * GAMMA, then
# z = (z ^ (z >> 30)) * M1; z = (z ^ (z >> 27)) * M2; z ^ (z >> 31)
SPLITMIX_GAMMA = 0x9E3779B97F4A7C15
SPLITMIX_M1 = 0xBF58476D1CE4E5B9
SPLITMIX_M2 = 0x94D049BB133111EB
SPLITMIX_SHIFTS = (30, 27, 31)
