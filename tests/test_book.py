"""The book: the pipeline (reuse, failure naming the cell, presentation), the committed results
(not stale), a fresh-clone `jupyter-book build book`, and the reader's view in headless Chromium."""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin

import nbformat
import pytest
import yaml

from semirobust.pipeline import book as book_pipeline
from semirobust.utils import REPO_ROOT

#: Console messages of third-party theme code, not of the book: sphinx-thebe 0.3 (pulled in by
#: Jupyter Book 1.x even with launch buttons off) writes its `const THEBE_JS_URL` script twice,
#: and pydata-sphinx-theme logs its theme-mode reset on a fresh profile. Anything else fails.
KNOWN_UPSTREAM_MESSAGES = ("Identifier 'THEBE_JS_URL' has already been declared", "Got invalid theme mode")
#: Reader widths: a laptop and a phone.
WIDTHS = {"desktop": 1366, "phone": 390}
#: Text that must never reach a reader: tracebacks, warnings, paths of a build machine.
FORBIDDEN_TEXT = ("Traceback (most recent call last)", "Warning:", "UserWarning", "FutureWarning",
                  "DeprecationWarning", "/tmp/", "/root/", "/work/", "/home/", "site-packages")
SCREENSHOTS = Path(os.environ.get("SEMIROBUST_SCREENSHOTS", REPO_ROOT / "screenshots"))


def _toc_files() -> list[str]:
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def _write_notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = 'smoke'\nvalue = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Point the pipeline at a temporary notebooks/ and results folder."""
    src, out = tmp_path / "notebooks", tmp_path / "results"
    src.mkdir()
    monkeypatch.setattr(book_pipeline, "SOURCE_DIR", src)
    return src, out


def _run(name: str, out: Path) -> str:
    return book_pipeline.execute_notebook(name, "smoke", "digits", "cpu", executed_dir=out)


@pytest.mark.slow
def test_unchanged_notebook_is_reused_and_changed_one_reruns(sandbox):
    src, out = sandbox
    _write_notebook(src / "tiny.ipynb", "print(value * 2)")
    assert _run("tiny", out) == "ran"
    first = (out / "tiny.ipynb").stat().st_mtime_ns
    assert _run("tiny", out) == "reused"
    assert (out / "tiny.ipynb").stat().st_mtime_ns == first
    _write_notebook(src / "tiny.ipynb", "print(value * 3)")
    assert _run("tiny", out) == "ran"
    executed = nbformat.read(out / "tiny.ipynb", as_version=4)
    assert any("3" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    provenance = book_pipeline.read_provenance(out, "tiny")
    assert provenance["profile"] == "smoke" and provenance["dataset"] == "digits"
    assert provenance["code_cells"] == book_pipeline.code_cells_digest(nbformat.read(src / "tiny.ipynb", as_version=4))


@pytest.mark.slow
def test_failing_notebook_names_notebook_and_cell_and_leaves_no_copy(sandbox):
    src, out = sandbox
    out.mkdir()
    _write_notebook(src / "broken.ipynb", "raise ValueError('deliberate failure')")
    (out / "broken.ipynb").write_text("{}")  # a stale copy must not survive a failure
    with pytest.raises(book_pipeline.NotebookFailed) as info:
        _run("broken", out)
    message = str(info.value)
    assert "notebooks/broken.ipynb" in message and "cell" in message and "deliberate failure" in message
    assert not (out / "broken.ipynb").exists()


@pytest.mark.slow
def test_executed_page_hides_code_drops_warnings_and_paths(sandbox):
    src, out = sandbox
    body = ("import sys, warnings\nwarnings.warn('noisy')\nprint('progress 50%', file=sys.stderr)\n"
            f"print('saved to {out.resolve()}/figures/a.png and {REPO_ROOT}/x')")
    _write_notebook(src / "tiny.ipynb", body)
    nb = nbformat.read(src / "tiny.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("from myst_nb import glue\nglue('x', 1, display=False)\nglue('s', 'held', display=False)"))
    nbformat.write(nb, src / "tiny.ipynb")
    _run("tiny", out)
    nb = nbformat.read(out / "tiny.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == 2 and "hide-input" in code[0].metadata["tags"], "parameters shown as code or input not hidden"
    assert "remove-input" in code[1].metadata["tags"], "a cell that only glues values must not leave an empty toggle"
    glued = [o["data"]["application/papermill.record/text/plain"] for o in code[1].outputs]
    assert glued == ["1", "held"], "a glued string must reach the page without its quotes"
    table = nb.cells[0].source
    assert nb.cells[0].cell_type == "markdown" and "| `profile` | `smoke` |" in table and "commit" in table
    text = json.dumps(code[0].outputs)
    assert "noisy" not in text and "progress" not in text, "stderr (warnings, progress bars) reached the page"
    assert "saved to figures/a.png" in text and str(REPO_ROOT) not in text and "/tmp/" not in text


def test_only_declared_parameters_are_passed(sandbox):
    src, _ = sandbox
    _write_notebook(src / "tiny.ipynb", "pass")
    params = book_pipeline.notebook_parameters(src / "tiny.ipynb", "offline", "digits", "cpu")
    assert params == {"profile": "offline"}


def test_bad_profile_is_rejected_before_running_anything():
    with pytest.raises(ValueError, match="profile"):
        book_pipeline.build_book(profile="huge", html=False)


# --- the committed results ----------------------------------------------------------------------

@pytest.mark.parametrize("name", book_pipeline.NOTEBOOKS)
def test_committed_executed_notebook_matches_its_source(name):
    """Fails when a source notebook's code changed after its executed copy was committed."""
    executed_dir = REPO_ROOT / "book" / "results"
    executed, provenance = executed_dir / f"{name}.ipynb", book_pipeline.read_provenance(executed_dir, name)
    assert executed.exists() and provenance, f"book/results/{name}.ipynb is not committed: run `make book`"
    source = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    assert provenance["code_cells"] == book_pipeline.code_cells_digest(source), (
        f"notebooks/{name}.ipynb changed since book/results/{name}.ipynb was executed: run `make book`")
    shown = [c.source.strip() for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"]
    written = [c.source.strip() for c in source.cells
               if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    assert shown == written, f"book/results/{name}.ipynb does not hold the code of notebooks/{name}.ipynb"
    size = executed.stat().st_size
    assert size < 3 * 2**20, f"book/results/{name}.ipynb is {size / 2**20:.1f} MiB; keep committed outputs small"


# --- builds -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fresh_clone_book(tmp_path_factory):
    """`jupyter-book build book`, typed as on a fresh clone: the tracked files only, nothing executed."""
    clone = tmp_path_factory.mktemp("clone") / "semirobust"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for name in filter(None, files):
        source = REPO_ROOT / name
        if source.is_symlink() or source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name, follow_symlinks=False)
    result = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", "book"], cwd=clone,
                            capture_output=True, text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"`jupyter-book build book` failed on a fresh clone:\n{log[-4000:]}"
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert not warnings, "warnings on a fresh-clone build:\n" + "\n".join(warnings[:20])
    return clone / "book" / "_build" / "html"


@pytest.mark.slow
def test_fresh_clone_build_renders_every_page_of_the_toc(fresh_clone_book):
    missing = [f for f in _toc_files() if not (fresh_clone_book / f"{f}.html").exists()]
    assert not missing, f"pages of _toc.yml missing from the fresh-clone build: {missing}"
    for name in book_pipeline.NOTEBOOKS:
        html = (fresh_clone_book / "results" / f"{name}.html").read_text(encoding="utf-8")
        assert "cell_output" in html, f"results/{name}.html shows no executed output"


@pytest.mark.slow
@pytest.mark.timeout(3600)  # every notebook at the smoke profile, training included: longer than one test's 1800 s
def test_smoke_build_executes_every_notebook_strictly(tmp_path_factory):
    """The README's book build at the smoke profile, in a copy of the book with temporary stores; ``--force``
    re-executes every notebook even where the committed copy is up to date, so each one really runs."""
    root = tmp_path_factory.mktemp("smoke")
    env = {**os.environ, "SEMIROBUST_RESULTS": str(root / "results"), "SEMIROBUST_CACHE": str(root / "cache")}
    result = subprocess.run([sys.executable, "-m", "semirobust.pipeline.book", "--profile", "smoke", "--dataset",
                             "digits", "--book-dir", str(root / "book"), "--force"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True)
    warned = [line for line in (result.stdout + result.stderr).splitlines() if "WARNING:" in line]
    assert result.returncode == 0, (f"smoke book build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}\n"
                                    "Sphinx warnings:\n" + "\n".join(warned[:20]))
    for name in book_pipeline.NOTEBOOKS:
        assert book_pipeline.read_provenance(root / "book" / "results", name)["profile"] == "smoke"
    assert (root / "book" / "_build" / "html" / "index.html").exists()


# --- the reader's view --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(fresh_clone_book):
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test log readable
            pass

    handler = functools.partial(QuietHandler, directory=str(fresh_clone_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_bin):
        pytest.fail("headless Chromium is required: `make test` installs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_bin), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


_WAIT_FOR_MATHJAX = (
    "return new Promise(r => { const t0 = Date.now(); (function poll() {"
    " const done = !window.MathJax || (MathJax.startup && MathJax.startup.promise);"
    " if (done || Date.now() - t0 > 20000) { (done && done.then ? done : Promise.resolve()).then(() => r(true)); }"
    " else setTimeout(poll, 200); })(); })")

_PAGE_FACTS = """
const main = document.querySelector('main') || document.body;
const overflow = [];
for (const el of main.querySelectorAll('table, img, pre, .cell_output, mjx-container[display="true"]')) {
  let scroller = el.parentElement, inside = false;
  while (scroller && scroller !== main) {
    const s = getComputedStyle(scroller);
    if (['auto', 'scroll'].includes(s.overflowX)) { inside = true; break; }
    scroller = scroller.parentElement;
  }
  const r = el.getBoundingClientRect();
  if (!inside && r.width > 0 && r.right > window.innerWidth + 1) overflow.push(el.tagName + ' ' + Math.round(r.right));
}
return {
  text: main.innerText,
  pageOverflow: document.documentElement.scrollWidth - window.innerWidth,
  overflow: overflow,
  images: Array.from(main.querySelectorAll('img')).map(i => [i.currentSrc, i.complete, i.naturalWidth]),
  rawMath: Array.from(main.querySelectorAll('p, li, td, th, figcaption')).filter(
      e => !e.closest('pre, code, .highlight') && /(^|[^\\\\])\\$[^$\\s][^$]*\\$/.test(e.innerText)).length,
  mathjax: main.querySelectorAll('mjx-container').length,
  unresolvedGlue: (main.innerHTML.match(/\\{glue:[a-z]+\\}/g) || []).length,
};
"""


def _pages() -> list[str]:
    return [f"{f}.html" for f in _toc_files()]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_reads_cleanly_at_desktop_and_phone_width(browser, server, width):
    browser.set_window_size(WIDTHS[width], 900)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    for page in _pages():
        browser.get(urljoin(server, page))
        browser.execute_script(_WAIT_FOR_MATHJAX)
        facts = browser.execute_script(_PAGE_FACTS)
        browser.save_screenshot(str(SCREENSHOTS / f"{width}-{page.replace('/', '_')}.png"))
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
                  and "favicon.ico" not in e["message"] and not any(k in e["message"] for k in KNOWN_UPSTREAM_MESSAGES)]
        found = []
        if facts["pageOverflow"] > 1:
            found.append(f"page scrolls sideways by {facts['pageOverflow']} px")
        if facts["overflow"]:
            found.append(f"elements past the right edge: {facts['overflow'][:5]}")
        found += [f"shows {t!r}" for t in FORBIDDEN_TEXT if t in facts["text"]]
        found += [f"image not loaded: {src}" for src, complete, w in facts["images"] if not (complete and w > 0)]
        if facts["rawMath"]:
            found.append(f"{facts['rawMath']} elements with raw $...$ left by MathJax")
        if facts["unresolvedGlue"]:
            found.append("unresolved glue role")
        found += [f"console: {e}" for e in errors]
        if found:
            problems[page] = found
    assert not problems, json.dumps(problems, indent=1)


@pytest.mark.slow
@pytest.mark.browser
def test_results_pages_state_profile_show_numbers_and_toggle_code(browser, server, fresh_clone_book):
    browser.set_window_size(WIDTHS["desktop"], 900)
    for name in book_pipeline.NOTEBOOKS:
        provenance = book_pipeline.read_provenance(REPO_ROOT / "book" / "results", name)
        browser.get(urljoin(server, f"results/{name}.html"))
        browser.execute_script(_WAIT_FOR_MATHJAX)
        text = browser.find_element("tag name", "main").text
        assert f"profile {provenance['profile']}" in text.replace("`", ""), f"{name}: the profile is not stated"
        assert re.search(r"\d+\.\d", text), f"{name}: no computed number on the page"
        shown = browser.execute_script("return document.querySelectorAll('main img, main table').length")
        assert shown >= 1, f"{name}: no figure and no table"
        hidden = browser.execute_script(
            "const d = document.querySelector('details.hide.above-input');"
            "if (!d) return null; const before = d.open; d.querySelector('summary').click(); return [before, d.open];")
        assert hidden == [False, True], f"{name}: code input not hidden behind a working toggle ({hidden})"


@pytest.mark.slow
@pytest.mark.browser
def test_math_renders_with_mathjax(browser, server):
    browser.get(urljoin(server, "theory/dependency.html"))
    browser.execute_script(_WAIT_FOR_MATHJAX)
    count = browser.execute_script("return document.querySelectorAll('mjx-container').length")
    assert count > 5, "MathJax produced no rendered formulas on the theory page"


def test_fresh_clone_build_keeps_the_committed_status_page(tmp_path, monkeypatch):
    """All notebooks reused and no results store (a fresh clone): the status page is not emptied."""
    from semirobust.pipeline import book

    monkeypatch.setenv("SEMIROBUST_RESULTS", str(tmp_path / "empty-store"))
    target = tmp_path / "book"
    timings = book.build_book("offline", only=["efficiency"], html=False, book_dir=target)
    assert timings["efficiency"]["state"] == "reused"
    committed = (book.BOOK_DIR / "_generated" / "status.md").read_text()
    assert (target / "_generated" / "status.md").read_text() == committed
    assert "results store is empty" not in committed
