"""The ``optbench`` command: thin argparse subcommands over the Python API.

A user mistake (bad spec, unknown name, missing folder) prints one line
``optbench: error: ...`` and exits with status 2, without a traceback.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path

from ._errors import OptbenchError


def _objective_rows() -> list[dict]:
    from . import objectives
    from .objectives._registry import TRANSFORM_FIELDS

    rows = []
    for name in objectives.names():
        obj = objectives.get(name)
        default = None if obj.dim_from_data else obj.default_dim
        minima = None
        try:
            problem = obj.make(default) if not obj.dim_from_data else None
            if problem is not None:
                minima = len(problem.minima)
        except Exception:  # noqa: BLE001 - listing must not fail on one objective
            minima = None
        rows.append({
            "name": name,
            "dims": obj.dims_text,
            "tags": sorted(obj.tags),
            "params": {k: p.default for k, p in obj.params.items()},
            # what every analytic objective takes besides its own (objectives/instances.py)
            "instance_params": {} if obj.batched else {k: p.default for k, p in TRANSFORM_FIELDS.items()},
            "known_minima": minima,
            "batched": obj.batched,
            "summary": obj.summary,
            "formula": obj.formula,
            "from": _origin(objectives.OBJECTIVES.origin(name)),
        })
    return rows


def _optimizer_rows() -> list[dict]:
    from . import optimizers

    rows = []
    for name in optimizers.names():
        opt = optimizers.get(name)
        rows.append({
            "name": name,
            "torch": f"torch.optim.{opt.torch_name}" if opt.torch_name else "",
            "from": _origin(optimizers.OPTIMIZERS.origin(name)),
            "hyperparameters": opt.defaults(),
            "summary": opt.summary,
        })
    return rows


def _scheduler_rows() -> list[dict]:
    from .optimizers import schedulers

    return [{"name": name, "torch": f"torch.optim.lr_scheduler.{schedulers.get(name).torch_name}",
             "arguments": args, "summary": summary} for name, args, summary in schedulers.describe()]


def _origin(origin: str) -> str:
    from ._registry import BUILT_IN

    return "built in" if origin == BUILT_IN else origin


def _table(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        if isinstance(v, list):
            return ",".join(map(str, v))
        if isinstance(v, dict):
            return " ".join(f"{k}={v2:g}" if isinstance(v2, float) else f"{k}={v2}" for k, v2 in v.items())
        return "" if v is None else str(v)

    body = [[cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths)).rstrip() for b in body]
    return "\n".join(lines)


def _plugin_entries(args) -> list:
    """The ``--plugin`` values (paths relative to the current folder)."""
    return list(getattr(args, "plugin", None) or [])


def _load_plugins(args) -> None:
    if _plugin_entries(args):
        from . import plugins

        plugins.load_all(_plugin_entries(args))


def cmd_list(args) -> int:
    _load_plugins(args)
    what = args.what
    if what == "objectives":
        rows = _objective_rows()
        cols = ["name", "dims", "tags", "known_minima", "params", "summary"]
    elif what == "schedulers":
        rows = _scheduler_rows()
        cols = ["name", "torch", "arguments"]
    else:
        rows = _optimizer_rows()
        cols = ["name", "torch", "hyperparameters"]
    if any(r.get("from", "built in") != "built in" for r in rows):
        cols.append("from")
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(_table(rows, cols))
        if what == "objectives" and any(r["instance_params"] for r in rows):
            print("\nEvery objective not 'from data' also takes rotate = true, shift = true and instance = N (>= 1): "
                  "f(R (x - s) + c), a seeded rotation R and shift s (README, \"Line searches and instances\").")
    return 0


def cmd_check(args) -> int:
    from .objectives.gradcheck import ROTATED_LABEL, check_gradients

    _load_plugins(args)
    results = check_gradients(args.objective or None, points=args.points, seed=args.seed, tol=args.tol)
    failed = [r for r in results if not r.passed]
    if args.json:
        print(json.dumps([{**r.__dict__, "passed": r.passed} for r in results], indent=2, default=str))
    else:
        print(f"gradient check: analytic vs central differences, {args.points} random points per variant, "
              f"tolerance {args.tol:g} (relative); analytic objectives also as their rotated and shifted "
              f"instance 1 (variant '{ROTATED_LABEL}')")
        rows = [{"objective": r.objective, "variant": r.variant, "dim": r.dim,
                 "max_rel_error": f"{r.max_rel_error:.2e}", "result": "ok" if r.passed else "FAIL"} for r in results]
        print(_table(rows, ["objective", "variant", "dim", "max_rel_error", "result"]))
        print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def cmd_run(args) -> int:
    from .report.pool import DrawingPool, early_helpers

    # a helper to draw the report starts before the rest of optbench is
    # imported (a second), so that its own start-up overlaps ours and the sweep
    with DrawingPool(0 if args.no_report else early_helpers(args.threads)) as drawing:
        from .api import run

        quiet = args.quiet or not sys.stderr.isatty()
        results = run(Path(args.spec), out=args.out, overwrite=args.overwrite, report=not args.no_report, quiet=quiet,
                      threads=args.threads, chunk_runs=args.chunk_runs, scheduler=args.scheduler,
                      workers=args.workers, drawing=drawing, plugins=_plugin_entries(args))
    runs = results.runs
    n_div = int(runs["diverged"].sum())
    n_conv = int((runs["status"] == "converged").sum())
    timing = results.manifest.get("timing", {})
    resumed = timing.get("chunks_resumed", 0)
    how = f" ({resumed} of {len(results.manifest['chunks'])} chunks were already done)" if resumed else ""
    print(f"{len(runs):,} runs in {timing.get('wall_s', float('nan')):.1f} s{how}: "
          f"{n_conv:,} converged, {n_div:,} diverged or escaped")
    if results.manifest.get("skipped_combinations"):
        print(f"skipped {len(results.manifest['skipped_combinations'])} invalid hyperparameter combinations "
              f"(listed in manifest.json)")
    print(f"results: {results.path}")
    report = results.path / "report.html"
    if report.exists():
        print(f"report:  {report}")
    return 0


def cmd_warm(args) -> int:
    import time

    from .api import warm

    def say(n: int, processes: int) -> None:
        print(f"compiling {n} kernel{'s' * (n != 1)} ({processes} process{'es' * (processes != 1)})…",
              file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    n = warm(Path(args.spec), threads=args.threads, generic=args.generic, plugins=_plugin_entries(args),
             notify=say)
    what = "the generic tier's kernels" if args.generic else "the specialized drivers"
    print(f"{what} for {args.spec} are ready: {n} compiled in {time.perf_counter() - t0:.1f} s"
          if n else f"{what} for {args.spec} were ready already")
    return 0


def cmd_report(args) -> int:
    from .report.export import table_formats
    from .report.pool import DrawingPool, early_helpers

    tables = table_formats(args.tables or ())  # a mistake is told before a helper starts
    with DrawingPool(early_helpers()) as drawing:  # started first, as in cmd_run
        from .report import build_report

        path = build_report(args.results, quiet=args.quiet or not sys.stderr.isatty(), pool=drawing,
                            plugins=_plugin_entries(args), tables=tables, figure_format=args.figures,
                            x_axis=args.x_axis)
    print(f"report: {path}")
    if tables:
        print(f"tables: {path.parent / 'tables'}")
    return 0


def cmd_compare(args) -> int:
    from .report.compare import compare, headline, markdown, write

    comparison = compare(args.a, args.b)  # a bad folder raises before anything is written
    md_path, html_path = write(comparison, args.out)
    print(markdown(comparison))
    print(f"compare: {md_path}\ncompare: {html_path}")
    if args.fail_on_regression and comparison.regressions:
        print(f"optbench: {headline(comparison)}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="optbench", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run a sweep spec and write its results folder")
    r.add_argument("spec", help="sweep spec (TOML), e.g. problems/quick.toml")
    r.add_argument("--out", default="results", help="output folder (default: results/)")
    r.add_argument("--no-report", action="store_true", help="skip the HTML report")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--overwrite", action="store_true",
                   help="replace a folder holding results of a different spec (or another optbench build)")
    r.add_argument("--threads", type=int, default=None, help="threads per process (default: all cores)")
    r.add_argument("--chunk-runs", type=int, default=None, metavar="N",
                   help="runs per chunk, the unit written to disk and resumed (default: ~2e6 logged points)")
    r.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run chunks on an existing Dask cluster, e.g. tcp://host:8786 (needs the dask extra)")
    r.add_argument("--workers", type=int, default=None, metavar="N",
                   help="run chunks on a local Dask cluster of N worker processes (needs the dask extra)")
    _plugin_argument(r, "define more objectives and optimizers (repeatable; the spec may name more in plugins = [...])")
    r.set_defaults(fn=cmd_run)

    w = sub.add_parser("warm", help="compile the kernels a spec needs, without running it",
                       description="Compile into the kernel cache what later runs of SPEC use: by default the "
                                   "specialized drivers (the fastest), which otherwise compile only for large "
                                   "sweeps; a run then starts at full speed.")
    w.add_argument("spec", help="sweep spec (TOML), e.g. problems/quick.toml")
    w.add_argument("--threads", type=int, default=None, help="compiling processes (default: all cores)")
    w.add_argument("--generic", action="store_true",
                   help="compile only what a first run would (the generic driver and the functions it calls)")
    _plugin_argument(w, "define more objectives and optimizers (repeatable)")
    w.set_defaults(fn=cmd_warm)

    rep = sub.add_parser("report", help="rebuild report.html from a results folder")
    rep.add_argument("results", help="results folder, e.g. results/quick")
    rep.add_argument("--quiet", action="store_true")
    rep.add_argument("--tables", default="", metavar="FORMATS",
                     help="also write every ranking table under tables/ in these formats: csv, latex, markdown "
                          "(comma-separated), or all")
    rep.add_argument("--figures", default="png", choices=["png", "svg", "pdf"],
                     help="plots/ holds each figure as PNG and, with svg or pdf, in that format too (default: png)")
    rep.add_argument("--x-axis", default="auto", choices=["auto", "steps", "evals"],
                     help="what convergence curves and runtime distributions count, and which ERT ranks: steps, "
                          "objective evaluations, or auto (evaluations where any run's differ from its steps)")
    _plugin_argument(rep, "load this plugin to draw the figures that need it (repeatable); a results folder "
                          "never loads a plugin by itself unless you ran it here")
    rep.set_defaults(fn=cmd_report)

    cmp = sub.add_parser("compare", help="compare two results folders: is B worse than A, case by case?",
                         description="Each optimizer at its best setting in A against its best setting in B, on "
                                     "the objective cases both hold; paired rank tests, Holm-corrected. Prints "
                                     "the table and writes compare.md and compare.html.")
    cmp.add_argument("a", metavar="A", help="the baseline results folder, e.g. results/before/quick")
    cmp.add_argument("b", metavar="B", help="the results folder to check against A")
    cmp.add_argument("--out", metavar="DIR", default=None,
                     help="where compare.md and compare.html go (default: B/compare-<A's folder name>)")
    cmp.add_argument("--fail-on-regression", action="store_true",
                     help="exit 1 when B is significantly worse than A somewhere in the first-hitting view "
                          "(success and steps to the targets); final-state changes are shown, not counted")
    cmp.set_defaults(fn=cmd_compare)

    ls = sub.add_parser("list", help="list registered objectives, optimizers or lr schedulers")
    ls.add_argument("what", choices=["objectives", "optimizers", "schedulers"])
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    _plugin_argument(ls, "list this plugin's objectives and optimizers too (repeatable)")
    ls.set_defaults(fn=cmd_list)

    b = sub.add_parser("bench", help="time optbench beside NumPy (and JAX / torch if installed) on the peer workloads")
    from .bench.compare import add_arguments as _bench_arguments
    from .bench.compare import cmd_bench

    _bench_arguments(b)
    b.set_defaults(fn=cmd_bench)

    c = sub.add_parser("check", help="check every analytic gradient against finite differences")
    c.add_argument("objective", nargs="*", help="objectives to check (default: all)")
    c.add_argument("--points", type=int, default=8, help="random points per variant (default 8)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--tol", type=float, default=1e-6, help="relative error tolerance (default 1e-6)")
    c.add_argument("--json", action="store_true")
    _plugin_argument(c, "check this plugin's objectives too (repeatable)")
    c.set_defaults(fn=cmd_check)
    return p


def _plugin_argument(parser, text: str) -> None:
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help=f"a .py file or an importable module: {text}")


class _Parser(argparse.ArgumentParser):
    """argparse with optbench's one-line errors (usage on --help only)."""

    def error(self, message: str):
        print(f"optbench: error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except OptbenchError as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        detail = str(exc) or "interrupted; finished chunks are kept, run the same command again to resume"
        print(f"optbench: {detail}", file=sys.stderr)
        return 130


def console_main() -> int:
    """The ``optbench`` console script: :func:`main`, then a quick exit.
    Python's shutdown runs full garbage collections over every object that
    numba, matplotlib and pandas made, a noticeable part of a short run;
    frozen first, those objects are left to reference counting.  A reader
    that goes away (``optbench list optimizers | head -1``) ends the command
    quietly, as for any other Unix tool, not with a traceback."""
    try:
        rc = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        rc = 1
    gc.freeze()
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
