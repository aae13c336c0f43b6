"""Rankings with their uncertainty: per case, each optimizer at its best
setting in two views, with bootstrap intervals and ties; over cases, an
aggregate a reader can defend.

Views (see :mod:`.stats` for the per-run outcomes the tests compare):

* ``first_hit``: the report's ranking order (:func:`.data.rank`): share of
  (run, target) pairs met, then ERT (in steps, or in objective evaluations
  where the report's x axis counts them: :attr:`.data.ReportData.rank_by`).
  COCO's anytime view.
* ``final``: median final gap (:func:`.data.rank_final`): what a training
  run ends with.  A run that reached the target and left it counts as
  reached in the first view and by where it ended in the second.

An optimizer is *tied* with a view's winner unless a paired Wilcoxon
signed-rank test on the view's per-run outcome, over the runs the two
settings share (same initial point and minibatch stream), finds it worse,
Holm-corrected over the case's optimizers at :data:`.stats.ALPHA`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats as st
from .data import Case, ReportData, best_per, outcomes, rank_final, setting_runs

VIEWS = ("first_hit", "final")
VIEW_TITLES = {"first_hit": "first-hitting (targets reached, then ERT)",
               "final": "final state (median final gap)"}


def _ci_columns(o: pd.DataFrame, key, evals: bool) -> dict:
    """Intervals of one setting's runs ``o`` (:func:`.data.outcomes`); those
    of its ERT in evaluations are resampled alike where ``evals`` (the
    folder's evaluations differ from its steps), else are the ERT's own."""
    ci = st.bootstrap(o["reached"].to_numpy(), o["spent"].to_numpy(), o["final_"].to_numpy(), key)
    ert_evals = st.bootstrap(o["reached"].to_numpy(), o["spent_evals"].to_numpy(), o["final_"].to_numpy(),
                             key).ert if evals else ci.ert
    return {"succ_lo": ci.success[0], "succ_hi": ci.success[1], "ert_lo": ci.ert[0], "ert_hi": ci.ert[1],
            "ert_evals_lo": ert_evals[0], "ert_evals_hi": ert_evals[1],
            "med_lo": ci.median_final[0], "med_hi": ci.median_final[1]}


def case_views(data: ReportData, case: Case, stats: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """{view: one row per optimizer at its best setting in that view, best
    first}: the setting's stats (:func:`.data.setting_stats`; ``stats``,
    else the case's in ``data.stats``) plus bootstrap intervals
    (``succ_lo/hi``, ``ert_lo/hi``, ``ert_evals_lo/hi``, ``med_lo/hi``), the
    test against the view's winner (``p``, ``p_holm``, ``n_pairs``,
    ``worse``: significantly worse) and ``tied`` (the winner itself, and
    every optimizer not significantly worse)."""
    stats = data.stats[case.id] if stats is None else stats
    cache: dict = {}

    def runs_of(sid):
        if sid not in cache:
            cache[sid] = outcomes(data, case, sid)
        return cache[sid]

    out = {}
    for view, ordered in (("first_hit", stats), ("final", rank_final(stats))):
        best = best_per(ordered, "optimizer").copy()
        sids = list(best.index)
        win = runs_of(sids[0])
        p, n_pairs, direction = [np.nan], [len(win)], [0]
        for sid in sids[1:]:
            o = runs_of(sid)
            common = o.index.intersection(win.index)
            res = st.wilcoxon(o.loc[common, view].to_numpy(), win.loc[common, view].to_numpy())
            p.append(res.p)
            n_pairs.append(len(common))
            direction.append(res.direction)
        adj = np.r_[np.nan, st.holm(np.asarray(p[1:]))]
        best["p"] = p
        best["p_holm"] = adj
        best["n_pairs"] = n_pairs
        best["worse"] = [False] + [bool(q < st.ALPHA and d > 0) for q, d in zip(adj[1:], direction[1:])]
        best["tied"] = ~best["worse"]
        cis = pd.DataFrame([_ci_columns(runs_of(sid), (case.id, sid), data.evals_differ) for sid in sids],
                           index=best.index)
        out[view] = best.join(cis)
    return out


def disagree(views: dict[str, pd.DataFrame]) -> bool:
    """Whether the two views order the optimizers differently or tie
    different optimizers with their winner."""
    a, b = views["first_hit"], views["final"]
    return list(a["optimizer"]) != list(b["optimizer"]) or \
        set(a.loc[a["tied"], "optimizer"]) != set(b.loc[b["tied"], "optimizer"])


def attach(data: ReportData) -> pd.DataFrame:
    """Fill ``data.views`` (every case's :func:`case_views`) and return the
    :func:`overall` ranking: what the page and the exported tables show."""
    data.views = {c.id: case_views(data, c) for c in data.cases}
    return overall(data, data.views)


def _share_resamples(data: ReportData, case: Case, sid) -> np.ndarray:
    """Bootstrap resamples (:data:`.stats.N_BOOT`) of the share of (run,
    criterion) pairs a setting met on a case, seeded like its intervals."""
    sub = setting_runs(data, case, sid)
    met = sub[[c.column for c in case.criteria]].notna().to_numpy().mean(axis=1)
    idx = st._rng((case.id, sid, 1)).integers(0, len(met), size=(st.N_BOOT, len(met)))
    return met[idx].mean(axis=1)


def overall(data: ReportData, views: dict[int, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """Per optimizer over cases, best first: ``share`` (mean over cases of
    the share of (run, target) pairs met at the optimizer's best setting,
    the end point of the aggregated data profile) with a stratified
    bootstrap interval (``share_lo/hi``, runs resampled within each case),
    mean ``success`` (tightest target), mean rank and its standard
    deviation in each view, wins (tied with the winner, and outright),
    cases solved, runs and diverged runs.  Ordered by share, then mean
    first-hitting rank: an optimizer that meets more targets on average
    ranks higher, however the places fall."""
    rows = []
    boots: dict[str, list] = {}
    for case in data.cases:
        fh, fs = views[case.id]["first_hit"], views[case.id]["final"]
        final_rank = {opt: pos for pos, opt in enumerate(fs["optimizer"], 1)}
        final_tied = set(fs.loc[fs["tied"], "optimizer"])
        n_crit = len(case.criteria)
        for pos, (sid, row) in enumerate(fh.iterrows(), 1):
            opt = row["optimizer"]
            share = sum(row[f"succ_{k}"] for k in range(n_crit)) / n_crit
            rows.append({"optimizer": opt, "share": share, "success": row["success"], "rank": pos,
                         "rank_final": final_rank[opt], "win": pos == 1, "tied": bool(row["tied"]),
                         "tied_final": opt in final_tied})
            boots.setdefault(opt, []).append(_share_resamples(data, case, sid))
    df = pd.DataFrame(rows)
    g = df.groupby("optimizer", sort=False)
    out = pd.DataFrame({
        "share": g["share"].mean(),
        "success": g["success"].mean(),
        "mean_rank": g["rank"].mean(),
        "sd_rank": g["rank"].std(ddof=0),
        "mean_rank_final": g["rank_final"].mean(),
        "wins": g["win"].sum().astype(int),
        "wins_tied": g["tied"].sum().astype(int),
        "wins_tied_final": g["tied_final"].sum().astype(int),
        "cases_solved": g["success"].apply(lambda s: int((s > 0).sum())),
        "cases": g.size(),
    })
    lo, hi = {}, {}
    for opt, bs in boots.items():
        lo[opt], hi[opt] = st._interval(np.mean(bs, axis=0))
    out["share_lo"] = pd.Series(lo)
    out["share_hi"] = pd.Series(hi)
    div = data.runs.groupby("optimizer", sort=False)["diverged_"].agg(["sum", "size"])
    out["runs"] = div["size"].reindex(out.index)
    out["diverged"] = div["sum"].reindex(out.index)
    return out.sort_values(["share", "mean_rank"], ascending=[False, True], kind="stable")


def winners(view: pd.DataFrame) -> list[str]:
    """The view's winner and the optimizers tied with it, in ranking order."""
    return list(view.loc[view["tied"], "optimizer"])


def criterion_intervals(data: ReportData, case: Case, sid, k: int, unit: str = "steps") -> st.Intervals:
    """Bootstrap intervals of a setting's success rate and ERT at criterion
    ``k`` of the case (and its median final value); the ERT in ``unit``
    ("steps" or "evals")."""
    sub = setting_runs(data, case, sid)
    s = sub[case.criteria[k].spent_column(unit)].to_numpy(float)
    reached = sub[case.criteria[k].column].notna().to_numpy()
    spent = np.where(reached, s, sub["evals_final" if unit == "evals" else "steps_run"].to_numpy(float))
    return st.bootstrap(reached, spent, sub["final_"].to_numpy(float), (case.id, sid, 100 + k))
