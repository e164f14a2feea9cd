"""Run the numbered notebooks of a profile with papermill, render them with nbconvert, and
write ``report/index.html`` linking every notebook, table and figure.

A notebook is ``notebooks/NN_name.py`` (jupytext percent format). Its parameters come from
``notebooks/params/<profile>.yaml``: ``common`` values for every notebook that declares
them, ``notebooks.<stem>`` values that it must declare (anything else is rejected before any
notebook runs). Each notebook's kernel sees ``RNNVIZ_HOME`` and ``RNNVIZ_NOTEBOOK`` so its
figures and tables are filed under its name (the profile reaches it as a parameter).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import logging
import os
import re
import time
from pathlib import Path

from markupsafe import Markup

from rnnviz_lib.config import load_profile, project_root
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store, atomic_write_json, atomic_write_text, read_json

log = logging.getLogger(__name__)

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
TEMPLATES = Path(__file__).resolve().parent / "templates" / "nbconvert"  # the notebook page template "rnnviz"
REPORT_TEMPLATES = TEMPLATES.parent / "report"  # the index page (index.html) and its style (report.css)


def discover(root: Path) -> list[Path]:
    """``notebooks/NN_*.py`` in run order."""
    nbdir = root / "notebooks"
    if not nbdir.is_dir():
        raise RnnvizError(f"no notebooks/ folder in {root}; run from the project root or set RNNVIZ_HOME")
    return sorted(p for p in nbdir.glob("[0-9][0-9]_*.py"))


def to_notebook(py: Path):
    """Read a percent-format .py as a notebook with a python3 kernelspec (papermill needs one)."""
    import jupytext

    nb = jupytext.read(py)
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])  # papermill reads cell.metadata.tags on every cell
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


def declared_parameters(nb) -> dict:
    """{name: {inferred_type_name, default, help}} of the notebook's ``parameters`` cell."""
    from papermill.inspection import _infer_parameters

    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise RnnvizError(f"notebook must have exactly one cell tagged 'parameters' (found {len(cells)})")
    return {p.name: p._asdict() for p in _infer_parameters(nb)}


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def plan(profile: str, root: Path | None = None, only: list[str] | None = None) -> list[dict]:
    """Resolve each notebook's parameters before anything runs; reject a parameter a notebook does
    not declare, and an override equal to the notebook's default (a profile lists only differences)."""
    root = root or project_root()
    prof = load_profile(profile, root)
    notebooks = discover(root)
    stems = {p.stem for p in notebooks}
    unknown_sections = sorted(set(prof["notebooks"]) - stems)
    if unknown_sections:
        raise RnnvizError(
            f"profile {prof['name']} has parameters for notebooks that do not exist: {', '.join(unknown_sections)}; "
            f"known notebooks: {', '.join(sorted(stems))}"
        )
    if only:
        missing = sorted(set(only) - stems)
        if missing:
            raise RnnvizError(f"no such notebook: {', '.join(missing)}; known: {', '.join(sorted(stems))}")
    steps, defaults_of_common = [], {}  # common name -> every notebook that declares it has that default
    derived = bool(prof.get("rehearses"))  # made by code from a profile file, which was checked itself
    for py in notebooks:
        if only and py.stem not in only:
            continue
        nb = to_notebook(py)
        try:
            declared = declared_parameters(nb)
        except RnnvizError as exc:
            raise RnnvizError(f"{py.name}: {exc}") from None
        own = dict(prof["notebooks"].get(py.stem) or {})
        undeclared = sorted(set(own) - set(declared))
        if undeclared:
            raise RnnvizError(
                f"notebook {py.stem} does not declare parameter(s) {', '.join(undeclared)} given by profile "
                f"{prof['name']} (it declares: {', '.join(sorted(declared))}); fix notebooks/params/{prof['name']}.yaml"
            )
        restated = sorted(k for k, v in own.items() if _is_default(declared[k], v))
        if restated and not derived:
            raise RnnvizError(
                f"profile {prof['name']} gives notebook {py.stem} its default for {', '.join(restated)}; a profile "
                f"lists only what differs from a notebook's defaults: delete them from notebooks/params/{prof['name']}.yaml"
            )
        params = {k: v for k, v in prof["common"].items() if k in declared}
        params.update(own)
        defaults_of_common.update({k: defaults_of_common.get(k, True) and _is_default(declared[k], v)
                                   for k, v in prof["common"].items() if k in declared})
        if "profile" in declared:
            params["profile"] = prof["name"]
        steps.append({"stem": py.stem, "path": py, "notebook": nb, "parameters": params, "title": title_of(nb)})
    restated = sorted(k for k, same in defaults_of_common.items() if same) if not (only or derived) else []
    if restated:
        raise RnnvizError(
            f"profile {prof['name']}'s common section gives {', '.join(restated)} the default of every notebook "
            f"that declares it; delete it from notebooks/params/{prof['name']}.yaml"
        )
    return steps


def _is_default(declared: dict, value) -> bool:
    """Whether ``value`` equals the default written in the notebook's parameters cell."""
    import ast

    try:
        return ast.literal_eval(declared["default"]) == value
    except (ValueError, SyntaxError, TypeError):
        return False  # a default that is an expression is never restated literally


def _render_html(ipynb: Path, out: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(ipynb, as_version=4)
    exporter = HTMLExporter(template_name="rnnviz", extra_template_basedirs=[str(TEMPLATES)])
    body, _ = exporter.from_notebook_node(nb)  # JupyterLab's page, code cells folded (templates/nbconvert/rnnviz)
    atomic_write_text(out, body)


def run_report(
    profile: str,
    root: Path | None = None,
    only: list[str] | None = None,
    timeout: int | None = None,
) -> Path:
    """Execute the profile's notebooks in order and write ``report/index.html``; return its path.

    A failing notebook is still rendered (with its error) and listed as failed; the run then
    stops and raises ``RnnvizError`` naming it.
    """
    import nbformat
    import papermill as pm
    from tqdm.auto import tqdm

    root = (root or project_root()).resolve()
    store = Store(root)
    steps = plan(profile, root, only)
    prof = load_profile(profile, root)
    name = prof["name"]
    out_dir = store.report_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    status_path = store.report_dir / f"status-{name}.json"
    status = read_json(status_path) if status_path.is_file() else {}
    env_before = {k: os.environ.get(k) for k in ("RNNVIZ_HOME", "RNNVIZ_NOTEBOOK", "MPLBACKEND")}
    os.environ["RNNVIZ_HOME"] = str(root)
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend: figures land in the notebook and its HTML
    failed = None
    try:
        for step in tqdm(steps, desc=f"report {name}", unit="notebook"):
            stem = step["stem"]
            os.environ["RNNVIZ_NOTEBOOK"] = stem
            src = out_dir / f".{stem}.input.ipynb"
            dst = out_dir / f"{stem}.ipynb"
            nbformat.write(step["notebook"], src)
            t0 = time.time()
            log.info("running %s with %s", stem, step["parameters"])
            error = None
            try:
                pm.execute_notebook(
                    str(src), str(dst), parameters=step["parameters"], kernel_name=KERNEL["name"],
                    cwd=str(root), progress_bar=False, execution_timeout=timeout,
                )
            except pm.PapermillExecutionError as exc:
                error = f"{exc.ename}: {exc.evalue}"
            finally:
                src.unlink(missing_ok=True)
            if dst.is_file():
                _render_html(dst, out_dir / f"{stem}.html")
            status[stem] = {
                "title": step["title"], "ok": error is None, "error": error, "seconds": round(time.time() - t0, 1),
                "parameters": step["parameters"], "finished": _dt.datetime.now().isoformat(timespec="seconds"),
            }
            atomic_write_json(status_path, status)
            if error:
                failed = (stem, error)
                break
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    index = write_index(name, root, status)
    if failed:
        raise RnnvizError(
            f"notebook {failed[0]} failed ({failed[1]}); see {out_dir / (failed[0] + '.html')}. "
            "Finished artifacts are kept; fix and rerun"
        )
    return index


# ----------------------------------------------------------------------------------------
# index.html
# ----------------------------------------------------------------------------------------
def _sidecars(folder: Path) -> list[dict]:
    items = []
    for meta in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            m = json.loads(meta.read_text())
        except json.JSONDecodeError:
            continue
        if isinstance(m, dict) and "files" in m:
            m["dir"] = folder
            items.append(m)
    return items


SCORECARD_TABLE = "scorecard"  # the table notebook 09_scorecard saves
# the scorecard's columns on the page: card column (the cell's class) -> header
SCORECARD_COLUMNS = {"claim": "claim", "dataset": "dataset", "paper": "paper", "ours": "ours", "verdict": "verdict",
                     "reason": "reason", "models": "rests on"}
VERDICT_CLASS = {"reproduced": "verdict-reproduced", "not reproduced": "verdict-not-reproduced",
                 "not measurable in this profile": "verdict-not-measurable"}


def _is_lk(name: str) -> bool:
    """Does a table or figure name belong to the Linux corpus (``table1_lk``, ``lk_cells`` ...)?"""
    return re.search(r"(^|[_-])lk([_-]|$)", name) is not None


def _lk_warning(store: Store) -> str:
    """The warning line of a non-reference LK corpus in this store ("" for the reference corpus)."""
    man = store.data_dir / "lk" / "manifest.json"
    if not man.is_file():
        return ""
    from rnnviz_lib import lk_corpus

    try:
        return lk_corpus.lk_reference_warning(json.loads(man.read_text()))
    except (OSError, ValueError):
        return f"{man} cannot be read; rebuild the LK corpus with `rnnviz data prepare --dataset lk`"


def _data_uri(path: Path, mime: str) -> str:
    """A file as a ``data:`` URI (what the self-contained report links to instead of the file)."""
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


_MIME = {"csv": "text/csv", "md": "text/markdown", "tex": "application/x-tex", "html": "text/html",
         "png": "image/png", "pdf": "application/pdf"}


def _scorecard(store: Store, profile: str, link) -> dict | None:
    """The scorecard section's data: verdict counts, its files, and one row per claim with the
    verdict cell's class (green reproduced, red not reproduced, grey not measurable), from the
    table notebook 09 saved; None when there is none yet."""
    card = store.load_table(SCORECARD_TABLE, profile)
    if card is None:
        return None
    meta = next((t for t in _sidecars(store.tables_dir(profile)) if t["name"] == SCORECARD_TABLE), None)
    files = Markup(" · ").join(link(meta["dir"] / f, k) for k, f in sorted(meta["files"].items())) if meta else ""
    card = card.reset_index()
    counts = card["verdict"].value_counts()
    rows = []
    for _, r in card.iterrows():
        cells = {c: _text(r.get(c)) for c in SCORECARD_COLUMNS}
        cells["claim"] = Markup("<b>{}</b> {}").format(cells["claim"], _text(r.get("statement")))
        cells["models"] = _models_cell(_text(r.get("models")))
        rows.append({"cls": VERDICT_CLASS.get(str(r["verdict"]), ""), "cells": list(cells.items())})
    return {"counts": [(v, cls, int(counts.get(v, 0))) for v, cls in VERDICT_CLASS.items()], "files": files,
            "headers": list(SCORECARD_COLUMNS.values()), "rows": rows}


_RUN_ENTRY = re.compile(r"^(?P<ds>\S+) (?P<model>\S+)(?: with snapshots)? \((?P<how>.*)\)$")
_MODEL_SIZE = re.compile(r"^(?:rnn|lstm|gru)-\d-(\d+)$")


def models_summary(text: str) -> str:
    """A short summary of a scorecard row's models ("9 models: 9 shipped, paper recipe; row 64"),
    from its ``"; "``-separated entries (``"wp lstm-2-64 (shipped, paper recipe, <run>)"``)."""
    entries = [e.strip() for e in text.split("; ") if e.strip() and e.strip() != "-"]
    if not entries:
        return "-"
    kinds, sizes = {}, set()
    for e in entries:
        m = _RUN_ENTRY.match(e)
        how = m.group("how").split(", ") if m else [e]
        if m and len(how) > 2 and "-" in how[-1]:
            how = how[:-1]  # the run's folder name: in the full list only
        ms = _MODEL_SIZE.match(m.group("model")) if m else None
        key = ", ".join(how) if ms else (f"{m.group('model')} ({', '.join(how)})" if m else e)
        kinds[key] = kinds.get(key, 0) + 1
        if ms:
            sizes.add(int(ms.group(1)))
    rows = f"; row{'s' if len(sizes) > 1 else ''} {', '.join(map(str, sorted(sizes)))}" if sizes else ""
    return (f"{len(entries)} model{'s' if len(entries) > 1 else ''}: "
            + "; ".join(f"{n} {k}" for k, n in kinds.items()) + rows)


def _models_cell(text: str) -> str:
    """The scorecard's "rests on" cell: the summary, expanding to the full list with run ids."""
    if not text or text == "-":
        return "-"
    items = Markup("").join(Markup("<li>{}</li>").format(e) for e in text.split("; "))
    return Markup("<details class='models'><summary>{}</summary><ul>{}</ul></details>").format(models_summary(text),
                                                                                              items)


GLANCE_FIGURES = ("table1_delta_", "table2_")  # the index's opening: Table 1's ours - paper, Table 2 as a plot
WIDE_FIGURES = ("fig2_",)  # figures shown at the page's width (Figure 2's text panels)


def _glance(figures: list[dict], nb_href, img_src) -> list[dict]:
    """The index's opening figures: Table 1 (ours − paper heatmap) and Table 2 (ours and the
    paper's against n) per dataset, each linking to its notebook (else to the figure below)."""
    shown = [f for prefix in GLANCE_FIGURES for f in sorted(figures, key=lambda f: f["name"])
             if f["name"].startswith(prefix)]  # Table 1's first, each dataset in name order
    out = []
    for f in shown:
        nb = f.get("notebook") or ""
        out.append({"name": f["name"], "notebook": nb, "suffix": f["name"].rsplit("_", 1)[-1],
                    "href": nb_href(nb) if nb else f"#figure-{f['name']}",
                    "img": img_src(f["dir"] / f["files"].get("png", "")),
                    "what": "Table 1: ours − paper" if f["name"].startswith("table1_") else
                    "Table 2: ours and the paper's by n"})
    return out


def _text(v) -> str:
    """A table cell as text; a blank (None, NaN) as ""."""
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def _provenance(prov: dict) -> dict:
    """The provenance section's rows (code, environment, data, profile, rebuild) and runs."""
    code, ver, mach = prov["code"], prov["versions"], prov["machine"]
    dirty = {True: "yes (uncommitted changes to tracked files)", False: "no", None: "unknown"}[code.get("dirty")]
    rows = [("git commit", code.get("commit") or "unknown (not a git checkout)"), ("tree dirty", dirty),
            *((k, ver[k]) for k in ("python", "torch", "numpy", "rnnviz") if k in ver),
            ("machine", f"{mach.get('processor') or '?'}, {mach.get('cpus')} CPUs, {mach.get('platform')} "
                        f"({mach.get('hostname')})"), ("device", prov["device"]),
            ("profile", f"{prov['profile']} (contents hash {prov['profile_hash']})")]
    for ds, d in sorted(prov["data"].items()):
        extra = f", kernel {d['kernel_version']}" if d.get("kernel_version") else ""
        ok = {True: "matches the reference", False: "DIFFERS from the reference"}.get(d.get("checksum_ok"), "")
        rows.append((f"data {ds} sha256", f"{d.get('sha256')} ({ok}{extra})" if ok or extra else str(d.get("sha256"))))
    rows.append(("rebuild", prov["rebuild"]))
    runs = [{c: str(r.get(c, "")) for c in RUN_COLUMNS} for r in prov["runs"]]
    return {"rows": [(k, str(v)) for k, v in rows], "runs": runs, "columns": RUN_COLUMNS}


RUN_COLUMNS = ["run", "dataset", "model", "origin", "profile", "finished", "extra"]  # provenance's runs table


def _index_context(profile: str, root: Path, status: dict, bundle: bool, prov: dict) -> dict:
    """What the index template (``templates/report/index.html``) shows, as data. ``bundle``: the
    self-contained variant (notebook links point at sections of the same page, files are
    ``data:`` URIs, nothing else is linked); ``prov``: ``provenance.report_provenance``."""
    store = Store(root)
    rep = store.report_dir

    def link(path: Path, text: str) -> Markup:
        if not bundle:
            return Markup("<a href='{}'>{}</a>").format(os.path.relpath(path, rep), text)
        mime = _MIME.get(Path(path).suffix.lstrip("."))
        if mime is None or not Path(path).is_file() or Path(path).suffix == ".pdf":
            return Markup("{}").format(text)  # PDFs stay beside index.html; the bundle shows the PNG
        return Markup("<a download='{}' href='{}'>{}</a>").format(Path(path).name, _data_uri(path, mime), text)

    def links(item: dict) -> Markup:
        return Markup(" · ").join(link(item["dir"] / f, k) for k, f in sorted(item["files"].items()))

    def nb_href(stem: str) -> str:
        return f"#nb-{stem}" if bundle else os.path.relpath(rep / "notebooks" / f"{stem}.html", rep)

    def img_src(png: Path) -> str:
        return (_data_uri(png, "image/png") if png.is_file() else "") if bundle else os.path.relpath(png, rep)

    lk_warning = _lk_warning(store)
    data_warnings = []
    for man in sorted(store.data_dir.glob("*/prepared.json")):
        try:
            m = read_json(man)
        except RnnvizError as exc:  # a damaged data file is named on the page, never a crash of the report
            data_warnings.append(str(exc))
            continue
        if m.get("checksum_ok") is False and not (m.get("dataset") == "lk" and lk_warning):
            data_warnings.append(f"{m.get('dataset', man.parent.name)} was used with a checksum mismatch (sha256 "
                                 f"{m.get('sha256', '?')}); numbers may not be comparable with the paper.")
    figures = _sidecars(store.figures_dir / profile)
    tables = [t for t in _sidecars(store.tables_dir(profile)) if t["name"] != SCORECARD_TABLE]
    extra = sorted((rep / "pages").glob("**/*.html")) if (rep / "pages").is_dir() else []
    code = prov["code"]
    return {
        "profile": profile, "css": Markup((REPORT_TEMPLATES / "report.css").read_text()),
        "generated": _dt.datetime.now().isoformat(timespec="seconds"), "commit": (code.get("commit") or "unknown")[:12],
        "dirty": code.get("dirty"), "versions": prov["versions"], "device": prov["device"], "bundle": bundle,
        "lk_warning": lk_warning, "data_warnings": data_warnings, "nb_href": nb_href,
        "glance": _glance(figures, nb_href, img_src), "card": _scorecard(store, profile, link),
        "notebooks": [{"stem": stem, "href": nb_href(stem), "title": st.get("title", ""),
                       "cls": "ok" if st["ok"] else "fail",
                       "word": "ok" if st["ok"] else "failed: " + (st.get("error") or ""),
                       "seconds": st.get("seconds", ""), "finished": st.get("finished", "")}
                      for stem, st in sorted(status.items())],
        "tables": [{"name": t["name"], "caption": t.get("caption", ""), "notebook": t.get("notebook", ""),
                    "files": links(t), "lk": bool(lk_warning) and _is_lk(t["name"]),
                    "html": Markup((t["dir"] / t["files"]["html"]).read_text())
                    if (t["dir"] / t["files"].get("html", "")).is_file() and t["files"].get("html") else ""}
                   for t in tables],
        "figures": [{"name": f["name"], "caption": f.get("caption", ""), "notebook": f.get("notebook", ""),
                     "files": links(f), "src": img_src(f["dir"] / f["files"].get("png", "")),
                     "wide": f["name"].startswith(WIDE_FIGURES), "lk": bool(lk_warning) and _is_lk(f["name"])}
                    for f in figures],
        "pages": [str(q.relative_to(rep / "pages")) if bundle else link(q, str(q.relative_to(rep / "pages")))
                  for q in extra],
        "provenance": _provenance(prov), "rebuild": prov["rebuild"], "extra_head": "", "appendix": [],
    }


def render_index(context: dict) -> str:
    """The index page from ``_index_context`` (jinja2, autoescaped)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(REPORT_TEMPLATES),
                             autoescape=True, keep_trailing_newline=True)
    return env.get_template("index.html").render(**context)


def write_index(profile: str, root: Path, status: dict) -> Path:
    """Write ``report/index.html`` (at a glance, the scorecard, then notebooks with status and links,
    tables inline with their files, figures, provenance), the self-contained
    ``report/report-<profile>.html`` (``write_bundle``) and its print ``report/report-<profile>.pdf``
    (``write_pdf``, where Chromium is installed); return the index's path."""
    rep = Store(root).report_dir
    index = rep / "index.html"
    from rnnviz_lib import provenance

    prov = provenance.report_provenance(profile, root)  # once, for the index and the bundle
    atomic_write_json(rep / f"provenance-{profile}.json", prov)
    atomic_write_text(index, render_index(_index_context(profile, root, status, False, prov)))
    log.info("report written to %s", index)
    bundle = write_bundle(profile, root, status, prov)
    write_pdf(bundle, rep / f"report-{profile}.pdf")
    return index


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """A headless-capable Chromium on PATH (Debian: ``apt-get install chromium``), or None."""
    import shutil

    return next((p for n in CHROMIUM_NAMES if (p := shutil.which(n))), None)


def write_pdf(bundle: Path, out: Path, timeout: int = 600) -> Path | None:
    """Print the one-file report to ``out`` with headless Chromium: figures and tables as on the
    page, code folded (hidden in print), every notebook from a new page. Returns ``out``, or None
    (with one warning line saying why) when no Chromium is installed or printing fails; the HTML
    report stands either way. Written atomically."""
    import subprocess
    import tempfile

    from rnnviz_lib.store import atomic_path

    exe = find_chromium()
    if exe is None:
        log.warning("no PDF report: no Chromium on PATH (%s); install it (Debian: apt-get install chromium) "
                    "and rerun rnnviz report", ", ".join(CHROMIUM_NAMES))
        return None
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rnnviz-chromium-") as profile_dir, atomic_path(out) as tmp:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
               f"--user-data-dir={profile_dir}", f"--print-to-pdf={tmp}", Path(bundle).resolve().as_uri()]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            res = None
            why = str(exc)
        if res is None or res.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            why = why if res is None else (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
            log.warning("no PDF report: %s could not print %s (%s)", exe, bundle, why[:300])
            tmp.unlink(missing_ok=True)
            return None
    log.info("PDF report written to %s (%.0f s)", out, time.perf_counter() - t0)
    return out


_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc\s*=[^>]*>\s*</script>", re.I | re.S)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.I)
_ATTR = re.compile(r"""\s(href|src)\s*=\s*("[^"]*"|'[^']*')""", re.I)


def _self_contained(fragment: str) -> str:
    """Drop what would reach outside one file: scripts loaded by ``src`` (nbconvert's require.js
    and MathJax from a CDN), ``<link>`` tags, and every ``href``/``src`` that is not a ``data:``
    URI or an in-page anchor (the link text stays)."""
    fragment = _SCRIPT_SRC.sub("", fragment)
    fragment = _LINK_TAG.sub("", fragment)

    def keep(m):
        v = m.group(2)[1:-1].strip()
        return m.group(0) if v.startswith(("data:", "#")) else ""

    return _ATTR.sub(keep, fragment)


def _notebook_parts(page: str) -> tuple[str, str]:
    """(the ``<style>`` blocks of its head, the inner HTML of its body) of a rendered notebook."""
    head = page.split("</head>", 1)[0]
    styles = "\n".join(re.findall(r"<style\b.*?</style>", head, re.I | re.S))
    m = re.search(r"<body\b[^>]*>(.*)</body>", page, re.I | re.S)
    return styles, m.group(1) if m else page


def write_bundle(profile: str, root: Path, status: dict, prov: dict | None = None) -> Path:
    """Write ``report/report-<profile>.html``: the index and every executed notebook in one file,
    images and table files inlined as ``data:`` URIs, no script, style or link fetched from
    elsewhere, so that it can be mailed or attached as it is."""
    rep = Store(root).report_dir
    if prov is None:
        from rnnviz_lib import provenance

        prov = provenance.report_provenance(profile, root)
    context = _index_context(profile, root, status, True, prov)
    for stem, st in sorted(status.items()):
        page = rep / "notebooks" / f"{stem}.html"
        if not page.is_file():
            continue
        styles, body = _notebook_parts(page.read_text())
        if not context["extra_head"]:  # every notebook page carries the same nbconvert styles: once is enough
            context["extra_head"] = Markup(_self_contained(styles))
        context["appendix"].append({"stem": stem, "title": st.get("title", ""), "body": Markup(_self_contained(body))})
    out = rep / f"report-{profile}.html"
    atomic_write_text(out, render_index(context))
    log.info("self-contained report written to %s", out)
    return out
