"""Lane driver for one (objective, optimizer, dim, K) -- a code template.

optbench.engine.drivers (lane_driver) substitutes the marked lines (the
pair's fg / step, DIM, K, STATE_SIZE, ESCAPE, REGISTERS, PREFETCH, the fg
adapter) and writes the module into its cache folder, so Numba compiles one
specialised driver per (pair, dim, K) and caches it.

A *block* is K runs that share one hyperparameter row, stepped in
lock-step.  Their state lives in one scratch vector S, dim-major:

    S[X_OFF + i*K + k]              coordinate i of lane k  (x)
    S[G_OFF + i*K + k]              gradient
    S[ST_OFF + (j*DIM + i)*K + k]   optimizer state row j
    S[F_OFF + k]                    f of lane k at the current step

For every lane k the registered ``fg(x, g, *args)`` sees 1-D views with DIM
elements at stride K (compile-time constants: LLVM unrolls fg's loops and
vectorises the loop over lanes); the registered ``step`` is called once per
block on the flat (DIM*K,) views, valid because a step is elementwise and
the block shares one hyperparameter row.  fg and step stay two loops: fused
per lane (as in the C peer) the loop does not vectorise.

Registers or memory (REGISTERS, per CPU: drivers.lane_state_in_registers):
every access to S in the step loop has a constant offset, so when S is a
stack array (``stack1``) LLVM's late SROA keeps it in registers, which pays
where it fits in the vector registers; elsewhere S is a heap array and the
code is the same.  Anything that indexes S with a variable, or stores to it
under a test (a masked store), would keep S in memory, so: the rare paths
(a lane stops, a target is reached, logging g or x) read a heap copy H made
by one constant-length ``copy_block``; LF and LI (per-lane bounds and
flags) are separate stack arrays, which cannot alias S, so the lane loops
need no run-time alias checks; every registered step stores
unconditionally (its tests pick values).  tests/test_lanes.py checks the
promotion on the compiled code.

Per-lane bookkeeping (the event test and the running best) is branch-free in
the same loop as f; everything rare sits behind one block-level flag.  A
lane that stops is frozen: its outputs are written at the stop and never
again; it keeps computing until the whole block has stopped.

The numbers are those of the one-run-at-a-time driver (``_scalar_template``)
bit for bit, field by field (tests/test_lanes.py).  Why each choice, with
the measurements: docs/performance.md, "The lane driver".
"""
import math

import numpy as np

from optbench._codes import CONVERGED as STATUS_CONVERGED
from optbench._codes import DIVERGED as STATUS_DIVERGED
from optbench._codes import ESCAPED as STATUS_ESCAPED
from optbench._codes import UNCONVERGED as STATUS_UNCONVERGED
from optbench._jit import jit
from optbench.engine._views import (
    contig1,
    contig2,
    copy_block,
    fetch_add,
    prefetch_w,
    stack1,
    stack2,
    stack2i,
    strided1,
)
from optbench.objectives.surfaces import sphere_fg as fg  # @@FG@@
from optbench.optimizers.sgd import sgd_step as step  # @@STEP@@

DIM = 2  # @@DIM@@
K = 16  # @@K@@
STATE_SIZE = 1  # @@STATE@@
ESCAPE = True  # @@ESCAPE@@
REGISTERS = True  # @@REGISTERS@@
PREFETCH = True  # @@PREFETCH@@
PER_STEP = False  # @@PER_STEP@@
CLIP = False  # @@CLIP@@

N = DIM * K
X_OFF = 0
G_OFF = N
ST_OFF = 2 * N
F_OFF = (2 + STATE_SIZE) * N
S_SIZE = F_OFF + K
NS1 = max(STATE_SIZE, 1)

# per-lane float rows (array LF of shape (4, K)) and int rows (LI, (4, K));
# the best f of each lane is in arrays of K (see eval_block)
HI, LO, TVAL, GN2 = 0, 1, 2, 3
RUN, ACT, NEXT_T, CONV = 0, 1, 2, 3


# @@ADAPTERS-BEGIN@@
@jit(inline="always")
def lane_fg(S, k, args):
    return fg(strided1(S, X_OFF + k, (DIM,), (K,)), strided1(S, G_OFF + k, (DIM,), (K,)))


# @@ADAPTERS-END@@



@jit(inline="always")
def eval_block(S, args, LF, LI, f_star, best_in, best):
    """f, g of every lane; returns whether an active lane has an event.

    The running best goes from ``best_in`` (a copy made before the step)
    to ``best``: ``min(b[k], f)`` stored back where b[k] was loaded becomes
    a masked store, slow on AMD.  The copy is one constant-length
    ``copy_block``; choosing one of two arrays by the step's parity instead
    (a pointer select) kept S out of registers (docs/performance.md)."""
    ev = False
    for k in range(K):
        f = lane_fg(S, k, args)
        S[F_OFF + k] = f
        # branch-free (| & on bools, a select) so that the loop vectorises
        if ESCAPE:
            e = (not (f <= LF[HI, k])) | (f < LF[LO, k]) | (f - f_star <= LF[TVAL, k])
            # an escaping f (below f_lo) is not counted as best; min(b, f)
            # is ``f if f < b else b``, as a select
            best[k] = min(best_in[k], f if f >= LF[LO, k] else np.inf)
        else:
            # bounded below: f_lo is -inf, both tests on it are constant
            e = (not (f <= LF[HI, k])) | (f - f_star <= LF[TVAL, k])
            best[k] = min(best_in[k], f)
        ev = ev | (e & (LI[ACT, k] != 0))
    return ev


@jit(inline="always")
def step_block(S, hp_r, sched_row, t):
    # constant shapes throughout (see "Registers or memory" above); short
    # loops are unrolled into scalar code (Numba runs without LLVM's SLP
    # vectorizer, which was no faster here), but on registers
    step(contig1(S, X_OFF, (N,), (1,)), contig1(S, G_OFF, (N,), (1,)),
         contig2(S, ST_OFF, (NS1, N), (N, 1)), hp_r, sched_row, t)


@jit(inline="always")
def clip_block(S, max_norm, norm_type, clip_value):
    """The scalar driver's ``clip_grad`` for every lane: the same
    operations in the same order, so the same numbers bit for bit."""
    if max_norm < np.inf:
        for k in range(K):
            total = 0.0
            if norm_type == np.inf:
                for i in range(DIM):
                    a = abs(S[G_OFF + i * K + k])
                    total = a if (a > total) | (a != a) else total
            else:
                for i in range(DIM):
                    gi = S[G_OFF + i * K + k]
                    total += gi * gi
                total = math.sqrt(total)
            coef = max_norm / (total + 1e-6)
            c = coef if not (coef >= 1.0) else 1.0
            for i in range(DIM):
                S[G_OFF + i * K + k] = S[G_OFF + i * K + k] * c
    if clip_value < np.inf:
        for j in range(N):
            v = S[G_OFF + j]
            v = -clip_value if v < -clip_value else v
            S[G_OFF + j] = clip_value if v > clip_value else v


@jit(inline="always")
def grad_norms(S, LF):
    for k in range(K):
        s = 0.0
        for i in range(DIM):
            gi = S[G_OFF + i * K + k]
            s += gi * gi
        LF[GN2, k] = s


@jit(inline="always")
def init_block(b, blk_runs, x0, S, LF, LI, best_a, best_b, t_first):
    """Load a block; returns the number of active lanes."""
    r0 = blk_runs[b, 0]
    n_act = 0
    for k in range(K):
        r = blk_runs[b, k]
        LI[ACT, k] = 1 if r >= 0 else 0
        rr = r if r >= 0 else r0
        LI[RUN, k] = rr
        n_act += 1 if r >= 0 else 0
        for i in range(DIM):
            S[X_OFF + i * K + k] = x0[rr, i]
        best_a[k] = np.inf
        best_b[k] = np.inf
        LF[LO, k] = -np.inf
        LF[HI, k] = np.inf
        LF[TVAL, k] = t_first
        LI[NEXT_T, k] = 0
        LI[CONV, k] = -1
    for j in range(ST_OFF, F_OFF):
        S[j] = 0.0
    return n_act


@jit(inline="always")
def init_bounds(S, LF, LI, best, f_star, div_factor, f_escape):
    """At t = 0: divergence / escape bounds from f0; returns the event flag."""
    have_f_star = np.isfinite(f_star)
    unbounded = f_star == -np.inf
    ev = False
    for k in range(K):
        f = S[F_OFF + k]
        ref = f_star if have_f_star else f
        LF[HI, k] = ref + div_factor * max(abs(f - ref), 1.0)
        if unbounded:
            LF[LO, k] = f_escape
        e = (not (f <= LF[HI, k])) | (f < LF[LO, k]) | (f - f_star <= LF[TVAL, k])
        ev = ev | (e & (LI[ACT, k] != 0))
        # the best before step 0 is inf: eval_block counted f0 without the
        # escape bound, recomputed here with it (an f0 that escapes is no best)
        best[k] = f if (f < np.inf) & (f >= LF[LO, k]) else np.inf
    return ev


@jit  # not inline="always": see the docstring
def freeze(k, st, t, li, S, LF, LI, best, curve_f, curve_g, curve_x, x_final, f_final, f_best, grad_norm_final,
           steps_run, n_logged, status, converged_step, stopped_bad):
    """Write lane k's outputs at its stop (step t, li points logged so far).

    A plain call, which LLVM inlines all the same: inlined by Numba
    (``inline="always"``), its array arguments became new variables that
    Numba increfed and decrefed around every stop, atomics that wait for the
    pending curve stores; a call passes borrowed references."""
    r = LI[RUN, k]
    LI[ACT, k] = 0
    n_log = curve_f.shape[1]
    record_g = curve_g.shape[1] > 0
    record_x = curve_x.shape[1] > 0
    f = S[F_OFF + k]
    lj = li
    if stopped_bad and lj < n_log:
        # the last logged point is the one that left the bounds
        curve_f[r, lj] = f
        if record_g:
            curve_g[r, lj] = np.nan
        if record_x:
            for i in range(DIM):
                curve_x[r, lj, i] = S[X_OFF + i * K + k]
        lj += 1
    # NaN after the stop, one array at a time, at unsigned indices: with a
    # signed index Numba's wraparound select hides that the addresses are
    # consecutive, and with AVX-512 LLVM wrote this fill as scatters
    # (vscatterqpd; slower than the old fill once freeze is a call)
    ur = np.uint64(r)
    for q in range(lj, n_log):
        curve_f[ur, np.uint64(q)] = np.nan
    if record_g:
        for q in range(lj, n_log):
            curve_g[ur, np.uint64(q)] = np.nan
    if record_x:
        for q in range(lj, n_log):
            for i in range(DIM):
                curve_x[ur, np.uint64(q), i] = np.nan
    f_final[r] = f
    grad_norm_final[r] = np.nan if stopped_bad else math.sqrt(LF[GN2, k])
    converged_step[r] = LI[CONV, k]
    status[r] = st
    steps_run[r] = t
    n_logged[r] = lj
    f_best[r] = best[k]
    for i in range(DIM):
        x_final[r, i] = S[X_OFF + i * K + k]


@jit(inline="always")
def lane_events(t, li, f_star, targets, S, LF, LI, best, curve_f, curve_g, curve_x, x_final, f_final,
                f_best, grad_norm_final, steps_run, n_logged, status, target_steps, converged_step):
    """Divergence / escape (freeze the lane) and targets; returns #lanes stopped."""
    n_targets = targets.shape[0]
    stopped = 0
    for k in range(K):
        if LI[ACT, k] == 0:
            continue
        f = S[F_OFF + k]
        st = -1
        if not (f <= LF[HI, k]):
            st = STATUS_DIVERGED
        elif f < LF[LO, k]:
            st = STATUS_ESCAPED
        if st >= 0:
            freeze(k, st, t, li, S, LF, LI, best, curve_f, curve_g, curve_x, x_final, f_final, f_best, grad_norm_final,
                   steps_run, n_logged, status, converged_step, True)
            stopped += 1
            continue
        gap = f - f_star
        if gap <= LF[TVAL, k]:
            r = LI[RUN, k]
            nt = LI[NEXT_T, k]
            while nt < n_targets and gap <= targets[nt]:
                target_steps[r, nt] = t
                nt += 1
            LI[NEXT_T, k] = nt
            if nt == n_targets:
                LF[TVAL, k] = -np.inf
                if LI[CONV, k] < 0:
                    LI[CONV, k] = t
            else:
                LF[TVAL, k] = targets[nt]
    return stopped


@jit(inline="always")
def lane_stops(t, li, done, use_tol, tol2, S, LF, LI, best, curve_f, curve_g, curve_x, x_final, f_final,
               f_best, grad_norm_final, steps_run, n_logged, status, converged_step):
    """Gradient tolerance reached, or the last step: freeze; returns #lanes stopped."""
    stopped = 0
    for k in range(K):
        if LI[ACT, k] == 0:
            continue
        stop = done
        if use_tol and LF[GN2, k] <= tol2:
            if LI[CONV, k] < 0:
                LI[CONV, k] = t
            stop = True
        if stop:
            st = STATUS_CONVERGED if LI[CONV, k] >= 0 else STATUS_UNCONVERGED
            freeze(k, st, t, li, S, LF, LI, best, curve_f, curve_g, curve_x, x_final, f_final, f_best, grad_norm_final,
                   steps_run, n_logged, status, converged_step, False)
            stopped += 1
    return stopped


@jit(inline="always")
def log_extra(li, S, LF, LI, curve_g, curve_x):
    """curve_g / curve_x of the active lanes (when recorded)."""
    record_g = curve_g.shape[1] > 0
    record_x = curve_x.shape[1] > 0
    for k in range(K):
        if LI[ACT, k] != 0:
            r = LI[RUN, k]
            if record_g:
                curve_g[r, li] = math.sqrt(LF[GN2, k])
            if record_x:
                for i in range(DIM):
                    curve_x[r, li, i] = S[X_OFF + i * K + k]


@jit
def run_blocks(counter, starts, blk_runs, x0, hp, sched_idx, sched, hpt, clip, args, steps, log_every,
               f_star, targets, grad_tol, div_factor, f_escape,
               curve_f, curve_g, curve_x, x_final, f_final, f_best, grad_norm_final, steps_run,
               n_logged, status, target_steps, converged_step):
    """blk_runs[b, k] is the run of lane k of block b (-1: padding), K
    columns (make_blocks(..., K)).  Takes an id i = counter[0]++ (an atomic
    fetch-add), then chunk j = counter[1 + r]++ of region r = i, i + 1, ...
    (mod the number of regions), blocks starts[j] to starts[j + 1], until
    region r's end counter[1 + regions + r], until no region has chunks
    left (engine.region_chunks): every thread of the pool calls this once
    per group, load balance is dynamic, and there is one dispatch per
    thread.  PER_STEP and CLIP: as in the scalar driver's run_chunk."""
    record_g = curve_g.shape[1] > 0
    record_gx = record_g or curve_x.shape[1] > 0
    n_targets = targets.shape[0]
    use_tol = grad_tol > 0.0
    tol2 = grad_tol * grad_tol
    t_first = targets[0] if n_targets > 0 else -np.inf

    if REGISTERS:
        S = stack1(S_SIZE)  # the block's state, in registers (see "Registers or memory" above)
    else:
        S = np.zeros(S_SIZE)
    H = np.zeros(S_SIZE)  # its copy for the rare paths
    LF = stack2(4, K)
    LI = stack2i(4, K)
    best_in = stack1(K)  # the running best f of each lane before this step
    best = stack1(K)  # and after it
    nb = blk_runs.shape[0]
    n_regions = (counter.shape[0] - 1) // 2
    me = fetch_add(counter, 0, 1)
    q = 0  # regions done: this call's own first, then the others' in turn
    while True:
        reg = (me + q) % n_regions
        j = fetch_add(counter, 1 + reg, 1)
        if j >= counter[1 + n_regions + reg]:
            q += 1
            if q == n_regions:
                break
            continue
        for b in range(starts[j], min(nb, starts[j + 1])):
            n_act = init_block(b, blk_runs, x0, H, LF, LI, best_in, best, t_first)
            copy_block(S, 0, H, 0, S_SIZE)
            r0 = blk_runs[b, 0]
            contiguous = True  # the block's runs are r0, r0 + 1, ... (sweep order)
            for k in range(K):
                contiguous = contiguous & (blk_runs[b, k] == r0 + k)
            hp_r = hp[r0]
            si = sched_idx[r0]
            sched_r = sched[si]
            next_log = 0
            li = 0
            t = 0
            while True:
                copy_block(best_in, 0, best, 0, K)
                ev = eval_block(S, args, LF, LI, f_star, best_in, best)
                if t == 0:
                    copy_block(H, F_OFF, S, F_OFF, K)
                    ev = init_bounds(H, LF, LI, best, f_star, div_factor, f_escape)
                if ev:
                    copy_block(H, 0, S, 0, S_SIZE)
                    n_act -= lane_events(t, li, f_star, targets, H, LF, LI, best, curve_f, curve_g, curve_x, x_final,
                                         f_final, f_best, grad_norm_final, steps_run, n_logged, status, target_steps,
                                         converged_step)
                    if n_act == 0:
                        break
                log_now = t == next_log
                done = t == steps
                if use_tol or done or (log_now and record_g):
                    grad_norms(S, LF)
                if log_now:
                    if PREFETCH and (li & 7) == 0:
                        # the lines each lane writes 16 logged points ahead:
                        # a store that misses the cache holds up the ones
                        # behind it
                        for k in range(K):
                            prefetch_w(curve_f, LI[RUN, k], li + 16)
                    if n_act == K and contiguous:
                        # rows r0 .. r0 + K - 1, a constant stride apart: no
                        # row index to load per store
                        for k in range(K):
                            curve_f[np.uint64(r0 + k), li] = S[F_OFF + k]
                    elif n_act == K:
                        for k in range(K):
                            curve_f[np.uint64(LI[RUN, k]), li] = S[F_OFF + k]
                    else:
                        copy_block(H, F_OFF, S, F_OFF, K)
                        for k in range(K):
                            if LI[ACT, k] != 0:
                                curve_f[np.uint64(LI[RUN, k]), li] = H[F_OFF + k]
                    if record_gx:
                        copy_block(H, 0, S, 0, N)
                        log_extra(li, H, LF, LI, curve_g, curve_x)
                    li += 1
                    next_log = min(next_log + log_every, steps)
                if use_tol or done:
                    copy_block(H, 0, S, 0, S_SIZE)
                    n_act -= lane_stops(t, li, done, use_tol, tol2, H, LF, LI, best, curve_f, curve_g, curve_x, x_final,
                                        f_final, f_best, grad_norm_final, steps_run, n_logged, status, converged_step)
                    if n_act == 0:
                        break
                if CLIP:
                    clip_block(S, clip[si, 0], clip[si, 1], clip[si, 2])
                step_block(S, hpt[si, t] if PER_STEP else hp_r, sched_r[t], t + 1)
                t += 1
