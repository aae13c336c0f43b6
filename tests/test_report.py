"""The report: every figure kind, escaping, rebuilding elsewhere, clear errors, a real browser."""
from __future__ import annotations

import json
import re
import subprocess
import zlib
from pathlib import Path

import pandas as pd
import pytest
from conftest import CHROMIUM, copy_results, one_part, rewrite_runs

import optbench
from optbench import ResultsError
from optbench.cli import main
from optbench.report import build_report, escape, render
from optbench.report.pool import DrawingPool

SPEC = {
    "name": "report-test",
    "description": 'Report <script>alert("x")</script> & "quotes"',
    "steps": 60,
    "log_every": 2,
    "targets": [1e-1, 1e-3],
    "objectives": [
        {"name": "himmelblau"},
        {"name": "ellipsoid", "dim": 2, "cond": [10.0, 100.0]},
    ],
    "init": {"scheme": "grid", "count": 3},
    "optimizers": [
        {"name": "sgd", "lr": [1e-3, 1e-2], "momentum": [0.0, 0.9]},
        {"name": "adam", "lr": [1e-2, 1e-1]},
    ],
}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def results(tmp_path_factory) -> Path:
    """A small sweep with its report built once for the session."""
    out = tmp_path_factory.mktemp("report")
    res = optbench.run(SPEC, out=out, report=False)
    build_report(res.path, workers=1)
    return res.path


def _copy_tables(src: Path, dst: Path) -> Path:
    return copy_results(src, dst)


def _figure_names(folder: Path) -> set[str]:
    return {p.name for p in (folder / "plots").glob("*.png")}


def test_report_holds_every_figure_kind(results):
    html = (results / "report.html").read_text(encoding="utf-8")
    names = _figure_names(results)
    expected = ["all-runtime-profile.png", "all-tuning.png", "family-ellipsoid-cond.png"]
    for case in ("00-himmelblau", "01-ellipsoid", "02-ellipsoid"):
        expected += [f"{case}-{kind}.png" for kind in
                     ("convergence", "lr-sensitivity", "heatmap-sgd", "trajectories", "runtime", "tuning")]
    expected.append("00-himmelblau-basins.png")  # four minima; the ellipsoid has one
    assert set(expected) <= names, sorted(set(expected) - names)
    assert "01-ellipsoid-basins.png" not in names
    # adam's momentum-like beta1 is not varied: no heatmap to draw
    assert not any("heatmap-adam" in n for n in names)
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+\.png", name)
        assert (results / "plots" / name).read_bytes().startswith(PNG)
    # every figure is embedded, with a caption that counts its runs
    assert html.count('<img src="data:image/png;base64,') == len(names)
    assert html.count("<figcaption>") == len(names)
    assert len(re.findall(r"<figcaption>[^<]*\d runs?\b", html)) == len(names)
    # self-contained: no scripts, stylesheets, fonts or remote references
    assert "<script" not in html and "<link" not in html and "url(" not in html
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)
    assert len(html.encode()) < 10_000_000
    # grouped by objective parameter: one section per cond value, plus the family overview
    assert "ellipsoid (cond=10)" in html and "ellipsoid (cond=100)" in html
    assert 'id="family-ellipsoid"' in html
    for heading in ("Sweep settings", "Summary and ranking", "Ranking at best setting", "Expected running time",
                    "Divergence", "Run counts and divergence"):
        assert heading in html
    # the page reads top-down: settings and summary before the first objective
    assert html.index('id="settings"') < html.index('id="summary"') < html.index('id="00-himmelblau"')


def test_summary_markdown(results):
    md = (results / "summary.md").read_text(encoding="utf-8")
    assert md.startswith("# optbench report: report-test")
    assert "## Overall ranking" in md and "| sgd |" in md and "| adam |" in md
    for label in ("himmelblau", "ellipsoid (cond=10)", "ellipsoid (cond=100)"):
        assert f"| {label} |" in md


def test_escape_function():
    assert escape('<img src=x onerror="alert(1)">&\'') == \
        "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#x27;"
    assert escape(1e-3) == "0.001"


def test_spec_text_is_escaped(results):
    html = (results / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quotes&quot;" in html
    assert '<script>alert("x")' not in html


def test_foreign_folder_with_hostile_names_and_any_objective_parameter(results, tmp_path):
    """A folder from elsewhere: an objective this optbench does not know, names
    that need escaping, and an objective parameter the report has never seen."""
    folder = _copy_tables(results, tmp_path / "foreign")
    runs = pd.read_parquet(folder / "runs.parquet")
    bad_obj = '<img src=x onerror="alert(1)">'
    bad_opt = 'adam"><b>bold</b>'
    runs["objective"] = runs["objective"].cat.rename_categories({"himmelblau": bad_obj})
    runs["optimizer"] = runs["optimizer"].cat.rename_categories({"adam": bad_opt})
    # an activation-like parameter splits every objective instance in two sections
    runs["obj_activation"] = pd.Categorical(["relu" if i % 2 else "tanh" for i in runs["init_index"]])
    rewrite_runs(folder, runs)
    html = build_report(folder, workers=1).read_text(encoding="utf-8")
    assert bad_obj not in html and bad_opt not in html and "<b>bold" not in html
    assert escape(bad_obj) in html and escape(bad_opt) in html
    md = (folder / "summary.md").read_text(encoding="utf-8")
    assert "<img" not in md and "<b>" not in md and "&lt;img src=x" in md
    assert "is not registered here" in html  # no contour, and the page says why
    for act in ("relu", "tanh"):
        assert f"(activation={act})" in html
    names = _figure_names(folder)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+\.png", n) for n in names)
    assert any("trajectories" in n for n in names)  # drawn from the stored paths alone
    assert sum("-convergence" in n for n in names) == 6


def test_rebuild_from_a_copied_folder(results, tmp_path, monkeypatch):
    folder = _copy_tables(results, tmp_path / "copied")
    (folder / "plots").mkdir()
    (folder / "plots" / "stale.png").write_bytes(PNG)  # from an older report
    # a page over its size budget links the remaining figures instead of embedding them
    monkeypatch.setattr(render, "EMBED_BUDGET", 150_000)
    path = build_report(folder, workers=1)
    assert path == folder / "report.html" and path.is_file()
    # plots are replaced as a whole, and no temporary files are left behind
    assert _figure_names(folder) == _figure_names(results)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    html = path.read_text(encoding="utf-8")
    linked = re.findall(r'<a href="plots/([^"]+)">', html)
    assert linked and 0 < html.count("data:image/png;base64,") < len(_figure_names(folder))
    assert all((folder / "plots" / name).is_file() for name in linked)
    assert len(html.encode()) < 250_000


def test_a_file_named_plots_is_replaced_without_leftovers(results, tmp_path):
    folder = _copy_tables(results, tmp_path / "copied")
    (folder / "plots").write_text("not a folder")
    build_report(folder, workers=1)
    assert (folder / "plots").is_dir() and _figure_names(folder) == _figure_names(results)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def _figures(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (folder / "plots").glob("*.png")}


def test_parallel_drawing_gives_the_same_figures(results, tmp_path):
    """Byte for byte the figures drawn in one process, whichever process
    draws each and whatever the caller's matplotlib style."""
    import matplotlib

    folder = _copy_tables(results, tmp_path / "parallel")
    style = {"lines.linewidth": 4.0, "axes.facecolor": "#ffe0e0", "font.size": 14.0, "axes.grid": True}
    with matplotlib.rc_context(style), DrawingPool(2) as pool:  # this process and two helpers
        build_report(folder, pool=pool)
        helpers = [h.proc for h in pool.helpers]
        assert pool.drew >= 2  # a helper drew, not only this process
        assert matplotlib.rcParams["axes.facecolor"] == "#ffe0e0"  # the caller's style is left alone
    assert _figures(folder) == _figures(results)
    assert all(proc.returncode == 0 for proc in helpers)  # ended with the pool


def test_a_failing_drawing_process_leaves_its_jobs_to_this_one(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from optbench.report import pool as _draw_pool

    monkeypatch.setattr(_draw_pool, "WORKER", "optbench.report._no_such_worker")
    jobs = [("case", k, "convergence") for k in range(5)]
    with pytest.warns(RuntimeWarning, match="a drawing process failed .*No module named"), DrawingPool(1) as pool:
        drawn = pool.draw(SimpleNamespace(folder=tmp_path), jobs, lambda data, job: [job])
    assert drawn == {job: [job] for job in jobs} and pool.drew == 1


def _children() -> set[int]:
    pids = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids.update(int(pid) for pid in (task / "children").read_text().split())
        except FileNotFoundError:  # a thread that ended since the listing (CI flake, 2026-12-06)
            continue
    return pids


@pytest.mark.skipif(not Path("/proc/self/task").is_dir() or not list(Path("/proc/self/task").glob("*/children")),
                    reason="needs Linux's /proc/PID/task/TID/children")
@pytest.mark.parametrize("spec", ["bad", "good"])
def test_the_command_leaves_no_drawing_process_behind(tmp_path, spec):
    """``optbench run`` starts a helper before it reads the spec: a bad spec
    ends it unused, a finished run once the report is written."""
    path = tmp_path / "spec.toml"
    name = "rosenbrok" if spec == "bad" else "rosenbrock"
    path.write_text(f'name = "s"\nsteps = 10\n[[objectives]]\nname = "{name}"\n[init]\nscheme = "grid"\n'
                    f'count = 2\n[[optimizers]]\nname = "sgd"\nlr = [1e-3, 1e-2]\n')
    before = _children()
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--threads", "2"]) == (2 if spec == "bad" else 0)
    assert _children() <= before
    assert (tmp_path / "out" / "s" / "report.html").is_file() == (spec == "good")


@pytest.mark.parametrize(("damage", "workers"), [("missing", 1), ("truncated", 1), ("pages", 1), ("pages", 2)])
def test_damaged_curves_name_the_file_and_write_nothing(results, tmp_path, damage, workers):
    folder = _copy_tables(results, tmp_path / damage)
    curves = one_part(folder, "curves.parquet")
    if damage == "missing":
        curves.unlink()
    elif damage == "truncated":
        curves.write_bytes(curves.read_bytes()[:1000])
    else:  # footer intact, data pages garbage: found only when a figure reads them
        raw = bytearray(curves.read_bytes())
        raw[8:len(raw) // 2] = b"\x00" * (len(raw) // 2 - 8)
        curves.write_bytes(bytes(raw))
    if damage == "pages":  # a folder edited after it was written, its records made to match
        path = folder / "chunks" / f"{curves.name[len('part-'):-len('.parquet')]}.json"
        record = json.loads(path.read_text())
        record["files"][f"curves.parquet/{curves.name}"] = {"bytes": len(raw), "crc32": zlib.crc32(bytes(raw))}
        path.write_text(json.dumps(record))
    with pytest.raises(ResultsError, match=re.escape(str(curves))):
        build_report(folder, workers=workers)  # 2: the error comes back from a drawing process
    assert not (folder / "report.html").exists() and not (folder / "plots").exists()


@pytest.mark.parametrize("name", ["runs.parquet", "manifest.json"])
def test_damaged_tables_give_one_line_cli_errors(results, tmp_path, capsys, name):
    folder = _copy_tables(results, tmp_path / "bad")
    target = one_part(folder, name) if name.endswith(".parquet") else folder / name
    target.write_text("not a table")
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optbench: error: ") and name in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (folder / "report.html").exists()


# ----------------------------------------------------------------- a real browser

CHECK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__errors.push(t && t !== window ? 'failed to load ' + (t.tagName || '?') + ' '
    + String(t.src || t.href || '').slice(0, 60) : 'js: ' + e.message);
}, true);
document.addEventListener('securitypolicyviolation', function (e) {
  window.__errors.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI);
});
var originalError = console.error;
console.error = function () {
  window.__errors.push('console: ' + Array.prototype.join.call(arguments, ' '));
  originalError.apply(console, arguments);
};
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var loaded = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var pre = document.createElement('pre');
  pre.id = 'browser-check';
  pre.textContent = JSON.stringify({images: imgs.length, loaded: loaded, errors: window.__errors});
  document.body.appendChild(pre);
});
</script>"""


def _render(page: Path, profile: Path) -> tuple[dict, list[str]]:
    """Open ``page`` in headless Chromium; the injected script's verdict and
    the console lines Chromium logged."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
           "--dump-dom", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="browser-check">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"chromium exited {proc.returncode} without the check's result:\n{proc.stderr[-2000:]}"
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&")), console


def _instrumented(report: Path, out: Path, extra: str = "") -> Path:
    html = report.read_text(encoding="utf-8")
    assert "script-src 'none'" in html  # the page itself may run nothing
    html = html.replace("script-src 'none'", "script-src 'unsafe-inline'").replace("<head>", "<head>" + CHECK_SCRIPT, 1)
    out.write_text(html.replace("</main>", extra + "</main>"), encoding="utf-8")
    return out


@pytest.mark.browser
def test_report_renders_in_chromium(results, tmp_path):
    page = _instrumented(results / "report.html", tmp_path / "page.html")
    verdict, console = _render(page, tmp_path / "profile")
    n_figures = len(_figure_names(results))
    assert verdict["images"] == n_figures
    assert verdict["loaded"] == n_figures, verdict
    assert verdict["errors"] == [] and console == [], (verdict, console)


@pytest.mark.browser
def test_browser_check_catches_broken_pages(results, tmp_path):
    """The harness itself: a broken image, a blocked remote image and a script error are all seen."""
    broken = ('<img src="data:image/png;base64,AAAA"><img src="https://example.invalid/x.png">'
              "<script>console.error('boom'); undefinedFunction();</script>")
    page = _instrumented(results / "report.html", tmp_path / "broken.html", broken)
    verdict, console = _render(page, tmp_path / "profile")
    assert verdict["loaded"] == verdict["images"] - 2
    errors = " ".join(verdict["errors"])
    assert "boom" in errors and "undefinedFunction" in errors and "csp: img-src" in errors
    assert console


def test_log_labels_are_matplotlibs_in_plain_text():
    """PowerFormatter writes the label LogFormatterSciNotation would, as
    Unicode text instead of mathtext (10⁻³, 2×10⁻³, −10², 0 on symlog)."""
    from matplotlib.figure import Figure

    from optbench.report.figures import PowerFormatter, to_png

    f = PowerFormatter(10)
    assert [f(v) for v in (1e-3, 1.0, 1e12, 1e-10)] == ["10\u207b\u00b3", "10\u2070", "10\u00b9\u00b2",
                                                       "10\u207b\u00b9\u2070"]
    assert f(2e-3) == "2\u00d710\u207b\u00b3" and f(-100.0) == "\u221210\u00b2" and f(0.0) == "0"
    # a figure's log axes get it; a wide log axis loses its minor ticks, a narrow one keeps them
    fig = Figure()
    wide, narrow = fig.add_subplot(121), fig.add_subplot(122)
    wide.semilogy([1, 2], [1e-8, 1.0])
    narrow.semilogy([1, 2], [1.0, 50.0])
    to_png(fig)
    assert isinstance(wide.yaxis.get_major_formatter(), PowerFormatter)
    labels = [t.get_text() for t in wide.get_yticklabels() if t.get_text()]
    assert labels and not any("$" in t for t in labels)
    assert wide.yaxis.get_minorticklocs().size == 0 and narrow.yaxis.get_minorticklocs().size > 0
