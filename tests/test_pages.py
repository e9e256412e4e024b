"""The page registry (semirobust.pipeline.pages) against the table of contents, the source notebooks and the
record kinds the library writes, and the status page reading it."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest
import yaml
from record_kinds import library_store_kinds

from semirobust.config import Profile
from semirobust.pipeline import pages, status
from semirobust.results import ResultsStore
from semirobust.utils import REPO_ROOT

#: the table of contents at the top (the single source) and the one `jupyter-book build book` reads
TOC_FILES = (REPO_ROOT / "_toc.yml", REPO_ROOT / "book" / "_toc.yml")


def _toc_results_pages(path) -> list[str]:
    toc = yaml.safe_load(path.read_text())
    files = [chapter["file"] for part in toc.get("parts", []) for chapter in part["chapters"]]
    return [f for f in files if f.startswith("results/")]


@pytest.mark.parametrize("toc", TOC_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_registered_page_is_in_the_toc_and_every_results_page_of_the_toc_is_registered(toc):
    listed = _toc_results_pages(toc)
    registered = [page.toc for page in pages.PAGES]
    assert sorted(set(registered) - set(listed)) == [], f"registered pages missing from {toc.name}"
    assert sorted(set(listed) - set(registered)) == [], f"results pages of {toc.name} not in pages.PAGES"
    assert len(listed) == len(set(listed)), f"a results page is listed twice in {toc.name}"


def test_every_source_notebook_is_registered_and_every_page_has_one():
    sources = sorted(path.stem for path in (REPO_ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(pages.NOTEBOOKS) == sources


def test_names_reading_positions_kinds_and_studies_are_unique():
    assert len(set(pages.NOTEBOOKS)) == len(pages.PAGES)
    assert sorted(page.reading for page in pages.PAGES) == list(range(len(pages.PAGES)))
    kinds = [kind for page in pages.PAGES for kind, _ in page.kinds]
    assert len(kinds) == len(set(kinds)), "a record kind belongs to one page"
    studies = [study.name for page in pages.PAGES for study in page.studies]
    assert len(studies) == len(set(studies)) == len(pages.STUDIES)


def test_studies_hang_on_algorithm1_pages_and_data_set_fields_are_profile_fields():
    """The book prefetches studies only where an Algorithm 1 page will execute; a page's own data set is read
    from a field of the profile."""
    fields = {field.name for field in dataclasses.fields(Profile)}
    for page in pages.PAGES:
        assert page.algorithm1 or not page.studies, f"{page.name} has studies but runs no Algorithm 1 seeds"
        assert page.profile_dataset is None or page.profile_dataset in fields, page.name
        for study in page.studies:
            assert callable(study.run) and callable(study.configs), study.name


def _written_kinds() -> set[str]:
    """Record kinds the library or a notebook writes: ``.write("kind", ...)`` literals, the ``*KIND = "..."``
    constants of the library and the RecordKind members its results-store ``.write(...)`` calls name
    (tests/record_kinds.py)."""
    write = re.compile(r'\.write\(\s*"([A-Za-z0-9_.-]+)"')
    constant = re.compile(r'^\w*KIND\s*=\s*"([A-Za-z0-9_.-]+)"', re.MULTILINE)
    kinds = set()
    for path in (REPO_ROOT / "semirobust").rglob("*.py"):
        text = path.read_text()
        kinds |= set(write.findall(text)) | set(constant.findall(text))
    for path in (REPO_ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            kinds |= set(write.findall("".join(cell["source"])))
    return kinds | {kind.value for _, _, kind in library_store_kinds(calls=("write",))[0]}


def test_every_registered_kind_is_written_by_the_library_or_a_notebook():
    """A kind no code writes (the old "figure1" and "figure2") would list nothing on the status page."""
    written = _written_kinds()
    stale = [(page.name, kind) for page in pages.PAGES for kind, _ in page.kinds if kind not in written]
    assert not stale, f"registered kinds nothing writes: {stale}"


def test_page_lookup_names_the_registered_pages():
    assert pages.page("table1").algorithm1 and pages.page("theorem3_linear").profile_dataset == "theory_dataset"
    with pytest.raises(ValueError, match="table1"):
        pages.page("table_s6")


def test_status_page_lists_the_budgets_and_pays_records_under_their_pages(tmp_path):
    store = ResultsStore(tmp_path / "store")
    common = dict(profile="smoke", seed=0, device="cpu", wall_time_s=1.0)
    store.write(pages.page("budgets").kinds[0][0], {"dataset": "digits", "attack": "pgd"}, {"accuracy": 50.0}, **common)
    store.write(pages.page("pays").kinds[0][0], {"arch": "vgg16", "dataset": "digits"}, {"curves": {}}, **common)
    store.write("algorithm1_trial", {"arch": "vgg16"}, {"acc": 1.0}, **common)  # a finer record: not listed
    rows = status.status_rows(store)
    assert [row["page"] for row in rows] == ["results/budgets", "results/pays"]
    text = status.render_status_markdown(rows, store.root)
    assert "{doc}`Attack and budget </results/budgets>`" in text and "`budget_eval/" in text
    assert "{doc}`Cost curves of a seed </results/pays>`" in text and "`pays_seed/" in text
