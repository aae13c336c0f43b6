"""``optbench compare A B``: is results folder B worse than A, case by case?

Two folders (two commits of an optimizer, two machines, two versions of a
spec) are matched by what they share: an objective *case* by its key
(objective, dimension, objective parameters, batch size, gradient noise,
initialization), an optimizer by its name, a run by :data:`~.data.PAIR_KEY`
(initial point index, repeat).  What only one folder holds is left out and
listed.

Each optimizer is compared at its best setting in A against its best setting
in B: the hyperparameter grid is part of what a user tunes, so a smaller grid
that loses the good learning rate is a regression.  Two views, as in the
report (:mod:`.stats`): first-hitting (steps to each target, an unmet target
counting budget + 1) and final state (final gap, diverged worst).  Runs
are compared with the paired Wilcoxon test where the matched runs share their
starting point and random stream (``x0`` and ``seed``), else with
Mann-Whitney; Holm's correction runs over all comparisons of a view.

A *regression* is a first-hitting comparison with Holm-adjusted p < ALPHA
and B worse: a run that fails where it succeeded, or needs more steps, scores
higher, which is what ``benchmarks/bench_convergence.py`` tracks (failure
rate, median steps to target).  Final-state changes are reported and marked
but do not count as regressions.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import ResultsError
from . import stats as st
from .data import PAIR_KEY, Case, ReportData, budget, label_part, load, prepare, rank_final, setting_runs, slug

WORSE, BETTER, SAME = "worse", "better", "no significant change"
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'")  # as report.html
EXTRA_CSS = ".worse{color:#a50e0e;font-weight:600}.better{color:#1e6b1e;font-weight:600}ul.left li{font-size:.9rem}"


# ----------------------------------------------------------------- results


@dataclass(frozen=True)
class ViewResult:
    """One view's comparison of an optimizer on a case."""

    setting_a: str  # best setting in A in this view's order
    setting_b: str
    n: int  # matched runs (pairs when paired)
    paired: bool
    test: st.TestResult  # of B's outcomes against A's: direction +1 is B worse
    p_adjusted: float = 1.0  # Holm over the view's comparisons
    verdict: str = SAME


@dataclass(frozen=True)
class Row:
    """One (case, optimizer) compared: numbers as ``(A, B)`` pairs."""

    case: str
    optimizer: str
    criterion: str  # the tightest criterion success and ERT count (B's, if they differ)
    success: tuple[float, float]  # at the first-hitting best settings
    ert: tuple[float, float]
    median_final: tuple[float, float]  # at the final-state best settings
    first_hit: ViewResult
    final: ViewResult
    only_a: int = 0  # runs of the best settings without a partner in the other folder
    only_b: int = 0
    ert_evals: tuple[float, float] = (math.nan, math.nan)  # ERT in objective evaluations, at the same settings

    @property
    def regression(self) -> bool:
        return self.first_hit.verdict == WORSE


@dataclass
class Comparison:
    a: Path
    b: Path
    rows: list[Row]
    left_out: list[str] = field(default_factory=list)  # what only one folder holds
    notes: list[str] = field(default_factory=list)  # how the folders differ beyond their grids
    evals: bool = False  # whether either folder's evaluations differ from its steps (then ERT in both is shown)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.regression]


# ----------------------------------------------------------------- matching


def _norm(v):
    """A parameter value comparable across folders (an int column in one, float in the other)."""
    if isinstance(v, (bool, np.bool_)) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    return str(v)


def case_key(case: Case) -> tuple:
    """What makes two folders' cases the same objective instance."""
    return (case.objective, case.dim, tuple(sorted((k, _norm(v)) for k, v in case.params.items())),
            case.batch_size, float(case.noise), case.init)


def _case_text(case: Case) -> str:
    return f"{case.objective} ({case.detail})"


def _setting_values(data: ReportData) -> dict[int, dict]:
    """setting id -> its hyperparameter values that are set (None: does not apply)."""
    return {int(sid): {h: v for h, v in values.items() if v is not None}
            for sid, values in data.settings["values"].items()}


def _labels(values_a: dict[int, dict], values_b: dict[int, dict], opt_a: dict, opt_b: dict) -> tuple[dict, dict]:
    """Setting labels comparable across both folders: per optimizer, lr and the
    hyperparameters whose values differ anywhere in the union of the grids."""
    varying: dict[str, list[str]] = {}
    for opt in set(opt_a.values()) | set(opt_b.values()):
        rows = [v for sid, v in values_a.items() if opt_a[sid] == opt] + \
               [v for sid, v in values_b.items() if opt_b[sid] == opt]
        names = list(dict.fromkeys(h for v in rows for h in v))
        varying[opt] = [h for h in names if h == "lr" or len({repr(_norm(v.get(h))) for v in rows}) > 1]

    def text(opt, values):
        parts = [p for h in varying[opt] if (p := label_part(h, values.get(h)) if h in values else f"{h} unset")]
        return ", ".join(parts) or "defaults"

    return ({sid: text(opt_a[sid], v) for sid, v in values_a.items()},
            {sid: text(opt_b[sid], v) for sid, v in values_b.items()})


def _setting_key(opt: str, values: dict) -> tuple:
    return opt, tuple(sorted((h, repr(_norm(v))) for h, v in values.items()))


# ----------------------------------------------------------------- per-run outcomes


def _outcomes(data: ReportData, case: Case, sid: int, columns: list[str], steps: float) -> pd.DataFrame:
    """Per run of setting ``sid`` on ``case``, indexed by PAIR_KEY: the
    first-hitting outcome over the criterion ``columns`` both folders share
    (a target met after ``steps`` counts as unmet, so folders with different
    budgets compare over the shorter one), the final-state outcome, and what
    pairing needs (x0, seed)."""
    sub = setting_runs(data, case, sid)
    steps_to = sub[columns].to_numpy(float) if columns else np.full((len(sub), 0), np.nan)
    steps_to = np.where(steps_to > steps, np.nan, steps_to)
    out = pd.DataFrame({
        "first_hit": st.first_hit_outcome(steps_to, steps) if columns else np.zeros(len(sub)),
        "final": st.final_outcome(sub["final_"].to_numpy(float), sub["diverged_"].to_numpy(bool)),
    }, index=pd.MultiIndex.from_frame(sub[PAIR_KEY]))
    for c in ("x0", "seed"):
        if c in sub.columns:
            out[c] = sub[c].to_numpy(object)
    return out.sort_index()


def _same_start(oa: pd.DataFrame, ob: pd.DataFrame) -> bool:
    """Whether every matched pair of runs shares its initial point and random stream."""
    if not all(c in oa.columns and c in ob.columns for c in ("x0", "seed")):
        return False
    if not (oa["seed"].to_numpy() == ob["seed"].to_numpy()).all():
        return False
    return all(x is not None and y is not None and np.array_equal(np.asarray(x, float), np.asarray(y, float))
               for x, y in zip(oa["x0"], ob["x0"]))


def _view(oa: pd.DataFrame, ob: pd.DataFrame, column: str, labels: tuple[str, str], paired: bool) -> ViewResult:
    x, y = ob[column].to_numpy(float), oa[column].to_numpy(float)  # B against A: +1 is B higher, worse
    test = st.wilcoxon(x, y) if paired else st.mannwhitney(x, y)
    return ViewResult(labels[0], labels[1], len(oa), paired, test)


def _adjust(rows: list[Row], view: str) -> list[Row]:
    p = st.holm([getattr(r, view).test.p for r in rows])
    out = []
    for r, q in zip(rows, p):
        v = getattr(r, view)
        verdict = SAME if q >= st.ALPHA or v.test.direction == 0 else (WORSE if v.test.direction > 0 else BETTER)
        out.append(replace(r, **{view: replace(v, p_adjusted=float(q), verdict=verdict)}))
    return out


# ----------------------------------------------------------------- comparing


def compare(a, b) -> Comparison:
    """Compare results folder ``b`` with ``a`` (the baseline).  Raises
    :class:`~optbench.ResultsError` for a folder that is not a results folder
    and for two folders without an (objective case, optimizer) in common."""
    da, db = prepare(*load(a)), prepare(*load(b))
    comp = Comparison(da.folder.resolve(), db.folder.resolve(), [], evals=da.evals_differ or db.evals_differ)
    by_key_b = {case_key(c): c for c in db.cases}
    keys_a = {case_key(c) for c in da.cases}
    matched = [(c, by_key_b[case_key(c)]) for c in da.cases if case_key(c) in by_key_b]
    comp.left_out += [f"case only in A: {_case_text(c)}" for c in da.cases if case_key(c) not in by_key_b]
    comp.left_out += [f"case only in B: {_case_text(c)}" for c in db.cases if case_key(c) not in keys_a]
    if not matched:
        raise ResultsError(f"{da.folder} and {db.folder} have no objective case in common (A: "
                           f"{', '.join(_case_text(c) for c in da.cases)}; B: "
                           f"{', '.join(_case_text(c) for c in db.cases)})")
    opts_a, opts_b = da.optimizers(), db.optimizers()
    common = [o for o in opts_a if o in opts_b]
    comp.left_out += [f"optimizer only in A: {o}" for o in opts_a if o not in opts_b]
    comp.left_out += [f"optimizer only in B: {o}" for o in opts_b if o not in opts_a]
    if not common:
        raise ResultsError(f"{da.folder} and {db.folder} have no optimizer in common (A: {', '.join(opts_a)}; "
                           f"B: {', '.join(opts_b)})")

    values_a, values_b = _setting_values(da), _setting_values(db)
    opt_a = da.settings["optimizer"].astype(str).to_dict()
    opt_b = db.settings["optimizer"].astype(str).to_dict()
    label_a, label_b = _labels(values_a, values_b, opt_a, opt_b)
    keys_sa = {_setting_key(opt_a[s], v): s for s, v in values_a.items()}
    keys_sb = {_setting_key(opt_b[s], v): s for s, v in values_b.items()}
    for opt in common:
        comp.left_out += [f"setting only in A's grid: {opt} {label_a[s]}" for k, s in keys_sa.items()
                          if opt_a[s] == opt and k not in keys_sb]
        comp.left_out += [f"setting only in B's grid: {opt} {label_b[s]}" for k, s in keys_sb.items()
                          if opt_b[s] == opt and k not in keys_sa]
    comp.notes += _differences(da, db)
    steps = min(budget(da), budget(db))

    rows = []
    for ca, cb in matched:
        columns = [c.column for c in ca.criteria if c.column in {x.column for x in cb.criteria}]
        if not columns:
            comp.notes.append(f"{ca.label}: no success criterion in common (A: {ca.criteria[-1].label}; "
                              f"B: {cb.criteria[-1].label}); its first-hitting view finds no difference")
        sa_all, sb_all = da.stats[ca.id], db.stats[cb.id]
        for opt in common:
            sa, sb = sa_all[sa_all["optimizer"] == opt], sb_all[sb_all["optimizer"] == opt]
            if sa.empty or sb.empty:
                comp.left_out.append(f"{ca.label} · {opt}: not run on this case in {'A' if sa.empty else 'B'}")
                continue
            rows.append(_row(da, db, ca, cb, opt, (sa, sb), (label_a, label_b), columns, steps))
    comp.rows = _adjust(_adjust(rows, "first_hit"), "final")
    _left_out_runs(comp)
    return comp


def _row(da, db, ca, cb, opt, stats, labels, columns, steps) -> Row:
    (sa, sb), (label_a, label_b) = stats, labels
    fa, fb = rank_final(sa), rank_final(sb)
    hit = (int(sa.index[0]), int(sb.index[0]))
    fin = (int(fa.index[0]), int(fb.index[0]))
    views = {}
    only = (0, 0)
    for view, (sid_a, sid_b) in (("first_hit", hit), ("final", fin)):
        oa, ob = _outcomes(da, ca, sid_a, columns, steps), _outcomes(db, cb, sid_b, columns, steps)
        keys = oa.index.intersection(ob.index)
        if view == "first_hit":
            only = (len(oa.index.difference(keys)), len(ob.index.difference(keys)))
        oa, ob = oa.loc[keys], ob.loc[keys]
        views[view] = _view(oa, ob, view, (label_a[sid_a], label_b[sid_b]), _same_start(oa, ob))
    last_a, last_b = len(ca.criteria) - 1, len(cb.criteria) - 1
    ra, rb = sa.iloc[0], sb.iloc[0]
    crit = cb.criteria[-1].label if ca.criteria[-1].label == cb.criteria[-1].label else \
        f"{ca.criteria[-1].label} → {cb.criteria[-1].label}"
    return Row(ca.label, opt, crit, (float(ra["success"]), float(rb["success"])),
               (float(ra[f"ert_{last_a}"]), float(rb[f"ert_{last_b}"])),
               (float(fa.iloc[0]["med_final"]), float(fb.iloc[0]["med_final"])),
               views["first_hit"], views["final"], *only,
               ert_evals=(float(ra[f"ert_evals_{last_a}"]), float(rb[f"ert_evals_{last_b}"])))


def _differences(da: ReportData, db: ReportData) -> list[str]:
    """What differs between the folders besides their grids, and what it does to the comparison."""
    out = []
    if budget(da) != budget(db):
        out.append(f"steps per run differ (A {budget(da):g}, B {budget(db):g}): first-hitting compares over the "
                   f"first {min(budget(da), budget(db)):g} steps; final states are at different step counts")
    if da.targets != db.targets:
        common = sorted(set(da.targets) & set(db.targets), reverse=True)
        out.append(f"targets differ (A {', '.join(f'{t:g}' for t in da.targets) or 'none'}; B "
                   f"{', '.join(f'{t:g}' for t in db.targets) or 'none'}): first-hitting compares over "
                   f"{', '.join(f'{t:g}' for t in common) or 'no common target'}; success and ERT are each "
                   f"folder's own tightest criterion")
    seed_a, seed_b = ((d.manifest.get("spec") or {}).get("seed") for d in (da, db))
    if seed_a != seed_b:
        out.append(f"spec seeds differ (A {seed_a}, B {seed_b}): runs whose initial points differ are compared "
                   f"unpaired")
    return out


def _left_out_runs(comp: Comparison) -> None:
    """Runs without a partner, one line per case where every optimizer lost the same count."""
    by_case: dict[str, list[Row]] = {}
    for r in comp.rows:
        by_case.setdefault(r.case, []).append(r)
    for case, rows in by_case.items():
        counts = {(r.only_a, r.only_b) for r in rows}
        if counts == {(0, 0)}:
            continue
        if len(counts) == 1:
            a_n, b_n = counts.pop()
            comp.left_out.append(f"{case}: runs without a partner (same {', '.join(PAIR_KEY)}), per optimizer: "
                                 f"{a_n} only in A, {b_n} only in B")
            continue
        for r in rows:
            if r.only_a or r.only_b:
                comp.left_out.append(f"{case} · {r.optimizer}: runs without a partner: {r.only_a} only in A, "
                                     f"{r.only_b} only in B")


# ----------------------------------------------------------------- text


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{100 * x:.0f}%"


def _steps(x: float) -> str:
    return "—" if math.isnan(x) else ("∞" if math.isinf(x) else f"{x:,.0f}")


def _value(x: float) -> str:
    return "—" if math.isnan(x) else ("diverged" if x >= 1e299 else f"{x:.3g}")


def _pair(pair, f) -> str:
    return f"{f(pair[0])} → {f(pair[1])}"


def _p(v: ViewResult) -> str:
    how = f"{v.n} pairs" if v.paired else f"{v.n} runs each, unpaired"
    return f"{v.p_adjusted:.2g} ({how})"


def _settings(r: Row) -> str:
    text = f"{r.first_hit.setting_a} → {r.first_hit.setting_b}"
    if (r.final.setting_a, r.final.setting_b) != (r.first_hit.setting_a, r.first_hit.setting_b):
        text += f" (final-state best: {r.final.setting_a} → {r.final.setting_b})"
    return text


def verdict_text(r: Row) -> str:
    """The row's verdict (first-hitting), with a final-state change marked."""
    text = r.first_hit.verdict
    if r.final.verdict != SAME:
        text += f"; final state {r.final.verdict}"
    return text


HEADERS = ["case", "optimizer", "best setting A → B", "success A → B", "ERT A → B", "median final A → B",
           "p first-hitting", "p final-state", "verdict"]


def headers(comp: Comparison) -> list[str]:
    """:data:`HEADERS`, with ERT in objective evaluations beside ERT in steps where they differ."""
    if not comp.evals:
        return list(HEADERS)
    return [*HEADERS[:4], "ERT in steps A → B", "ERT in evaluations A → B", *HEADERS[5:]]


def _cells(r: Row, evals: bool = False) -> list[str]:
    return [r.case, r.optimizer, _settings(r), f"{_pair(r.success, _pct)} ({r.criterion})", _pair(r.ert, _steps),
            *([_pair(r.ert_evals, _steps)] if evals else []),
            _pair(r.median_final, _value), _p(r.first_hit), _p(r.final), verdict_text(r)]


def headline(comp: Comparison, quote=str) -> str:
    """One sentence: the regressions by name, or that there are none (``quote`` escapes the names)."""
    reg = comp.regressions
    if not reg:
        return (f"No regression: B is not significantly worse than A on any of {len(comp.rows)} (case, optimizer) "
                f"comparisons (first-hitting view, Holm-adjusted p < {st.ALPHA:g}).")
    listed = ", ".join(f"{quote(r.case)} · {quote(r.optimizer)}" for r in reg)
    return f"{len(reg)} regression{'s' if len(reg) > 1 else ''} (B significantly worse, first-hitting view): {listed}."


def method() -> list[str]:
    """How the page compares, including the choices this command makes."""
    a = f"{st.ALPHA:g}"
    return [
        "Cases are matched by objective, dimension, objective parameters, batch size, gradient noise and "
        "initialization; runs by (init_index, repeat).",
        "Each optimizer is compared at its best setting in A against its best setting in B, each chosen from its "
        "own folder's grid: a smaller grid that loses the good setting is a regression.",
        "First-hitting view: per run, steps to each target summed over the targets (a target never met counts "
        "as budget + 1); best setting in the report's order. Final-state view: final gap (or f), diverged worst; "
        "best setting by median final value.",
        "Paired Wilcoxon signed-rank test where every matched pair of runs shares x0 and seed, else Mann–Whitney "
        "on the matched runs (marked unpaired); Holm's correction over all comparisons of a view.",
        f"Worse: Holm-adjusted p < {a} with B's outcomes higher. Only the first-hitting view (success and steps "
        "to the targets, what benchmarks/bench_convergence.py tracks) counts as a regression for "
        "--fail-on-regression; significant final-state changes are marked in the verdict.",
        "Success and ERT are at the first-hitting best settings (tightest criterion); median final at the "
        "final-state best settings. Where some run's objective evaluations differ from its steps (a line-search "
        "method, a minibatch run), ERT is shown in both, and each folder's best setting is the one its report "
        "ranks first (by ERT in evaluations); the tests still count steps.",
    ]


def names(comp: Comparison) -> tuple[str, str]:
    """The two folders' names, with their parents where the names alone are the same."""
    if comp.a.name != comp.b.name:
        return comp.a.name, comp.b.name
    return f"{comp.a.parent.name}/{comp.a.name}", f"{comp.b.parent.name}/{comp.b.name}"


def _md(v) -> str:
    # names come from specs: keep them from becoming markup where the file is rendered
    return (str(v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            .replace("\n", " "))


def markdown(comp: Comparison) -> str:
    a, b = names(comp)
    lines = [f"# optbench compare: {_md(a)} → {_md(b)}", "",
             f"A: `{_md(comp.a)}` · B: `{_md(comp.b)}`", "", headline(comp, _md), "",
             "| " + " | ".join(headers(comp)) + " |", "|" + "---|" * len(headers(comp))]
    for r in comp.rows:
        cells = [_md(c) for c in _cells(r, comp.evals)]
        if r.regression:
            cells[-1] = f"**{cells[-1]}**"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Left out", ""]
    lines += [f"- {_md(x)}" for x in comp.left_out] or ["Nothing: both folders hold the same cases, optimizers, "
                                                        "settings and runs."]
    if comp.notes:
        lines += ["", "## Differences between the folders", ""] + [f"- {_md(x)}" for x in comp.notes]
    lines += ["", "## How this compares", ""] + [f"- {x}" for x in method()] + [""]
    return "\n".join(lines)


def html_page(comp: Comparison) -> str:
    from .render import CSS, Raw, esc, table

    rows = []
    for r in comp.rows:
        cells = _cells(r, comp.evals)
        cls = r.first_hit.verdict if r.first_hit.verdict != SAME else r.final.verdict
        cells[-1] = Raw(f'<span class="{"worse" if cls == WORSE else "better" if cls == BETTER else ""}">'
                        f"{esc(cells[-1])}</span>")
        rows.append(cells)
    title = "optbench compare: {} → {}".format(*names(comp))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{CSS}{EXTRA_CSS}</style></head><body><main>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">A: <code>{esc(comp.a)}</code> · B: <code>{esc(comp.b)}</code></p>',
        f'<p class="lead{" worse" if comp.regressions else ""}">{esc(headline(comp))}</p>',
        table(headers(comp), rows, num={3, 4, 5, 6, 7} | ({8} if comp.evals else set())),
        "<h2>Left out</h2>",
        ('<ul class="left">' + "".join(f"<li>{esc(x)}</li>" for x in comp.left_out) + "</ul>") if comp.left_out
        else "<p>Nothing: both folders hold the same cases, optimizers, settings and runs.</p>",
    ]
    if comp.notes:
        parts += ["<h2>Differences between the folders</h2>",
                  "<ul>" + "".join(f"<li>{esc(x)}</li>" for x in comp.notes) + "</ul>"]
    parts += ["<h2>How this compares</h2>", "<ul>" + "".join(f"<li>{esc(x)}</li>" for x in method()) + "</ul>",
              "</main></body></html>"]
    return "\n".join(parts)


# ----------------------------------------------------------------- files


def default_out(comp: Comparison) -> Path:
    return comp.b / f"compare-{slug(comp.a.name)}"


def write(comp: Comparison, out=None) -> tuple[Path, Path]:
    """Write ``compare.md`` and ``compare.html`` into ``out`` (default:
    ``<B>/compare-<A's folder name>``), each through a temporary file moved
    into place.  Returns their paths."""
    folder = Path(out) if out is not None else default_out(comp)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("compare.md", markdown(comp)), ("compare.html", html_page(comp))):
        path = folder / name
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        paths.append(path)
    return paths[0], paths[1]


__all__ = ["Comparison", "Row", "ViewResult", "compare", "headline", "html_page", "markdown", "write"]
