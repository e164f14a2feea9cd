"""Run the numbered notebooks of a profile with papermill, render them with nbconvert, and
write ``report/index.html`` linking every notebook, table and figure.

A notebook is ``notebooks/NN_name.py`` (jupytext percent format). Its parameters come from
``notebooks/params/<profile>.yaml``: ``common`` values for every notebook that declares
them, ``notebooks.<stem>`` values that it must declare (anything else is rejected before any
notebook runs). Each notebook's kernel sees ``RNNVIZ_HOME``, ``RNNVIZ_PROFILE`` and
``RNNVIZ_NOTEBOOK`` so its figures and tables are filed under its name.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
import os
import platform
import re
import subprocess
import time
from pathlib import Path

from rnnviz_lib import __version__
from rnnviz_lib.config import load_profile, project_root
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store, atomic_write_json, atomic_write_text, read_json

log = logging.getLogger(__name__)

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


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
    """Resolve each notebook's parameters; reject undeclared ones before anything runs."""
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
    steps = []
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
        params = {k: v for k, v in prof["common"].items() if k in declared}
        params.update(own)
        if "profile" in declared:
            params["profile"] = prof["name"]
        steps.append({"stem": py.stem, "path": py, "notebook": nb, "parameters": params, "title": title_of(nb)})
    return steps


def _render_html(ipynb: Path, out: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(ipynb, as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
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
    name = load_profile(profile, root)["name"]
    out_dir = store.report_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    status_path = store.report_dir / f"status-{name}.json"
    status = read_json(status_path) if status_path.is_file() else {}
    env_before = {k: os.environ.get(k) for k in ("RNNVIZ_HOME", "RNNVIZ_PROFILE", "RNNVIZ_NOTEBOOK", "MPLBACKEND")}
    os.environ.update(RNNVIZ_HOME=str(root), RNNVIZ_PROFILE=name)
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
def _git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _environment() -> dict:
    env = {"python": platform.python_version(), "platform": platform.platform(), "rnnviz": __version__}
    try:
        import torch

        env["torch"] = torch.__version__
        env["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    except ImportError:  # pragma: no cover
        env["torch"] = "not installed"
    return env


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


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#f4f4f4}.ok{color:#2a7a2a}.fail{color:#b00020;font-weight:bold}.warn{background:#fff3cd;padding:.6em;border:1px solid #e0c36a}
figure{display:inline-block;margin:.5em;vertical-align:top;max-width:48%}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#444}.meta{color:#666;font-size:.85em}code{background:#f4f4f4;padding:0 .2em}
"""


def _is_lk(name: str) -> bool:
    """Does a table or figure name belong to the Linux corpus (``table1_lk``, ``lk_cells`` ...)?"""
    return re.search(r"(^|[_-])lk([_-]|$)", name) is not None


def _lk_warning(store: Store) -> str:
    """The warning line of a non-reference LK corpus in this store ("" for the reference corpus)."""
    man = store.data_dir / "lk" / "manifest.json"
    if not man.is_file():
        return ""
    from rnnviz_lib import data

    try:
        return data.lk_reference_warning(json.loads(man.read_text()))
    except (OSError, ValueError):
        return f"{man} cannot be read; rebuild the LK corpus with `rnnviz data prepare --dataset lk`"


def write_index(profile: str, root: Path, status: dict) -> Path:
    """Write ``report/index.html``: notebooks (status, links), tables (inline, with files), figures."""
    store = Store(root)
    rep = store.report_dir
    rel = lambda p: html.escape(os.path.relpath(p, rep))  # noqa: E731
    esc = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>rnnviz report — {esc(profile)}</title>"
             f"<style>{_CSS}</style></head><body>"]
    parts.append("<h1>rnnviz: Visualizing and Understanding Recurrent Networks, reproduced</h1>")
    env = _environment()
    parts.append(
        f"<p class='meta'>Profile <b>{esc(profile)}</b> · generated {esc(_dt.datetime.now().isoformat(timespec='seconds'))}"
        f" · commit {esc(_git_commit(root))} · " + " · ".join(f"{esc(k)} {esc(str(v))}" for k, v in env.items()) + "</p>"
    )
    parts.append(
        "<p>Karpathy, Johnson &amp; Fei-Fei, <i>Visualizing and Understanding Recurrent Networks</i> (2015). "
        "Every table shows our value, the paper's, and the difference. Symbols are bytes; splits are char-rnn's.</p>"
    )
    lk_warning = _lk_warning(store)
    if lk_warning:
        parts.append(f"<p class='warn' id='lk-warning'>Data warning: {esc(lk_warning)}.</p>")
    for man in sorted(store.data_dir.glob("*/prepared.json")):
        m = json.loads(man.read_text())
        if m.get("checksum_ok") is False and not (m.get("dataset") == "lk" and lk_warning):
            parts.append(f"<p class='warn'>Data warning: {esc(m.get('dataset', man.parent.name))} was used with a checksum "
                         f"mismatch (sha256 {esc(m.get('sha256', '?'))}); numbers may not be comparable with the paper.</p>")
    parts.append("<h2 id='notebooks'>Notebooks</h2><table><tr><th>notebook</th><th>reproduces</th><th>status</th>"
                 "<th>seconds</th><th>finished</th></tr>")
    for stem, st in sorted(status.items()):
        link = rep / "notebooks" / f"{stem}.html"
        cls, word = ("ok", "ok") if st["ok"] else ("fail", "failed: " + (st.get("error") or ""))
        parts.append(f"<tr><td><a href='{rel(link)}'>{esc(stem)}</a></td><td style='text-align:left'>{esc(st.get('title', ''))}"
                     f"</td><td class='{cls}'>{esc(word)}</td><td>{st.get('seconds', '')}</td><td>{esc(st.get('finished', ''))}</td></tr>")
    parts.append("</table>")
    tables = _sidecars(store.tables_dir(profile))
    parts.append("<h2 id='tables'>Tables</h2>")
    if not tables:
        parts.append("<p>No tables yet.</p>")
    for t in tables:
        files = " · ".join(f"<a href='{rel(t['dir'] / f)}'>{esc(k)}</a>" for k, f in sorted(t["files"].items()))
        parts.append(f"<h3 id='table-{esc(t['name'])}'>{esc(t['name'])}</h3><p>{esc(t.get('caption', ''))} "
                     f"<span class='meta'>({esc(t.get('notebook', ''))}; {files})</span></p>")
        if lk_warning and _is_lk(t["name"]):
            parts.append(f"<p class='warn lk-flag'>{esc(lk_warning)}.</p>")
        h = t["dir"] / t["files"].get("html", "")
        if h.is_file():
            parts.append(h.read_text())
    figures = _sidecars(store.figures_dir / profile)
    flag = lambda name: (f"<span class='warn lk-flag'>{esc(lk_warning)}.</span><br>"  # noqa: E731
                         if lk_warning and _is_lk(name) else "")
    parts.append("<h2 id='figures'>Figures</h2>")
    if not figures:
        parts.append("<p>No figures yet.</p>")
    for f in figures:
        png = f["dir"] / f["files"].get("png", "")
        links = " · ".join(f"<a href='{rel(f['dir'] / v)}'>{esc(k)}</a>" for k, v in sorted(f["files"].items()))
        parts.append(f"<figure id='figure-{esc(f['name'])}'><a href='{rel(png)}'><img src='{rel(png)}' alt='{esc(f['name'])}'></a>"
                     f"<figcaption>{flag(f['name'])}<b>{esc(f['name'])}</b>: {esc(f.get('caption', ''))} "
                     f"<span class='meta'>({esc(f.get('notebook', ''))}; {links})</span></figcaption></figure>")
    extra = sorted((rep / "pages").glob("**/*.html")) if (rep / "pages").is_dir() else []
    if extra:
        parts.append("<h2 id='pages'>Interactive pages</h2><ul>")
        parts.extend(f"<li><a href='{rel(p)}'>{esc(str(p.relative_to(rep / 'pages')))}</a></li>" for p in extra)
        parts.append("</ul>")
    parts.append(f"<p class='meta'>Rebuild with <code>rnnviz report --profile {esc(profile)}</code>.</p></body></html>")
    index = rep / "index.html"
    atomic_write_text(index, "\n".join(parts))
    log.info("report written to %s", index)
    return index
