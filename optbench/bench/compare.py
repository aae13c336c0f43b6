"""``optbench bench``: optbench beside the peers a user would otherwise use.

Runs the workloads of :mod:`optbench.bench.workloads` (rosenbrock-adam,
grid-sgd-momentum and logreg-minibatch those of the peer harness,
``../shared/peers``; mlp-minibatch a small MLP) in optbench and in every
peer importable here -- vectorized NumPy always, batched torch and JAX (jit +
vmap + scan) when installed -- in this one process, checks that they compute
the same numbers, and prints throughputs (run-steps per second, median of the
timed calls) and ratios.

Timing, per (workload, implementation): ``prepare`` (JIT/AOT compilation,
reported as compile time), one untimed warm-up call, then ``repeats`` timed
calls (wall clock around the call and the conversion of its outputs to
NumPy).  With ``rounds`` > 1 the implementations take turns, the order
rotating each round, so that a drift of the machine's speed hits them alike;
the median is over all rounds x repeats calls.

Agreement, against the NumPy peer: a run agrees when every element of its
``final`` and ``history`` is within ``rtol=1e-9, atol=1e-12`` (any non-finite
value matches any non-finite value: a diverging run may overflow to inf in one
implementation and NaN in another).  Some runs of rosenbrock-adam and grid-sgd-momentum amplify a 1-ulp
difference beyond that (chaotic Adam oscillation in the Rosenbrock valley,
unstable step sizes); they are found by re-running the NumPy peer with x0
moved by 1 ulp and with gradients scaled by 1 +- 2^-52 (the peer harness's
probes) and flagged *rounding-sensitive*.  logreg-minibatch and mlp-minibatch
take no probes: their
summation orders differ (dot products, batched matmul), and their runs do
not amplify rounding differences to 1e-9 (logreg-minibatch is contractive; mlp-minibatch's lr grid
stays below the edge of chaos), so every run must agree.  Verdicts:
``exact`` (bit-identical), ``pass`` (every run outside the sensitive set
agrees), ``FAIL``.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .._process import usable_cores
from .workloads import MINIBATCH_WORKLOADS, QUICK, WORKLOADS, check_output, make_inputs, work_size

RTOL, ATOL = 1e-9, 1e-12
IMPLEMENTATIONS = ("optbench", "numpy", "torch", "jax")


# ------------------------------------------------------------------ registry
def implementations() -> dict:
    """Implementations runnable here: name -> (run, prepare or None, info)."""
    from . import adapter, peers

    out = {"optbench": (adapter.run, adapter.prepare, adapter.info)}
    out.update(peers.available())
    return out


# ----------------------------------------------------------------- agreement
def close(a, b, rtol=RTOL, atol=ATOL):
    """Elementwise agreement; any non-finite value matches any non-finite value."""
    with np.errstate(all="ignore"):
        return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True) | (~np.isfinite(a) & ~np.isfinite(b))


def run_mismatch(final, hist, ref_final, ref_hist, rtol=RTOL, atol=ATOL) -> np.ndarray:
    """(R,) mask of the runs that disagree anywhere in final or history."""
    return ~close(hist, ref_hist, rtol, atol).all(axis=1) | ~close(final, ref_final, rtol, atol).all(axis=1)


def _max_rel(a, b, rows):
    a, b = a[rows], b[rows]
    with np.errstate(all="ignore"):
        fin = np.isfinite(a) & np.isfinite(b)
        if not fin.any():
            return 0.0
        return float((np.abs(a[fin] - b[fin]) / np.maximum(np.abs(b[fin]), ATOL / RTOL)).max())


def _probe_noise():
    """The peer harness's probes: every gradient times 1 +- k 2^-52 (random
    signs, two seeds each, k = 1 and 4), and times 1 + 2^-52, 1 - 2^-52."""
    def random_sign(seed, ulps):
        rng = np.random.default_rng(seed)
        d = ulps * 2.0**-52
        return lambda shape: 1.0 + rng.choice((-d, d), size=shape)

    def constant(factor):
        return lambda shape: np.full(shape, factor)

    return {
        "grad_noise_1ulp_a": lambda: random_sign(12345, 1),
        "grad_noise_1ulp_b": lambda: random_sign(12346, 1),
        "grad_noise_4ulp_a": lambda: random_sign(22345, 4),
        "grad_noise_4ulp_b": lambda: random_sign(22346, 4),
        "grad_scale_up_1ulp": lambda: constant(1.0 + 2.0**-52),
        "grad_scale_down_1ulp": lambda: constant(1.0 - 2.0**-52),
    }


def rounding_sensitive(workload: str, inputs: dict, ref_final, ref_hist) -> np.ndarray:
    """Runs that a 1-ulp perturbation of the NumPy peer moves beyond the
    tolerance (rosenbrock-adam, grid-sgd-momentum; the minibatch workloads take no
    probes, see the module docstring)."""
    from .peers import run_numpy

    R = ref_final.shape[0]
    sens = np.zeros(R, bool)
    if workload in MINIBATCH_WORKLOADS:
        return sens
    for direction in (np.inf, -np.inf):
        out = run_numpy(workload, dict(inputs, x0=np.nextafter(inputs["x0"], direction)))
        sens |= run_mismatch(out["final"], out["history"], ref_final, ref_hist)
    for make in _probe_noise().values():
        out = run_numpy(workload, inputs, noise=make())
        sens |= run_mismatch(out["final"], out["history"], ref_final, ref_hist)
    return sens


def agreement(final, hist, ref_final, ref_hist, sensitive) -> dict:
    mism = run_mismatch(final, hist, ref_final, ref_hist)
    robust = ~sensitive
    bit = bool(np.array_equal(final, ref_final, equal_nan=True) and np.array_equal(hist, ref_hist, equal_nan=True))
    n_robust_bad = int((mism & robust).sum())
    out = {
        "runs": int(mism.size),
        "runs_agreeing": int(mism.size - mism.sum()),
        "fraction_agreeing": float(1.0 - mism.mean()),
        "runs_mismatch_rounding_sensitive": int((mism & sensitive).sum()),
        "runs_mismatch_robust": n_robust_bad,
        "max_rel_err_final": _max_rel(final, ref_final, robust),
        "max_rel_err_history": _max_rel(hist, ref_hist, robust),
        "bit_identical": bit,
        "verdict": "exact" if bit else ("pass" if n_robust_bad == 0 else "FAIL"),
    }
    if n_robust_bad:
        out["robust_mismatch_runs"] = np.flatnonzero(mism & robust)[:20].tolist()
    return out


# -------------------------------------------------------------------- timing
@dataclass
class _Cell:
    name: str
    run: object
    prepare: object
    info: object
    compile_s: float | None = None
    first_call_s: float | None = None
    times: list = field(default_factory=list)
    output: tuple | None = None
    error: str | None = None


def _timed_call(cell: _Cell, workload: str, inputs: dict) -> float:
    t0 = time.perf_counter()
    out = cell.run(workload, inputs)
    final, hist = check_output(inputs, out)  # conversion to NumPy inside the timed region
    dt = time.perf_counter() - t0
    cell.output = (final, hist)
    return dt


def _host() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cpus_usable": usable_cores(), "python": platform.python_version(),
            "platform": platform.platform()}


def sizes(quick: bool = False, runs: int | None = None, steps: int | None = None) -> dict:
    """(runs, steps) per workload; None keeps the peers' full size."""
    out = {}
    for wl in WORKLOADS:
        r, s = QUICK[wl] if quick else (None, None)
        out[wl] = (runs or r, steps or s)
    return out


def bench(workloads=WORKLOADS, impls=None, *, quick: bool = False, runs: int | None = None,
          steps: int | None = None, repeats: int = 3, rounds: int = 1, check: bool = True,
          probes: bool = True, log=None) -> dict:
    """Time and cross-check the workloads; returns a JSON-ready dict.

    ``impls``: names among :data:`IMPLEMENTATIONS` (default: every one
    importable here).  The NumPy peer is always run when ``check`` is on, as
    the reference.  ``log(str)`` receives progress lines.
    """
    from .._errors import SpecError

    log = log or (lambda msg: None)
    avail = implementations()
    if impls is None:
        impls = [n for n in IMPLEMENTATIONS if n in avail]
    for n in impls:
        if n not in IMPLEMENTATIONS:
            raise SpecError(f"unknown implementation {n!r}; known: {', '.join(IMPLEMENTATIONS)}")
        if n not in avail:
            raise SpecError(f"implementation {n!r} is not importable here (pip install {n}); "
                            f"available: {', '.join(avail)}")
    impls = list(dict.fromkeys(impls))
    if check and "numpy" not in impls:
        impls.append("numpy")
    for wl in workloads:
        if wl not in WORKLOADS:
            raise SpecError(f"unknown workload {wl!r}; known: {', '.join(WORKLOADS)}")
    if repeats < 1 or rounds < 1:
        raise SpecError(f"repeats and rounds must be >= 1 (got repeats={repeats}, rounds={rounds})")
    size = sizes(quick, runs, steps)
    doc = {"host": _host(), "repeats": repeats, "rounds": rounds, "quick": quick,
           "tolerance": {"rtol": RTOL, "atol": ATOL}, "results": [], "checks": {}, "ratios": {}}
    for wl in workloads:
        try:
            inputs = make_inputs(wl, *size[wl])
        except ValueError as exc:
            raise SpecError(f"{wl}: {exc}") from None
        R, T = work_size(inputs)
        cells = [_Cell(n, *avail[n]) for n in impls]
        for cell in cells:
            log(f"[{wl}] {cell.name}: compile and warm up")
            try:
                if cell.prepare is not None:
                    t0 = time.perf_counter()
                    cell.prepare(wl, inputs)
                    cell.compile_s = time.perf_counter() - t0
                cell.first_call_s = _timed_call(cell, wl, inputs)
            except NotImplementedError as exc:
                cell.error = f"not implemented: {exc}"
        for rnd in range(rounds):
            k = rnd % len(cells)
            for cell in cells[k:] + cells[:k]:
                if cell.error:
                    continue
                for _ in range(repeats):
                    cell.times.append(_timed_call(cell, wl, inputs))
                log(f"[{wl}] {cell.name}: round {rnd + 1}/{rounds} median "
                    f"{statistics.median(cell.times[-repeats:]):.4f} s")
        rates = {}
        for cell in cells:
            row = {"workload": wl, "impl": cell.name, "runs": R, "steps": T}
            if cell.error:
                row["error"] = cell.error
            else:
                med = statistics.median(cell.times)
                rates[cell.name] = R * T / med
                row.update(median_s=med, min_s=min(cell.times), times_s=cell.times,
                           run_steps_per_s=R * T / med, compile_s=cell.compile_s,
                           first_call_extra_s=cell.first_call_s - med)
                try:
                    row["info"] = cell.info()
                except Exception as exc:  # noqa: BLE001 - informational only
                    row["info"] = {"error": repr(exc)}
            doc["results"].append(row)
        doc["ratios"][wl] = {f"optbench/{n}": rates["optbench"] / v for n, v in rates.items()
                             if "optbench" in rates and n != "optbench"}
        if check:
            ref = next(c for c in cells if c.name == "numpy")
            ref_final, ref_hist = ref.output
            log(f"[{wl}] agreement with numpy" + (" (rounding-sensitivity probes)" if probes else ""))
            sens = (rounding_sensitive(wl, inputs, ref_final, ref_hist) if probes
                    else np.zeros(R, bool))
            chk = {"rounding_sensitive_runs": int(sens.sum()), "impls": {},
                   "probes": bool(probes and wl not in MINIBATCH_WORKLOADS)}
            for cell in cells:
                if cell.name != "numpy" and not cell.error:
                    chk["impls"][cell.name] = agreement(*cell.output, ref_final, ref_hist, sens)
            doc["checks"][wl] = chk
        for cell in cells:
            cell.output = None
    return doc


# --------------------------------------------------------------------- table
def _rate(x: float) -> str:
    return f"{x / 1e6:8.2f} M" if x >= 1e5 else f"{x / 1e3:8.2f} k"


def format_table(doc: dict) -> str:
    """Throughputs, ratios and agreement as aligned text."""
    lines = [f"machine: {doc['host']['cpu']}, {doc['host']['cpus_usable']} usable CPUs; "
             f"median of {doc['rounds']} x {doc['repeats']} timed calls per cell"
             f"{' (quick sizes)' if doc['quick'] else ''}", ""]
    head = (f"{'workload':18s} {'impl':9s} {'runs x steps':>13s} {'median s':>9s} {'run-steps/s':>11s}"
            f" {'optbench/x':>10s} {'compile s':>9s}  agreement")
    lines += [head, "-" * len(head)]
    for row in doc["results"]:
        wl, impl = row["workload"], row["impl"]
        if "error" in row:
            lines.append(f"{wl:18s} {impl:9s} {row['error']}")
            continue
        ratio = doc["ratios"].get(wl, {}).get(f"optbench/{impl}")
        chk = doc["checks"].get(wl, {})
        if impl == "numpy":
            verdict = "reference" if chk else "-"
        elif impl in chk.get("impls", {}):
            a = chk["impls"][impl]
            verdict = (f"{a['verdict']}: {a['runs_agreeing']}/{a['runs']} runs agree"
                       f" ({a['runs_mismatch_robust']} robust mismatches), max rel err "
                       f"{max(a['max_rel_err_final'], a['max_rel_err_history']):.1e}")
        else:
            verdict = "-"
        comp = "-" if row["compile_s"] is None else f"{row['compile_s']:.2f}"
        lines.append(f"{wl:18s} {impl:9s} {row['runs']:6d} x {row['steps']:5d} {row['median_s']:9.4f}"
                     f" {_rate(row['run_steps_per_s']):>11s} {'' if ratio is None else f'{ratio:.2f}x':>10s}"
                     f" {comp:>9s}  {verdict}")
    for wl, chk in doc["checks"].items():
        if chk["probes"]:
            lines.append(f"{wl}: {chk['rounding_sensitive_runs']} rounding-sensitive runs (1-ulp probes)")
    lines.append("optbench/x: optbench's throughput over x's (above 1: optbench is faster)")
    return "\n".join(lines)


def failed(doc: dict) -> bool:
    """True if optbench disagreed with the reference outside the rounding-
    sensitive runs.  A peer's own disagreement (JAX on CPU fuses multiply-
    adds; the probes of a short run may miss a marginal run) is reported in
    the table but is not optbench's failure."""
    return any(chk["impls"].get("optbench", {}).get("verdict") == "FAIL" for chk in doc["checks"].values())


# ----------------------------------------------------------------------- CLI
def add_arguments(parser) -> None:
    """The ``optbench bench`` options (for ``build_parser``)."""
    parser.add_argument("--workload", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS),
                        help="workloads to run (default: all four)")
    parser.add_argument("--impl", nargs="+", choices=list(IMPLEMENTATIONS), default=None,
                        help="implementations (default: optbench and every peer importable here; "
                             "numpy always runs as the reference)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (a few seconds in all), for CI; default: the peers' full sizes")
    parser.add_argument("--runs", type=int, default=None, help="run an evenly strided subset of R runs")
    parser.add_argument("--steps", type=int, default=None, help="steps per run (minibatch workloads: multiples of 100)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per round (default 3)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="interleaved rounds over the implementations (default 1); "
                             "medians are over rounds x repeats calls")
    parser.add_argument("--no-check", action="store_true", help="skip the agreement check")
    parser.add_argument("--no-probes", action="store_true",
                        help="skip the rounding-sensitivity probes (every mismatch then counts)")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write all timings and checks as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _check_writable(path: str) -> None:
    from pathlib import Path

    from .._errors import SpecError

    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise SpecError(f"--json {path!r} is a folder; give a file name, e.g. bench.json")
    if not folder.is_dir():
        raise SpecError(f"--json {path!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise SpecError(f"--json {path!r} cannot be written (permission denied)")


def cmd_bench(args) -> int:
    """``optbench bench``: exit 0, or 1 when optbench disagrees with the NumPy reference."""
    if args.json:
        _check_writable(args.json)  # before the bench runs, not after: its timings would be lost
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    doc = bench(args.workload, args.impl, quick=args.quick, runs=args.runs, steps=args.steps,
                repeats=args.repeats, rounds=args.rounds, check=not args.no_check,
                probes=not args.no_probes, log=log)
    print(format_table(doc))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=1, default=float)
    return 1 if failed(doc) else 0


def main(argv=None) -> int:
    """``python -m optbench.bench`` (the same as ``optbench bench``)."""
    import argparse

    from .._errors import OptbenchError

    parser = argparse.ArgumentParser(prog="optbench bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return cmd_bench(args)
    except OptbenchError as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
