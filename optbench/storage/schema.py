"""The on-disk schema of a results folder, defined once.

Layout of ``<out>/<sweep name>/`` (``SCHEMA_VERSION`` 3; version 2 folders,
which lack the evaluation columns, are read too)::

    manifest.json            the spec, its digest, the chunk plan, state
    runs.parquet/            part-000000.parquet, ...  one row per run
    curves.parquet/          part-000000.parquet, ...  one row per logged step
    chunks/000000.json       a chunk's record: its run ids, rows, file sizes
                             and CRC-32s; written last, so it is the commit

The runs table has one schema for every part of a sweep
(:func:`runs_columns`): fixed columns, one ``obj_<param>`` column per
objective parameter and one column per hyperparameter of the sweep's
optimizers (nulls where they do not apply).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from .. import optimizers
from .._codes import STATUS_NAMES

if TYPE_CHECKING:
    from ..spec import Spec

SCHEMA_VERSION = 3  # 3: evals (curves), evals_final and evals_to_<target> (runs)
READABLE_SCHEMA_VERSIONS = (2, 3)  # readers treat a version 2 folder's evaluations as its steps
RUNS = "runs.parquet"
CURVES = "curves.parquet"
CHUNKS = "chunks"
MANIFEST = "manifest.json"

STATUSES = STATUS_NAMES  # values of the runs table's ``status`` column

CURVES_SCHEMA = pa.schema([
    ("run_id", pa.int64()), ("step", pa.int64()), ("f", pa.float64()), ("gap", pa.float64()),
    ("grad_norm", pa.float64()), ("pos_x", pa.float64()), ("pos_y", pa.float64()), ("evals", pa.float64()),
])

# column kinds: pandas dtype and arrow type
KINDS = {
    "int": (np.int64, pa.int64()),
    "Int": ("Int64", pa.int64()),  # nullable: "never" (steps to a target never reached ...)
    "float": (np.float64, pa.float64()),
    "bool": (np.bool_, pa.bool_()),
    "boolean": ("boolean", pa.bool_()),
    # names: dictionary-encoded, so every Parquet reader gives categoricals
    "str": (object, pa.dictionary(pa.int32(), pa.string())),
    "nstr": (object, pa.dictionary(pa.int32(), pa.string())),  # null where it does not apply
    "list": (object, pa.list_(pa.float64())),
}

# the runs table's fixed columns: before the objective parameters, between
# them and the hyperparameters, and after the hyperparameters
RUN_KEY_COLUMNS = (("run_id", "int"), ("objective", "str"), ("dim", "int"))
RUN_SETTING_COLUMNS = (("batch_size", "int"), ("grad_noise", "float"), ("optimizer", "str"))
RUN_OUTCOME_COLUMNS = (
    ("init_scheme", "str"), ("init_std", "float"), ("init_index", "int"), ("repeat", "int"), ("seed", "int"),
    ("x0", "list"), ("x_final", "list"), ("f_star", "float"), ("f_final", "float"), ("f_best", "float"),
    ("gap_final", "float"), ("gap_best", "float"), ("grad_norm_final", "float"), ("steps_run", "int"),
    ("status", "str"), ("diverged", "bool"), ("diverged_step", "Int"), ("converged_step", "Int"),
    ("minimum_reached", "int"), ("nearest_minimum", "int"), ("minimum_distance", "float"), ("evals_final", "float"),
)
FIXED_RUN_COLUMNS = frozenset(name for name, _ in (*RUN_KEY_COLUMNS, *RUN_SETTING_COLUMNS, *RUN_OUTCOME_COLUMNS))
OBJECTIVE_PARAM_PREFIX = "obj_"
TARGET_PREFIX = "steps_to_"
EVALS_TARGET_PREFIX = "evals_to_"


def target_column(t: float) -> str:
    return f"{TARGET_PREFIX}{t:g}"


def evals_target_column(t: float) -> str:
    """Objective evaluations spent when the gap first reached ``t`` (NaN: never)."""
    return f"{EVALS_TARGET_PREFIX}{t:g}"


def part_name(chunk: int) -> str:
    return f"part-{chunk:06d}.parquet"


def record_name(chunk: int) -> str:
    return f"{chunk:06d}.json"


def value_kind(values: list) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
        return "float"
    return "str"


def runs_columns(spec: Spec) -> list[tuple[str, str]]:
    """The runs table's columns and kinds: one schema for every part of a
    sweep (columns that do not apply to a run hold nulls)."""
    cols = list(RUN_KEY_COLUMNS)
    obj_vals: dict[str, list] = {}
    for case in spec.objective_cases:
        for k, v in case.problem.params.items():
            obj_vals.setdefault(k, []).append(v)
    n_cases = len(spec.objective_cases)
    for k, vals in obj_vals.items():
        kind = value_kind(vals)
        nullable = len(vals) < n_cases
        kind = {"int": "Int", "bool": "boolean"}.get(kind, kind) if nullable else kind
        cols.append((f"{OBJECTIVE_PARAM_PREFIX}{k}", kind))
    cols += RUN_SETTING_COLUMNS
    opt_names = list(dict.fromkeys(oc.name for oc in spec.optimizer_cases))
    seen = {}
    for name in opt_names:
        for h in optimizers.get(name).hypers:
            seen.setdefault(h.name, []).append("str" if h.is_choice else "bool" if h.is_bool else "float")
    for h, kinds in seen.items():
        everywhere = len(kinds) == len(opt_names)
        if all(k == "bool" for k in kinds):
            cols.append((h, "bool" if everywhere else "boolean"))
        elif all(k == "str" for k in kinds):
            cols.append((h, "str" if everywhere else "nstr"))
        else:
            cols.append((h, "float"))
    cols += training_columns(spec)
    cols += RUN_OUTCOME_COLUMNS
    cols += [(target_column(t), "Int") for t in sorted(spec.targets, reverse=True)]
    cols += [(evals_target_column(t), "float") for t in sorted(spec.targets, reverse=True)]
    return cols


SCHEDULER_COLUMN = "scheduler"
SCHED_ARG_PREFIX = "sched_"
CLIP_COLUMNS = ("clip_grad_norm", "clip_norm_type", "clip_grad_value")


def training_values(spec: Spec, case) -> dict:
    """The scheduler and clipping columns of one optimizer case (only those
    the sweep uses: a sweep without schedulers or clipping has none, so its
    tables are those it always had)."""
    out: dict = {}
    if any(oc.scheduler is not None for oc in spec.optimizer_cases):
        out[SCHEDULER_COLUMN] = case.scheduler["name"] if case.scheduler else "none"
        for arg, v in (case.scheduler or {}).items():
            if arg != "name" and v is not None:  # one_cycle_lr's max_lr None: the run's lr
                out[f"{SCHED_ARG_PREFIX}{arg}"] = _cell(v)
    if any(oc.clip is not None for oc in spec.optimizer_cases) and case.clip is not None:
        max_norm, norm_type, value = case.clip
        if max_norm < np.inf:
            out["clip_grad_norm"], out["clip_norm_type"] = max_norm, norm_type
        else:
            out["clip_grad_value"] = value
    return out


def _cell(v):
    """A scheduler argument as a table cell: numbers and names as they are,
    milestones as ``[30, 60]``, sequential_lr's schedulers as
    ``linear_lr(start_factor=0.1, total_iters=100) > cosine_annealing_lr(T_max=900)``."""
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(e, dict) for e in v):
            return " > ".join(f"{e['name']}({', '.join(f'{k}={_cell(x)}' for k, x in e.items() if k != 'name')})"
                              for e in v)
        return "[" + ", ".join(str(e) for e in v) + "]"
    return v


def training_columns(spec: Spec) -> list[tuple[str, str]]:
    """Columns and kinds of :func:`training_values` over the sweep's cases."""
    vals: dict[str, list] = {}
    for oc in spec.optimizer_cases:
        for k, v in training_values(spec, oc).items():
            vals.setdefault(k, []).append(v)
    order = [SCHEDULER_COLUMN] + sorted(k for k in vals if k.startswith(SCHED_ARG_PREFIX)) + list(CLIP_COLUMNS)
    cols = []
    for k in order:
        if k not in vals:
            continue
        kind = value_kind(vals[k])
        if len(vals[k]) < len(spec.optimizer_cases):  # null where it does not apply
            kind = {"int": "float", "bool": "boolean", "str": "nstr"}.get(kind, kind)
        cols.append((k, kind))
    return cols


def runs_schema(spec: Spec) -> pa.Schema:
    return pa.schema([(name, KINDS[kind][1]) for name, kind in runs_columns(spec)])
