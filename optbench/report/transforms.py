"""Plain against transformed instances of an objective: does a ranking
survive rotation (or a shift of the optimum)?

A sweep with transformed instances has objective-parameter columns
``obj_rotate``, ``obj_shift`` and ``obj_instance`` (null, or false, for
the plain instance).  Each instance stays a case of its own (its section,
its figures); here the instances of one transform of one objective are
pooled into one case, their runs treated as one case's runs (paired by
instance, initial point and repeat), and ranked by the same rules as every
case (:func:`.data.setting_stats`, :func:`.rankings.case_views`), beside
the plain instance's ranking.

Cases are matched by everything but the transform: objective, dimension,
every other objective parameter, batch size, gradient noise and
initialization.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import Case, ReportData, ert_column, setting_stats
from .rankings import case_views, winners

TRANSFORM_PARAMS = ("rotate", "shift", "instance")
KINDS = {(True, False): "rotated", (False, True): "shifted", (True, True): "rotated and shifted"}
UNDER = {"rotated": "rotation", "shifted": "a shift", "rotated and shifted": "rotation and shift"}


@dataclass
class TransformComparison:
    """One objective's plain instance beside one kind of its transformed instances."""

    plain: Case  # the plain instance (or its instances pooled)
    kind: str  # "rotated", "shifted", "rotated and shifted"
    transformed: Case  # the transformed instances pooled (Case.members)
    instances: list  # their instance numbers (None where a case has none)
    views: dict  # {"plain": first-hitting view, "transformed": first-hitting view}
    table: pd.DataFrame  # one row per optimizer: ranks, ties, success and ERT on each side
    verdict: str
    tau: float  # Kendall's tau between the two orders, over the optimizers on both sides (NaN: under two)

    @property
    def title(self) -> str:
        inst = ", ".join(str(i) for i in self.instances if i is not None)
        return f"{self.plain.label}: plain vs {self.kind}" + (f" (instances {inst} pooled)" if inst else "")


def _kind(case: Case) -> tuple[bool, bool]:
    return bool(case.params.get("rotate") or False), bool(case.params.get("shift") or False)


def _norm(v):
    if isinstance(v, (bool, np.bool_)) or v is None or isinstance(v, str):
        return v
    return float(v) if isinstance(v, (int, float, np.integer, np.floating)) else str(v)


def base_key(case: Case) -> tuple:
    """What a transformed case shares with its plain instance."""
    params = tuple(sorted((k, _norm(v)) for k, v in case.params.items() if k not in TRANSFORM_PARAMS))
    return case.objective, case.dim, params, case.batch_size, float(case.noise), case.init


def pooled(data: ReportData, cases: list[Case], new_id: int, label: str) -> Case:
    """``cases`` (instances of one objective) as one case holding all their runs."""
    if len(cases) == 1:
        return cases[0]
    rates = {c.evals_rate for c in cases}
    rate = rates.pop() if len(rates) == 1 else math.nan  # one rate over every instance: ranked in steps
    return dataclasses.replace(cases[0], id=new_id, members=tuple(c.id for c in cases), label=label,
                               n_runs=sum(c.n_runs for c in cases), problem=None, problem_note="instances pooled",
                               evals_rate=rate, evals_budget=max(c.evals_budget for c in cases))


def kendall_tau(a: list, b: list) -> float:
    """Kendall's tau-a between two orders of the items they share."""
    common = [x for x in a if x in b]
    n = len(common)
    if n < 2:
        return math.nan
    pos = {x: i for i, x in enumerate(b)}
    s = sum(np.sign(pos[common[j]] - pos[common[i]]) for i in range(n) for j in range(i + 1, n))
    return float(s) / (n * (n - 1) / 2)


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _lead(plain: pd.DataFrame, transformed: pd.DataFrame, under: str) -> str:
    """What happens to the lead: the first-hitting winners (with the optimizers tied with them) on each side."""
    order_p, order_t = list(plain["optimizer"]), list(transformed["optimizer"])
    wp, wt = winners(plain), winners(transformed)
    if order_p == order_t and set(wp) == set(wt):
        return "ranking unchanged"
    lead_p = wp[0] if len(wp) == 1 else None  # an outright lead: every other optimizer significantly worse
    lead_t = wt[0] if len(wt) == 1 else None
    if lead_p is not None:
        if lead_t == lead_p:
            return f"{lead_p} keeps its lead under {under}"
        if lead_p in wt:
            others = [o for o in wt if o != lead_p]
            return f"{lead_p}'s lead vanishes under {under} (now ≈ tied with {', '.join(others)})"
        return f"{lead_p} loses its lead under {under}: {' ≈ '.join(wt)} {'wins' if len(wt) == 1 else 'lead'}"
    if lead_t is not None:
        return f"{lead_t} pulls ahead under {under} (plain: {' ≈ '.join(wp)} tied)"
    if set(wp) == set(wt) and order_p[:len(wp)] == order_t[:len(wt)]:
        return f"the same optimizers lead ({' ≈ '.join(wt)})"
    if set(wp) == set(wt):
        return f"the same optimizers lead ({' ≈ '.join(wt)}), in another order"
    return f"the leaders change under {under}: {' ≈ '.join(wp)} → {' ≈ '.join(wt)}"


def verdict(plain: pd.DataFrame, transformed: pd.DataFrame, kind: str) -> str:
    """One line: whether the first-hitting ranking (and who leads it)
    survives the transform, and the optimizer whose place changes most."""
    text = _lead(plain, transformed, UNDER[kind])
    if text == "ranking unchanged":
        return text
    pos_p = {o: i for i, o in enumerate(plain["optimizer"], 1)}
    pos_t = {o: i for i, o in enumerate(transformed["optimizer"], 1)}
    moves = sorted(((pos_t[o] - pos_p[o], o) for o in pos_p if o in pos_t), key=lambda m: (-abs(m[0]), -m[0]))
    if moves and moves[0][0]:
        shift, opt = moves[0]
        text += f"; {opt} {'drops' if shift > 0 else 'rises'} from {_ordinal(pos_p[opt])} to {_ordinal(pos_t[opt])}"
    elif list(plain["optimizer"]) != list(transformed["optimizer"]):
        text += "; lower places change"
    return text


def _side(view: pd.DataFrame, case: Case, unit: str) -> pd.DataFrame:
    last = len(case.criteria) - 1
    return pd.DataFrame({"rank": np.arange(1, len(view) + 1), "tied": view["tied"].to_numpy(bool),
                         "success": view["success"].to_numpy(float),
                         "ert": view[ert_column(last, unit)].to_numpy(float),
                         "setting": view["label"].to_numpy(object)},
                        index=pd.Index(view["optimizer"].astype(str), name="optimizer"))


def comparison_table(plain: pd.DataFrame, transformed: pd.DataFrame, case: Case, unit: str) -> pd.DataFrame:
    """One row per optimizer (plain order, then those only ranked on the
    transformed side): ``rank_plain``, ``tied_plain``, ``success_plain``,
    ``ert_plain``, ``setting_plain`` and the same ``_transformed``."""
    a = _side(plain, case, unit).add_suffix("_plain")
    b = _side(transformed, case, unit).add_suffix("_transformed")
    order = list(a.index) + [o for o in b.index if o not in a.index]
    return a.join(b, how="outer").reindex(order)


def compare(data: ReportData) -> list[TransformComparison]:
    """Every (objective case, kind of transform) with both a plain and a
    transformed instance in the folder, in case order."""
    groups: dict[tuple, dict[tuple, list[Case]]] = {}
    for case in data.cases:
        groups.setdefault(base_key(case), {}).setdefault(_kind(case), []).append(case)
    out = []
    next_id = -1  # pooled cases get ids no case has (they seed the bootstrap)
    for by_kind in groups.values():
        plains = by_kind.get((False, False))
        if not plains:
            continue
        plain = pooled(data, plains, next_id, plains[0].label + " (plain instances pooled)")
        next_id -= 1
        plain_view = case_views(data, plain, setting_stats(data, plain))["first_hit"] if plain.members else \
            data.views[plain.id]["first_hit"]
        for flags, kind in KINDS.items():
            members = by_kind.get(flags)
            if not members:
                continue
            label = f"{plain.label} ({kind}, {len(members)} instance{'s' if len(members) > 1 else ''})"
            trans = pooled(data, members, next_id, label)
            next_id -= 1
            view = case_views(data, trans, setting_stats(data, trans))["first_hit"] if trans.members else \
                data.views[trans.id]["first_hit"]
            out.append(TransformComparison(
                plain=plain, kind=kind, transformed=trans,
                instances=sorted({c.params.get("instance") for c in members}, key=lambda i: (i is None, i or 0)),
                views={"plain": plain_view, "transformed": view},
                table=comparison_table(plain_view, view, plain, data.rank_by),
                verdict=verdict(plain_view, view, kind),
                tau=kendall_tau(list(plain_view["optimizer"]), list(view["optimizer"]))))
    return out


def attach(data: ReportData) -> list[TransformComparison]:
    """Fill ``data.transforms`` (after :func:`.rankings.attach`) and return it."""
    data.transforms = compare(data)
    return data.transforms
