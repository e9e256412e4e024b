"""The book: the pipeline (reuse, failure naming the cell, presentation), the committed results
(not stale), a fresh-clone `jupyter-book build book`, the reproducibility summary, and the reader's view in
headless Chromium. The smoke build and nbval are in test_book_smoke.py."""
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
from reader_checks import landing_height_problems, reader_problems

from semirobust.pipeline import book as book_pipeline
from semirobust.pipeline.page_boxes import PAGE_GLUE_MARKER
from semirobust.utils import REPO_ROOT

#: Console messages of third-party theme code, not of the book: sphinx-thebe 0.3 (pulled in by
#: Jupyter Book 1.x even with launch buttons off) writes its `const THEBE_JS_URL` script twice,
#: and pydata-sphinx-theme logs its theme-mode reset on a fresh profile. Anything else fails.
KNOWN_UPSTREAM_MESSAGES = ("Identifier 'THEBE_JS_URL' has already been declared", "Got invalid theme mode")
#: Reader widths: a laptop (its article column is 752 px, 688 px inside the padding) and a phone.
WIDTHS = {"desktop": 1280, "phone": 390}
#: Text that must never reach a reader: tracebacks, warnings, paths of a build machine, raw reprs and log lines.
FORBIDDEN_TEXT = ("Traceback (most recent call last)", "Warning:", "UserWarning", "FutureWarning",
                  "DeprecationWarning", "/tmp/", "/root/", "/work/", "/home/", "site-packages",
                  "RunConfig(", "[semirobust]", "<Figure size", "object>")
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
    shown = ["".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/markdown", ""))
             for c in executed.cells for o in c.get("outputs", [])]
    assert any("3" in text for text in shown)  # a printed line reaches the page as a sentence
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
    code = [c for c in nb.cells if c.cell_type == "code" and not c.source.startswith(PAGE_GLUE_MARKER)]
    assert len(code) == 2 and "hide-input" in code[0].metadata["tags"], "parameters shown as code or input not hidden"
    assert "remove-input" in code[1].metadata["tags"], "a cell that only glues values must not leave an empty toggle"
    glued = [o["data"]["application/papermill.record/text/plain"] for o in code[1].outputs]
    assert glued == ["1", "held"], "a glued string must reach the page without its quotes"
    table = nb.cells[0].source
    assert nb.cells[0].cell_type == "markdown" and "| `profile` | `smoke` |" in table and "commit" in table
    text = json.dumps(code[0].outputs)
    assert "noisy" not in text and "progress" not in text, "stderr (warnings, progress bars) reached the page"
    assert "saved to figures/a.png" in text and str(REPO_ROOT) not in text and "/tmp/" not in text


def _executed(outputs, resolved=None):
    """An executed notebook as papermill leaves it: parameters, injected parameters, one cell with ``outputs``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("model = 'vgg16'\neps = None\nfb_layers = None\ntrials = None\nk = None\n"
                                       "apgd_steps = None\nfoo = None\ndevice = 'auto'\nresults_dir = None")
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell("profile = 'smoke'\nmodel = 'alexnet'")
    injected.metadata["tags"] = ["injected-parameters"]
    cell = nbformat.v4.new_code_cell("run()")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), params, injected, cell]
    if resolved is not None:
        glue = nbformat.v4.new_code_cell("glue('resolved_parameters', ...)")
        glue.outputs = [nbformat.from_dict({
            "output_type": "display_data", "metadata": {"scrapbook": {"name": "resolved_parameters",
                                                                      "mime_prefix": "application/papermill.record/"}},
            "data": {"application/papermill.record/text/plain": repr(resolved)}})]
        nb.cells.append(glue)
    return nb


_PROVENANCE = {"profile": "smoke", "dataset": "digits", "device": "cpu (x86_64)", "commit": "0123456789abcdef",
               "executed_at": "2026-12-02T10:00:00+00:00", "seconds": 12.0, "notebook": "notebooks/theorem3_linear.ipynb",
               "key": {"parameters": {"profile": "smoke", "dataset": "digits", "device": "auto"}}}


def test_present_notebook_leaves_no_raw_output_and_moves_log_lines_to_the_box():
    """Issue 26: no raw reprs, log lines in the provenance box, printed sentences as paragraphs, tables kept aligned."""
    from semirobust.pipeline.notebook_outputs import present_notebook

    stream = ("[semirobust] trained alexnet standard on digits (smoke, seed 0): 1 epochs in 4 s\n"
              "record theorem3/31bc6522ad0344e0 written; 300 s on cpu (x86_64)\n"
              "Computed at profile=smoke on dataset=digits with f*_a sizes [15, 11]\n")
    outputs = [{"output_type": "stream", "name": "stdout", "text": stream},
               {"output_type": "stream", "name": "stdout", "text": "   a   b\n0  1   2\n"},
               {"output_type": "stream", "name": "stderr", "text": "[semirobust] seed 0: trial 1 of 2; 3 min left\n"},
               {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                "data": {"text/plain": "RunConfig(arch='vgg16', eps=0.06274509803921569)"}},
               {"output_type": "display_data", "metadata": {},
                "data": {"text/markdown": "**held**", "text/plain": "<IPython.core.display.Markdown object>"}},
               {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "<Figure size 640x400 with 1 Axes>"}},
               {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "a number: 4"}}]
    nb = present_notebook(_executed(outputs, resolved={"trials": 2}), _PROVENANCE)
    nbformat.validate(nbformat.reads(nbformat.writes(nb), as_version=4))  # a valid notebook again
    box, rerun, shown = nb.cells[1].source, nb.cells[2].source, json.dumps(nb.cells[3].outputs)
    for raw in ("RunConfig(", "object>", "<Figure size", "[semirobust]", "record theorem3", "3 min left"):
        assert raw not in shown, raw
    assert [o.get("data", {}).get("text/markdown") for o in nb.cells[3].outputs][0] == (
        "Computed at profile=smoke on dataset=digits with f\\*\\_a sizes \\[15, 11\\]")
    assert nb.cells[3].outputs[1]["text"] == "   a   b\n0  1   2\n", "a printed table keeps its alignment"
    assert "a number: 4" in shown and "**held**" in shown
    assert "| `model` | `alexnet` |" in box and "| `profile` | `smoke` |" in box  # papermill's values win
    assert "| `trials` | profile default: 2 |" in box, "a glued resolved value is the value used"
    assert "| `eps` | profile default: 8/255 |" in box and "| `k` | profile default: 1 |" in box
    assert "| `fb_layers` | profile default: 4 |" in box and "| `apgd_steps` | profile default: " in box
    assert "| `foo` | profile default |" in box and "results_dir" not in box
    assert "| `device` | `auto` (ran on cpu (x86\\_64)) |" in box
    assert "trained alexnet standard on digits" in box and "record theorem3/31bc6522ad0344e0 written" in box
    assert "[semirobust]" not in box
    assert "papermill notebooks/theorem3_linear.ipynb book/results/theorem3_linear.ipynb" in rerun
    assert "-p dataset digits -p device auto -p profile smoke" in rerun and "12 s on cpu (x86_64)" in rerun
    assert "took 300 s by the run log" in rerun, "the records' cold time, read from the record line"
    assert "reported_table_s1.csv" in rerun


def test_progress_lines_go_to_stderr_with_the_time_left(capsys, monkeypatch):
    """The card's command shows life: each network and trial announces itself on stderr (what papermill's
    --log-output shows; the pages drop stderr), with the time left estimated per kind of unit."""
    from semirobust import progress
    from semirobust.config import RunConfig

    clock = iter([0.0, 10.0, 10.0, 10.0, 10.0, 40.0, 40.0])
    monkeypatch.setattr(progress, "perf_counter", lambda: next(clock))
    countdown = progress.Countdown("cell", {"net": ("network", 1.0), "net2": ("network", 2.0),
                                           "t1": ("trial", 1.0), "t2": ("trial", 1.0)})
    countdown.timed("net", lambda: None)
    countdown.timed("net2", lambda: "cached", cached=lambda out: out == "cached")
    countdown.start("t1")
    countdown.finish("t1")
    countdown.start("t2")
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "[semirobust] cell: (1/4) net; time left: estimated once the first unit has been computed"
    assert lines[1] == "[semirobust] cell: net done in 10 s"
    assert lines[2] == "[semirobust] cell: (2/4) net2; about 40 s left (rough until a trial has been timed)"
    assert lines[-1] == "[semirobust] cell: (4/4) t2; about 30 s left"
    units = progress.algorithm1_countdown(RunConfig(arch="vgg16", dataset="digits", profile="smoke"), [0, 1]).units
    assert list(units)[:3] == ["seed 0: regular network", "seed 0: robust network", "seed 0: trial 1 of 2"]
    # every seed's scores count too (smoke runs no final AutoAttack), so the time left covers all a seed does
    assert len(units) == 2 * (2 + 2 + 2) and {kind for kind, _ in units.values()} == {"network", "trial", "scoring"}
    assert units["seed 1: arms scores"][1] > 0 and units["seed 1: reference scores"][1] > 0
    offline = progress.algorithm1_countdown(RunConfig(arch="vgg16", dataset="fashion-mnist", profile="offline"),
                                            [0, 1], {"algorithm1": True, "standard_fb": False},
                                            autoattack_seeds=[0])
    assert "seed 0: final AutoAttack" in offline.units and "seed 1: final AutoAttack" not in offline.units
    # the final AutoAttack of 200 images on 2 networks costs more than the scores of 1,000 images by 2 x 100 steps
    assert offline.units["seed 0: final AutoAttack"][1] > offline.units["seed 0: reference scores"][1]


def test_only_declared_parameters_are_passed(sandbox):
    src, _ = sandbox
    _write_notebook(src / "tiny.ipynb", "pass")
    params = book_pipeline.notebook_parameters(src / "tiny.ipynb", "offline", "digits", "cpu")
    assert params == {"profile": "offline"}


def test_the_offline_book_leaves_out_what_its_profile_says_and_runs_figure2_where_it_says():
    from semirobust.experiments.table1.configs import figure1_configs, left_out_sentence
    from semirobust.pipeline.prefetch import book_configs

    run, left_out = figure1_configs("alexnet,vgg16,resnet50", "fashion-mnist,digits", profile="offline")
    assert [(c.arch, c.dataset) for c in left_out] == [("alexnet", "fashion-mnist"), ("resnet50", "fashion-mnist")]
    assert ("resnet50", "digits") in [(c.arch, c.dataset) for c in run] and len(run) == 4
    assert "AlexNet on Fashion-MNIST, ResNet50 on Fashion-MNIST" in left_out_sentence(left_out)
    assert left_out_sentence([]) == ""
    assert len(figure1_configs("resnet50", "fashion-mnist", profile="offline", all_cells=True)[0]) == 1
    assert not figure1_configs("alexnet,vgg16,resnet50", "digits", profile="smoke")[1]  # smoke leaves out nothing
    cells = {(c.arch, c.dataset, c.fb_layers) for c in book_configs("offline", "fashion-mnist", "cpu")}
    assert ("resnet50", "digits", 4) in cells and not any(a == "resnet50" and d == "fashion-mnist" for a, d, _ in cells)
    figure2 = book_pipeline.notebook_parameters(book_pipeline.SOURCE_DIR / "figure2.ipynb", "offline", "fashion-mnist", "cpu")
    assert figure2["dataset"] == "digits"
    table1 = book_pipeline.notebook_parameters(book_pipeline.SOURCE_DIR / "table1.ipynb", "offline", "fashion-mnist", "cpu")
    assert table1["dataset"] == "fashion-mnist"


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
    shown = [c.source.strip() for c in nbformat.read(executed, as_version=4).cells
             if c.cell_type == "code" and not c.source.startswith(PAGE_GLUE_MARKER)]  # the presentation's own cell
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
  ...columnFacts(),
};
function columnFacts() {  // the article's text column, and what on a results page is wider than it or too narrow
  const article = document.querySelector('article.bd-article') || main;
  const style = getComputedStyle(article);
  const column = article.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const wide = [];
  for (const el of article.querySelectorAll('table, div.cell_output')) {
    const width = el.tagName === 'TABLE' ? el.getBoundingClientRect().width : el.scrollWidth;  // a table, or what scrolls
    if (width > column + 1) wide.push(el.tagName + ' ' + Math.round(width) + ': ' + el.innerText.slice(0, 40));
  }
  return {
    column: column, wide: wide,
    figures: Array.from(article.querySelectorAll('div.cell_output img, figure img')).map(
        i => [i.currentSrc.split('/').pop(), Math.round(i.getBoundingClientRect().width)]),
    verdicts: Array.from(article.querySelectorAll('div.admonition.verdict')).map(v => v.innerText),
  };
}
"""


def _results_page_problems(facts: dict, width: str) -> list[str]:
    """What a results page must not do (issue 26): outputs or tables wider than the column at the desktop
    width (on a phone a table may scroll in its own box), a figure narrower than 90% of the column, no
    verdict box holding a number."""
    found = []
    if width == "desktop" and facts["wide"]:
        found.append(f"wider than the {facts['column']:.0f} px column: {facts['wide'][:4]}")
    narrow = [(src, w) for src, w in facts["figures"] if w < 0.9 * facts["column"]]
    if narrow:
        found.append(f"figures under 90% of the {facts['column']:.0f} px column: {narrow[:4]}")
    if not any(re.search(r"\d+(\.\d+)?", text.split("\n", 1)[-1]) for text in facts["verdicts"]):
        found.append(f"no verdict box holding a number ({len(facts['verdicts'])} verdict boxes)")
    return found


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
        if page.startswith("results/"):
            found += _results_page_problems(facts, width)
        found += reader_problems(browser.page_source)  # claim titles, raw frames, NaN shown (issue 38)
        if page == "intro.html" and width == "desktop":
            found += landing_height_problems(browser.execute_script("return document.documentElement.scrollHeight"))
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


# --- the reproducibility summary ----------------------------------------------------------------

def _glue_output(name: str, value) -> dict:
    return {"output_type": "display_data", "metadata": {"scrapbook": {"name": name,
                                                                      "mime_prefix": "application/papermill.record/"}},
            "data": {"application/papermill.record/text/plain": repr(value)}}


def test_summary_lists_each_glued_claim_with_its_status_profile_and_page(tmp_path):
    """The landing page's summary (ML Reproducibility Challenge form): scope from the runs' provenance, each
    claim a notebook glued (by glue reference, so the words are the page's), the statuses counted."""
    from semirobust.experiments.report.verdicts import claim_values
    from semirobust.pipeline import status

    runs = {"figure1": [("rho_predicts_success", "confirmed"), ("rho_by_dataset", "not testable at this scale")],
            "efficiency": [("cheaper_step", "undecided")], "weight_bound": []}
    for name, claims in runs.items():
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("glue(...)")
        cell.outputs = [nbformat.from_dict(_glue_output(key, value)) for claim_id, state in claims
                        for key, value in claim_values(claim_id, f"claim {claim_id}", state, "r = -0.5").items()]
        nb.cells = [cell]
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
        (tmp_path / f"{name}.provenance.json").write_text(json.dumps({**_PROVENANCE, "notebook": name}))
    path = status.write_summary(tmp_path / "summary.md", executed_dir=tmp_path)
    text = path.read_text()
    assert text.startswith("## Reproducibility summary")
    for part in ("**Scope.**", "**What was easy.**", "**What was hard.**", "**Claims.**"):
        assert part in text, part
    assert "profile smoke on data set digits" in text and "not the paper's scale" in text
    assert "1 confirmed, 1 undecided, 1 not testable at this scale" in text
    rows = [line for line in text.splitlines() if line.startswith("| {glue:text}")]
    assert [r.split("::claim_")[1].split("_text")[0] for r in rows] == ["rho_predicts_success", "rho_by_dataset",
                                                                        "cheaper_step"]  # the book's page order
    assert ('<span class="claim-badge claim-confirmed">confirmed</span>' in rows[0]
            and "{doc}`Figure 1 </results/figure1>`" in rows[0] and "r = -0.5. (profile smoke, digits)" in rows[0])
    assert '<span class="claim-badge claim-not-testable">not testable at this scale</span>' in rows[1]
    assert "pays_verdict" not in text, "quoted only when the pays page glued it"


def test_the_landing_page_quotes_the_deciding_number_not_the_whole_evidence():
    from semirobust.pipeline.status import decisive_evidence

    evidence = ("VGG16, f_b = 12: Acc~ - Acc* = -2.6 points (95% interval -4.6 to -0.6; 5 seeds (paired)). Two one-sided "
                "tests at a margin of 2 points answer: undecided.")
    assert decisive_evidence(evidence) == "VGG16, f_b = 12: Acc~ - Acc* = -2.6 points (95% interval -4.6 to -0.6; 5 seeds)."
    assert decisive_evidence("r = -0.5; 12 trials") == "r = -0.5."


# --- citing -------------------------------------------------------------------------------------

def test_citation_file_names_the_companion_and_prefers_the_paper():
    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["authors"]
    paper = cff["preferred-citation"]
    assert paper["title"] == ("Does the half adversarial robustness represent the whole? A theoretical perspective "
                              "of subnetwork robustness")
    assert paper["year"] == 2023 and paper["url"].startswith("https://openreview.net/")
    assert any("2307.03803" in ref.get("url", "") for ref in cff["references"])


def test_bibliography_holds_every_work_the_pages_cite():
    """Every {cite} key of the pages and notebooks is in references.bib, and the methods the pages name are cited."""
    bib = (REPO_ROOT / "book" / "references.bib").read_text()
    entries = set(re.findall(r"^@\w+\{([^,]+),", bib, flags=re.M))
    sources = [*(REPO_ROOT / "book").rglob("*.md"), *(REPO_ROOT / "notebooks").glob("*.ipynb")]
    cited = {key.strip() for path in sources if "_build" not in path.parts
             for group in re.findall(r"\{cite[a-z:]*\}`([^`]+)`", path.read_text()) for key in group.split(",")}
    assert cited and not cited - entries, f"cited but not in references.bib: {sorted(cited - entries)}"
    for key in ("madry2018towards", "croce2020reliable", "noshad2019scalable", "kraskov2004estimating",
                "kornblith2019similarity", "shafahi2020adversarially", "wong2020fast"):
        assert key in cited, f"{key} is not cited by any page"
