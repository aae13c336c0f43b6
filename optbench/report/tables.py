"""The report's ranking tables as data frames: what ``report --tables`` exports.

Each frame holds the numbers the page shows (not their formatted text), one
row per optimizer or case, with plain column names, intervals as ``_lo`` /
``_hi`` columns and ties as a ``vs_winner`` column; the page and the
exported files are two views of the same numbers.
"""
from __future__ import annotations

import pandas as pd

from .data import ReportData
from .rankings import winners

CASE_COLUMNS = {  # rankings view column -> exported name
    "optimizer": "optimizer", "label": "setting", "n": "runs", "success": "success", "succ_lo": "success_lo",
    "succ_hi": "success_hi", "ert_lo": "ert_lo", "ert_hi": "ert_hi", "ert_evals_lo": "ert_evals_lo",
    "ert_evals_hi": "ert_evals_hi", "med_final": "median_final",
    "med_lo": "median_final_lo", "med_hi": "median_final_hi", "n_left": "reached_then_left",
    "n_diverged": "diverged", "n_pairs": "paired_runs", "p": "p", "p_holm": "p_holm",
}


def _vs_winner(view: pd.DataFrame) -> list[str]:
    return ["winner" if i == 0 else "tied" if t else "worse" for i, t in enumerate(view["tied"])]


def case_frame(view: pd.DataFrame, n_criteria: int) -> pd.DataFrame:
    last = n_criteria - 1
    out = view.rename(columns={f"ert_{last}": "ert", f"ert_evals_{last}": "ert_evals"})
    cols = ["optimizer", "label", "n"] + [f"succ_{k}" for k in range(last)] + \
        ["success", "succ_lo", "succ_hi", "ert", "ert_lo", "ert_hi", "ert_evals", "ert_evals_lo", "ert_evals_hi",
         "med_final", "med_lo", "med_hi", "n_left", "n_diverged", "n_pairs", "p", "p_holm"]
    out = out[cols].rename(columns=CASE_COLUMNS).reset_index(drop=True)
    out.insert(1, "vs_winner", _vs_winner(view))
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def transforms_frame(data: ReportData) -> pd.DataFrame:
    """Plain vs transformed instances (:mod:`.transforms`): one row per
    (objective, transform, optimizer), ranks and ties on each side, success
    and ERT (in the unit that ranks, ``ert_unit``) and the verdict."""
    rows = []
    for comp in data.transforms:
        t = comp.table.reset_index()
        t.insert(0, "objective", comp.plain.label)
        t.insert(1, "transform", comp.kind)
        t.insert(2, "instances", " ".join(str(i) for i in comp.instances if i is not None))
        t["ert_unit"] = data.rank_by
        t["kendall_tau"] = comp.tau
        t["verdict"] = comp.verdict
        rows.append(t)
    return pd.concat(rows, ignore_index=True)


def frames(data: ReportData, overall: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{file stem: table}: ``overall``, ``winners`` (best optimizer per
    objective in both views, with the optimizers tied with it), per case,
    ``case-<slug>-first-hit`` and ``case-<slug>-final`` and, where the
    folder has plain and transformed instances, ``transforms``."""
    out = {"overall": overall.rename_axis("optimizer").reset_index()}
    rows = []
    for case in data.cases:
        views = data.views[case.id]
        fh, fs = views["first_hit"].iloc[0], views["final"].iloc[0]
        last = len(case.criteria) - 1
        rows.append({
            "objective": case.label, "criterion": case.criteria[-1].label,
            "first_hit_best": fh["optimizer"], "first_hit_tied": " ".join(winners(views["first_hit"])[1:]),
            "first_hit_setting": fh["label"], "success": fh["success"], "success_lo": fh["succ_lo"],
            "success_hi": fh["succ_hi"], "ert": fh[f"ert_{last}"], "ert_lo": fh["ert_lo"], "ert_hi": fh["ert_hi"],
            "ert_evals": fh[f"ert_evals_{last}"], "ert_evals_lo": fh["ert_evals_lo"],
            "ert_evals_hi": fh["ert_evals_hi"], "ranked_by": data.rank_by,
            "final_best": fs["optimizer"], "final_tied": " ".join(winners(views["final"])[1:]),
            "final_setting": fs["label"], "median_final": fs["med_final"], "median_final_lo": fs["med_lo"],
            "median_final_hi": fs["med_hi"],
        })
        for view, stem in (("first_hit", "first-hit"), ("final", "final")):
            out[f"case-{case.slug}-{stem}"] = case_frame(views[view], len(case.criteria))
    out["winners"] = pd.DataFrame(rows)
    if data.transforms:
        out["transforms"] = transforms_frame(data)
    return out
