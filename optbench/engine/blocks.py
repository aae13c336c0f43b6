"""How a group's runs are cut into work: distinct hyperparameter rows,
blocks of runs for the lane driver, and the chunks of blocks that threads take."""
from __future__ import annotations

import numpy as np

from .._jit import jit

# runs per block of the lane driver by default: 8 was slower everywhere, 32 faster for
# some pairs and slower for others (docs/performance.md); per CPU: drivers.lane_width
LANES = 16
MAX_LANE_DIM = 8  # above this fg's loops over coordinates are not unrolled: one run at a time


@jit
def _segments(hp):
    """Runs of equal consecutive rows: (first row of each run, run index of
    each row); ``!=`` as NumPy's (NaN differs from itself)."""
    R, H = hp.shape
    heads = np.empty(R, np.int64)
    seg = np.empty(R, np.int64)
    n = 0
    for r in range(R):
        new = r == 0
        if not new:
            for j in range(H):
                if hp[r, j] != hp[r - 1, j]:
                    new = True
                    break
        if new:
            heads[n] = r
            n += 1
        seg[r] = n - 1
    return heads[:n], seg


def row_groups(hp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(hp, axis=0, return_inverse=True)``, in O(R) for the usual
    case of equal rows next to each other (sweep order), where np.unique
    sorts every row: a compiled scan, then lexsort over the few distinct
    runs (np.unique over rows goes through structured dtypes)."""
    R = hp.shape[0]
    if R == 0:
        return hp[:0], np.zeros(0, np.int64)
    hp = np.ascontiguousarray(hp, dtype=np.float64)
    head_rows, seg = _segments(hp)
    heads = hp[head_rows]
    order = np.lexsort(heads.T[::-1])  # lexicographic, as np.unique(axis=0)
    srt = heads[order]
    first = np.empty(srt.shape[0], bool)
    first[0] = True
    first[1:] = np.any(srt[1:] != srt[:-1], axis=1)
    inv_heads = np.empty(heads.shape[0], np.int64)
    inv_heads[order] = np.cumsum(first) - 1
    return srt[first], inv_heads[seg]


def make_blocks(inverse: np.ndarray, lanes: int) -> np.ndarray:
    """(n_blocks, lanes) run indices, each block's runs sharing one
    hyperparameter row (``inverse``, the row of each run), in run order
    within a row; -1 pads the last block of a row.  Vectorised: it runs
    before every group's kernels."""
    R = inverse.shape[0]
    if R == 0:
        return np.zeros((0, lanes), np.int64)
    if np.all(inverse[1:] >= inverse[:-1]):
        order, inv_sorted = np.arange(R), inverse
    else:
        order = np.argsort(inverse, kind="stable")
        inv_sorted = inverse[order]
    change = np.flatnonzero(inv_sorted[1:] != inv_sorted[:-1]) + 1
    starts = np.concatenate(([0], change))
    sizes = np.diff(np.append(starts, R))
    counts = -(-sizes // lanes)  # blocks per row
    first = np.cumsum(counts) - counts  # first block of each row
    row = np.repeat(np.arange(starts.size), sizes)  # row of each sorted run
    slot = first[row] * lanes + (np.arange(R) - starts[row])
    blocks = np.full(int(counts.sum()) * lanes, -1, np.int64)
    blocks[slot] = order
    return blocks.reshape(-1, lanes)


HUGE_PAGE = 2 << 20  # bytes of curve rows per chunk at most (one transparent huge page)


def guided_chunks(n_blocks: int, threads: int, max_blocks: int | None = None) -> np.ndarray:
    """Chunk boundaries (``starts[j]`` to ``starts[j + 1]``) for threads
    taking chunks in turn: each chunk is the remaining blocks over
    2 x threads, at most ``max_blocks``, down to one block.  Contiguous
    chunks keep each thread on its own rows of the freshly allocated curve
    arrays (one block per fetch makes threads fault in the same huge
    pages), the single blocks at the end balance load (runs that stop early
    make blocks cheap), and the cap (a huge page of curve rows) bounds what
    a thread that happens to run slowly holds."""
    cap = n_blocks if max_blocks is None else max(1, int(max_blocks))
    starts = [0]
    lo = 0
    while lo < n_blocks:
        lo = min(n_blocks, lo + min(cap, max(1, (n_blocks - lo) // (2 * threads))))
        starts.append(lo)
    return np.asarray(starts, dtype=np.int64)


def region_chunks(n_blocks: int, calls: int, max_blocks: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The lane driver's work plan for ``calls`` concurrent calls: the blocks
    cut into one contiguous region per call, each region into guided chunks
    (:func:`guided_chunks`).  Returns ``(starts, counter)``: chunk j is
    blocks ``starts[j]`` to ``starts[j + 1]``; ``counter`` (int64, updated by
    atomic adds in the kernel) is ``[next call id, next chunk of each region
    ..., end chunk of each region ...]``.  Call i works through region i in
    order, then takes what is left of regions i + 1, i + 2, ... chunk by
    chunk, so load still balances dynamically.

    Why regions: threads taking chunks in turn always work on neighbouring
    chunks, and fault in the same 2 MiB pages of the fresh curve array at
    every chunk boundary; with a region each they meet once, at the end.
    Which call takes which block never changes a number: each block is
    computed the same wherever it runs."""
    regions = max(1, min(int(calls), n_blocks))
    bounds = [n_blocks * i // regions for i in range(regions + 1)]
    starts, first = [0], []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        first.append(len(starts) - 1)
        starts.extend(int(s) + lo for s in guided_chunks(hi - lo, calls, max_blocks)[1:])
    ends = first[1:] + [len(starts) - 1]
    return np.asarray(starts, dtype=np.int64), np.asarray([0, *first, *ends], dtype=np.int64)
