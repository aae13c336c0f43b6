"""Streamed sweeps: chunks on disk, resume after SIGKILL or Ctrl-C, checks on read, Dask.

Every comparison is exact: a resumed, re-run or distributed sweep must give
the tables of an uninterrupted local run, row for row and bit for bit, and
(for the same chunk size) the same bytes in every part file.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import one_part

import optbench
from optbench import ResultsError, SpecError, storage
from optbench.cli import main
from optbench.spec import load_spec

SPEC = """
name = "stream"
steps = 2000
log_every = 1
seed = 3
targets = [1e-1, 1e-4]
[[objectives]]
name = "himmelblau"
[[objectives]]
name = "rosenbrock"
dim = 2
grad_noise = [0.0, 0.1]
[init]
count = 32
[[optimizers]]
name = "sgd"
lr = { logspace = [-4, -2, 3] }
momentum = [0.0, 0.9]
[[optimizers]]
name = "adam"
lr = [1e-2, 1e-1]
"""
CHUNK = 16  # 768 runs: 48 chunks of ~25 ms each
SMALL = SPEC.replace("steps = 2000", "steps = 300").replace("count = 32", "count = 6")  # 144 runs


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "stream.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted local run every other run is compared with."""
    out = tmp_path_factory.mktemp("reference")
    return optbench.run(SPEC, out=out, report=False, chunk_runs=CHUNK).path


def _parts(folder: Path) -> dict[str, bytes]:
    return {f"{sub}/{p.name}": p.read_bytes() for sub in (storage.RUNS, storage.CURVES)
            for p in sorted((folder / sub).glob("part-*.parquet"))}


def assert_same_results(folder: Path, ref: Path, same_parts: bool = True) -> None:
    a, b = optbench.load(folder), optbench.load(ref)
    pd.testing.assert_frame_equal(a.runs, b.runs, check_exact=True)
    pd.testing.assert_frame_equal(a.curves, b.curves, check_exact=True)
    if same_parts:
        assert _parts(folder) == _parts(ref)
    assert not [p for p in folder.rglob(".*")], "temporary files left behind"


def _cli(spec_file: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "optbench.cli", "run", str(spec_file), "--out", str(out), "--no-report",
         "--chunk-runs", str(CHUNK), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("timed out waiting for the sweep")


def _chunk_seconds(folder: Path) -> float:
    manifest = json.loads((folder / storage.MANIFEST).read_text())
    return manifest["timing"]["compute_s"] / manifest["timing"]["chunks_run"]


def _n_records(folder: Path) -> int:
    d = folder / storage.CHUNKS
    return len(list(d.glob("[0-9]*.json"))) if d.is_dir() else 0


@pytest.mark.slow
def test_sigkill_at_random_points_and_resume_gives_identical_tables(spec_file, reference, tmp_path):
    out = tmp_path / "out"
    folder = out / "stream"
    n_chunks = len(json.loads((reference / storage.MANIFEST).read_text())["chunks"])
    rng = random.Random(20261201)
    # kill points: as soon as the folder appears (manifest being written or
    # just written), then after a random number of finished chunks plus a
    # random fraction of a chunk's time (mid-compute, mid-write, mid-rename);
    # the last kill point leaves a few chunks' margin so no kill lands after the end
    chunk_s = _chunk_seconds(reference)
    kills = [0] + sorted(rng.sample(range(1, n_chunks - 4), 4))
    killed_mid_sweep = 0
    for k in kills:
        proc = _cli(spec_file, out)
        if k == 0:
            reached = _wait_for(lambda: folder.exists(), proc)
        else:
            reached = _wait_for(lambda k=k: _n_records(folder) >= k, proc)
            time.sleep(rng.uniform(0.0, chunk_s))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if reached and proc.returncode == -signal.SIGKILL and _n_records(folder) < n_chunks:
            killed_mid_sweep += 1
            with pytest.raises(ResultsError, match="unfinished"):
                optbench.load(folder)
    assert killed_mid_sweep >= 3, "the sweep finished before it could be killed; make it longer"
    # the folder of a killed sweep is consistent: what finished reads back
    partial = storage.load(folder, partial=True)
    assert 0 < len(partial.records) < n_chunks
    done = partial.runs
    ref_runs = optbench.load(reference).runs
    ref_runs = ref_runs[ref_runs["run_id"].isin(done["run_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(done.reset_index(drop=True), ref_runs, check_dtype=False, check_categorical=False,
                                  check_exact=True)
    # resume to the end (a lock left by the killed process is taken over)
    proc = _cli(spec_file, out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "chunks already done" in err
    assert_same_results(folder, reference)
    manifest = json.loads((folder / storage.MANIFEST).read_text())
    assert manifest["state"] == "complete" and manifest["timing"]["chunks_resumed"] > 0


def test_ctrl_c_keeps_finished_chunks_and_says_how_to_resume(spec_file, reference, tmp_path):
    out = tmp_path / "out"
    folder = out / "stream"
    proc = _cli(spec_file, out)
    assert _wait_for(lambda: _n_records(folder) >= 5, proc)
    # freeze the sweep so it cannot finish while this process checks the
    # lock (the whole sweep takes about a second); Ctrl-C is delivered on resume
    proc.send_signal(signal.SIGSTOP)
    try:
        # a second writer while the first one runs is refused, and writes nothing
        with pytest.raises(SpecError, match="being written by another optbench run"):
            optbench.run(spec_file, out=out, report=False, chunk_runs=CHUNK)
        proc.send_signal(signal.SIGINT)
    finally:
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    line = err.strip().splitlines()[-1]
    assert "interrupted" in line and "chunks are finished and kept" in line and "again to resume" in line
    assert "Traceback" not in err
    partial = storage.load(folder, partial=True)
    assert 5 <= len(partial.records) < len(partial.manifest["chunks"])
    assert not (out / ".stream.lock").exists()
    res = optbench.run(spec_file, out=out, report=False)  # resumes with the folder's chunk size
    assert res.manifest["timing"]["chunks_resumed"] >= 5
    assert_same_results(folder, reference)


def test_a_damaged_part_is_named_on_read_and_only_its_chunk_is_rerun(reference, tmp_path, capsys):
    folder = tmp_path / "stream"
    import shutil

    shutil.copytree(reference, folder)
    victim = sorted((folder / storage.CURVES).glob("part-*.parquet"))[7]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte, same size
    victim.write_bytes(bytes(raw))
    with pytest.raises(ResultsError, match=rf"{victim}: corrupt \(CRC-32"):
        optbench.load(folder)
    runs_part = one_part(folder, storage.RUNS)
    runs_part.write_bytes(runs_part.read_bytes()[:100])  # truncated
    with pytest.raises(ResultsError, match=rf"{runs_part}: truncated"):
        optbench.load(folder)
    spec_path = tmp_path / "stream.toml"
    spec_path.write_text(SPEC)
    assert main(["run", str(spec_path), "--out", str(tmp_path), "--no-report", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"re-running: {victim}" in err and f"re-running: {runs_part}" in err
    manifest = json.loads((folder / storage.MANIFEST).read_text())
    assert manifest["timing"]["chunks_run"] == 2
    assert_same_results(folder, reference)


def test_a_changed_spec_or_schema_is_refused_never_mixed(spec_file, reference, tmp_path):
    import shutil

    folder = tmp_path / "stream"
    shutil.copytree(reference, folder)
    (folder / storage.CHUNKS / storage.record_name(3)).unlink()  # an unfinished sweep
    before = _parts(folder)
    changed = SPEC.replace("seed = 3", "seed = 4")
    with pytest.raises(SpecError, match="holds results of a different spec; pass --overwrite"):
        optbench.run(changed, out=tmp_path, report=False)
    assert _parts(folder) == before
    manifest = json.loads((folder / storage.MANIFEST).read_text())
    (folder / storage.MANIFEST).write_text(json.dumps({**manifest, "schema_version": 1}))
    with pytest.raises(SpecError, match="cannot resume .*schema version 1"):
        optbench.run(SPEC, out=tmp_path, report=False)
    res = optbench.run(changed, out=tmp_path, report=False, overwrite=True)
    assert res.runs["seed"].unique().tolist() == [4]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_memory_is_bounded_by_the_chunk_not_the_sweep(tmp_path):
    """Peak RSS of a sweep with 40x the runs grows by far less than its curves."""
    code = ("import resource, sys, optbench; optbench.run(sys.argv[1], out=sys.argv[2], report=False); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    rss = {}
    for count in (8, 320):
        spec = SMALL.replace("count = 6", f"count = {count}").replace("steps = 300", "steps = 2000")
        path = tmp_path / f"m{count}.toml"
        path.write_text(spec)
        done = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / f"o{count}")],
                              capture_output=True, text=True, check=True)
        rss[count] = int(done.stdout.split()[-1]) * 1024
    n_runs = 320 * 24
    curves_bytes = n_runs * 2001 * 7 * 8  # the big sweep's curves as float64 columns: ~860 MB
    assert rss[320] - rss[8] < curves_bytes / 4, (rss, curves_bytes)


# ------------------------------------------------------------------ Dask

@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes for the module."""
    import logging

    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as c:
        yield c


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory) -> Path:
    return optbench.run(SMALL, out=tmp_path_factory.mktemp("small"), report=False, chunk_runs=10).path


@pytest.mark.dask
def test_dask_on_two_workers_one_worker_and_locally_gives_identical_tables(cluster, small_reference, tmp_path):
    two = optbench.run(SMALL, out=tmp_path / "two", report=False, chunk_runs=10,
                       scheduler=cluster.scheduler_address)
    assert two.manifest["timing"]["backend"] == "dask"
    assert_same_results(two.path, small_reference)
    # workers x threads never oversubscribe the host: 2 workers here, each
    # with half the cores (at least one thread)
    threads = {json.loads(p.read_text())["threads"] for p in (two.path / storage.CHUNKS).glob("*.json")}
    assert threads == {max(1, len(os.sched_getaffinity(0)) // 2)}
    one = optbench.run(SMALL, out=tmp_path / "one", report=False, chunk_runs=10, workers=1)
    assert_same_results(one.path, small_reference)
    # any chunk size: the same tables (the part files differ in number)
    other = optbench.run(SMALL, out=tmp_path / "other", report=False, chunk_runs=7,
                         scheduler=cluster.scheduler_address)
    assert_same_results(other.path, small_reference, same_parts=False)
    local = optbench.run(SMALL, out=tmp_path / "local", report=False, chunk_runs=33)
    assert_same_results(local.path, small_reference, same_parts=False)


@pytest.mark.dask
def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(cluster, spec_file, reference, tmp_path):
    """SIGKILL one worker process while chunks are in flight: the nanny
    restarts it, Dask retries its tasks, the client writes each chunk once."""
    import threading

    import distributed

    client = distributed.Client(cluster)
    try:
        pids = list(client.run(os.getpid).values())
    finally:
        client.close()
    folder = tmp_path / "stream"
    killed = []

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _n_records(folder) < 4:
            time.sleep(0.005)
        os.kill(pids[0], signal.SIGKILL)
        killed.append(_n_records(folder))

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    res = optbench.run(spec_file, out=tmp_path, report=False, chunk_runs=CHUNK, scheduler=cluster.scheduler_address)
    t.join()
    assert killed and killed[0] < len(res.manifest["chunks"])
    assert_same_results(res.path, reference)


def test_without_dask_the_option_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    path = tmp_path / "s.toml"
    path.write_text(SMALL)
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--workers", "2", "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "need Dask distributed" in err[0] and "pip install -e '.[dask]'" in err[0]
    assert not (tmp_path / "o").exists()


def _edited(reference: Path, folder: Path, edit) -> Path:
    import shutil

    shutil.copytree(reference, folder)
    manifest = json.loads((folder / storage.MANIFEST).read_text())
    edit(manifest)
    (folder / storage.MANIFEST).write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize("edit,message", [
    (lambda m: m.update(chunks=m["chunks"][:3]), "the chunk plan covers"),
    (lambda m: m.update(chunks=[]), "the chunk plan covers 0 runs"),
    (lambda m: m.update(chunks=m["chunks"][:3], n_runs=sum(c[1] for c in m["chunks"][:3])), "lies outside the plan"),
    (lambda m: m.update(chunks=[m["chunks"][1], m["chunks"][0], *m["chunks"][2:]]), "skips or repeats runs"),
    (lambda m: m.update(spec="garbage"), "field 'spec' must be a table"),
    (lambda m: m.update(targets="abc"), "field 'targets' must be a list of positive numbers"),
    (lambda m: m.update(steps=-5), "field 'steps' must be a positive integer"),
    (lambda m: m.pop("n_runs"), "field 'n_runs' must be a positive integer, got missing"),
])
def test_an_edited_manifest_is_refused_not_read_in_part(edit, message, reference, tmp_path, capsys):
    """Cutting the chunk plan used to load part of the runs, and report exit 0."""
    folder = _edited(reference, tmp_path / "stream", edit)
    with pytest.raises(ResultsError, match=re.escape(message)):
        optbench.load(folder)
    assert main(["report", str(folder), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (folder / "report.html").exists()


def test_a_malformed_chunk_record_is_named_and_rerun(reference, tmp_path, capsys):
    import shutil

    folder = tmp_path / "stream"
    shutil.copytree(reference, folder)
    record = folder / storage.CHUNKS / storage.record_name(2)
    record.write_text(json.dumps({**json.loads(record.read_text()), "files": []}))
    with pytest.raises(ResultsError, match=rf"{record}: corrupt chunk record"):
        optbench.load(folder)
    assert main(["report", str(folder), "--quiet"]) == 2
    assert "corrupt chunk record" in capsys.readouterr().err
    spec_path = tmp_path / "stream.toml"
    spec_path.write_text(SPEC)
    assert main(["run", str(spec_path), "--out", str(tmp_path), "--no-report", "--quiet"]) == 0
    assert f"re-running: {record}" in capsys.readouterr().err
    assert_same_results(folder, reference)


def test_an_out_that_is_a_file_or_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    from optbench import api

    path = tmp_path / "s.toml"
    path.write_text(SMALL)
    (tmp_path / "afile").write_text("")
    assert main(["run", str(path), "--out", str(tmp_path / "afile" / "out"), "--no-report", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a folder" in err[0], err

    def read_only(folder):
        raise OSError(errno.EROFS, "Read-only file system", str(folder.parent))

    monkeypatch.setattr(api, "folder_lock", read_only)
    out = tmp_path / "ro"
    assert main(["run", str(path), "--out", str(out), "--no-report", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the results folder" in err[0] and "Read-only file system" in err[0], err
    assert not (out / "stream").exists()


def test_a_full_disk_mid_sweep_keeps_the_finished_chunks_and_says_how_to_resume(spec_file, reference, tmp_path,
                                                                                capsys, monkeypatch):
    import errno

    from optbench.storage import folder as folder_mod

    real, calls = folder_mod.write_atomic, []

    def fills_up(path, data):
        if Path(path).name != storage.MANIFEST:
            calls.append(path)
        if len(calls) > 3 * 5:  # two parts and a record per chunk: the sixth chunk finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(folder_mod, "write_atomic", fills_up)
    args = ["run", str(spec_file), "--out", str(tmp_path), "--no-report", "--quiet", "--chunk-runs", str(CHUNK)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "5 of 48 chunks are finished" in err[0], err
    monkeypatch.setattr(folder_mod, "write_atomic", real)
    assert main(args) == 0
    assert_same_results(tmp_path / "stream", reference)


def test_a_file_size_limit_is_one_line_not_a_traceback(spec_file, tmp_path):
    """ulimit -f: a part past the limit fails with EFBIG (CPython ignores SIGXFSZ)."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    cmd = [sys.executable, "-m", "optbench.cli", "run", str(spec_file), "--out", str(tmp_path), "--no-report",
           "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limit, timeout=600)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1, proc.stderr
    assert "File too large" in err[0] and "run the same command again to resume" in err[0], err


@pytest.mark.dask
@pytest.mark.parametrize("peer", ["silent listener", "closed port"])
def test_a_scheduler_address_that_is_not_dask_is_one_line_within_the_timeout(peer, tmp_path, capsys, monkeypatch):
    """Loopback only: a listener that accepts and never speaks Dask (it used
    to hang past the 15 s timeout), and a port where nothing listens."""
    import socket
    import threading

    from optbench.sweep import dask as dask_backend

    monkeypatch.setattr(dask_backend, "CONNECT_TIMEOUT", 2.0)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = []
    if peer == "silent listener":
        server.listen()
        threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    else:
        server.close()  # the port is free again: nothing answers there
    path = tmp_path / "s.toml"
    path.write_text(SMALL)
    t0 = time.monotonic()
    rc = main(["run", str(path), "--out", str(tmp_path / "out"), "--no-report", "--scheduler", f"tcp://127.0.0.1:{port}"])
    elapsed = time.monotonic() - t0
    server.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "Dask scheduler" in err[0], err
    assert elapsed < 60, elapsed  # a hang guard (the timeout is 2 s here), not a timing
    assert not (tmp_path / "out").exists()


def _peak_rss(spec_text: str, folder: Path) -> int:
    """Peak RSS (bytes) of `optbench run` on the spec in a fresh process.
    The child resets its high-water mark first (/proc/self/clear_refs): it
    starts from a copy of this process's memory map, whose peak it would
    otherwise inherit."""
    path = folder / "m.toml"
    path.write_text(spec_text)
    code = ("import re, sys; open('/proc/self/clear_refs', 'w').write('5'); from optbench.cli import main; "
            "rc = main(sys.argv[1:]); status = open('/proc/self/status').read(); "
            "print(int(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1)), file=sys.stderr); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "run", str(path), "--out", str(folder / "out"), "--no-report",
                           "--quiet", "--overwrite"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stderr.strip().splitlines()[-1]) * 1024


@pytest.mark.slow
@pytest.mark.parametrize("dim,count", [(2_000_000, 2), (500_000, 8)])
def test_the_memory_estimate_covers_what_a_high_dimensional_sweep_uses(dim, count, tmp_path):
    """Measured peak RSS above the same sweep at dimension 16 (kernels
    compiled first, so compiling is not counted) stays below the estimate's
    difference, and the estimate is not wildly above it."""
    from optbench.grid import memory_needed

    text = ('name = "m"\nsteps = 5\n[[objectives]]\nname = "sphere"\ndim = {dim}\n[init]\ncount = {count}\n'
            '[[optimizers]]\nname = "adam"\nlr = 0.1\n')
    small, big = text.format(dim=16, count=count), text.format(dim=dim, count=count)
    _peak_rss(small, tmp_path)  # compiles the scalar driver
    measured = _peak_rss(big, tmp_path) - _peak_rss(small, tmp_path)
    estimated = memory_needed(load_spec(big))[0] - memory_needed(load_spec(small))[0]
    assert measured <= estimated <= 4 * measured, (measured, estimated)
