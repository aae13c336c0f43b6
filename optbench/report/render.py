"""report.html and summary.md from the computed tables and rendered plots.

The page is one self-contained file: inline CSS, images as base64 data
URIs, no scripts, no external fonts or links; a Content-Security-Policy
meta tag makes the browser refuse anything else, so a report that tried to
load a resource would show it as a console error in the browser test.
Every name that comes from a spec or a results folder goes through
:func:`esc`.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import math

import pandas as pd

from . import stats as st
from .data import BIG, X_LABELS, Case, ReportData, attainment_note, best_per, ert_column, fmt
from .figures import Plot
from .rankings import criterion_intervals, disagree, winners

EMBED_BUDGET = 9_000_000  # bytes of base64 images in the page; later figures are linked instead

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;
color:#1d1d1f;background:#fff;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:1.5rem 2rem 4rem}
h1{font-size:1.7rem;margin:.2rem 0 .3rem}h2{font-size:1.35rem;margin:2.4rem 0 .6rem;border-bottom:2px solid #e3e3e3;
padding-bottom:.2rem}h3{font-size:1.08rem;margin:1.6rem 0 .4rem}
.lead{font-size:1.05rem;color:#333;margin:.2rem 0 .8rem}.meta{color:#555;font-size:.9rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.86rem}
th,td{border-bottom:1px solid #e5e5e5;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f7;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#f2f8ee}tr.tied td{background:#f8fbf5}.ci{color:#666;font-size:.92em;white-space:nowrap}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.35em;vertical-align:-.05em}
figure{margin:1rem 0 1.6rem}figure img{max-width:100%;height:auto;display:block;border:1px solid #eee}
figcaption{font-size:.85rem;color:#444;margin-top:.35rem;max-width:70rem}
nav ol{columns:2;font-size:.9rem;padding-left:1.3rem}nav a{text-decoration:none}
.note{font-size:.85rem;color:#6a4b00;background:#fff8e1;padding:.3rem .6rem;border-radius:4px;display:inline-block}
.kv th{width:14rem}code{font-size:.85em;background:#f5f5f7;padding:0 .2em;border-radius:3px}
.small{font-size:.8rem;color:#666}
"""


def esc(value) -> str:
    """HTML-escape any value (names, parameters and text come from specs)."""
    return html.escape(str(value), quote=True)


class Raw(str):
    """Markup that is already safe (built by this module from escaped parts)."""


def cell(v) -> str:
    return v if isinstance(v, Raw) else esc(v)


def table(headers: list, rows: list[list], num: set | None = None, best_first: bool = False,
          cls: str = "", row_classes: list[str] | None = None) -> Raw:
    num = num or set()
    out = [f'<table class="{esc(cls)}"><thead><tr>']
    out += [f'<th class="num">{cell(h)}</th>' if i in num else f"<th>{cell(h)}</th>" for i, h in enumerate(headers)]
    out.append("</tr></thead><tbody>")
    for r, row in enumerate(rows):
        rc = row_classes[r] if row_classes else ("best" if best_first and r == 0 else "")
        out.append(f'<tr class="{rc}">' if rc else "<tr>")
        out += [f'<td class="num">{cell(v)}</td>' if i in num else f"<td>{cell(v)}</td>" for i, v in enumerate(row)]
        out.append("</tr>")
    out.append("</tbody></table>")
    return Raw("".join(out))


def swatch(color) -> Raw:
    from matplotlib.colors import to_hex

    return Raw(f'<span class="swatch" style="background:{esc(to_hex(color))}"></span>')


def named(data: ReportData, optimizer: str, label: str | None = None) -> Raw:
    color = next((v.color for v in data.variants if v.optimizer == optimizer), "#888")
    return Raw(swatch(color) + esc(label or optimizer))


# ----------------------------------------------------------------- number formats


def pct(x) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def steps_fmt(x) -> str:
    if x is None or (isinstance(x, float) and (math.isnan(x))):
        return "—"
    if math.isinf(x):
        return "∞"
    return f"{x:,.0f}"


def value_fmt(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x >= BIG / 10:
        return "diverged"
    return f"{x:.3g}"


def _ci(lo, hi, f) -> Raw:
    return Raw(f' <span class="ci">[{esc(f(lo))}, {esc(f(hi))}]</span>')


def with_ci(v, lo, hi, f) -> Raw:
    """A value and its 95% bootstrap interval: ``88% [69%, 100%]``; the value
    alone where every resample gives it (``0%``, ``∞``)."""
    return Raw(esc(f(v)) + ("" if f(lo) == f(hi) == f(v) else _ci(lo, hi, f)))


def ci_text(v, lo, hi, f) -> str:
    return f(v) if f(lo) == f(hi) == f(v) else f"{f(v)} [{f(lo)}, {f(hi)}]"


def p_fmt(p) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}" if p < 0.01 else f"p = {p:.2f}"


def verdict(row, pos: int) -> str:
    """How an optimizer compares with its view's winner (row of a rankings view)."""
    if pos == 1:
        return "winner"
    if row["n_pairs"] == 0:
        return "no shared runs"
    return f"{'worse' if row['worse'] else '≈ tied'} ({p_fmt(row['p_holm'])})"


def row_classes(view) -> list[str]:
    return ["best" if i == 0 else "tied" if t else "" for i, t in enumerate(view["tied"])]


def tied_names(data: ReportData, view) -> Raw:
    """The view's winner and the optimizers tied with it: ``adam ≈ sgd``."""
    return Raw(" ≈ ".join(named(data, o) for o in winners(view)))


def setting_text(data: ReportData, sid) -> str:
    return data.settings.loc[sid, "label"] or "defaults"


# ----------------------------------------------------------------- ERT in steps and in evaluations


def ert_units(data: ReportData) -> list[str]:
    """The units ERT is shown in: steps, and evaluations beside them where
    any run's evaluations differ from its steps (elsewhere the two are one)."""
    return ["steps", "evals"] if data.evals_differ else ["steps"]


def ert_headers(data: ReportData, what: str) -> list[str]:
    """Column headers of the ERT in each of :func:`ert_units`, the one that ranks marked."""
    units = ert_units(data)
    if len(units) == 1:
        return [f"{what} [95% CI]"]
    return [f"{what} in {X_LABELS[u]}{' (ranks)' if u == data.rank_by else ''} [95% CI]" for u in units]


def ert_cells(data: ReportData, row, k: int) -> list[Raw]:
    """A rankings view row's ERT to criterion ``k`` with its interval, in each of :func:`ert_units`."""
    return [with_ci(row[ert_column(k, u)], row["ert_lo" if u == "steps" else "ert_evals_lo"],
                    row["ert_hi" if u == "steps" else "ert_evals_hi"], steps_fmt) for u in ert_units(data)]


def ranking_note(data: ReportData) -> str:
    """Which ERT ranks, and why."""
    if data.rank_by == "evals":
        return ("ERT in objective evaluations ranks, as the x axes of the convergence and runtime figures count "
                "them (a line-search step costs every evaluation of its search, a minibatch step batch_size / "
                "n_samples of a full-data one); ERT in steps is shown beside it. On an objective where every run "
                "spent the same evaluations per step, the two orders and tests are one.")
    if data.evals_differ:
        return ("ERT in steps ranks, as the x axes count steps (asked for); ERT in objective evaluations, which "
                "differ from steps for some runs here, is shown beside it.")
    return ("ERT in steps ranks: every run here spent one objective evaluation per step, so ERT in evaluations is "
            "the same number.")


def method_text(data: ReportData) -> str:
    """:data:`METHOD_TEXT`, saying which ERT ranks."""
    unit = X_LABELS[data.rank_by]
    text = METHOD_TEXT.replace("then the lowest ERT at the tightest target",
                               f"then the lowest ERT in {unit} at the tightest target")
    if data.rank_by == "evals":
        text = text.replace("first-hitting: each run's steps to each target, summed, a target not reached counting "
                            "as the budget + 1", "first-hitting: each run's evaluations to each target, summed, a "
                            "target not reached counting as a step past the budget at the highest evaluations per "
                            "step of a run on that objective")
    return text + " " + ranking_note(data)


# ----------------------------------------------------------------- tables


def case_ranking(data: ReportData, case: Case) -> Raw:
    """The first-hitting ranking of a case: each optimizer at its best setting,
    with intervals and its test against the winner."""
    stats = data.stats[case.id]
    view = data.views[case.id]["first_hit"]
    last = len(case.criteria) - 1
    crit = case.criteria[last]
    gap = "gap" if case.metric == "gap" else "f"
    headers = ["#", "optimizer", "vs winner", "best setting", "runs"]
    headers += [f"success: {c.label}" for c in case.criteria[:-1]] + [f"success: {crit.label} [95% CI]"]
    headers += [f"median steps to {crit.short} (runs that did)"] + ert_headers(data, f"ERT to {crit.short}")
    headers += [f"median final {gap} [95% CI]"]
    if crit.target is not None:
        headers.append(f"reached {crit.short}, ended above")
    headers.append("diverged at best / all settings")
    rows = []
    all_div = stats.groupby("optimizer", sort=False)[["n_diverged", "n"]].sum()
    for pos, (sid, row) in enumerate(view.iterrows(), 1):
        opt = row["optimizer"]
        d = all_div.loc[opt]
        r = [pos, named(data, opt), verdict(row, pos), setting_text(data, sid), int(row["n"])]
        r += [pct(row[f"succ_{k}"]) for k in range(last)]
        r += [with_ci(row["success"], row["succ_lo"], row["succ_hi"], pct),
              steps_fmt(row[f"med_steps_{last}"]), *ert_cells(data, row, last),
              with_ci(row["med_final"], row["med_lo"], row["med_hi"], value_fmt)]
        if crit.target is not None:
            r.append(int(row["n_left"]))
        r.append(f"{int(row['n_diverged'])}/{int(row['n'])} · {int(d['n_diverged'])}/{int(d['n'])}")
        rows.append(r)
    num = {0, 4} | set(range(5, len(headers) - 1))
    return table(headers, rows, num=num, row_classes=row_classes(view))


def final_ranking(data: ReportData, case: Case) -> Raw:
    """The final-state ranking of a case (median final gap)."""
    view = data.views[case.id]["final"]
    crit = case.criteria[-1]
    gap = "gap" if case.metric == "gap" else "f"
    headers = ["#", "optimizer", "vs winner", "best setting (final state)", "runs", f"median final {gap} [95% CI]",
               f"interquartile range of final {gap}", f"success: {crit.label}"]
    if crit.target is not None:
        headers.append(f"reached {crit.short}, ended above")
    headers.append("diverged")
    rows = []
    for pos, (sid, row) in enumerate(view.iterrows(), 1):
        r = [pos, named(data, row["optimizer"]), verdict(row, pos), setting_text(data, sid), int(row["n"]),
             with_ci(row["med_final"], row["med_lo"], row["med_hi"], value_fmt),
             f"{value_fmt(row['q25_final'])} – {value_fmt(row['q75_final'])}", pct(row["success"])]
        if crit.target is not None:
            r.append(int(row["n_left"]))
        r.append(f"{int(row['n_diverged'])}/{int(row['n'])}")
        rows.append(r)
    return table(headers, rows, num={0, 4, 5, 6, 7, 8, 9}, row_classes=row_classes(view))


def ert_table(data: ReportData, case: Case) -> Raw:
    stats = data.stats[case.id]
    best = best_per(stats, "variant_id")
    best = best.loc[sorted(best.index, key=lambda s: best.loc[s, "variant_id"])]
    units = ert_units(data)
    headers = ["optimizer variant", "best lr", "runs"] + [
        f"ERT to {c.short}{f' in {X_LABELS[u]}' if len(units) > 1 else ''} [95% CI] (success)"
        for c in case.criteria for u in units]
    rows = []
    for sid, row in best.iterrows():
        v = data.variant(int(row["variant_id"]))
        cells = []
        for k in range(len(case.criteria)):
            for unit in units:
                ci = criterion_intervals(data, case, sid, k, unit)
                cells.append(Raw(with_ci(row[ert_column(k, unit)], *ci.ert, steps_fmt)
                                 + esc(f" ({pct(row[f'succ_{k}'])})")))
        rows.append([Raw(swatch(v.color) + esc(v.label)), fmt(row["lr"]), int(row["n"])] + cells)
    return table(headers, rows, num=set(range(1, len(headers))))


def divergence_table(data: ReportData, case: Case) -> Raw:
    stats = data.stats[case.id]
    headers = ["optimizer variant", "runs", "diverged", "escaped", "converged", "learning rates with divergence"]
    rows = []
    for vid, g in stats.groupby("variant_id", sort=True):
        v = data.variant(int(vid))
        div_lrs = sorted(g.loc[g["n_diverged"] > 0, "lr"].dropna().unique())
        lrs = sorted(g["lr"].dropna().unique())
        if not div_lrs:
            where = "none"
        elif len(div_lrs) == len(lrs):
            where = "all"
        elif div_lrs == lrs[-len(div_lrs):]:
            where = f"≥ {fmt(div_lrs[0])}"
        else:
            where = ", ".join(fmt(x) for x in div_lrs)
        n = int(g["n"].sum())
        n_div = int(g["n_diverged"].sum())
        rows.append([Raw(swatch(v.color) + esc(v.label)), n, f"{n_div} ({pct(n_div / n)})",
                     int(g["n_escaped"].sum()), int(g["n_converged"].sum()), where])
    return table(headers, rows, num={1, 2, 3, 4})


TRANSFORMS_TEXT = (
    "Does a ranking survive rotation? Each objective's first-hitting ranking on its plain instance beside its "
    "ranking on its transformed instances (rotated: the objective composed with a rotation; shifted: its optimum "
    "moved), those instances' runs pooled into one case (runs paired by instance, initial point and repeat). Each "
    "optimizer at its best setting on each side; ≈: not significantly worse than that side's winner (paired "
    "Wilcoxon, Holm-corrected). Kendall's τ: how far the two orders agree (1: the same order, −1: reversed). The "
    "pooled side has more runs behind its tests: an optimizer can pull ahead there by power alone, so read a "
    "verdict about ties with the success and ERT columns.")


def _rank_cell(rank, tied) -> str:
    if rank is None or (isinstance(rank, float) and math.isnan(rank)):
        return "—"
    return f"{int(rank)}" + (" ≈" if tied and rank > 1 else "")


def _success_ert(success, ert) -> str:
    if success is None or (isinstance(success, float) and math.isnan(success)):
        return "not run"
    return f"{pct(success)} · {steps_fmt(ert)}"


def _tau_text(tau: float) -> str:
    return "Kendall τ: too few optimizers" if math.isnan(tau) else f"Kendall τ = {tau:.2f}"


def transforms_rows(comp) -> list[list]:
    """The rows of a plain-vs-transformed table, as text (optimizer first)."""
    return [[opt] + [_rank_cell(r[f"rank_{side}"], r[f"tied_{side}"]) for side in ("plain", "transformed")]
            + [_success_ert(r[f"success_{side}"], r[f"ert_{side}"]) for side in ("plain", "transformed")]
            for opt, r in comp.table.iterrows()]


def transforms_headers(data: ReportData, comp) -> list[str]:
    ert = f"ERT in {X_LABELS[data.rank_by]}" if data.evals_differ else "ERT"
    return ["optimizer", "rank plain", f"rank {comp.kind} (instances pooled)", f"success · {ert}, plain",
            f"success · {ert}, {comp.kind}"]


def transforms_section(data: ReportData) -> Raw:
    """Plain vs transformed instances: per objective, a verdict and the two rankings side by side."""
    parts = ['<section id="transforms"><h2>Plain vs transformed instances</h2>',
             f"<p>{esc(TRANSFORMS_TEXT)} {esc(ranking_note(data))}</p>"]
    for comp in data.transforms:
        crit = comp.plain.criteria[-1].label
        parts.append(f"<h3>{esc(comp.title)}</h3>")
        parts.append(f"<p><strong>{esc(comp.verdict)}</strong> · {esc(_tau_text(comp.tau))} · success: {esc(crit)} "
                     f"· {comp.plain.n_runs:,} runs plain, {comp.transformed.n_runs:,} {esc(comp.kind)}</p>")
        rows = [[named(data, r[0]), *r[1:]] for r in transforms_rows(comp)]
        parts.append(table(transforms_headers(data, comp), rows, num={1, 2, 3, 4}))
    parts.append("</section>")
    return Raw("".join(parts))


def _crit_label(data: ReportData) -> str:
    labels = {c.criteria[-1].label for c in data.cases}
    return labels.pop() if len(labels) == 1 else "tightest criterion"


def overall_table(data: ReportData, overall: pd.DataFrame) -> Raw:
    headers = ["#", "optimizer", "targets reached: mean over objectives [95% CI]",
               f"mean success ({_crit_label(data)})",
               "first-hitting rank: mean ± sd", "final-state rank: mean", "won or tied: first-hitting / final state",
               "objectives solved", "runs", "diverged"]
    rows = []
    for pos, (opt, row) in enumerate(overall.iterrows(), 1):
        n = int(row["cases"])
        rows.append([pos, named(data, opt), with_ci(row["share"], row["share_lo"], row["share_hi"], pct),
                     pct(row["success"]), f"{row['mean_rank']:.2f} ± {row['sd_rank']:.2f}",
                     f"{row['mean_rank_final']:.2f}",
                     f"{int(row['wins_tied'])}/{n} · {int(row['wins_tied_final'])}/{n}",
                     f"{int(row['cases_solved'])}/{n}", f"{int(row['runs']):,}",
                     f"{int(row['diverged']):,} ({pct(row['diverged'] / row['runs'])})"])
    return table(headers, rows, num={0, 2, 3, 4, 5, 6, 7, 8, 9}, best_first=True)


def rank_order_note(overall: pd.DataFrame) -> str:
    """A sentence where ordering by mean rank would differ from the table's order."""
    by_rank = list(overall.sort_values(["mean_rank", "share"], ascending=[True, False], kind="stable").index)
    if by_rank == list(overall.index):
        return ""
    return ("Ordered by mean first-hitting rank instead, the list would read " + ", ".join(by_rank)
            + ": a rank counts places, not how far apart they are, so an optimizer that wins some objectives "
            "narrowly and fails others can out-rank one that meets more targets overall.")


def winners_table(data: ReportData) -> Raw:
    crit = _crit_label(data)
    ert = ert_headers(data, "ERT")
    headers = ["objective", "best, first-hitting (≈ tied)", f"success ({crit}) [95% CI]", *ert,
               "best, final state (≈ tied)", "median final [95% CI]", "views"]
    rows = []
    for case in data.cases:
        views = data.views[case.id]
        fh, fs = views["first_hit"].iloc[0], views["final"].iloc[0]
        last = len(case.criteria) - 1
        rows.append([Raw(f'<a href="#{esc(case.slug)}">{esc(case.label)}</a>'), tied_names(data, views["first_hit"]),
                     with_ci(fh["success"], fh["succ_lo"], fh["succ_hi"], pct), *ert_cells(data, fh, last),
                     tied_names(data, views["final"]),
                     with_ci(fs["med_final"], fs["med_lo"], fs["med_hi"], value_fmt),
                     "disagree" if winners(views["first_hit"])[:1] != winners(views["final"])[:1] else "agree"])
    return table(headers, rows, num={2, 3, 4 + len(ert)} | set(range(3, 3 + len(ert))))


def divergence_matrix(data: ReportData) -> Raw:
    runs = data.runs
    opts = data.optimizers()
    headers = ["objective"] + [named(data, o) for o in opts] + ["all"]
    rows = []
    for case in data.cases:
        sub = runs[runs["case_id"] == case.id]
        g = sub.groupby("optimizer")["diverged_"].agg(["sum", "size"])
        row = [case.label]
        for o in opts:
            row.append(f"{int(g.loc[o, 'sum'])}/{int(g.loc[o, 'size'])}" if o in g.index else "—")
        row.append(f"{int(sub['diverged_'].sum())}/{len(sub)}")
        rows.append(row)
    return table(headers, rows, num=set(range(1, len(opts) + 2)))


def run_counts(data: ReportData) -> Raw:
    runs = data.runs
    headers = ["objective", "parameters", "runs", "converged", "unconverged", "diverged", "escaped"]
    rows = []
    for case in data.cases:
        s = runs.loc[runs["case_id"] == case.id, "status"].value_counts()
        rows.append([case.label, case.detail, f"{case.n_runs:,}"] + [f"{int(s.get(k, 0)):,}" for k in
                                                                     ("converged", "unconverged", "diverged",
                                                                      "escaped")])
    s = runs["status"].value_counts()
    rows.append([Raw("<b>all</b>"), "", f"{len(runs):,}"] + [f"{int(s.get(k, 0)):,}" for k in
                                                         ("converged", "unconverged", "diverged", "escaped")])
    return table(headers, rows, num={2, 3, 4, 5, 6})


def _grid_text(value) -> str:
    if isinstance(value, dict) and isinstance(value.get("name"), str):  # a scheduler: cosine_annealing_lr(T_max=900)
        return f"{value['name']}({', '.join(f'{k}={_grid_text(v)}' for k, v in value.items() if k != 'name')})"
    if isinstance(value, dict) and len(value) == 1:
        kind, args = next(iter(value.items()))
        return f"{kind}({', '.join(fmt(a) for a in args)})" if isinstance(args, list) else f"{kind}({fmt(args)})"
    if isinstance(value, list):
        return "[" + ", ".join(_grid_text(v) for v in value) + "]"
    return fmt(value)


def settings_tables(data: ReportData) -> Raw:
    m = data.manifest
    spec = m.get("spec") or {}
    init = spec.get("init", {}) if isinstance(spec.get("init", {}), dict) else {}
    timing = m.get("timing") or {}
    machine = m.get("machine") or {}
    kv = [
        ("sweep", m.get("name", spec.get("name", ""))),
        ("steps per run", m.get("steps", spec.get("steps", ""))),
        ("curve logged every", f"{m.get('log_every', '')} steps"),
        ("targets (gap to optimum)", ", ".join(f"{t:g}" for t in data.targets) or "none"),
        ("initial points", ", ".join(f"{k}={_grid_text(v)}" for k, v in init.items()) or "defaults"),
        ("repeats per initial point", spec.get("repeats", 1)),
        ("seed", spec.get("seed", 0)),
        ("objective cases × optimizer settings", f"{len(data.cases)} × {len(data.settings)}"),
        ("runs", f"{len(data.runs):,}"),
        ("sweep wall time", f"{timing.get('wall_s', float('nan')):.1f} s" if isinstance(timing.get("wall_s"),
                                                                                          (int, float)) else "—"),
        ("started (UTC)", m.get("started_utc", "—")),
        ("machine", f"{machine.get('cpu', '?')}, {machine.get('cpu_count', '?')} cores, Python "
                    f"{machine.get('python', '?')}"),
        ("versions", ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items() if v)),
    ]
    for rec in m.get("plugins") or []:  # whose code computed these numbers, and which version of it
        if isinstance(rec, dict):
            defined = ", ".join([*rec.get("objectives", []), *rec.get("optimizers", [])])
            where = "defined in __main__" if rec.get("kind") == "inline" else rec.get("ref", "?")
            kv.append(("plugin", f"{where} (source digest {rec.get('digest', '?') or '?'}): {defined}"))
    if m.get("skipped_combinations"):
        kv.append(("skipped hyperparameter combinations",
                   f"{len(m['skipped_combinations'])} (listed in manifest.json)"))
    out = [table(["setting", "value"], [[k, v] for k, v in kv], cls="kv")]
    # the grids as written in the spec
    rows = []
    for e in spec.get("objectives", []) if isinstance(spec.get("objectives"), list) else []:
        if isinstance(e, dict):
            rows.append(["objective", e.get("name", "?"),
                         ", ".join(f"{k}={_grid_text(v)}" for k, v in e.items() if k != "name") or "defaults"])
    for e in spec.get("optimizers", []) if isinstance(spec.get("optimizers"), list) else []:
        if isinstance(e, dict):
            rows.append(["optimizer", Raw(named(data, str(e.get("name", "?")))),
                         ", ".join(f"{k}={_grid_text(v)}" for k, v in e.items() if k != "name") or "defaults"])
    if rows:
        out.append(table(["entry", "name", "grid (as in the spec)"], rows))
    return Raw("".join(out))


# ----------------------------------------------------------------- page


METHOD_TEXT = (
    "Each optimizer at its best setting on each objective, in two views. First-hitting (COCO's anytime view): "
    "among settings where at most half the runs diverged, the largest share of (run, target) pairs reached, then "
    "the lowest ERT at the tightest target, then at the looser ones; a run counts from the first step it reaches "
    "a target, even if it leaves it again. Final state (what a training run ends with): the lowest median final "
    "gap. Brackets: 95% percentile bootstrap intervals over the runs (initial points and repeats), "
    f"{st.N_BOOT:,} resamples with a fixed seed. ≈ tied: a paired Wilcoxon signed-rank test against the view's "
    "winner (runs paired by initial point and minibatch stream; first-hitting: each run's steps to each target, "
    "summed, a target not reached counting as the budget + 1; final state: the final gap) does not find it worse, "
    f"Holm-corrected over the objective's optimizers at α = {st.ALPHA:g}. The overall table is ordered by the "
    "mean over objectives of the share of (run, target) pairs reached at each optimizer's best setting (where "
    "the aggregated runtime distribution below ends), then by mean rank.")


def figure_html(plot: Plot, budget: dict) -> Raw:
    b64 = base64.b64encode(plot.png).decode("ascii")
    cap = f"<figcaption>{esc(plot.caption)}</figcaption>"
    if budget["left"] >= len(b64):
        budget["left"] -= len(b64)
        return Raw(f'<figure id="fig-{esc(plot.name)}"><img src="data:image/png;base64,{b64}" '
                   f'alt="{esc(plot.title)}">{cap}</figure>')
    budget["linked"] += 1
    return Raw(f'<figure id="fig-{esc(plot.name)}"><p class="note">Not embedded to keep this page small: '
               f'<a href="plots/{esc(plot.name)}.png">plots/{esc(plot.name)}.png</a></p>{cap}</figure>')


def page(data: ReportData, overall: pd.DataFrame, summary_plots: list[Plot], family: dict,
         case_plots: dict[int, list[Plot]], build_s: float | None = None) -> str:
    m = data.manifest
    name = m.get("name", data.folder.name)
    desc = (m.get("spec") or {}).get("description", "")
    budget = {"left": EMBED_BUDGET, "linked": 0}
    opts = data.optimizers()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; script-src 'none'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>optbench report: {esc(name)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>optbench report: {esc(name)}</h1>",
    ]
    if desc:
        parts.append(f'<p class="lead">{esc(desc)}</p>')
    for note in data.plugin_notes:  # plugins not loaded: which figures are missing, and how to get them
        parts.append(f'<p><span class="note"><strong>Not drawn:</strong> {esc(note)}</span></p>')
    parts.append(
        f'<p class="meta">{len(data.runs):,} runs · {len(data.cases)} objective cases · optimizers '
        + ", ".join(named(data, o) for o in opts)
        + f" · {esc(m.get('steps', '?'))} steps each · results folder <code>{esc(data.folder.resolve())}</code></p>")

    nav = ['<nav><ol><li><a href="#settings">Sweep settings</a></li>',
           '<li><a href="#summary">Summary and ranking</a></li>']
    if data.transforms:
        nav.append('<li><a href="#transforms">Plain vs transformed instances</a></li>')
    for obj in family:
        nav.append(f'<li><a href="#family-{esc(family[obj]["slug"])}">{esc(obj)} across its parameters</a></li>')
    for case in data.cases:
        nav.append(f'<li><a href="#{esc(case.slug)}">{esc(case.label)}</a></li>')
    nav.append('<li><a href="#runs">Run counts and divergence</a></li></ol></nav>')
    parts.append("".join(nav))

    parts.append('<section id="settings"><h2>Sweep settings</h2>')
    parts.append(settings_tables(data))
    parts.append("</section>")

    parts.append('<section id="summary"><h2>Summary and ranking</h2>')
    parts.append(f"<p>{esc(method_text(data))}</p>")
    parts.append(overall_table(data, overall))
    if note := rank_order_note(overall):
        parts.append(f'<p class="small">{esc(note)}</p>')
    parts.append("<h3>Best optimizer per objective</h3>")
    parts.append(winners_table(data))
    for p in summary_plots:
        parts.append(figure_html(p, budget))
    parts.append("</section>")
    if data.transforms:
        parts.append(transforms_section(data))

    for obj, fam in family.items():
        parts.append(f'<section id="family-{esc(fam["slug"])}"><h2>{esc(obj)} across {esc(", ".join(fam["params"]))}'
                     f"</h2>")
        parts.append(fam["table"])
        for p in fam["plots"]:
            parts.append(figure_html(p, budget))
        parts.append("</section>")

    for case in data.cases:
        parts.append(f'<section id="{esc(case.slug)}"><h2>{esc(case.label)}</h2>')
        f_star = f"f* = {case.f_star:.6g}" if math.isfinite(case.f_star) else \
            f"f* = {case.f_star} (no finite optimum: values of f are shown, success means escaped or converged)"
        parts.append(f'<p class="meta">{esc(case.detail)} · {esc(f_star)} · {case.n_runs:,} runs'
                     + (f" · {esc(case.problem_note)}" if case.problem is None and case.dim == 2 else "") + "</p>")
        if note := attainment_note(case):
            parts.append(f'<p><span class="note">{esc(note)}.</span></p>')
        parts.append("<h3>Ranking at best setting: first-hitting</h3>")
        parts.append(case_ranking(data, case))
        if disagree(data.views[case.id]):
            parts.append("<h3>Ranking at best setting: final state</h3>")
            parts.append('<p class="small">The two views disagree here: what each optimizer ends with, each at '
                         'the setting with the lowest median final value.</p>')
            parts.append(final_ranking(data, case))
        else:
            parts.append('<p class="small">Ranked by median final value instead (final state), the order and the '
                         'ties are the same.</p>')
        for p in case_plots.get(case.id, []):
            parts.append(figure_html(p, budget))
        parts.append("<h3>Expected running time (ERT)</h3>")
        spent = "steps (objective evaluations)" if data.evals_differ else "steps"
        parts.append(f"<p class=\"small\">ERT = {spent} spent by all runs (up to the target if reached, else all "
                     "they ran) ÷ runs that reached the target; each variant at its best learning rate; success rate "
                     "in brackets.</p>")
        parts.append(ert_table(data, case))
        parts.append("<h3>Divergence</h3>")
        parts.append(divergence_table(data, case))
        parts.append("</section>")

    parts.append('<section id="runs"><h2>Run counts and divergence</h2>')
    parts.append(run_counts(data))
    parts.append("<h3>Diverged runs per objective and optimizer (all settings)</h3>")
    parts.append(divergence_matrix(data))
    parts.append("</section>")
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    foot = f"Built {now} from runs.parquet, curves.parquet and manifest.json"
    if build_s is not None:
        foot += f" in {build_s:.1f} s"
    if budget["linked"]:
        foot += f"; {budget['linked']} figures are linked from plots/ instead of embedded (page size limit)"
    parts.append(f'<p class="small">{esc(foot)}. Every figure is also a PNG under <code>plots/</code>.</p>')
    parts.append("</main></body></html>")
    return "\n".join(parts)


def family_table(data: ReportData, obj: str, cases: list[Case]) -> Raw:
    opts = data.optimizers()
    headers = ["case"] + [named(data, o) for o in opts]
    rows = []
    for c in cases:
        best = best_per(data.stats[c.id], "optimizer").set_index("optimizer")
        row = [Raw(f'<a href="#{esc(c.slug)}">{esc(c.label)}</a>')]
        for o in opts:
            if o in best.index:
                b = best.loc[o]
                row.append(f"{pct(b['success'])} · {value_fmt(b['med_final'])}")
            else:
                row.append("—")
        rows.append(row)
    note = Raw(f'<p class="small">Each cell: success rate ({esc(cases[0].criteria[-1].label)}) · median final '
               f"{'gap' if cases[0].metric == 'gap' else 'f'} of the optimizer at its best setting for that case.</p>")
    return Raw(note + table(headers, rows, num=set(range(1, len(opts) + 1))))


# ----------------------------------------------------------------- summary.md


def markdown(data: ReportData, overall: pd.DataFrame) -> str:
    m = data.manifest
    name = m.get("name", data.folder.name)
    desc = (m.get("spec") or {}).get("description", "")

    def md(v) -> str:
        # names come from specs: keep them from becoming markup where the file is rendered
        return (str(v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
                .replace("\n", " "))

    lines = [f"# optbench report: {md(name)}", ""]
    if desc:
        lines += [md(desc), ""]
    n_div = int(data.runs["diverged_"].sum())
    lines += [f"{len(data.runs):,} runs · {len(data.cases)} objective cases · {len(data.optimizers())} optimizers · "
              f"{m.get('steps', '?')} steps · targets {', '.join(f'{t:g}' for t in data.targets) or 'none'} · "
              f"{n_div:,} diverged", ""]
    lines += ["## Overall ranking (each optimizer at its best setting per objective)", "",
              "| # | optimizer | targets reached [95% CI] | mean success | mean rank ± sd | won or tied | "
              "diverged runs |", "|---|---|---|---|---|---|---|"]
    for pos, (opt, row) in enumerate(overall.iterrows(), 1):
        lines.append(f"| {pos} | {md(opt)} | {ci_text(row['share'], row['share_lo'], row['share_hi'], pct)} | "
                     f"{pct(row['success'])} | {row['mean_rank']:.2f} ± {row['sd_rank']:.2f} | "
                     f"{int(row['wins_tied'])}/{int(row['cases'])} | {int(row['diverged']):,}/{int(row['runs']):,} |")
    if note := rank_order_note(overall):
        lines += ["", md(note)]
    lines += ["", "## Best optimizer per objective (≈: not significantly worse than the winner)", "",
              f"| objective | first-hitting | success [95% CI] | {' · '.join(ert_headers(data, 'ERT'))} | "
              "final state | median final [95% CI] |", "|---|---|---|---|---|---|"]
    for case in data.cases:
        views = data.views[case.id]
        fh, fs = views["first_hit"].iloc[0], views["final"].iloc[0]
        last = len(case.criteria) - 1
        erts = [ci_text(fh[ert_column(last, u)], fh["ert_lo" if u == "steps" else "ert_evals_lo"],
                        fh["ert_hi" if u == "steps" else "ert_evals_hi"], steps_fmt) for u in ert_units(data)]
        lines.append(f"| {md(case.label)} | {md(' ≈ '.join(winners(views['first_hit'])))} | "
                     f"{ci_text(fh['success'], fh['succ_lo'], fh['succ_hi'], pct)} ({md(case.criteria[-1].label)}) | "
                     f"{' · '.join(erts)} | {md(' ≈ '.join(winners(views['final'])))} | "
                     f"{ci_text(fs['med_final'], fs['med_lo'], fs['med_hi'], value_fmt)} |")
    if data.transforms:
        lines += ["", "## Plain vs transformed instances", "", md(TRANSFORMS_TEXT)]
        for comp in data.transforms:
            headers = transforms_headers(data, comp)
            lines += ["", f"### {md(comp.title)}", "", f"**{md(comp.verdict)}** · {_tau_text(comp.tau)} · success: "
                      f"{md(comp.plain.criteria[-1].label)}", "", "| " + " | ".join(headers) + " |",
                      "|---|" + "---:|" * (len(headers) - 1)]
            lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in transforms_rows(comp)]
    lines += ["", md(method_text(data))]
    lines += ["", "Figures and per-objective tables: `report.html` (plots in `plots/`).", ""]
    return "\n".join(lines)
