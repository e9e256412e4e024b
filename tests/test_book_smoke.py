"""The README's book build at the smoke profile, every notebook really executed, then the same notebooks
under nbval. A file of its own so that ``pytest -n 2 --dist loadfile`` (``make test``) runs this, the
longest part of the suite, on one worker while the other takes the rest."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from semirobust.pipeline import book as book_pipeline
from semirobust.utils import REPO_ROOT


@pytest.fixture(scope="module")
def smoke_stores(tmp_path_factory):
    """Temporary results store and training cache at the smoke profile, shared by the smoke build and nbval, so
    that what one computes the other reuses; PYTHONPATH makes every kernel import this checkout."""
    root = tmp_path_factory.mktemp("smoke")
    env = {**os.environ, "SEMIROBUST_RESULTS": str(root / "results"), "SEMIROBUST_CACHE": str(root / "cache"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    return root, env


@pytest.fixture(scope="module")
def smoke_build(smoke_stores):
    """The README's book build at the smoke profile, in a copy of the book with temporary stores; ``--force``
    re-executes every notebook even where the committed copy is up to date, so each one really runs. Each
    notebook is also kept as papermill executed it (``--raw-dir``), for nbval."""
    root, env = smoke_stores
    result = subprocess.run([sys.executable, "-m", "semirobust.pipeline.book", "--profile", "smoke", "--dataset",
                             "digits", "--book-dir", str(root / "book"), "--force", "--raw-dir", str(root / "raw")],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    return root, env, result


@pytest.mark.slow
@pytest.mark.timeout(3600)  # every notebook at the smoke profile, training included: longer than one test's 1800 s
def test_smoke_build_executes_every_notebook_strictly(smoke_build):
    root, env, result = smoke_build
    warned = [line for line in (result.stdout + result.stderr).splitlines() if "WARNING:" in line]
    assert result.returncode == 0, (f"smoke book build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}\n"
                                    "Sphinx warnings:\n" + "\n".join(warned[:20]))
    for name in book_pipeline.NOTEBOOKS:
        assert book_pipeline.read_provenance(root / "book" / "results", name)["profile"] == "smoke"
    assert (root / "book" / "_build" / "html" / "index.html").exists()
    assert "[semirobust]" in result.stderr, "no progress line reached the console"
    summary = (root / "book" / "_generated" / "summary.md").read_text()
    assert "profile smoke on data set digits" in summary and "| claim of the paper | status |" in summary


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_notebooks_pass_nbval_at_the_smoke_profile(smoke_build):
    """The design card's nbval: every notebook as the smoke build's papermill executed it (stores shared, so
    stored runs are reused), executed again by ``pytest --nbval-lax``: every cell must run without error, and
    the cells tagged ``nbval-check-output`` (tables and glued values computed from the run's own records) must
    give the same output again."""
    root, env, result = smoke_build
    assert result.returncode == 0, "the smoke build failed (see test_smoke_build_executes_every_notebook_strictly)"
    if subprocess.run([sys.executable, "-c", "import nbval"], env=env).returncode != 0:
        pytest.fail("nbval is required (the test extra: pip install -c constraints.txt -e '.[test]')")
    out = root / "raw"
    executed = [str(out / f"{name}.ipynb") for name in book_pipeline.NOTEBOOKS]
    assert all(Path(path).exists() for path in executed), sorted(p.name for p in out.iterdir())
    # a warning names the kernel's temporary cell file (/tmp/ipykernel_<pid>/<hash>.py), different in every run
    sanitize = out / "sanitize.cfg"
    sanitize.write_text("[kernel cell files]\nregex: /tmp/ipykernel_\\d+/\\d+\\.py\nreplace: IPYKERNEL-CELL\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
                             "--nbval-sanitize-with", str(sanitize), "-p",
                             "no:cacheprovider", "-q", "-o", "addopts=", *executed], cwd=out, env=env,
                            capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, f"nbval failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    assert " passed" in result.stdout and "failed" not in result.stdout
    checked = sum("nbval-check-output" in c.metadata.get("tags", []) for path in executed
                  for c in nbformat.read(path, as_version=4).cells)
    assert checked >= 10, f"only {checked} cells have their outputs compared"
