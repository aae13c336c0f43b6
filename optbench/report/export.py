"""The report's tables as files for papers and spreadsheets: ``tables/*.csv``,
``*.tex`` (a booktabs tabular) and ``*.md`` (a GitHub pipe table).

The LaTeX and Markdown writers are written here rather than taken from
pandas: ``DataFrame.to_latex`` needs jinja2 and ``to_markdown`` tabulate,
neither of which optbench depends on.  CSV keeps every float exactly (it
reads back bit for bit); LaTeX and Markdown show 4 significant digits.

A folder of output files is written as a whole (:func:`replace_folder`):
built in a temporary sibling and swapped in, so a failure leaves the
previous one as it was.  Light to import (pandas is not needed until a
table is written), so the command can check ``--tables`` at once.
"""
from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import SpecError

if TYPE_CHECKING:
    import pandas as pd

# format name (as --tables takes it) -> file suffix
TABLE_FORMATS = {"csv": ".csv", "latex": ".tex", "markdown": ".md"}


def table_formats(names) -> list[str]:
    """The table formats named in ``names`` (a list, or one comma-separated
    string; ``"all"`` names every format), each once, in the order of
    :data:`TABLE_FORMATS`.  An unknown name raises :class:`SpecError`."""
    if isinstance(names, str):
        names = names.split(",")
    wanted = set()
    for name in names:
        name = str(name).strip().lower()
        if name == "all":
            wanted.update(TABLE_FORMATS)
        elif name in TABLE_FORMATS:
            wanted.add(name)
        elif name:
            raise SpecError(f"unknown table format {name!r} in --tables; known: {', '.join(TABLE_FORMATS)} "
                            f"(comma-separated), or all")
    return [f for f in TABLE_FORMATS if f in wanted]


def _missing(v) -> bool:
    import numpy as np
    import pandas as pd

    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and math.isnan(v))


def _infinite(v) -> int:
    """+1 or -1 for an infinite number, else 0."""
    import numpy as np

    if isinstance(v, (float, np.floating)) and math.isinf(v):
        return 1 if v > 0 else -1
    return 0


def _number(v) -> str | None:
    """A finite number in 4 significant digits (an integral value up to
    10¹⁵ in full: step counts and run counts are exact); None for a value
    that is not a finite number."""
    import numpy as np

    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)) and math.isfinite(v):
        v = float(v)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"
    return None


def _numeric_columns(frame: pd.DataFrame) -> list[bool]:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return [is_numeric_dtype(frame[c]) and not is_bool_dtype(frame[c]) for c in frame.columns]


# the ten characters LaTeX gives a meaning, and three that its default (OT1)
# font encoding prints as other glyphs: | as an em dash, < and > as ¡ and ¿
_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "|": r"\textbar{}", "<": r"\textless{}", ">": r"\textgreater{}"}
_LATEX_RE = re.compile("|".join(map(re.escape, _LATEX_SPECIAL)))


def latex_escape(text: str) -> str:
    """``text`` as literal LaTeX text: its special characters escaped, line
    breaks as spaces."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group()], " ".join(str(text).splitlines()))


def _latex_cell(v) -> str:
    if _missing(v):
        return "--"
    if _infinite(v):
        return r"$\infty$" if _infinite(v) > 0 else r"$-\infty$"
    number = _number(v)
    return number if number is not None else latex_escape(v)


def to_latex(frame: pd.DataFrame) -> str:
    """``frame`` (without its index) as a booktabs ``tabular``: numeric
    columns right-aligned, text escaped, missing values as ``--``,
    infinities as ``$\\infty$``.  Needs ``\\usepackage{booktabs}``."""
    align = "".join("r" if numeric else "l" for numeric in _numeric_columns(frame))
    lines = [r"\begin{tabular}{" + align + "}", r"\toprule",
             " & ".join(latex_escape(c) for c in frame.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_cell(v) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _markdown_text(text) -> str:
    return " ".join(str(text).splitlines()).replace("|", r"\|")


def _markdown_cell(v) -> str:
    if _missing(v):
        return "—"
    if _infinite(v):
        return "∞" if _infinite(v) > 0 else "−∞"
    number = _number(v)
    return number if number is not None else _markdown_text(v)


def to_markdown(frame: pd.DataFrame) -> str:
    """``frame`` (without its index) as a GitHub pipe table: numeric columns
    right-aligned, ``|`` escaped in cells, missing values as ``—``."""
    lines = ["| " + " | ".join(_markdown_text(c) for c in frame.columns) + " |",
             "|" + "|".join("---:" if numeric else ":---" for numeric in _numeric_columns(frame)) + "|"]
    lines += ["| " + " | ".join(_markdown_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def to_csv(frame: pd.DataFrame) -> str:
    """``frame`` (without its index) as CSV, every float in its shortest
    form that reads back exactly (pandas before 3.0 reads it exactly with
    ``read_csv(..., float_precision="round_trip")``); missing values empty."""
    return frame.to_csv(index=False, float_format=None, lineterminator="\n")


WRITERS = {"csv": to_csv, "latex": to_latex, "markdown": to_markdown}


_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def write_tables(folder: Path, frames: dict[str, pd.DataFrame], formats: list[str]) -> list[Path]:
    """Write each of ``frames`` ({file stem: table}) in each of ``formats``
    (see :func:`table_formats`) as ``folder/tables/<stem><suffix>``,
    replacing the whole ``tables/`` folder; returns the paths written.
    Every file is rendered before anything is written."""
    formats = table_formats(formats)
    for stem in frames:
        if not _STEM.fullmatch(stem):
            raise ValueError(f"table name {stem!r} is not a safe file stem")
    files = {f"{stem}{TABLE_FORMATS[fmt]}": WRITERS[fmt](frame).encode("utf-8")
             for stem, frame in frames.items() for fmt in formats}
    final = replace_folder(Path(folder), "tables", files)
    return [final / name for name in files]


def replace_folder(folder: Path, name: str, files: dict[str, bytes]) -> Path:
    """Make ``folder/name`` a folder holding exactly ``files`` ({file name:
    bytes}): written into a temporary sibling, then swapped in for whatever
    held the name (a folder, or a file), so a failure leaves that as it
    was.  Returns the folder's path."""
    final = folder / name
    tmp = folder / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        for file_name, content in files.items():
            (tmp / file_name).write_bytes(content)
        old = None
        if final.exists() or final.is_symlink():
            old = folder / f".{name}.old-{os.getpid()}"
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:  # the previous folder (or whatever held the name: a file too)
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
