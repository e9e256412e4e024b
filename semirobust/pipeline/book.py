"""Build the book: execute every notebook with papermill, write the status page, render HTML.

``python -m semirobust.pipeline.book --profile smoke --dataset digits`` (what ``make book`` runs):

1. each source notebook in ``notebooks/`` is executed with the chosen profile/data set into
   ``book/results/<name>.ipynb``; an executed copy is reused when the notebook source, its
   parameters and the library source are unchanged (a rebuild without changes reruns nothing);
2. the reproduction-status page is generated from the results store;
3. ``jupyter-book build book`` renders the HTML.

A notebook that fails stops the build with the notebook and the cell named; nothing half-built is
reported as success (the executed copy of a failed notebook is removed).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

from semirobust.utils import REPO_ROOT, atomic_write_text, canonical_json

#: Book chapters in build order (cheap first; later ones reuse the training cache).
NOTEBOOKS = ("mi_estimator", "table1", "figure1", "figure2", "theorem3_linear", "weight_bound")
BOOK_DIR = REPO_ROOT / "book"
EXECUTED_DIR = BOOK_DIR / "results"
SOURCE_DIR = REPO_ROOT / "notebooks"


class NotebookFailed(RuntimeError):
    """A notebook raised while executing; the message names the notebook and the cell."""


def library_fingerprint() -> str:
    """Hash of the library source: results depend on it as much as on the notebook."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "semirobust").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".csv", ".yaml"):
            digest.update(path.relative_to(REPO_ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def notebook_parameters(source: Path, profile: str, dataset: str, device: str) -> dict:
    """The pipeline's settings, restricted to the parameters this notebook declares."""
    from semirobust.pipeline.sweep import notebook_parameters as declared_parameters

    declared = set(declared_parameters(source))
    wanted = {"profile": profile, "dataset": dataset, "datasets": dataset, "device": device,
              "figures_dir": str(EXECUTED_DIR / "figures")}
    return {k: v for k, v in wanted.items() if k in declared}


def _stamp_path(name: str) -> Path:
    return EXECUTED_DIR / f".{name}.stamp.json"


def execute_notebook(name: str, profile: str, dataset: str, device: str, force: bool = False) -> str:
    """Execute one notebook unless an up-to-date executed copy exists; returns 'ran' or 'reused'."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = SOURCE_DIR / f"{name}.ipynb"
    if not source.exists():
        raise FileNotFoundError(f"Source notebook {source} is missing.")
    target = EXECUTED_DIR / f"{name}.ipynb"
    params = notebook_parameters(source, profile, dataset, device)
    stamp = {"source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
             "parameters": params, "library": library_fingerprint()}
    stamp_file = _stamp_path(name)
    if not force and target.exists() and stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp:
        return "reused"
    stamp_file.unlink(missing_ok=True)
    partial = EXECUTED_DIR / f".{name}.partial.ipynb"
    try:
        papermill.execute_notebook(str(source), str(partial), parameters=params, cwd=str(EXECUTED_DIR),
                                   kernel_name="python3", progress_bar=False)
    except PapermillExecutionError as exc:
        target.unlink(missing_ok=True)
        raise NotebookFailed(
            f"notebooks/{name}.ipynb failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
            f"{exc.ename}: {exc.evalue}\n--- cell source ---\n{exc.source}\n(partial output kept in {partial})"
        ) from exc
    partial.replace(target)
    atomic_write_text(stamp_file, canonical_json(stamp))
    return "ran"


def build_html(strict: bool = True) -> None:
    """Run ``jupyter-book build book``; ``strict`` turns Sphinx warnings into errors."""
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(BOOK_DIR)]
    if strict:
        cmd += ["--all", "-W", "-n", "--keep-going"]
    result = subprocess.run(cmd, cwd=REPO_ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed with exit code {result.returncode}; see the log above.")


def build_book(profile: str = "smoke", dataset: str = "digits", device: str = "auto", only=None,
               force: bool = False, html: bool = True) -> dict:
    """Execute the notebooks, write the status page and render the book; returns per-notebook timings."""
    from semirobust.config import DATASETS, PROFILES, check_choice
    from semirobust.pipeline.status import write_status_page

    check_choice("profile", profile, PROFILES)
    check_choice("dataset", dataset, DATASETS)
    names = list(only) if only else list(NOTEBOOKS)
    for name in names:
        check_choice("notebook", name, NOTEBOOKS)
    EXECUTED_DIR.mkdir(parents=True, exist_ok=True)
    timings = {}
    for name in names:
        start = time.perf_counter()
        print(f"[book] {name}: executing (profile={profile}, dataset={dataset}) ...", flush=True)
        state = execute_notebook(name, profile, dataset, device, force=force)
        timings[name] = {"state": state, "seconds": round(time.perf_counter() - start, 1)}
        print(f"[book] {name}: {state} in {timings[name]['seconds']} s", flush=True)
    write_status_page(BOOK_DIR / "_generated" / "status.md")
    if html:
        build_html()
        print(f"[book] built {BOOK_DIR / '_build' / 'html' / 'index.html'}")
    return timings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", nargs="*", help="execute only these notebooks")
    parser.add_argument("--force", action="store_true", help="re-execute even when up to date")
    parser.add_argument("--no-html", action="store_true", help="execute notebooks only")
    args = parser.parse_args(argv)
    try:
        timings = build_book(args.profile, args.dataset, args.device, args.only, args.force, not args.no_html)
    except (NotebookFailed, RuntimeError, ValueError, FileNotFoundError) as exc:
        print(f"[book] BUILD FAILED: {exc}", file=sys.stderr)
        return 1
    print("[book] " + ", ".join(f"{k}: {v['state']} {v['seconds']} s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
