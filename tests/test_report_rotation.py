"""Plain vs rotated (shifted) instances: the report ranks each objective on
its plain instance beside its transformed instances pooled, says in one line
whether the ranking survives, and shows nothing of the kind where a folder
has no transformed instance."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import CHROMIUM, copy_results, rewrite_runs

import optbench
from optbench import storage
from optbench.report import build_report, rankings, render, transforms
from optbench.report import data as data_mod

SPEC = {
    "name": "rotation-test",
    "steps": 40,
    "log_every": 4,
    "targets": [1e-1, 1e-3],
    "objectives": [{"name": "ellipsoid", "dim": 2, "cond": [10.0, 100.0, 1000.0, 10000.0]},
                   {"name": "sphere", "dim": 2}],
    "init": {"scheme": "grid", "count": 3},
    "optimizers": [
        {"name": "sgd", "lr": [1e-3, 1e-2], "momentum": [0.0, 0.9]},
        {"name": "adam", "lr": [1e-2, 1e-1]},
    ],
}
# ellipsoid cond -> (rotate, shift, instance): cond 10 is the plain instance, the others its
# rotated instances (relabelled: a sweep with transformed instances writes these columns)
ROTATED = {10.0: (None, None, None), 100.0: (True, None, 1), 1000.0: (True, None, 2), 10000.0: (True, None, 3)}
MIXED = {10.0: (None, None, None), 100.0: (True, False, 1), 1000.0: (True, False, 2), 10000.0: (False, True, 1)}


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    res = optbench.run(SPEC, out=tmp_path_factory.mktemp("plain"), report=False)
    build_report(res.path, workers=1)
    return res.path


def transformed(src: Path, dst: Path, labels: dict) -> Path:
    """A copy of ``src`` whose ellipsoid cases are relabelled per ``labels``:
    obj_cond 10 for all, and nullable obj_rotate / obj_shift / obj_instance
    columns (null for the plain instance and for the sphere)."""
    copy_results(src, dst)
    runs = pd.read_parquet(dst / storage.RUNS)
    cond = runs["obj_cond"].to_numpy(float)
    flags = [labels.get(c, (None, None, None)) if not np.isnan(c) else (None, None, None) for c in cond]
    runs["obj_rotate"] = pd.array([f[0] for f in flags], dtype="boolean")
    runs["obj_shift"] = pd.array([f[1] for f in flags], dtype="boolean")
    runs["obj_instance"] = pd.array([f[2] for f in flags], dtype="Int64")
    runs["obj_cond"] = np.where(np.isnan(cond), np.nan, 10.0)
    rewrite_runs(dst, runs)
    return dst


@pytest.fixture(scope="module")
def rotated(plain, tmp_path_factory) -> Path:
    folder = transformed(plain, tmp_path_factory.mktemp("rot") / "f", ROTATED)
    build_report(folder, workers=1, tables="csv")
    return folder


def prepared(folder: Path) -> data_mod.ReportData:
    data = data_mod.prepare(*data_mod.load(folder))
    rankings.attach(data)
    transforms.attach(data)
    return data


def test_instances_stay_cases_and_pool_for_the_comparison(rotated):
    data = prepared(rotated)
    labels = [c.label for c in data.cases]
    assert labels[:4] == ["ellipsoid", "ellipsoid (rotate=true, instance=1)", "ellipsoid (rotate=true, instance=2)",
                          "ellipsoid (rotate=true, instance=3)"]
    assert "sphere" in labels  # an objective without transformed instances: no comparison
    [comp] = data.transforms
    assert comp.kind == "rotated" and comp.instances == [1, 2, 3]
    assert comp.plain is data.cases[0]
    members = data.cases[1:4]
    assert comp.transformed.members == tuple(c.id for c in members)
    assert comp.transformed.n_runs == sum(c.n_runs for c in members)
    assert comp.title == "ellipsoid: plain vs rotated (instances 1, 2, 3 pooled)"
    # the pooled ranking is the same machinery over the three instances' runs together
    stats = data_mod.setting_stats(data, comp.transformed)
    runs = data.runs[data.runs["case_id"].isin(comp.transformed.members)]
    for sid, row in stats.iterrows():
        r = runs[runs["setting_id"] == sid]
        reached = r["steps_to_0.001"].notna()
        assert row["n"] == len(r) == 27
        assert row["succ_1"] == pytest.approx(reached.mean())
        spent = np.where(reached, r["steps_to_0.001"], r["steps_run"]).sum()
        assert row["ert_1"] == pytest.approx(spent / reached.sum() if reached.any() else np.inf)
    view = comp.views["transformed"]
    assert list(comp.table.index) == list(comp.views["plain"]["optimizer"])
    for opt in comp.table.index:
        pos = list(view["optimizer"]).index(opt)
        assert comp.table.loc[opt, "rank_transformed"] == pos + 1
        assert comp.table.loc[opt, "success_transformed"] == view.iloc[pos]["success"]
    assert comp.verdict == transforms.verdict(comp.views["plain"], view, "rotated")


def test_the_page_and_summary_show_the_section(rotated):
    html = (rotated / "report.html").read_text(encoding="utf-8")
    md = (rotated / "summary.md").read_text(encoding="utf-8")
    data = prepared(rotated)
    [comp] = data.transforms
    assert '<section id="transforms"><h2>Plain vs transformed instances</h2>' in html
    assert '<a href="#transforms">' in html
    assert html.index('id="summary"') < html.index('id="transforms"') < html.index('id="00-ellipsoid"')
    assert render.esc(comp.title) in html and f"<strong>{render.esc(comp.verdict)}</strong>" in html
    assert "rank rotated (instances pooled)" in html
    assert "## Plain vs transformed instances" in md and f"**{comp.verdict}**" in md
    assert "| optimizer | rank plain | rank rotated (instances pooled) | success · ERT, plain | success · ERT, " \
           "rotated |" in md
    table = pd.read_csv(rotated / "tables" / "transforms.csv")
    assert set(table["optimizer"]) == {"sgd", "adam"} and set(table["transform"]) == {"rotated"}
    assert set(table["verdict"]) == {comp.verdict} and set(table["ert_unit"]) == {"steps"}


def test_no_section_without_transformed_instances(plain):
    html = (plain / "report.html").read_text(encoding="utf-8")
    md = (plain / "summary.md").read_text(encoding="utf-8")
    assert 'id="transforms"' not in html and "Plain vs transformed" not in html
    assert "Plain vs transformed" not in md
    assert prepared(plain).transforms == []


def test_rotated_and_shifted_instances_are_compared_apart(plain, tmp_path):
    data = prepared(transformed(plain, tmp_path / "f", MIXED))
    kinds = {c.kind: c for c in data.transforms}
    assert set(kinds) == {"rotated", "shifted"}
    assert kinds["rotated"].instances == [1, 2] and len(kinds["rotated"].transformed.members) == 2
    shifted = kinds["shifted"]
    assert shifted.instances == [1] and shifted.transformed.members == ()  # one instance: the case itself
    assert shifted.views["transformed"] is data.views[shifted.transformed.id]["first_hit"]
    assert shifted.title == "ellipsoid: plain vs shifted (instances 1 pooled)"


# ----------------------------------------------------------------- verdicts from hand-made rankings


def _view(order, tied) -> pd.DataFrame:
    return pd.DataFrame({"optimizer": order, "tied": [o in tied for o in order]})


@pytest.mark.parametrize("plain_view, rotated_view, expected", [
    (_view(["adam", "sgd", "rmsprop"], {"adam"}), _view(["adam", "sgd", "rmsprop"], {"adam"}), "ranking unchanged"),
    (_view(["adam", "sgd", "rmsprop"], {"adam"}), _view(["adam", "sgd", "rmsprop"], {"adam", "sgd"}),
     "adam's lead vanishes under rotation (now ≈ tied with sgd)"),
    (_view(["adam", "sgd", "rmsprop"], {"adam"}), _view(["sgd", "adam", "rmsprop"], {"sgd", "adam"}),
     "adam's lead vanishes under rotation (now ≈ tied with sgd); adam drops from 1st to 2nd"),
    (_view(["adam", "sgd", "rmsprop"], {"adam"}), _view(["sgd", "rmsprop", "adam"], {"sgd"}),
     "adam loses its lead under rotation: sgd wins; adam drops from 1st to 3rd"),
    (_view(["adam", "sgd", "rmsprop", "adagrad"], {"adam"}), _view(["adam", "sgd", "adagrad", "rmsprop"], {"adam"}),
     "adam keeps its lead under rotation; rmsprop drops from 3rd to 4th"),
    (_view(["adam", "sgd"], {"adam", "sgd"}), _view(["sgd", "adam"], {"sgd"}),
     "sgd pulls ahead under rotation (plain: adam ≈ sgd tied); adam drops from 1st to 2nd"),
    (_view(["adam", "sgd", "rmsprop"], {"adam", "sgd"}), _view(["sgd", "adam", "rmsprop"], {"sgd", "adam"}),
     "the same optimizers lead (sgd ≈ adam), in another order; adam drops from 1st to 2nd"),
    (_view(["adam", "sgd", "rmsprop"], {"adam", "sgd"}), _view(["adam", "sgd", "rmsprop"], {"sgd", "adam"}),
     "ranking unchanged"),
    (_view(["adam", "sgd", "rmsprop"], {"adam", "sgd"}), _view(["rmsprop", "sgd", "adam"], {"rmsprop", "sgd"}),
     "the leaders change under rotation: adam ≈ sgd → rmsprop ≈ sgd; adam drops from 1st to 3rd"),
])
def test_verdicts(plain_view, rotated_view, expected):
    assert transforms.verdict(plain_view, rotated_view, "rotated") == expected


def test_kendall_tau():
    assert transforms.kendall_tau(["a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert transforms.kendall_tau(["a", "b", "c"], ["c", "b", "a"]) == -1.0
    assert transforms.kendall_tau(["a", "b", "c"], ["b", "a", "c"]) == pytest.approx(1 / 3)
    assert np.isnan(transforms.kendall_tau(["a", "b"], ["a", "c"]))  # one optimizer on both sides


@pytest.mark.browser
def test_the_section_renders_in_chromium(rotated, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1400,3000", (rotated / "report.html").resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
