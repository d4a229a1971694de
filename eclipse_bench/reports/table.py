"""`eclipse-bench table`: runs as the benchmarks' own published tables, for papers (markdown, booktabs LaTeX, CSV).

One row per model (the run's pairing, or the --name of imported images), the columns of the benchmark's table:

- T2I-CompBench: Color, Shape, Texture, Spatial, Non-Spatial, Complex, 3D Spatial, Numeracy (a run per category);
- GenEval: Single object, Two objects, Counting, Colors, Position, Color attribution, Overall (one run, its tags);
- GenEval 2: Soft-TIFA GM and AM (AM from `rescore --metric soft-tifa-am` where it was written) and GM per atom count;
- HRS-Bench: each skill x easy / medium / hard.

Only columns holding a number are shown. A table never hides what a number is: every cell that is a proxy (our
models stand in for the benchmark's), made with tiny scorers, on a --limit subset, under the reference scripts'
rules, with another metric than the benchmark's, from our built-in prompts, or missing images, carries a footnote
mark. The best measured value of a column is bold only where the runs in it are comparable (same prompts, images per
prompt, scorers, metric and rules). Published rows (ECLIPSE, Table 1) are added, labelled, under the columns whose
runs follow the paper's protocol.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.state import RunState
from eclipse_bench.bench.core.store import atomic_write_bytes
from eclipse_bench.prompts.registry import SUITE_FAMILIES
from eclipse_bench.reports.export import caveats, completeness, distinct_names, expand_run_dirs
from eclipse_bench.reports.published import SOURCE, published

T2I = [("Color", "color"), ("Shape", "shape"), ("Texture", "texture"), ("Spatial", "spatial"),
       ("Non-Spatial", "non_spatial"), ("Complex", "complex"), ("3D Spatial", "3d_spatial"), ("Numeracy", "numeracy")]
GENEVAL = [("Single object", "single_object"), ("Two objects", "two_object"), ("Counting", "counting"),
           ("Colors", "colors"), ("Position", "position"), ("Color attribution", "color_attr"), ("Overall", "overall")]
HRS_SKILLS = ("counting", "spatial", "size", "color")
HRS_LEVELS = ("easy", "medium", "hard")
HRS = [(f"{s.capitalize()} ({lv})", f"{s}/{lv}") for s in HRS_SKILLS for lv in HRS_LEVELS]
TITLES = {"t2i-compbench": "T2I-CompBench", "geneval": "GenEval", "geneval2": "GenEval 2", "hrs": "HRS-Bench"}
LAYOUTS = ("auto", *TITLES)
FORMATS = ("markdown", "latex", "csv")


@dataclass
class Cell:
    value: float
    ci: Optional[list] = None          # [low, high] where the run has one for this number
    scale: str = "0-1"
    notes: list = field(default_factory=list)
    signature: tuple = ()              # what must agree for two cells to be compared
    run: str = ""


@dataclass
class Table:
    layout: str
    columns: list                      # [(title, key)]
    rows: list                         # [(name, {key: Cell}, published: bool)]
    notes: list                        # footnote texts, in mark order
    bold: dict                         # key -> the row name whose cell is best (comparable columns only)


def _expected_metrics(suite: str) -> set:
    """The metrics the suite's benchmark scores it with (empty: none known)."""
    family, _, category = suite.partition("/")
    category = category.split("@")[0] or family
    if family == "builtin":
        return set()   # our own prompts: footnoted as such, with no benchmark metric to differ from
    for name in SUITE_FAMILIES.names():
        table = SUITE_FAMILIES.get(name).category_metrics
        if category in table and name.split("-3d")[0] == family:
            return {table[category]} | ({"soft-tifa-am"} if table[category] == "soft-tifa-gm" else set())
    return set()


def layout_of(suite: str) -> Optional[str]:
    family, _, category = suite.partition("/")
    category = category.split("@")[0]
    if family == "t2i-compbench" or (family == "builtin" and category in dict(map(reversed, T2I))):
        return "t2i-compbench"
    if family in ("geneval", "geneval2"):
        return family
    if family == "hrs" or (family == "builtin" and category in ("counting", "size")):
        return "hrs"
    return None


def _notes(r: dict, suite: str) -> list[str]:
    """The footnotes a run's numbers carry."""
    words = {"proxy": f"proxy: our models stand in for the benchmark's ({r.get('reference_models')})",
             "tiny": "tiny random-weight scorers: a test of the plumbing, not a measurement",
             "limit": f"--limit {r.get('limit')}: a subset of the suite's prompts ({r.get('n_prompts')} scored)",
             "compat": "the reference scripts' rules (--reference-compat)"}
    out = [words[code] for code in caveats(r)]
    expected = _expected_metrics(suite)
    if expected and r["metric"] not in expected:
        out.append(f"scored with {r['metric']}, not the benchmark's {' or '.join(sorted(expected))}")
    if suite.startswith("builtin/"):
        out.append("eclipse-bench's built-in template prompts, not the benchmark's")
    if r.get("coverage"):
        out.append(f"{len(r['coverage'].get('missing_prompts', []))} of {r['coverage'].get('n_prompts')} prompts "
                   f"without images (--allow-missing)")
    return out


def _run_cells(layout: str, d: Path, r: dict, other: dict) -> dict[str, Cell]:
    """The cells one run fills in its layout (`other`: its results under another metric, for GenEval 2's AM)."""
    suite, scale = r["suite"], r.get("scale", "0-1")
    notes = _notes(r, suite)
    sig = (r.get("suite_hash"), r.get("images_per_prompt"), r.get("scorers"), r["metric"], r.get("reference_compat"),
           r.get("limit"))
    whole = {"notes": notes, "signature": sig, "run": str(d), "scale": scale}
    family, _, category = suite.partition("/")
    category = category.split("@")[0]
    if layout == "t2i-compbench":
        return {category: Cell(r["score"], r.get("ci95"), **whole)} if r["score"] is not None else {}
    if layout == "geneval":
        if category:   # one tag's run
            return {category: Cell(r["score"], r.get("ci95"), **whole)} if r["score"] is not None else {}
        cells = {k: Cell(v, None, **whole) for k, v in (r.get("by_category") or {}).items() if v is not None}
        if r["score"] is not None:
            cells["overall"] = Cell(r["score"], r.get("ci95"), **whole)
        return cells
    if layout == "geneval2":
        cells = {}
        for res in (r, *other.values()):
            kind = {"soft-tifa-gm": "gm", "soft-tifa-am": "am"}.get(res["metric"])
            if kind and res["score"] is not None:
                cells[kind] = Cell(res["score"], res.get("ci95"), res.get("scale", "0-100"), _notes(res, suite),
                                   sig[:3] + (res["metric"],) + sig[4:], str(d))
        if r["metric"] == "soft-tifa-gm":
            for k, v in (r.get("by_level") or {}).items():
                if v is not None:
                    cells[f"atoms={k}"] = Cell(v, None, **whole)
        return cells
    if layout == "hrs":
        skill = category
        return {f"{skill}/{lv}": Cell(v, None, **whole) for lv, v in (r.get("by_level") or {}).items()
                if v is not None}
    return {}


def table_data(run_dirs: list[Path], layout: str = "auto", metric: Optional[str] = None,
               compat: Optional[bool] = None, allow_incomplete: bool = False) -> list[Table]:
    """One Table per layout the runs fill (auto), or the one asked for."""
    if layout not in LAYOUTS:
        raise UserError(f"unknown --layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    runs = []
    for d in expand_run_dirs(run_dirs):
        state = RunState.variant(d, metric, compat, "put in a table")
        completeness(state, allow_incomplete, "put in a table")
        r = state.results().to_json()
        lay = layout_of(r["suite"])
        if lay is None:
            raise UserError(f"{d}: suite {r['suite']!r} has no published table layout (T2I-CompBench, GenEval, "
                            f"GenEval 2, HRS-Bench); use `eclipse-bench export` or `report` for it")
        if layout != "auto" and lay != layout:
            raise UserError(f"{d}: suite {r['suite']!r} is not in the {TITLES[layout]} table; leave it out or use "
                            f"--layout auto")
        other = {}
        if lay == "geneval2":   # the other Soft-TIFA mean, where rescore wrote it beside the run
            want = "soft-tifa-am" if r["metric"] == "soft-tifa-gm" else "soft-tifa-gm"
            try:
                other[want] = RunState.variant(d, want, compat, "put in a table").results().to_json()
            except UserError:
                pass
        runs.append((d, r, lay, other))
    tables = []
    for lay in [x for x in TITLES if any(run[2] == x for run in runs)]:
        tables.append(_table(lay, [(d, r, other) for d, r, x, other in runs if x == lay]))
    return tables


def _table(layout: str, runs: list) -> Table:
    by_name: dict[str, list] = {}
    for d, r, other in runs:
        by_name.setdefault(r["pairing"], []).append((d, r, _run_cells(layout, d, r, other)))
    rows = []
    for name, group in by_name.items():
        keys = [k for _, _, cells in group for k in cells]
        if len(keys) == len(set(keys)):   # one row: the runs fill different columns
            rows.append((name, {k: c for _, _, cells in group for k, c in cells.items()}, False))
        else:                              # the same column twice: a row per run, named by what its path says
            for (d, _, cells), tag in zip(group, distinct_names([d for d, _, _ in group])):
                rows.append((f"{name} ({tag})", cells, False))
    columns = _columns(layout, rows)
    # published rows under the columns whose every run follows the paper's protocol
    pub: dict[str, dict] = {}
    if layout == "t2i-compbench":
        for d, r, _ in runs:
            for model, value in published(r["suite"], r["metric"], r.get("images_per_prompt") or 0).items():
                pub.setdefault(model, {})[r["suite"].split("/")[1].split("@")[0]] = Cell(value, None)
    notes: list[str] = []
    for _, cells, _ in rows:
        for c in cells.values():
            for n in c.notes:
                if n not in notes:
                    notes.append(n)
    bold = {}
    for _, key in columns:
        measured = [(name, cells[key]) for name, cells, _ in rows if key in cells]
        if len(measured) >= 2 and len({c.signature for _, c in measured}) == 1:
            bold[key] = max(measured, key=lambda x: x[1].value)[0]
        elif len(measured) >= 2:
            note = "not compared: the runs in this column differ in prompts, images per prompt, scorers or rules"
            for _, c in measured:
                c.notes.append(note)
            if note not in notes:
                notes.append(note)
    if pub:
        src = f"published: {SOURCE} (10 images per prompt), not measured here"
        notes.append(src)
        for model, cells in pub.items():
            for c in cells.values():
                c.notes.append(src)
            rows.append((f"{model} (published)", cells, True))
    return Table(layout, columns, rows, notes, bold)


def _columns(layout: str, rows: list) -> list:
    filled = {k for _, cells, _ in rows for k in cells}
    if layout == "t2i-compbench":
        cols = T2I
    elif layout == "geneval":
        cols = GENEVAL
    elif layout == "hrs":
        cols = HRS
    else:
        atoms = sorted({k for k in filled if k.startswith("atoms=")}, key=lambda k: int(k.split("=")[1]))
        cols = [("Soft-TIFA GM", "gm"), ("Soft-TIFA AM", "am")] + [(f"{k.split('=')[1]} atoms", k) for k in atoms]
    return [(t, k) for t, k in cols if k in filled]


# -- rendering -------------------------------------------------------------------------------------------------------

def _digits(c: Cell) -> int:
    return 2 if c.scale == "0-100" else 4


def _mark(i: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[i] if i < 26 else f"n{i}"


def _marks(c: Cell, marks: dict) -> str:
    return ",".join(sorted({marks[n] for n in c.notes}, key=list(marks.values()).index))


def _row_cells(t: Table, name: str, cells: dict, ci: bool, pm: str, missing: str, bold: str, sup: str,
               marks: dict) -> list[str]:
    """A row's cells as text: the value (with its CI as pm), bold where best, its footnote marks; `missing` where the
    row has no number; bold and sup are format strings of one field."""
    row = []
    for _, key in t.columns:
        c = cells.get(key)
        if c is None:
            row.append(missing)
            continue
        s = _value(c, ci, pm)
        if t.bold.get(key) == name:
            s = bold.format(s)
        if c.notes:
            s += sup.format(_marks(c, marks))
        row.append(s)
    return row


def _value(c: Cell, ci: bool, pm: str) -> str:
    s = f"{c.value:.{_digits(c)}f}"
    if ci and c.ci and c.ci[0] is not None and c.ci[1] is not None:
        s += f"{pm}{(c.ci[1] - c.ci[0]) / 2:.{_digits(c)}f}"
    return s


def to_markdown(tables: list[Table], ci: bool = False) -> str:
    out = []
    for t in tables:
        marks = {n: _mark(i) for i, n in enumerate(t.notes)}
        out.append(f"**{TITLES[t.layout]}**\n")
        out.append("| Model | " + " | ".join(title for title, _ in t.columns) + " |")
        out.append("|---|" + "---:|" * len(t.columns))
        for name, cells, _ in t.rows:
            row = _row_cells(t, name, cells, ci, " ± ", "–", "**{}**", "<sup>{}</sup>", marks)
            out.append(f"| {_md_escape(name)} | " + " | ".join(row) + " |")
        out.append("")
        out += [f"<sup>{marks[n]}</sup> {_md_escape(n)}  " for n in t.notes]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(s: str) -> str:
    return re.sub(r"[\\&%$#_{}~^<>]", lambda m: _LATEX[m.group()], s)


def to_latex(tables: list[Table], ci: bool = False) -> str:
    """booktabs tables (\\usepackage{booktabs} in the preamble), one table environment per benchmark."""
    out = []
    for t in tables:
        marks = {n: _mark(i) for i, n in enumerate(t.notes)}
        out += [f"% eclipse-bench table: {TITLES[t.layout]} (needs \\usepackage{{booktabs}})", r"\begin{table}[t]",
                r"\centering", r"\small", r"\begin{tabular}{l" + "c" * len(t.columns) + "}", r"\toprule",
                "Model & " + " & ".join(latex_escape(title) for title, _ in t.columns) + r" \\", r"\midrule"]
        published_started = False
        for name, cells, pub in t.rows:
            if pub and not published_started:
                out.append(r"\midrule")
                published_started = True
            row = _row_cells(t, name, cells, ci, r" $\pm$ ", "--", r"\textbf{{{}}}", "$^{{{}}}$", marks)
            out.append(latex_escape(name) + " & " + " & ".join(row) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}"]
        if t.notes:
            out.append(r"\par\vspace{2pt}{\footnotesize\raggedright")
            out += [f"$^{{{marks[n]}}}$ {latex_escape(n)}\\par" for n in t.notes]
            out.append("}")
        out += [rf"\caption{{{TITLES[t.layout]}.}}", r"\end{table}", ""]
    return "\n".join(out)


def to_csv(tables: list[Table], ci: bool = False) -> str:
    """Long form, one line per cell: full precision, the CI, the footnotes in words, and the run it came from."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "model", "column", "value", "ci_low", "ci_high", "published", "best", "notes", "run"])
    for t in tables:
        for name, cells, pub in t.rows:
            for title, key in t.columns:
                c = cells.get(key)
                if c is None:
                    continue
                lo, hi = (c.ci or [None, None])[:2]
                w.writerow([TITLES[t.layout], name, title, repr(c.value), "" if lo is None else repr(lo),
                            "" if hi is None else repr(hi), str(pub).lower(), str(t.bold.get(key) == name).lower(),
                            "; ".join(dict.fromkeys(c.notes)), c.run])
    return buf.getvalue()


RENDER = {"markdown": to_markdown, "latex": to_latex, "csv": to_csv}


def table(run_dirs: list[Path], fmt: str = "markdown", layout: str = "auto", ci: bool = False,
          metric: Optional[str] = None, compat: Optional[bool] = None, allow_incomplete: bool = False) -> str:
    """The table's text."""
    if fmt not in RENDER:
        raise UserError(f"unknown --format {fmt!r}; use one of {', '.join(FORMATS)}")
    return RENDER[fmt](table_data(run_dirs, layout, metric, compat, allow_incomplete), ci)


def write_table(run_dirs: list[Path], out: Optional[Path], **kw: Any) -> str:
    text = table(run_dirs, **kw)
    if out is not None:
        atomic_write_bytes(Path(out), text.encode("utf-8"), make_parents=False)
    return text
