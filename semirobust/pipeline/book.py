"""Build the book: execute the notebooks with papermill, present them for readers, render HTML.

``python -m semirobust.pipeline.book --profile offline`` (what ``make book`` runs):

1. each source notebook in ``notebooks/`` is executed with the chosen profile and data set into
   ``<book>/results/<name>.ipynb``; an executed copy is reused when the notebook's source, its
   parameters, the library code and the records it read (its ``inputs``) are unchanged (a rebuild
   without changes reruns nothing; see :func:`is_up_to_date` for the records);
2. the executed copy is *presented* (:func:`semirobust.pipeline.notebook_outputs.present_notebook`): code
   inputs hidden behind a toggle, the parameter cells replaced by one box with the values the run
   used and its provenance and log lines, warnings, progress bars and raw reprs dropped, printed
   text turned into paragraphs, machine paths removed; its provenance (commit, profile, data set,
   date, device) is written beside it as ``<name>.provenance.json``;
3. the reproduction-status page and the reproducibility summary are generated from the provenance
   files, the executed notebooks' glued claims and the results store;
4. ``jupyter-book build`` renders the HTML strictly (warnings are errors, nitpicky references).

The executed notebooks of the default profile are committed, so ``jupyter-book build book`` on a
fresh clone renders real results. ``--book-dir DIR`` builds in a copy of the book at DIR and
leaves the committed results alone (what the test suite does at the smoke profile).

A notebook that fails stops the build with the notebook and the cell named; nothing half-built is
reported as success (the executed copy of a failed notebook is removed).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from semirobust.config import get_profile
from semirobust.pipeline.notebook_outputs import present_notebook, unquote_glued_text
from semirobust.pipeline.pages import NOTEBOOKS, page
from semirobust.pipeline.prefetch import prefetch
from semirobust.results import READ_LOG_ENV, read_log
from semirobust.utils import REPO_ROOT, atomic_write_text, default_results_dir

__all__ = ["NOTEBOOKS", "BOOK_DIR", "SOURCE_DIR", "NotebookFailed", "library_fingerprint", "code_cells_digest",
           "notebook_parameters", "execution_key", "inputs_current", "is_up_to_date", "execute_notebook", "present_notebook", "unquote_glued_text", "read_provenance", "copy_book",
           "build_html", "build_book", "main"]

BOOK_DIR = REPO_ROOT / "book"
SOURCE_DIR = REPO_ROOT / "notebooks"
#: Where executed notebooks go inside a book folder.
RESULTS_SUBDIR = "results"


class NotebookFailed(RuntimeError):
    """A notebook raised while executing; the message names the notebook and the cell."""


def library_fingerprint() -> str:
    """Hash of the library source and the committed benchmark figures some pages read."""
    digest = hashlib.sha256()
    paths = [*(REPO_ROOT / "semirobust").rglob("*"), *(REPO_ROOT / "benchmarks" / "results").glob("*.json")]
    for path in sorted(paths):
        if path.is_file() and path.suffix in (".py", ".csv", ".yaml", ".json") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(REPO_ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def code_cells_digest(notebook) -> str:
    """Hash of a notebook's code cells as the author wrote them (papermill's injected cell left out).

    The same digest of a source notebook and of its executed copy means the copy was executed from
    this code: the staleness test compares them.
    """
    digest = hashlib.sha256()
    for cell in notebook.cells:
        if cell.cell_type == "code" and "injected-parameters" not in cell.metadata.get("tags", []):
            digest.update(cell.source.strip().encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def notebook_parameters(source: Path, profile: str, dataset: str, device: str) -> dict:
    """The pipeline's settings, restricted to the parameters this notebook declares.

    Figures go to ``figures`` and a page's data files (CSV, linked from the page) to ``data``, both relative to the
    executed notebook's folder, so no path of the build machine reaches a page.
    """
    from semirobust.pipeline.sweep import notebook_parameters as declared_parameters

    declared = set(declared_parameters(source))
    prof = get_profile(profile)
    field = page(source.stem).profile_dataset if source.stem in NOTEBOOKS else None  # else: a test's notebook
    if field and getattr(prof, field):
        dataset = getattr(prof, field)
    datasets = ",".join(dict.fromkeys([dataset, *prof.figure1_extra_datasets]))
    wanted = {"profile": profile, "dataset": dataset, "datasets": datasets, "device": device, "figures_dir": "figures",
              "data_dir": "data"}
    return {k: v for k, v in wanted.items() if k in declared}


def _provenance_path(executed_dir: Path, name: str) -> Path:
    return executed_dir / f"{name}.provenance.json"


def read_provenance(executed_dir: Path, name: str) -> dict | None:
    """The provenance written beside an executed notebook, or None when there is none."""
    path = _provenance_path(executed_dir, name)
    return json.loads(path.read_text()) if path.exists() else None


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        commit = out.stdout.strip() or "unknown"
        # the book's own outputs (executed notebooks, status page) do not make the code "changed"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)book/results", ":(exclude)book/_generated"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _device_label(device: str) -> str:
    from semirobust.results import describe_device
    from semirobust.utils import resolve_device

    return describe_device(resolve_device(device))


def execution_key(source: Path, params: dict) -> dict:
    """What an executed page depends on besides its records: the notebook's source, its parameters, the library."""
    return {"source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(), "parameters": params,
            "library": library_fingerprint()}


def inputs_current(inputs: dict, results_dir=None) -> bool:
    """Whether the records a page read (``{path relative to the store: sha256}``) are still what it read.

    False when any of them exists with other content, or is missing while others exist. When NONE of them
    exists (a fresh clone: ``results/`` is not committed) the committed page stands: True."""
    root = Path(results_dir) if results_dir is not None else default_results_dir()
    present = {path: root / path for path in inputs if (root / path).is_file()}
    if not present:
        return True
    if len(present) < len(inputs):
        return False
    return all(hashlib.sha256(file.read_bytes()).hexdigest() == inputs[path] for path, file in present.items())


def is_up_to_date(name: str, profile: str, dataset: str, device: str, executed_dir: Path, results_dir=None) -> bool:
    """Whether the executed copy of ``name`` was made from this source, these parameters and this library, and
    from the records it read as they are now (:func:`inputs_current`: a fresh clone without ``results/`` keeps
    the committed page)."""
    source = SOURCE_DIR / f"{name}.ipynb"
    previous = read_provenance(executed_dir, name)
    key = execution_key(source, notebook_parameters(source, profile, dataset, device))
    if not (executed_dir / f"{name}.ipynb").exists() or previous is None:
        return False
    stored = dict(previous.get("key") or {})
    inputs = stored.pop("inputs", {})
    return stored == key and inputs_current(inputs, results_dir)


def execute_notebook(name: str, profile: str, dataset: str, device: str, force: bool = False,
                     executed_dir: Path | None = None, raw_dir: Path | None = None) -> str:
    """Execute and present one notebook unless an up-to-date copy exists; returns 'ran' or 'reused'.
    ``raw_dir``: also keep the notebook as papermill executed it, before presentation (what nbval re-runs)."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    executed_dir = Path(executed_dir) if executed_dir is not None else BOOK_DIR / RESULTS_SUBDIR
    source = SOURCE_DIR / f"{name}.ipynb"
    if not source.exists():
        raise FileNotFoundError(f"Source notebook {source} is missing.")
    target = executed_dir / f"{name}.ipynb"
    params = notebook_parameters(source, profile, dataset, device)
    key = execution_key(source, params)
    if not force and is_up_to_date(name, profile, dataset, device, executed_dir):
        return "reused"
    _provenance_path(executed_dir, name).unlink(missing_ok=True)
    executed_dir.mkdir(parents=True, exist_ok=True)
    partial = executed_dir / f".{name}.partial.ipynb"
    start = time.perf_counter()
    reads = executed_dir / f".{name}.reads.jsonl"  # the records the page reads (semirobust.results, read log)
    reads.unlink(missing_ok=True)
    before = os.environ.get(READ_LOG_ENV)
    os.environ[READ_LOG_ENV] = str(reads.resolve())  # the kernel inherits it
    try:
        papermill.execute_notebook(str(source), str(partial), parameters=params, cwd=str(executed_dir),
                                   kernel_name="python3", progress_bar=False,
                                   stdout_file=sys.stdout, stderr_file=sys.stderr)  # progress lines reach the console
    except PapermillExecutionError as exc:
        target.unlink(missing_ok=True)
        raise NotebookFailed(
            f"notebooks/{name}.ipynb failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
            f"{exc.ename}: {exc.evalue}\n--- cell source ---\n{exc.source}\n(partial output kept in {partial})"
        ) from exc
    finally:
        if before is None:
            os.environ.pop(READ_LOG_ENV, None)
        else:
            os.environ[READ_LOG_ENV] = before
    key = {**key, "inputs": read_log(reads)}
    reads.unlink(missing_ok=True)
    provenance = {"notebook": f"notebooks/{name}.ipynb", "profile": params.get("profile", profile),
                  "dataset": params.get("datasets", params.get("dataset", dataset)), "device": _device_label(device), "commit": _git_commit(),
                  "executed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                  "seconds": round(time.perf_counter() - start, 1),
                  "code_cells": code_cells_digest(nbformat.read(source, as_version=4)), "key": key}
    if raw_dir is not None:
        Path(raw_dir).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(partial, Path(raw_dir) / f"{name}.ipynb")
    notebook = nbformat.read(partial, as_version=4)
    scrub = tuple(sorted({str(executed_dir.resolve()), str(REPO_ROOT), str(Path.home())}, key=len, reverse=True))
    present_notebook(notebook, provenance, scrub=scrub)
    nbformat.write(notebook, partial)
    partial.replace(target)
    atomic_write_text(_provenance_path(executed_dir, name), json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    return "ran"


def copy_book(destination: Path) -> Path:
    """Copy the book's source (pages, config, committed results; no build output) to ``destination``."""
    destination = Path(destination)
    if destination.resolve() == BOOK_DIR.resolve():
        return destination
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(BOOK_DIR, destination, symlinks=False, ignore=shutil.ignore_patterns("_build"))
    return destination


def build_html(book_dir: Path | None = None, strict: bool = True) -> Path:
    """Run ``jupyter-book build``; ``strict`` turns warnings into errors and checks every reference."""
    book_dir = Path(book_dir) if book_dir is not None else BOOK_DIR
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(book_dir)]
    if strict:
        cmd += ["--all", "-W", "-n", "--keep-going"]
    result = subprocess.run(cmd, cwd=book_dir.parent)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed with exit code {result.returncode}; see the log above.")
    return book_dir / "_build" / "html" / "index.html"


def build_book(profile: str = "offline", dataset: str = "fashion-mnist", device: str = "auto", only=None,
               force: bool = False, html: bool = True, book_dir: Path | None = None, workers: int = 2,
               raw_dir: Path | None = None) -> dict:
    """Execute the notebooks, write the status page and render the book; returns per-notebook timings.

    Where an Algorithm 1 notebook will execute, its seeds and the studies on them (the attack-and-budget table,
    the cost frontier, Table S5) run first in ``workers`` processes (:func:`semirobust.pipeline.prefetch.prefetch`;
    1: no pool, the notebooks run them)."""
    from semirobust.config import DATASETS, PROFILES, check_choice
    from semirobust.pipeline.status import write_status_page, write_summary

    check_choice("profile", profile, PROFILES)
    check_choice("dataset", dataset, DATASETS)
    names = list(only) if only else list(NOTEBOOKS)
    for name in names:
        check_choice("notebook", name, NOTEBOOKS)
    book_dir = copy_book(book_dir) if book_dir is not None else BOOK_DIR
    executed_dir = book_dir / RESULTS_SUBDIR
    timings = {}
    stale = [n for n in names if page(n).algorithm1 and (force or not is_up_to_date(
        n, profile, dataset, device, executed_dir))]
    if stale and workers > 1:
        print(f"[book] Algorithm 1's seeds for {', '.join(stale)}: {workers} processes, 1 thread each ...", flush=True)
        try:
            seconds = prefetch(profile, dataset, workers=workers, device=device)
            timings["prefetch"] = {"state": "ran", "seconds": round(seconds, 1)}
        except RuntimeError as exc:  # the notebooks then run what is missing and name the error
            print(f"[book] {exc}", flush=True)
    for position, name in enumerate(names, 1):
        start = time.perf_counter()
        print(f"[book] ({position}/{len(names)}) {name}: executing (profile={profile}, dataset={dataset}) ...",
              flush=True)
        state = execute_notebook(name, profile, dataset, device, force=force, executed_dir=executed_dir,
                                 raw_dir=raw_dir)
        timings[name] = {"state": state, "seconds": round(time.perf_counter() - start, 1)}
        print(f"[book] ({position}/{len(names)}) {name}: {state} in {timings[name]['seconds']} s", flush=True)
    status = book_dir / "_generated" / "status.md"
    from semirobust.results import ResultsStore

    if status.exists() and all(t["state"] == "reused" for t in timings.values()) and not ResultsStore().records():
        # a fresh clone: the committed notebooks were reused and their records are not here (results/ is
        # not committed); the committed status page describes the runs behind them, so it is kept
        print("[book] every notebook reused and the results store is empty: the committed status page is kept")
    else:
        write_status_page(status, executed_dir=executed_dir, notebooks=NOTEBOOKS)
    write_summary(book_dir / "_generated" / "summary.md", executed_dir=executed_dir)
    if html:
        index = build_html(book_dir)
        print(f"[book] built {index}")
    return timings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes that run Algorithm 1's seeds before the notebooks (1: none)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", nargs="*", help="execute only these notebooks")
    parser.add_argument("--force", action="store_true", help="re-execute even when up to date")
    parser.add_argument("--no-html", action="store_true", help="execute notebooks only")
    parser.add_argument("--book-dir", type=Path, default=None,
                        help="build in a copy of the book at this folder (the committed results stay as they are)")
    parser.add_argument("--raw-dir", type=Path, default=None,
                        help="also keep every executed notebook as papermill wrote it, before presentation")
    args = parser.parse_args(argv)
    try:
        timings = build_book(args.profile, args.dataset, args.device, args.only, args.force, not args.no_html,
                             book_dir=args.book_dir, workers=args.workers, raw_dir=args.raw_dir)
    except (NotebookFailed, RuntimeError, ValueError, FileNotFoundError) as exc:
        print(f"[book] BUILD FAILED: {exc}", file=sys.stderr)
        return 1
    print("[book] " + ", ".join(f"{k}: {v['state']} {v['seconds']} s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
