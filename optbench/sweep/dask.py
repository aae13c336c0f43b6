"""The Dask backend: chunks as tasks on a Dask distributed cluster.

A task carries plain data (the spec as a dict, the chunk size, a chunk id)
and returns plain data (:class:`~optbench.storage.ChunkData`: the chunk's
two Parquet files as bytes).  Workers build the spec themselves and look
their kernels up by name (loaded from the on-disk cache, or compiled once
per worker process); no compiled function is ever shipped.  The client
writes each chunk as its task completes, so a worker lost mid-task costs a
retry of that chunk, never a lost or duplicated one, and the files are
byte-identical to the local backend's.

Threads: optbench's kernels run each chunk on a pool of Python threads (they
release the GIL), not on Numba's parallel threads, and the pool size is set
inside each task: the host's cores divided by the number of Dask workers on
that host, so workers × threads never oversubscribe a machine.  (Dask's
nanny does not set ``NUMBA_NUM_THREADS``, and ``numba.set_num_threads`` is
thread-local, so neither could do this from outside the task.)
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from .._errors import SpecError
from .._process import usable_cores
from ..storage import ChunkData, spec_digest

INSTALL_HINT = "pip install -e '.[dask]' (or pip install 'dask[distributed]')"


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise SpecError(f"--scheduler / --workers need Dask distributed, which is not installed; "
                        f"{INSTALL_HINT}") from None
    return distributed


@functools.lru_cache(maxsize=4)
def _prepared(spec_json: str, chunk_runs: int, plugins: tuple = (), base: str | None = None):
    from .. import plugins as plugins_mod
    from ..grid import chunk_plan, plan
    from ..spec import load_spec

    # the client's plugins, by absolute path or module name (a shared file system, or the same machine)
    plugins_mod.load_all([Path(p) if p.startswith("/") else p for p in plugins], record_trust=False)
    spec = load_spec(json.loads(spec_json), base=Path(base) if base else None)
    groups = plan(spec)
    return spec, groups, chunk_plan(groups, chunk_runs)


def chunk_task(spec_json: str, chunk_runs: int, chunk_id: int, threads: int | None,
               workers_per_host: dict, plugins: tuple = (), base: str | None = None) -> ChunkData:
    """Compute one chunk in a Dask worker (plain data in, plain data out)."""
    from .chunk import compute_chunk

    spec, groups, chunks = _prepared(spec_json, chunk_runs, tuple(plugins), base)
    if threads is None:
        try:
            from distributed import get_worker

            host = get_worker().address.rsplit(":", 1)[0]
        except (ImportError, ValueError):  # pragma: no cover - called outside a worker
            host = None
        threads = max(1, usable_cores() // max(1, workers_per_host.get(host, 1)))
    return compute_chunk(spec, chunks[chunk_id], groups, threads=threads)


CONNECT_TIMEOUT = 15.0  # seconds to reach a scheduler and hear it answer as one


def _remote_client(distributed, scheduler: str):
    """A client of the scheduler at ``scheduler``, or one line within
    CONNECT_TIMEOUT: Client's own timeout covers opening the connection,
    not a peer that accepts it and never answers as Dask (an HTTP server,
    say), and a peer that answers garbage can make it read an absurd
    message length.  So the connection is made in a thread, with a
    deadline of its own."""
    outcome: dict = {}

    def attempt():
        try:
            # its own timeout a little shorter: a closed port is reported as such, not as a silent peer
            outcome["client"] = distributed.Client(scheduler, timeout=f"{max(1.0, CONNECT_TIMEOUT - 1.5):g}s")
        except BaseException as exc:  # noqa: BLE001 -- reported below, in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=attempt, name="optbench-dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT)
    hint = "give the address of a Dask scheduler, e.g. tcp://host:8786"
    if thread.is_alive():  # left to end on its own: a daemon thread holds nothing of ours
        raise SpecError(f"no Dask scheduler answered at {scheduler!r} within {CONNECT_TIMEOUT:g} s (something "
                        f"accepts connections there but does not speak Dask); {hint}")
    exc = outcome.get("error")
    if isinstance(exc, MemoryError):
        raise SpecError(f"{scheduler!r} is not a Dask scheduler (its first message made no sense); {hint}")
    if isinstance(exc, (OSError, TimeoutError, ValueError, TypeError)):
        raise SpecError(f"cannot reach the Dask scheduler {scheduler!r} ({exc.__class__.__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); {hint}")
    if exc is not None:
        raise exc
    return outcome["client"]


@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None):
    """A Dask client: of a new local cluster of ``workers`` processes, or of
    the existing cluster at ``scheduler``.  Closed (and the local cluster
    shut down) on exit."""
    distributed = _import_distributed()
    cluster = None
    try:
        if workers is not None:
            cluster = distributed.LocalCluster(
                # ":0": the scheduler's HTTP endpoint on any free port (None still tries 8787)
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
            client = distributed.Client(cluster)
        else:
            client = _remote_client(distributed, scheduler)
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_chunks(client, spec, todo: list, chunk_runs: int, write: Callable[[ChunkData], None], *,
               threads: int | None = None, on_chunk: Callable[[ChunkData], None] | None = None,
               plugins=()) -> None:
    """Compute the chunks ``todo`` (of a plan made with ``chunk_runs``) on
    the cluster of ``client`` and ``write`` each as it completes."""
    distributed = _import_distributed()
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
    addresses = list(info.get("workers", {}))
    if not addresses:
        client.wait_for_workers(1, timeout=60)
        info = client.scheduler_info()
        addresses = list(info.get("workers", {}))
    per_host: dict[str, int] = {}
    for a in addresses:
        host = a.rsplit(":", 1)[0]
        per_host[host] = per_host.get(host, 0) + 1
    spec_json = json.dumps(spec.raw, sort_keys=True)
    digest = spec_digest(spec.raw)
    pending = list(todo)
    # a bounded window of tasks in flight: results (Parquet bytes) never pile
    # up in the client's memory faster than they are written
    window = max(2, 2 * len(addresses))
    futures = distributed.as_completed()

    def submit(chunk):
        futures.add(client.submit(chunk_task, spec_json, chunk_runs, chunk.id, threads, per_host, tuple(plugins),
                                  str(spec.base) if spec.base else None,
                                  key=f"optbench-{digest}-{chunk_runs}-chunk-{chunk.id}", pure=False,
                                  retries=2))

    for _ in range(min(window, len(pending))):
        submit(pending.pop(0))
    for fut in futures:
        data = fut.result()
        fut.release()
        write(data)
        if on_chunk is not None:
            on_chunk(data)
        if pending:
            submit(pending.pop(0))


def _takes_n_workers(client) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False
