"""asv benchmarks of optbench (numpy/scipy conventions).

* ``bench_kernels``: one value-and-gradient evaluation per objective (n-D
  ones at several n) and one step per optimizer, timed inside a jitted loop
  so that the ~µs cost of calling a Numba dispatcher from Python is not in
  the number (``TimeCallFromPython`` measures that cost separately).
* ``bench_sweep``: whole sweeps through ``engine.run_group`` on the peer
  workloads (time and ``track_`` ns per run-step), JIT compile time of a
  fresh kernel and warm-cache start-up (``timeraw_``, in a fresh process),
  peak memory of a large sweep with curve logging (``peakmem_``).
* ``bench_convergence``: convergence quality per optimizer on a small fixed
  suite (``track_`` success rate and median steps to target), as scipy's
  ``benchmarks/optimize.py`` tracks solver quality.

``setup`` compiles (or loads from the kernel cache) outside the timed
region.  Run with ``asv run --python=same --quick`` (see README, "Tracking
performance").
"""
