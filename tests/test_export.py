"""``optbench report --tables ... --figures ...``: the table writers, exact CSV,
figures in SVG and PDF, and a mistake that writes nothing."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import copy_results

import optbench
from optbench import SpecError
from optbench.cli import main
from optbench.report import export
from optbench.report.figures import base

SPEC = {
    "name": "export-test",
    "steps": 30,
    "log_every": 3,
    "targets": [1e-1, 1e-3],
    "objectives": [{"name": "himmelblau"}],
    "init": {"scheme": "grid", "count": 2},
    "optimizers": [{"name": "sgd", "lr": [1e-3, 1e-2]}, {"name": "adam", "lr": [1e-1]}],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A tiny sweep's tables, without a report."""
    return optbench.run(SPEC, out=tmp_path_factory.mktemp("export"), report=False).path


AWKWARD = pd.DataFrame({
    "opt_name": ["a_b & c", "x|y", "50% $#{}~^\\", None],
    "value": [1.5, np.nan, np.inf, -np.inf],
    "n": [1, 2, 3, 1234567],
    "tiny": [1e-7 / 3, 0.000123456, 15524.0, -0.0],
})


def test_latex_escapes_text_and_writes_booktabs():
    assert export.to_latex(AWKWARD) == "\n".join([
        r"\begin{tabular}{lrrr}",
        r"\toprule",
        r"opt\_name & value & n & tiny \\",
        r"\midrule",
        r"a\_b \& c & 1.5 & 1 & 3.333e-08 \\",
        r"x\textbar{}y & -- & 2 & 0.0001235 \\",
        r"50\% \$\#\{\}\textasciitilde{}\textasciicircum{}\textbackslash{} & $\infty$ & 3 & 15524 \\",
        r"-- & $-\infty$ & 1234567 & 0 \\",
        r"\bottomrule",
        r"\end{tabular}",
    ]) + "\n"


def test_markdown_escapes_pipes_and_aligns_numbers_right():
    assert export.to_markdown(AWKWARD) == "\n".join([
        "| opt_name | value | n | tiny |",
        "|:---|---:|---:|---:|",
        "| a_b & c | 1.5 | 1 | 3.333e-08 |",
        r"| x\|y | — | 2 | 0.0001235 |",
        "| 50% $#{}~^\\ | ∞ | 3 | 15524 |",
        "| — | −∞ | 1234567 | 0 |",
    ]) + "\n"


def test_csv_reads_back_bit_for_bit():
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.standard_normal(2000) * 10.0 ** rng.integers(-300, 300, 2000),
                             [0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308, -0.0, np.nan, np.inf, -np.inf]])
    text = ["a,b", 'q"x', "l\nm", "x|y"] * (len(values) // 4)
    frame = pd.DataFrame({"value": values, "text": text})
    # pandas 3 reads floats exactly by default and deprecates the option
    exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
    back = pd.read_csv(io.StringIO(export.to_csv(frame)), **exact)
    assert back["value"].to_numpy().view(np.uint64).tolist() == values.view(np.uint64).tolist()
    assert back["text"].tolist() == text


def test_table_formats_are_checked_and_all_means_all():
    assert export.table_formats("markdown,csv") == ["csv", "markdown"]
    assert export.table_formats(["all"]) == ["csv", "latex", "markdown"]
    assert export.table_formats("") == []
    with pytest.raises(SpecError, match=r"unknown table format 'tex'.*known: csv, latex, markdown"):
        export.table_formats("csv,tex")


def test_a_failed_write_leaves_the_previous_tables(tmp_path):
    export.write_tables(tmp_path, {"overall": AWKWARD}, ["csv"])
    before = (tmp_path / "tables" / "overall.csv").read_bytes()
    with pytest.raises(OSError):  # a name that cannot be written: the new folder fails half-way
        export.replace_folder(tmp_path, "tables", {"a.csv": b"1", "no/such/dir.csv": b"2"})
    assert [p.name for p in (tmp_path / "tables").iterdir()] == ["overall.csv"]
    assert (tmp_path / "tables" / "overall.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tables"]  # no temporary folder left


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_vector_figures_are_the_same_on_every_build(fmt):
    """No date, and SVG ids that do not change: a rebuilt report is unchanged."""
    def draw() -> base.Plot:
        frame = base.Frame(1, 1, 2.0, 1.5)
        ax = frame.add(0)
        ax.plot([1.0, 2.0, 3.0], [1.0, 10.0, 100.0], label="a_b & <c>")
        ax.set_yscale("log")
        return base.Plot("test", "test", "t", "c", base.to_png(frame.finish(*ax.get_legend_handles_labels())), 1)

    previous = base.set_figure_format(fmt)
    try:
        first, second = draw(), draw()
    finally:
        base.set_figure_format(previous)
    assert list(first.other_formats) == [fmt] and type(first.png) is bytes
    assert first.other_formats == second.other_formats and first.png == second.png
    assert draw().other_formats == {}  # back to PNG only


def _listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_report_writes_tables_and_svg_figures(results, tmp_path, capsys):
    folder = copy_results(results, tmp_path / "copied")
    assert main(["report", str(folder), "--quiet", "--tables", "csv,latex,markdown", "--figures", "svg"]) == 0
    tables = folder / "tables"
    stems = {p.stem for p in tables.iterdir()}
    assert {"overall", "winners"} <= stems
    assert sorted(p.name for p in tables.iterdir()) == sorted(f"{s}{x}" for s in stems for x in (".csv", ".tex", ".md"))
    overall = pd.read_csv(tables / "overall.csv")
    assert set(overall["optimizer"]) == {"sgd", "adam"}
    tex = (tables / "overall.tex").read_text(encoding="utf-8")
    assert tex.startswith(r"\begin{tabular}") and r"\toprule" in tex and tex.endswith("\\end{tabular}\n")
    assert (tables / "overall.md").read_text(encoding="utf-8").startswith("| optimizer |")
    pngs = {p.stem for p in (folder / "plots").glob("*.png")}
    svgs = {p.stem for p in (folder / "plots").glob("*.svg")}
    assert pngs and svgs == pngs
    for svg in (folder / "plots").glob("*.svg"):
        assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and ".svg" not in html  # the page keeps its PNGs

    # a bad format: one line, status 2, and nothing touched
    before = _listing(folder)
    capsys.readouterr()
    assert main(["report", str(folder), "--tables", "csv,foo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optbench: error: ") and "'foo'" in err and "csv, latex, markdown" in err
    assert len(err.strip().splitlines()) == 1
    assert _listing(folder) == before


def test_a_drawing_helper_saves_the_figure_format_too(results):
    from optbench._process import child_env
    from optbench.report.pool import _Helper

    helper = _Helper(child_env())
    try:
        jobs = helper.ask(("folder", (str(results), [], "pdf")))
        job = next(j for j in jobs if j[-1] == "convergence")
        plots = helper.ask(("job", job))
    finally:
        helper.close()
    assert plots and all(list(p.other_formats) == ["pdf"] for p in plots)
    assert all(p.other_formats["pdf"].startswith(b"%PDF") for p in plots)
